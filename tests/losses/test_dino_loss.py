"""DINO loss: cross-view pairs, centring arithmetic and teacher-temperature warm-up."""

import math

import pytest
import torch

from sslkit.losses import DINOLoss


def test_hand_computed_two_global_crops():
    # T_t = T_s = 1, centre 0. teacher 0 uniform, teacher 1 softmax [3/4, 1/4];
    # student 0 uniform, student 1 log-probs [ln 3/4, ln 1/4].
    # pairs (t0, s1) = -(ln .75 + ln .25) / 2, (t1, s0) = ln 2; mean of both.
    loss = DINOLoss(out_dim=2, teacher_temp=1.0, warmup_teacher_temp=1.0, student_temp=1.0)
    t0, t1 = torch.zeros(1, 2), torch.tensor([[math.log(3), 0.0]])
    s0, s1 = torch.zeros(1, 2), torch.tensor([[math.log(3), 0.0]])
    expected = (-(math.log(0.75) + math.log(0.25)) / 2 + math.log(2)) / 2
    assert loss([s0, s1], [t0, t1]).item() == pytest.approx(expected, abs=1e-6)


def test_local_crops_pair_with_every_teacher_crop():
    # 2 teacher crops, 3 student crops -> pairs (0,1), (0,2), (1,0), (1,2): a student crop never meets its own teacher
    loss = DINOLoss(out_dim=2, teacher_temp=1.0, warmup_teacher_temp=1.0, student_temp=1.0)
    t0, t1 = torch.zeros(1, 2), torch.tensor([[math.log(3), 0.0]])
    s = [torch.tensor([[100.0, 0.0]]), torch.zeros(1, 2), torch.zeros(1, 2)]  # s0 confident: only hurts the (t1, s0) pair
    ce_t1_s0 = -(0.25 * -100.0)  # -(.75 * log 1 + .25 * log e^-100)
    expected = (math.log(2) + math.log(2) + ce_t1_s0 + (0.75 * math.log(2) + 0.25 * math.log(2))) / 4
    assert loss(s, [t0, t1]).item() == pytest.approx(expected, rel=1e-5)


def test_center_update_arithmetic():
    loss = DINOLoss(out_dim=3, center_momentum=0.9)
    a = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])  # mean [2, 2, 2]
    b = torch.tensor([[0.0, 10.0, 0.0]])
    loss([a, a], [a])
    assert torch.allclose(loss.center, torch.tensor([[0.2, 0.2, 0.2]]))
    loss.update_center(b)
    assert torch.allclose(loss.center, torch.tensor([[0.18, 0.18 + 1.0, 0.18]]))


def test_centre_is_subtracted_before_sharpening():
    # with the centre equal to the teacher output, the target is uniform: CE = log(K) for a uniform student
    loss = DINOLoss(out_dim=4, teacher_temp=0.04, warmup_teacher_temp=0.04, center_momentum=0.5)
    t = torch.tensor([[5.0, 1.0, 0.0, 0.0]])
    loss.center.copy_(t)
    assert loss([torch.zeros(1, 4), torch.zeros(1, 4)], [t, t]).item() == pytest.approx(math.log(4), abs=1e-6)


def test_teacher_temperature_warmup():
    loss = DINOLoss(out_dim=2, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_teacher_temp_epochs=10)
    assert loss.teacher_temperature(0) == pytest.approx(0.04)
    assert loss.teacher_temperature(5) == pytest.approx(0.055)
    assert loss.teacher_temperature(10) == pytest.approx(0.07)
    assert loss.teacher_temperature(50) == pytest.approx(0.07)


def test_arguments_and_shapes_are_validated():
    with pytest.raises(ValueError):
        DINOLoss(out_dim=2, center_momentum=1.0)
    with pytest.raises(ValueError):
        DINOLoss(out_dim=0)
    with pytest.raises(ValueError, match="shape"):
        DINOLoss(out_dim=2)([torch.zeros(1, 3), torch.zeros(1, 3)], [torch.zeros(1, 3)])
