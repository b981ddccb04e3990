"""Multi-view image augmentation with a per-sample path and a batched path.

A :class:`ViewAugment` describes one augmentation pipeline with flat keywords
(the ones SimCLR, BYOL and DINO recipes tune). It can run two ways that draw
from the same distributions:

* ``per_sample()``: a torchvision ``v2`` pipeline applied image by image in
  DataLoader workers; works for images of any size, PIL or tensor.
* ``batched(x)``: the whole ``(B, C, H, W)`` batch in a handful of tensor
  ops, on whatever device ``x`` lives (the GPU when there is one), with
  independent random parameters for every sample.

The batched path differs from torchvision in two documented details: colour
jitter applies brightness, contrast, saturation and hue in a fixed order (not a
random permutation per image), and hue is rotated in YIQ space rather than
shifted in HSV.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

_GRAY = (0.299, 0.587, 0.114)
_TO_YIQ = (0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312)
_TO_RGB = tuple(torch.linalg.inv(torch.tensor(_TO_YIQ, dtype=torch.float64).view(3, 3)).flatten().tolist())


class ViewAugment:
    """One random view pipeline: resized crop, flip, colour jitter, grayscale, blur, solarize.

    Args:
        size: output side length in pixels.
        num_views: how many views of each image this pipeline produces.
        crop_scale: range of the crop area as a fraction of the image area.
        crop_ratio: range of the crop aspect ratio.
        hflip_prob: probability of a horizontal flip.
        jitter_prob: probability of applying colour jitter.
        brightness: brightness jitter strength (factor drawn from ``[1-b, 1+b]``).
        contrast: contrast jitter strength.
        saturation: saturation jitter strength.
        hue: hue jitter strength, in ``[0, 0.5]`` (fraction of a full turn).
        grayscale_prob: probability of converting to grayscale.
        blur_prob: probability of a Gaussian blur.
        blur_sigma: range of the blur's standard deviation, in pixels.
        solarize_prob: probability of solarizing (inverting values >= 0.5).
    """

    def __init__(
        self,
        size: int = 32,
        num_views: int = 1,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip_prob: float = 0.5,
        jitter_prob: float = 0.8,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.2,
        hue: float = 0.1,
        grayscale_prob: float = 0.2,
        blur_prob: float = 0.0,
        blur_sigma: tuple[float, float] = (0.1, 2.0),
        solarize_prob: float = 0.0,
    ) -> None:
        if size < 1 or num_views < 1:
            raise ValueError(f"size and num_views must be >= 1, got size={size}, num_views={num_views}")
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {crop_scale}")
        if not 0 < crop_ratio[0] <= crop_ratio[1]:
            raise ValueError(f"crop_ratio must satisfy 0 < min <= max, got {crop_ratio}")
        for name, p in dict(hflip_prob=hflip_prob, jitter_prob=jitter_prob, grayscale_prob=grayscale_prob,
                            blur_prob=blur_prob, solarize_prob=solarize_prob).items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if min(brightness, contrast, saturation) < 0 or not 0 <= hue <= 0.5:
            raise ValueError("brightness, contrast, saturation must be >= 0 and hue in [0, 0.5]")
        if not 0 < blur_sigma[0] <= blur_sigma[1]:
            raise ValueError(f"blur_sigma must satisfy 0 < min <= max, got {blur_sigma}")
        self.size = size
        self.num_views = num_views
        self.crop_scale = tuple(crop_scale)
        self.crop_ratio = tuple(crop_ratio)
        self.hflip_prob = hflip_prob
        self.jitter_prob = jitter_prob
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.grayscale_prob = grayscale_prob
        self.blur_prob = blur_prob
        self.blur_sigma = tuple(blur_sigma)
        self.solarize_prob = solarize_prob

    @property
    def blur_kernel_size(self) -> int:
        """Odd kernel size of about 10% of the image side, as in SimCLR."""
        return max(3, int(0.1 * self.size) // 2 * 2 + 1)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ per-sample path
    def per_sample(self) -> Callable:
        """The same pipeline as a torchvision v2 transform for one image (PIL or ``(C, H, W)`` tensor).

        Returns a float tensor in ``[0, 1]`` of shape ``(C, size, size)``.
        """
        from torchvision.transforms import v2 as T

        steps = [
            T.ToImage(),
            T.ToDtype(torch.float32, scale=True),
            T.RandomResizedCrop(self.size, scale=self.crop_scale, ratio=self.crop_ratio, antialias=True),
            T.RandomHorizontalFlip(self.hflip_prob),
            T.RandomApply([T.ColorJitter(self.brightness, self.contrast, self.saturation, self.hue)], p=self.jitter_prob),
            T.RandomGrayscale(self.grayscale_prob),
        ]
        if self.blur_prob > 0:
            steps.append(T.RandomApply([T.GaussianBlur(self.blur_kernel_size, self.blur_sigma)], p=self.blur_prob))
        if self.solarize_prob > 0:
            steps.append(T.RandomSolarize(0.5, p=self.solarize_prob))
        return T.Compose(steps)

    # ------------------------------------------------------------------ batched path
    @torch.no_grad()
    def batched(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a whole batch with independent parameters per sample.

        Args:
            x: float tensor ``(B, C, H, W)`` with values in ``[0, 1]`` (uint8 is converted).

        Returns:
            Float tensor ``(B, C, size, size)`` in ``[0, 1]`` on the device of ``x``.
        """
        if x.ndim != 4:
            raise ValueError(f"batched augmentation expects (B, C, H, W), got shape {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        x = x.float()
        x = self._resized_crop_flip(x)
        if self.jitter_prob > 0:
            x = _where(_draw(x, self.jitter_prob), self._jitter(x), x)
        if self.grayscale_prob > 0 and x.shape[1] == 3:
            x = _where(_draw(x, self.grayscale_prob), _gray(x).expand_as(x), x)
        if self.blur_prob > 0:  # every image blurred, one kept: no data-dependent shape, no host sync
            mask = _draw(x, self.blur_prob)
            x = _where(mask, self._blur(x), x)
        if self.solarize_prob > 0:
            x = _where(_draw(x, self.solarize_prob), torch.where(x >= 0.5, 1.0 - x, x), x)
        return x

    def _resized_crop_flip(self, x: torch.Tensor) -> torch.Tensor:
        b, dev = x.shape[0], x.device
        h_in, w_in = x.shape[-2:]
        area = torch.empty(b, device=dev).uniform_(*self.crop_scale)
        log_r = torch.empty(b, device=dev).uniform_(math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))
        ratio = torch.exp(log_r) * (h_in / w_in)  # aspect ratio in pixels -> in normalised units
        cw = torch.sqrt(area * ratio).clamp(max=1.0)  # crop width as a fraction of the image width
        ch = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (torch.rand(b, device=dev) * (1 - cw) + cw / 2) * 2 - 1  # crop centre in [-1, 1]
        cy = (torch.rand(b, device=dev) * (1 - ch) + ch / 2) * 2 - 1
        flip = torch.where(torch.rand(b, device=dev) < self.hflip_prob, -1.0, 1.0)
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = cw * flip, cx
        theta[:, 1, 1], theta[:, 1, 2] = ch, cy
        grid = F.affine_grid(theta, [b, x.shape[1], self.size, self.size], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        def factor(strength: float) -> torch.Tensor:
            return torch.empty(x.shape[0], 1, 1, 1, device=x.device).uniform_(max(0.0, 1 - strength), 1 + strength)

        if self.brightness > 0:
            x = (x * factor(self.brightness)).clamp(0, 1)
        if self.contrast > 0:
            mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
            x = ((x - mean) * factor(self.contrast) + mean).clamp(0, 1)
        if x.shape[1] == 3:
            if self.saturation > 0:
                g = _gray(x)
                x = ((x - g) * factor(self.saturation) + g).clamp(0, 1)
            if self.hue > 0:
                x = _rotate_hue(x, torch.empty(x.shape[0], device=x.device).uniform_(-self.hue, self.hue))
        return x

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k = self.blur_kernel_size
        sigma = torch.empty(b, 1, device=x.device).uniform_(*self.blur_sigma)
        t = torch.arange(k, device=x.device, dtype=x.dtype) - (k - 1) / 2
        kernel = torch.exp(-(t**2) / (2 * sigma**2))
        kernel = (kernel / kernel.sum(dim=1, keepdim=True))[:, None].expand(b, c, k).reshape(b * c, k)  # (B*C, k)
        y = F.pad(x.reshape(1, b * c, h, w), (k // 2, k // 2, k // 2, k // 2), mode="reflect")
        y = F.conv2d(y, kernel.view(b * c, 1, 1, k), groups=b * c)
        y = F.conv2d(y, kernel.view(b * c, 1, k, 1), groups=b * c)
        return y.view(b, c, h, w)


def _draw(x: torch.Tensor, p: float) -> torch.Tensor:
    return torch.rand(x.shape[0], device=x.device) < p


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), a, b)


def _const(values: tuple, like: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A constant tensor on the device of ``like``, made once per device and dtype.

    ``torch.tensor(values, device="cuda")`` copies from pageable host memory and
    waits for the stream at every call; a cached copy costs nothing per step.
    """
    key = (values, shape, like.device, like.dtype)
    t = _CONSTANTS.get(key)
    if t is None:
        t = _CONSTANTS[key] = torch.tensor(values, dtype=torch.float64).view(shape).to(like.device, like.dtype)
    return t


_CONSTANTS: dict[tuple, torch.Tensor] = {}


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    return (x * _const(_GRAY, x, (1, 3, 1, 1))).sum(dim=1, keepdim=True)


def _rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB images by ``turns`` (fractions of 2*pi) in YIQ space."""
    to_yiq = _const(_TO_YIQ, x, (3, 3))
    to_rgb = _const(_TO_RGB, x, (3, 3))  # inverted once on the host: linalg.inv on a GPU waits for its result
    cos, sin = torch.cos(2 * math.pi * turns), torch.sin(2 * math.pi * turns)
    rot = torch.zeros(x.shape[0], 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = to_rgb @ rot @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 1)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Channel-wise ``(x - mean) / std`` for a ``(B, C, H, W)`` batch."""
    c = len(mean)
    return (x - _const(tuple(mean), x, (1, c, 1, 1))) / _const(tuple(std), x, (1, c, 1, 1))
