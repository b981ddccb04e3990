"""GANGenerator (with the other generative heads): shapes and DCGAN's bounded output in the normalised space."""

from __future__ import annotations

import torch

from sslkit.heads import GANGenerator, PixelSpace


def test_gan_generator_bounded_in_pixel_space_and_raw_without():
    torch.manual_seed(0)
    pixels = PixelSpace([0.3], [0.4], 3)
    gen = GANGenerator(latent_dim=8, in_chans=3, image_size=16, widths=None, pixels=pixels)
    z = torch.randn(5, 8) * 50  # large codes saturate tanh: the pixels still stay in [0, 1]
    out = gen(z)
    assert out.shape == (5, 3, 16, 16)
    unit = pixels.to_unit(out)
    assert unit.min() >= 0 and unit.max() <= 1 and (unit.max() - unit.min()) > 0.5
    torch.testing.assert_close(out, (0.5 * torch.tanh(gen.net(z)) + 0.5 - 0.3) / 0.4)
    raw = GANGenerator(8, 3, 16, [16, 8, 4], None)
    torch.testing.assert_close(raw(z), raw.net(z))  # no pixel space: the decoder's raw output
