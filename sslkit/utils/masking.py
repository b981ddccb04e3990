"""Patches and random masks for masked image modelling (MAE, SimMIM, data2vec).

Patch layout follows MAE (facebookresearch/mae ``models_mae.py``): an image
``(B, C, H, W)`` becomes ``(B, N, p * p * C)`` with patches in row-major order
(``N = (H / p) * (W / p)``) and each patch flattened as ``(row, column, channel)``.
Masks are boolean ``(B, N)`` with ``True`` = masked (hidden from the encoder).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


def patchify(imgs: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(B, C, H, W)`` images -> ``(B, N, p * p * C)`` patches (row-major; each patch ``(p, p, C)`` flattened).

    Raises:
        ValueError: when ``H`` or ``W`` is not a multiple of ``patch_size``.
    """
    b, c, h, w = imgs.shape
    p = int(patch_size)
    if p < 1 or h % p or w % p:
        raise ValueError(f"image side {h}x{w} must be a multiple of the patch size {p}")
    x = imgs.reshape(b, c, h // p, p, w // p, p)
    return torch.einsum("bchpwq->bhwpqc", x).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, patch_size: int, grid: tuple[int, int], channels: int = 3) -> torch.Tensor:
    """The inverse of :func:`patchify`: ``(B, N, p * p * C)`` -> ``(B, C, gh * p, gw * p)``.

    Args:
        patches: patch rows in :func:`patchify`'s layout.
        patch_size: side ``p`` of a patch in pixels.
        grid: ``(gh, gw)`` patches per column and per row (``gh * gw = N``).
        channels: image channels ``C``.
    """
    b, n, d = patches.shape
    (gh, gw), p = grid, int(patch_size)
    if gh * gw != n or p * p * channels != d:
        raise ValueError(f"{n} patches of size {d} do not fit a {gh}x{gw} grid of {p}x{p}x{channels} patches")
    x = patches.reshape(b, gh, gw, p, p, channels)
    return torch.einsum("bhwpqc->bchpwq", x).reshape(b, channels, gh * p, gw * p)


class RandomMask(NamedTuple):
    """One random mask per image (MAE's per-sample shuffle).

    Attributes:
        ids_keep: ``(B, K)`` indices of the visible patches, in shuffled order.
        ids_restore: ``(B, N)`` positions that undo the shuffle (``[visible..., masked...]`` -> original order).
        mask: ``(B, N)`` boolean, ``True`` where a patch is masked.
    """

    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor


def num_masked(num_patches: int, ratio: float) -> int:
    """Patches masked per image: ``round(ratio * num_patches)``, checked to leave one visible.

    Raises:
        ValueError: for a ratio outside ``[0, 1)`` or one that would mask every patch.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio must lie in [0, 1), got {ratio}")
    n = int(round(ratio * num_patches))
    if n >= num_patches:
        raise ValueError(f"mask ratio {ratio} masks all {num_patches} patches; lower it or use smaller patches")
    return n


def random_masking(batch_size: int, num_patches: int, ratio: float, device: torch.device | str | None = None,
                   generator: torch.Generator | None = None) -> RandomMask:
    """Mask exactly ``round(ratio * num_patches)`` patches of each image, chosen uniformly at random.

    As in MAE: sort one uniform noise value per patch; the patches with the
    smallest noise are kept. Different images get different masks.

    Args:
        batch_size: images ``B``.
        num_patches: patches per image ``N``.
        ratio: fraction of patches to mask, in ``[0, 1)``.
        device: device of the returned tensors.
        generator: optional random generator (reproducible masks).
    """
    keep = num_patches - num_masked(num_patches, ratio)
    noise = torch.rand(batch_size, num_patches, device=device, generator=generator)
    ids_shuffle = noise.argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    mask = torch.ones(batch_size, num_patches, dtype=torch.bool, device=device)
    mask[:, :keep] = False
    return RandomMask(ids_shuffle[:, :keep], ids_restore, torch.gather(mask, 1, ids_restore))


def upsample_mask(mask: torch.Tensor, grid: tuple[int, int], factor: int) -> torch.Tensor:
    """A ``(B, gh * gw)`` patch mask as a ``(B, gh * f, gw * f)`` mask of cells ``f`` times finer."""
    m = mask.reshape(mask.shape[0], *grid)
    return m.repeat_interleave(factor, dim=1).repeat_interleave(factor, dim=2)


def vit_tokens(backbone: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None,
               mask_token: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A timm ViT's forward with masked patch embeddings replaced by a (learnable) mask token.

    Unlike ``forward_tokens(x, keep=...)`` (MAE: masked patches never enter the
    encoder), every position stays in the sequence, so a head can predict at the
    masked ones (SimMIM, data2vec). The mask token replaces the patch embedding
    before the position embedding is added.

    Args:
        backbone: a :class:`~sslkit.backbones.vision.TimmBackbone` around a ViT (``masks_inside``).
        x: images ``(B, C, H, W)``.
        mask: optional ``(B, N)`` boolean, ``True`` = replace by ``mask_token``.
        mask_token: ``(D,)`` or ``(1, 1, D)`` embedding; required with ``mask``.

    Returns:
        ``(tokens, blocks)``: final tokens ``(B, P + N, D)`` after the last norm and
        the output of every block (before that norm), prefix tokens included.
    """
    if not getattr(backbone, "masks_inside", False):
        raise ValueError(f"{type(backbone).__name__} is not a timm ViT backbone (needs patch_embed, _pos_embed, "
                         "blocks, norm); use a timm ViT such as timm:vit_tiny_patch16_224")
    m = backbone.model
    t = m.patch_embed(x)
    if mask is not None:
        if mask_token is None:
            raise ValueError("a mask needs a mask_token")
        w = mask.reshape(*t.shape[:-1], 1).to(t.dtype)
        t = t * (1 - w) + mask_token.reshape(-1).to(t.dtype) * w
    t = m.norm_pre(m._pos_embed(t))
    blocks = []
    for block in m.blocks:
        t = block(t)
        blocks.append(t)
    return m.norm(t), blocks


def patch_grid(x: torch.Tensor, patch_size: int) -> tuple[int, int]:
    """``(H / p, W / p)`` of images ``x``, checked to divide evenly."""
    h, w = x.shape[-2:]
    if h % patch_size or w % patch_size:
        raise ValueError(f"image side {h}x{w} must be a multiple of the patch size {patch_size}")
    return h // patch_size, w // patch_size


__all__ = ["RandomMask", "num_masked", "patch_grid", "patchify", "random_masking", "unpatchify", "upsample_mask",
           "vit_tokens"]
