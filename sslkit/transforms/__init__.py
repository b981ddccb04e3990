"""Multi-view augmentation: per-sample (DataLoader workers) and batched (on device)."""

from sslkit.transforms.augment import ViewAugment, normalize

__all__ = ["ViewAugment", "normalize"]
