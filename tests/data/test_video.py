"""Moving digits: the bounce rule, deterministic clips in [0, 1], rendering at the trajectory, the DataModule
contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sslkit.data import BANK_LOADER, VAL_LOADER, MovingDigitsDataModule
from sslkit.data.video import MovingDigits, bounce


def test_bounce_hand_computed():
    # limit 10, one coordinate: 1 -(-3)-> -2 reflects to 2 (v = +3), 5, 8, 11 reflects to 9 (v = -3), 6
    pos, vel = bounce(np.array([1.0]), np.array([-3.0]), 10.0, 6)
    assert pos[:, 0].tolist() == [1, 2, 5, 8, 9, 6]
    assert vel[:, 0].tolist() == [-3, 3, 3, 3, -3, -3]


def test_bounce_keeps_positions_inside_and_flips_velocity_at_the_borders():
    rng = np.random.default_rng(0)
    limit, steps = 16.0, 60
    start = rng.uniform(0, limit, (50, 2))
    velocity = rng.uniform(-4, 4, (50, 2))
    pos, vel = bounce(start, velocity, limit, steps)
    assert pos.shape == vel.shape == (steps, 50, 2)
    assert pos.min() >= 0 and pos.max() <= limit
    np.testing.assert_allclose(np.abs(vel), np.abs(velocity)[None].repeat(steps, 0))  # speed per axis is kept
    free = pos[:-1] + vel[:-1]  # where each point would go without walls
    hit = (free < 0) | (free > limit)
    assert hit.sum() > 50  # the trajectories do bounce
    assert np.array_equal(np.sign(vel[1:]) == -np.sign(vel[:-1]), hit)  # flips exactly at the walls
    reflected = np.where(free < 0, -free, np.where(free > limit, 2 * limit - free, free))
    np.testing.assert_allclose(pos[1:], reflected)
    with pytest.raises(ValueError):
        bounce(np.array([1.0]), np.array([20.0]), 10.0, 3)  # faster than the box: one reflection is not enough


def _digits(n: int = 6, d: int = 4) -> tuple[torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, d, d, generator=g) * 0.9 + 0.1, np.arange(n) % 3  # no zero pixel: boxes are exact


def test_clips_are_deterministic_in_range_and_drawn_at_their_trajectory():
    digits, labels = _digits()
    a = MovingDigits(digits, labels, canvas_size=12, num_frames=7, speed=(1.0, 3.0), seed=3)
    b = MovingDigits(digits, labels, canvas_size=12, num_frames=7, speed=(1.0, 3.0), seed=3)
    c = MovingDigits(digits, labels, canvas_size=12, num_frames=7, speed=(1.0, 3.0), seed=4)
    clip, label = a[5]
    assert clip.shape == (7, 3, 12, 12) and label == labels[5 % 6]
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(len(a)))
    assert not all(torch.equal(a[i][0], c[i][0]) for i in range(len(a)))
    for i in range(len(a)):
        clip = a[i][0]
        assert clip.min() >= 0 and clip.max() <= 1
        assert torch.equal(clip[:, 0], clip[:, 1]) and torch.equal(clip[:, 0], clip[:, 2])
        for t in range(7):
            y, x = a.positions[t, i, 0]
            box = torch.zeros(12, 12, dtype=torch.bool)
            box[y:y + 4, x:x + 4] = True
            assert torch.equal(clip[t, 0][box], digits[i % 6].reshape(-1))  # the digit sits at the trajectory ...
            assert (clip[t, 0][~box] == 0).all()  # ... and nowhere else
        assert len({tuple(a.positions[t, i, 0]) for t in range(7)}) > 1  # it moves


def test_two_digits_are_labelled_by_the_first():
    digits, labels = _digits()
    clips = MovingDigits(digits, labels, canvas_size=12, num_frames=3, num_digits=2, clips_per_digit=2, seed=0)
    assert len(clips) == 12 and clips.sources.shape == (12, 2)
    assert clips.labels.tolist() == labels[np.arange(12) % 6].tolist()
    frame = clips.frame(0, 0)[0]
    assert (frame > 0).sum() > 16  # two digits on the canvas (unless fully overlapping, not at this seed)


@pytest.fixture(scope="module")
def moving():
    dm = MovingDigitsDataModule(canvas_size=20, digit_size=8, num_frames=5, batch_size=16, eval_batch_size=64,
                                label_fraction=0.5)
    dm.setup("fit")
    return dm


def test_datamodule_contract(moving):
    views, labels = next(iter(moving.train_dataloader()))
    assert len(views) == 5 and all(v.shape == (16, 3, 20, 20) for v in views)
    assert labels.shape == (16,) and ((labels == -1) | ((labels >= 0) & (labels < 10))).all()
    loaders = moving.val_dataloader()
    for idx in (BANK_LOADER, VAL_LOADER):
        x, y = next(iter(loaders[idx]))
        assert x.shape[1:] == (3, 20, 20) and x.shape[0] == y.shape[0] and (y >= 0).all()
    sizes = {s: len(moving.clips(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 1257, "val": 180, "test": 360}  # one clip per digit of the digits split
    assert len(moving.labelled_dataset("train")) == len(moving.labelled_indices()) < 0.55 * 1257
    assert len(moving.labelled_dataset("train", fraction=0.1)) < 0.12 * 1257


def test_frames_are_normalised_with_the_measured_statistics(moving):
    views, _ = next(iter(moving.train_dataloader()))
    clips = torch.stack([moving.clips("train")[i][0] for i in range(256)])
    assert moving.mean[0] == pytest.approx(clips.mean().item()) and moving.std[0] == pytest.approx(clips.std().item())
    frame, label = moving.labelled_dataset("val")[0]
    raw = moving.clips("val")
    t = [k for k in range(5) if torch.allclose(frame * moving.std[0] + moving.mean[0], raw.frame(0, k), atol=1e-6)]
    assert t and label == raw.labels[0]  # an evaluation item is a normalised frame of the clip, with its label
    assert abs(torch.stack(views).mean().item()) < 0.3


def test_same_seed_same_data_and_splits_do_not_share_digits():
    make = lambda seed: MovingDigitsDataModule(canvas_size=20, digit_size=8, num_frames=4, clip_seed=seed)  # noqa: E731
    a, b, c = make(0), make(0), make(1)
    assert torch.equal(a.clips("train")[7][0], b.clips("train")[7][0])
    assert not torch.equal(a.clips("train")[7][0], c.clips("train")[7][0])
    train, test = a.clips("train").digits.flatten(1), a.clips("test").digits.flatten(1)
    assert not (torch.cdist(test, train) == 0).any()  # no test digit appears in a training clip
