"""Colour spaces in pure torch: sRGB <-> CIE Lab (D65), and the grey-image colouring used for digits.

The conversions are the standard formulas (IEC 61966-2-1 sRGB transfer curve,
the sRGB -> XYZ matrix, CIE 1976 L*a*b* with the D65 white of that matrix), so
white is exactly ``(100, 0, 0)`` and pure red ``(53.24, 80.09, 67.20)``.
kornia (``kornia.color.rgb_to_lab``) implements the same formulas; sslkit does
not depend on kornia for two short functions, and these ones accept any float
dtype and broadcast over leading dimensions.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

_RGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375),
               (0.2126729, 0.7151522, 0.0721750),
               (0.0193339, 0.1191920, 0.9503041))
_DELTA = 6.0 / 29.0


def _matrix(x: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    m = torch.tensor(_RGB_TO_XYZ, dtype=torch.float64)
    m = torch.linalg.inv(m) if inverse else m
    return m.to(device=x.device, dtype=x.dtype)


def _apply(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``m @ x`` over the channel dimension (-3) of ``(..., 3, H, W)``."""
    return torch.einsum("ij,...jhw->...ihw", m, x)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in ``[0, 1]``, ``(..., 3, H, W)`` -> CIE Lab (D65): L in ``[0, 100]``, a and b roughly ``[-110, 110]``."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"rgb_to_lab expects 3 channels at dim -3, got shape {tuple(rgb.shape)}")
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)
    m = _matrix(rgb)
    xyz = _apply(m, lin) / m.sum(dim=1).view(3, 1, 1)  # divide by the white point: white -> (1, 1, 1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp(min=_DELTA**3) ** (1 / 3), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f.unbind(dim=-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (D65) ``(..., 3, H, W)`` -> sRGB; not clipped (colours outside the sRGB gamut leave ``[0, 1]``)."""
    if lab.shape[-3] != 3:
        raise ValueError(f"lab_to_rgb expects 3 channels at dim -3, got shape {tuple(lab.shape)}")
    L, a, b = lab.unbind(dim=-3)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29))
    xyz = xyz * _matrix(lab).sum(dim=1).view(3, 1, 1)
    lin = _apply(_matrix(lab, inverse=True), xyz)
    return torch.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def orientation_colours(grey: torch.Tensor, chroma: float = 60.0, sigma: float = 1.5) -> torch.Tensor:
    """Colour a grey image by the local direction of its strokes; returns Lab ``(B, 3, H, W)``.

    The substitute colorization task on grey data (digits): hue follows the
    dominant local orientation (the doubled angle of the structure tensor
    smoothed with a Gaussian of ``sigma`` pixels), so horizontal and vertical
    strokes get opposite hues and diagonals the two in between; chroma is
    ``chroma * coherence * intensity`` (neutral background, neutral where no
    direction dominates). L is the grey image's own lightness. The ab target
    is a deterministic function of the luminance image and its neighbourhood,
    so it can be predicted from L alone, unlike a random tint.

    Args:
        grey: ``(B, 1 or 3, H, W)`` in ``[0, 1]`` (3 channels are averaged).
        chroma: largest ab radius.
        sigma: scale (pixels) over which the orientation is measured.
    """
    v = grey.mean(dim=1, keepdim=True)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=v.device, dtype=v.dtype) / 8
    padded = F.pad(v, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel.view(1, 1, 3, 3))
    gy = F.conv2d(padded, sobel.t().reshape(1, 1, 3, 3))
    k = int(2 * round(2 * sigma) + 1)
    t = torch.arange(k, device=v.device, dtype=v.dtype) - k // 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    j = torch.cat([gx * gx, gx * gy, gy * gy])  # (3B, 1, H, W) structure tensor entries
    j = F.conv2d(F.pad(j, (k // 2,) * 4, mode="replicate"), g.view(1, 1, 1, k))
    j = F.conv2d(j, g.view(1, 1, k, 1))
    jxx, jxy, jyy = j.chunk(3)
    scale = chroma * v / (jxx + jyy + 1e-6)  # |(jxx - jyy, 2 jxy)| / (jxx + jyy) is the coherence, in [0, 1]
    L = rgb_to_lab(v.expand(-1, 3, -1, -1))[:, :1]
    return torch.cat([L, (jxx - jyy) * scale, 2 * jxy * scale], dim=1)


@functools.lru_cache(maxsize=4)
def _gamut_bins(bin_size: float) -> tuple[tuple[float, float], ...]:
    # the ab projection of the RGB cube is the projection of its surface: sample the six faces
    v = torch.linspace(0, 1, 129, dtype=torch.float64)
    u, w = (t.flatten() for t in torch.meshgrid(v, v, indexing="ij"))
    faces = []
    for channel in range(3):
        for value in (0.0, 1.0):
            face = torch.full((3, u.numel()), value, dtype=torch.float64)
            face[[c for c in range(3) if c != channel]] = torch.stack([u, w])
            faces.append(face)
    ab = rgb_to_lab(torch.cat(faces, dim=1).view(3, 1, -1))[1:].reshape(2, -1).t()
    cells = torch.unique(torch.round(ab / bin_size), dim=0)
    return tuple((float(x) * bin_size, float(y) * bin_size) for x, y in cells)


def ab_bins(bin_size: float = 10.0) -> torch.Tensor:
    """Centres ``(Q, 2)`` of the ab grid cells (side ``bin_size``, centred on multiples of it) that hold an sRGB colour.

    Zhang et al. (2016) quantise ab with a grid of 10 and keep the Q = 313
    cells their ImageNet pixels fall in; here a cell is kept when the ab of
    some sRGB colour falls in it (the faces of the RGB cube sampled in steps
    of 1/128), which gives Q = 262 for ``bin_size=10`` with no data needed.
    """
    if bin_size <= 0:
        raise ValueError(f"bin_size must be > 0, got {bin_size}")
    return torch.tensor(_gamut_bins(float(bin_size)), dtype=torch.float32)


def polar_colours(grey: torch.Tensor, chroma: float = 60.0) -> torch.Tensor:
    """Colour a grey image by where each stroke lies around the image's centre of ink; returns Lab ``(B, 3, H, W)``.

    The hue of a pixel is the angle of its offset from the intensity-weighted
    centroid of the image, its chroma ``chroma * intensity``; L is the grey
    image's own lightness. A substitute colorization task on grey data whose
    target depends on the whole digit (its centroid), not only on a neighbourhood.

    Args:
        grey: ``(B, 1 or 3, H, W)`` in ``[0, 1]`` (3 channels are averaged).
        chroma: ab radius at full intensity.
    """
    v = grey.mean(dim=1, keepdim=True)
    h, w = v.shape[-2:]
    ys = torch.arange(h, device=v.device, dtype=v.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=v.device, dtype=v.dtype).view(1, 1, 1, w)
    mass = v.sum(dim=(2, 3), keepdim=True).clamp(min=1e-6)
    dy, dx = ys - (v * ys).sum(dim=(2, 3), keepdim=True) / mass, xs - (v * xs).sum(dim=(2, 3), keepdim=True) / mass
    angle = torch.atan2(dy, dx)
    L = rgb_to_lab(v.expand(-1, 3, -1, -1))[:, :1]
    return torch.cat([L, chroma * v * torch.cos(angle), chroma * v * torch.sin(angle)], dim=1)
