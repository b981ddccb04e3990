"""Generative losses against closed forms and hand-computed values; the DDPM schedule's q_sample."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from sslkit.losses import (
    ELBOLoss,
    active_units,
    discriminator_accuracy,
    discriminator_loss,
    gaussian_kl,
    generator_loss,
)
from sslkit.utils import NoiseSchedule

LOG2PI = math.log(2 * math.pi)


def test_gaussian_kl_is_the_closed_form():
    mu = torch.tensor([[1.0, 0.0, -2.0]])
    logvar = torch.tensor([[0.0, math.log(2.0), math.log(0.5)]])
    # 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2), by hand
    expected = torch.tensor([[0.5, 0.5 * (1 - math.log(2)), 0.5 * (4 + 0.5 - 1 - math.log(0.5))]])
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    # and torch's own KL between the two normals, on random values
    mu, logvar = torch.randn(5, 4), torch.randn(5, 4)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros(5, 4), torch.ones(5, 4)))
    torch.testing.assert_close(gaussian_kl(mu, logvar), reference)


def test_elbo_of_a_hand_made_gaussian_case():
    x, out = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]])
    mu, logvar = torch.tensor([[1.0]]), torch.tensor([[0.0]])
    terms = ELBOLoss("gaussian", likelihood_std=1.0)(x, out, mu, logvar)
    nll = 0.5 * (0.25 + 0.25) + LOG2PI  # two pixels: 0.5 (x - m)^2 + 0.5 log 2 pi each
    torch.testing.assert_close(terms.nll, torch.tensor(nll))
    torch.testing.assert_close(terms.kl, torch.tensor(0.5))
    torch.testing.assert_close(terms.elbo, torch.tensor(-(nll + 0.5)))
    # a likelihood std of 0.5 quadruples the squared error and adds log 0.5 per pixel
    terms = ELBOLoss("gaussian", likelihood_std=0.5)(x, out, mu, logvar)
    torch.testing.assert_close(terms.nll, torch.tensor(2 * 0.5 * 0.25 / 0.25 + 2 * math.log(0.5) + LOG2PI))


def test_elbo_of_a_hand_made_bernoulli_case_averages_over_the_batch():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # p = 1/2, 1/2 ; 3/4, 1/2
    mu, logvar = torch.zeros(2, 3), torch.zeros(2, 3)
    terms = ELBOLoss("bernoulli")(x, logits, mu, logvar)
    nll = ((math.log(2) + math.log(2)) + (-math.log(0.75) + math.log(2))) / 2
    torch.testing.assert_close(terms.nll, torch.tensor(nll))
    torch.testing.assert_close(terms.kl, torch.tensor(0.0))


def test_free_bits_floor_each_dimension_in_the_objective_only():
    mu = torch.tensor([[0.1, 2.0], [0.1, 2.0]])  # KL per dim: 0.005 and 2.0
    logvar = torch.zeros(2, 2, requires_grad=True)
    terms = ELBOLoss(free_bits=0.5)(torch.zeros(2, 1), torch.zeros(2, 1), mu, logvar)
    torch.testing.assert_close(terms.kl, torch.tensor(2.005))
    torch.testing.assert_close(terms.kl_objective, torch.tensor(2.5))  # first dimension floored at 0.5
    off = ELBOLoss(free_bits=0.0)(torch.zeros(2, 1), torch.zeros(2, 1), mu, logvar)
    torch.testing.assert_close(off.kl_objective, off.kl)


def test_elbo_loss_validates_its_arguments():
    with pytest.raises(ValueError, match="likelihood"):
        ELBOLoss("laplace")
    with pytest.raises(ValueError, match="likelihood_std > 0"):
        ELBOLoss(likelihood_std=0.0)
    with pytest.raises(ValueError, match="free_bits"):
        ELBOLoss(free_bits=-1.0)
    with pytest.raises(ValueError, match="shape"):
        ELBOLoss().nll(torch.zeros(2, 3), torch.zeros(2, 4))


def test_active_units_count_dimensions_whose_mean_varies():
    mu = torch.stack([torch.tensor([1.0, -1.0]) * s for s in (1.0, 0.05, 0.15, 0.0)], dim=1)  # var: 2, .005, .045, 0
    assert float(active_units(mu)) == 2.0
    assert float(active_units(mu, threshold=0.001)) == 3.0
    with pytest.raises(ValueError, match="B >= 2"):
        active_units(torch.zeros(1, 3))


def test_gan_losses_and_accuracy_by_hand():
    zero = torch.zeros(4)
    torch.testing.assert_close(discriminator_loss(zero, zero), torch.tensor(2 * math.log(2)))
    torch.testing.assert_close(generator_loss(zero), torch.tensor(math.log(2)))
    real, fake = torch.tensor([math.log(3.0)]), torch.tensor([-math.log(3.0)])  # D(real) = 3/4, D(fake) = 1/4
    torch.testing.assert_close(discriminator_loss(real, fake), torch.tensor(-2 * math.log(0.75)))
    torch.testing.assert_close(generator_loss(fake), torch.tensor(-math.log(0.25)))
    acc = discriminator_accuracy(torch.tensor([1.0, -1.0, 2.0]), torch.tensor([-1.0, 3.0, 0.0]))
    torch.testing.assert_close(acc, torch.tensor(4 / 6))


def test_q_sample_matches_the_closed_form_for_fixed_noise():
    schedule = NoiseSchedule(num_timesteps=2, beta_start=0.1, beta_end=0.2)
    torch.testing.assert_close(schedule.alpha_bar, torch.tensor([0.9, 0.9 * 0.8]))
    x0, noise = torch.full((2, 1, 1, 1), 2.0), torch.full((2, 1, 1, 1), -1.0)
    t = torch.tensor([0, 1])
    expected = torch.tensor([2 * math.sqrt(0.9) - math.sqrt(0.1), 2 * math.sqrt(0.72) - math.sqrt(0.28)])
    torch.testing.assert_close(schedule.q_sample(x0, t, noise).flatten(), expected)
    xt = schedule.q_sample(x0, t, noise)
    torch.testing.assert_close(schedule.predict_x0(xt, t, noise), x0)
    # the paper's schedule: alpha_bar_T close to 0 (x_T is nearly pure noise)
    assert float(NoiseSchedule(1000).alpha_bar[-1]) < 1e-4
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        NoiseSchedule(10, beta_start=0.2, beta_end=0.1)


def test_p_sample_is_the_posterior_mean_at_the_last_step():
    schedule = NoiseSchedule(num_timesteps=3, beta_start=0.1, beta_end=0.3)
    xt, eps = torch.ones(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.5)
    beta, a = 0.1, 0.9  # t = 0: alpha_bar = 1 - beta
    expected = (1 - beta / math.sqrt(1 - a) * 0.5) / math.sqrt(1 - beta)
    torch.testing.assert_close(schedule.p_sample(xt, 0, eps).flatten(), torch.tensor([expected]))
