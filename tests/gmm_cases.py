"""Shared cases for the GMM tests: a synthetic truth, random parameter sets, reference densities,
comparison helpers and a per-session cache of compiled models (compilation is the expensive part).

Imported by tests/test_gmm_spec.py, test_gmm_builders.py and test_gmm_fitting.py; not a test module.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import logsumexp

from models import gmm, gmm_metrics
from models.gmm_builders import gmm_marginal_model

TYPES = gmm.COVARIANCE_TYPES

#: Synthetic truth: three well-separated 2-D components (as in test_em).
TRUE_W = np.array([0.2, 0.3, 0.5])
TRUE_MU = np.array([[-6.0, 0.0], [0.0, 6.0], [5.0, -2.0]])
TRUE_COV = np.array([[[1.0, 0.4], [0.4, 0.8]], [[0.6, -0.2], [-0.2, 1.2]], [[1.5, 0.0], [0.0, 0.5]]])

#: Same formula, different code path (PyTensor graph vs numpy vs scipy).
RTOL_DENSITY = 1e-9
#: MAP vs EM/closed form (issue 4).
RTOL_LOGLIK = 1e-6
ATOL_PARAMS_STD = 1e-4


_MODELS: dict = {}


def model_for(x: np.ndarray, k: int, covariance_type: str = "full", priors: str = "flat", tag: str = ""):
    """Build each distinct model once per test session (compilation is the expensive part)."""
    key = (tag or id(x), x.shape, k, covariance_type, priors)
    if key not in _MODELS:
        _MODELS[key] = gmm_marginal_model(x, k, covariance_type=covariance_type, priors=priors)
    return _MODELS[key]


def random_parameters(rng, x: np.ndarray, k: int, covariance_type: str):
    """Well-conditioned random (w, mu, cov) on the data's scale, in covariance_type's shape."""
    d = x.shape[1]
    loc, sd = x.mean(axis=0), x.std(axis=0)
    w = rng.dirichlet(np.full(k, 3.0))
    mu = loc + sd * rng.normal(size=(k, d))
    a = rng.normal(size=(k, d, d)) * 0.5
    full = (a @ np.swapaxes(a, 1, 2) + 0.3 * np.eye(d)) * np.outer(sd, sd)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.2, 1.5, size=(k, d)) * sd**2,
        "spherical": rng.uniform(0.2, 1.5, size=k) * np.mean(sd**2),
    }[covariance_type]
    return w, mu, cov


def scipy_mixture_logpdf(x, w, mu, cov, covariance_type):
    """ln Σ_k w_k N(x_n | μ_k, Σ_k) with scipy's multivariate normal, (N,)."""
    full = gmm.full_covariances(cov, covariance_type, len(w), x.shape[1])
    per = np.column_stack([stats.multivariate_normal(mu[k], full[k]).logpdf(x).reshape(-1) for k in range(len(w))])
    return logsumexp(per + np.log(w), axis=1)


def assert_close_rel(actual, expected, rtol):
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    err = np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), 1.0))
    assert err <= rtol, f"max relative error {err:.3g} > {rtol:g}"


def assert_same_fit(fit_w, fit_mu, fit_cov, ref_w, ref_mu, ref_cov, covariance_type, scale):
    """Parameters equal within ATOL_PARAMS_STD in standardized units, after matching components."""
    perm = gmm_metrics.match_components(ref_mu / scale, fit_mu / scale)
    w, mu = fit_w[perm], fit_mu[perm]
    cov = fit_cov if covariance_type == "tied" else fit_cov[perm]
    assert np.max(np.abs(w - ref_w)) <= ATOL_PARAMS_STD
    assert np.max(np.abs(mu - ref_mu) / scale) <= ATOL_PARAMS_STD
    cov_scale = {
        "full": np.outer(scale, scale), "tied": np.outer(scale, scale), "diag": scale**2,
        "spherical": np.mean(scale**2),
    }[covariance_type]
    assert np.max(np.abs(cov - ref_cov) / cov_scale) <= ATOL_PARAMS_STD
