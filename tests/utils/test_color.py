"""sRGB <-> Lab: reference values, round trip, in-gamut ab bins, the digits' orientation colouring."""

import pytest
import torch

from sslkit.utils.color import ab_bins, lab_to_rgb, orientation_colours, polar_colours, rgb_to_lab

# CIE Lab (D65) of the sRGB primaries, e.g. from http://www.brucelindbloom.com (sRGB, D65, no adaptation)
REFERENCE = {
    (1.0, 1.0, 1.0): (100.0, 0.0, 0.0),
    (0.0, 0.0, 0.0): (0.0, 0.0, 0.0),
    (1.0, 0.0, 0.0): (53.24, 80.09, 67.20),
    (0.0, 1.0, 0.0): (87.73, -86.18, 83.18),
    (0.0, 0.0, 1.0): (32.30, 79.19, -107.86),
    (0.5, 0.5, 0.5): (53.39, 0.0, 0.0),
}


@pytest.mark.parametrize("rgb,lab", list(REFERENCE.items()), ids=[str(k) for k in REFERENCE])
def test_reference_values(rgb, lab):
    got = rgb_to_lab(torch.tensor(rgb).view(3, 1, 1)).flatten()
    torch.testing.assert_close(got, torch.tensor(lab), atol=0.006, rtol=0)
    back = lab_to_rgb(torch.tensor(lab).view(3, 1, 1)).flatten()
    torch.testing.assert_close(back, torch.tensor(rgb), atol=1e-3, rtol=0)  # references rounded to 0.01


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-7)])
def test_round_trip_is_identity(dtype, tol):
    torch.manual_seed(0)
    rgb = torch.rand(4, 3, 16, 16, dtype=dtype)
    rgb[0, :, 0, :4] = torch.tensor([0.0, 1.0, 0.04045, 0.003], dtype=dtype)  # both branches of both curves
    # float64: 3e-8 at 0.04045, where the standard sRGB curve's two thresholds do not quite meet
    lab = rgb_to_lab(rgb)
    assert lab[:, 0].min() >= 0 and lab[:, 0].max() <= 100
    torch.testing.assert_close(lab_to_rgb(lab), rgb, atol=tol, rtol=0)


def test_ab_bins_cover_every_srgb_colour_and_nothing_far_outside():
    bins = ab_bins(10.0)
    assert bins.shape[1] == 2 and 240 <= len(bins) <= 313  # Zhang et al. keep 313 from ImageNet pixels
    assert torch.equal(bins, torch.round(bins / 10) * 10)  # centres on the grid
    torch.manual_seed(0)
    ab = rgb_to_lab(torch.rand(3, 1, 20000))[1:].reshape(2, -1).t()
    nearest = torch.cdist(ab, bins).min(dim=1).values
    assert nearest.max() <= 5 * 2**0.5 + 1e-4  # every colour lies in a kept cell
    kept = {tuple(c) for c in bins.tolist()}
    assert (0.0, 0.0) in kept and (80.0, 70.0) in kept  # grey; pure red (80.09, 67.20)
    assert (-100.0, -100.0) not in kept and (100.0, -100.0) not in kept  # no sRGB colour there


def test_orientation_colours_follow_stroke_direction():
    img = torch.zeros(2, 1, 16, 16)
    img[0, :, 7:9, 2:14] = 1.0  # horizontal bar
    img[1, :, 2:14, 7:9] = 1.0  # vertical bar
    lab = orientation_colours(img, chroma=60.0, sigma=1.5)
    torch.testing.assert_close(lab[:, :1], rgb_to_lab(img.expand(-1, 3, -1, -1))[:, :1])  # L unchanged
    horizontal, vertical = lab[0, 1:, 7:9, 5:11], lab[1, 1:, 5:11, 7:9]
    assert (horizontal[0] < -20).all() and (vertical[0] > 20).all()  # opposite hues (a) for the two directions
    assert horizontal[1].abs().max() < 1.0 and vertical[1].abs().max() < 1.0  # no diagonal component (b)
    assert lab[:, 1:, 0, 0].abs().max() == 0  # background stays neutral
    diag = torch.eye(16).view(1, 1, 16, 16).clone()
    diag = torch.maximum(diag, diag.roll(1, dims=-1))
    assert orientation_colours(diag)[0, 2, 6:10, 6:10].mean() < -20  # a diagonal: the b axis


def test_polar_colours_point_away_from_the_centre_of_ink():
    img = torch.zeros(1, 1, 7, 7)
    img[0, 0, 1, 2] = img[0, 0, 5, 2] = img[0, 0, 3, 0] = img[0, 0, 3, 4] = 1.0  # centroid (row 3, column 2)
    img[0, 0, 3, 2] = 0.5  # at the centroid: no direction
    lab = polar_colours(img, chroma=60.0)
    torch.testing.assert_close(lab[:, :1], rgb_to_lab(img.expand(-1, 3, -1, -1))[:, :1])
    ab = {(r, c): lab[0, 1:, r, c].tolist() for r, c in [(1, 2), (5, 2), (3, 0), (3, 4), (3, 2), (0, 0)]}
    expected = {(1, 2): [0, -60], (5, 2): [0, 60], (3, 0): [-60, 0], (3, 4): [60, 0], (3, 2): [30, 0], (0, 0): [0, 0]}
    for key, value in expected.items():  # (3, 2): atan2(0, 0) = 0, half intensity
        torch.testing.assert_close(torch.tensor(ab[key]), torch.tensor(value, dtype=torch.float32), atol=1e-4, rtol=0)
