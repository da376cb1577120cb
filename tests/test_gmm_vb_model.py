"""Tests for models.gmm_vb_model: the PyMC Normal-Wishart GMM is VB's model (likelihood, prior, start)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from models import gmm
from models.fitting import to_unconstrained
from models.gmm_vb import fit_vb, vb_prior
from models.gmm_vb_model import gmm_normal_wishart_model, start_from_vb
from models.validation import DataError


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(3)
    x = gmm.sample_gmm(rng, 150, np.array([0.4, 0.6]), np.array([[0.0, 0.0], [4.0, 1.0]]),
                       np.array([[[1.0, 0.3], [0.3, 1.0]], [[0.8, -0.2], [-0.2, 0.6]]]))[0]
    prior = vb_prior(x, 2, alpha0=1.0, nu0=3.0)
    res = fit_vb(x, 2, prior=prior, seed=1)
    return x, prior, res, gmm_normal_wishart_model(x, 2, prior)


def test_start_point_maps_back_to_vb_means_and_the_likelihood_is_numpys(fitted):
    x, _prior, res, model = fitted
    point = start_from_vb(res)
    outs = model.replace_rvs_by_values([model["mu"], model["Sigma"], model["log_likelihood"]])
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    vals = {v.name: to_unconstrained(model.rvs_to_transforms.get(model.values_to_rvs[v]),
                                     np.asarray(point[model.values_to_rvs[v].name], dtype=float))
            for v in model.value_vars}
    mu, sigma, loglik = fn(vals)
    np.testing.assert_allclose(mu, res.m, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sigma, res.covariances, rtol=1e-9)
    assert float(loglik) == pytest.approx(gmm.gmm_log_likelihood(x, res.weights, res.m, res.covariances), rel=1e-10)


def test_prior_draws_have_the_normal_wishart_moments(fitted):
    """E[Λ] = ν0 W0 and E[μ] = m0 from 4000 prior draws, within 4 Monte Carlo standard errors."""
    import pymc as pm

    _, prior, _, model = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sigma, mu = pm.draw([model["Sigma"], model["mu"]], draws=4000, random_seed=5)
    lam = np.linalg.inv(sigma)                                                   # (S, K, D, D)
    expected = prior.nu0 * np.linalg.inv(prior.W0_inv)
    se = lam.std(axis=0) / np.sqrt(lam.shape[0])
    assert np.all(np.abs(lam.mean(axis=0) - expected) < 4 * se)
    # μ | Λ has a heavy-tailed marginal (a t with ν0 - D + 1 = 2 dof: infinite variance), so its
    # mean is checked through the median instead
    np.testing.assert_allclose(np.median(mu, axis=0), np.broadcast_to(prior.m0, mu.shape[1:]),
                               atol=0.1 * np.sqrt(np.diag(np.linalg.inv(prior.W0_inv)).max()) * 10)


def test_only_full_covariances():
    x = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(DataError, match="full"):
        gmm_normal_wishart_model(x, 2, vb_prior(x, 2, covariance_type="diag"))
