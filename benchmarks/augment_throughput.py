"""Throughput of the two augmentation paths of :class:`sslkit.transforms.ViewAugment`.

Both paths make the same 2 normalised SimCLR views (CIFAR defaults: crop
0.08-1, flip, colour jitter 0.8, grayscale 0.2) of the same uint8 images:

* per-sample: a DataLoader over a CIFAR-shaped uint8 tensor dataset whose
  workers run the torchvision v2 pipeline image by image (``augment_on: worker``);
* batched: batches of ``--batch-size`` moved to ``--device`` and augmented as
  whole tensors (``augment_on: device``), on CUDA when available.

The first batch of each path is a warm-up (worker start-up, CUDA kernels) and
is not timed. Prints images/s of both paths and their ratio.

    python benchmarks/augment_throughput.py [--size 32 --images 2048 --device auto --num-workers 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, Dataset

from sslkit.transforms import ViewAugment, normalize

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class TwoViews(Dataset):
    """Each item: the list of ``num_views`` per-sample views of one uint8 image."""

    def __init__(self, images: torch.Tensor, aug: ViewAugment) -> None:
        from torchvision.transforms import v2 as T

        self.images = images
        self.pipelines = [T.Compose([aug.per_sample(), T.Normalize(MEAN, STD)]) for _ in range(aug.num_views)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> list[torch.Tensor]:
        return [p(self.images[i]) for p in self.pipelines]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def per_sample_rate(images: torch.Tensor, aug: ViewAugment, batch_size: int, num_workers: int) -> float:
    """Images per second through DataLoader workers (first batch excluded)."""
    loader = DataLoader(TwoViews(images, aug), batch_size=batch_size, num_workers=num_workers, drop_last=True)
    it = iter(loader)
    next(it)  # warm-up: starts the workers
    start, n = time.perf_counter(), 0
    for views in it:
        n += views[0].shape[0]
    return n / (time.perf_counter() - start)


def batched_rate(images: torch.Tensor, aug: ViewAugment, batch_size: int, device: torch.device) -> float:
    """Images per second of host-to-device copy plus batched augmentation (first batch excluded)."""
    if device.type == "cuda":
        images = images.pin_memory()
    batches = list(images.split(batch_size))[: len(images) // batch_size]

    def step(x: torch.Tensor) -> list[torch.Tensor]:
        x = x.to(device, non_blocking=True)
        return [normalize(aug.batched(x), MEAN, STD) for _ in range(aug.num_views)]

    step(batches[0])  # warm-up
    _sync(device)
    start = time.perf_counter()
    for x in batches[1:]:
        step(x)
    _sync(device)
    return sum(len(x) for x in batches[1:]) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=32, help="image side (CIFAR: 32)")
    p.add_argument("--images", type=int, default=2048, help="images in the dataset")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--num-workers", type=int, default=2, help="DataLoader workers of the per-sample path")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--blur-prob", type=float, default=0.0, help="Gaussian blur probability (ImageNet recipes: 0.5)")
    args = p.parse_args(argv)
    if args.images < 2 * args.batch_size:
        p.error("--images must hold at least two batches (one is the warm-up)")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)

    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, args.size, args.size), dtype=torch.uint8)
    aug = ViewAugment(size=args.size, num_views=2, blur_prob=args.blur_prob)
    sample = per_sample_rate(images, aug, args.batch_size, args.num_workers)
    batch = batched_rate(images, aug, args.batch_size, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"{args.images} images {args.size}px, 2 views, batch {args.batch_size}, blur_prob {args.blur_prob}")
    print(f"per-sample ({args.num_workers} workers): {sample:10.0f} images/s")
    print(f"batched ({name}): {batch:10.0f} images/s")
    print(f"ratio batched / per-sample: {batch / sample:.1f}x")
    return {"per_sample": sample, "batched": batch, "ratio": batch / sample}


if __name__ == "__main__":
    main()
