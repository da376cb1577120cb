"""Tests for models.gmm: every closed form against a naive scipy/numpy loop or scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.mixture import GaussianMixture

from models import gmm
from models.validation import DataError

TYPES = gmm.COVARIANCE_TYPES


def random_params(rng, k: int, d: int, covariance_type: str):
    """Well-conditioned random (w (K,), mu (K, D), cov in covariance_type's shape)."""
    w = rng.dirichlet(np.full(k, 3.0))
    mu = rng.normal(scale=3.0, size=(k, d))
    a = rng.normal(size=(k, d, d))
    full = a @ np.swapaxes(a, 1, 2) + 0.5 * np.eye(d)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.3, 2.0, size=(k, d)),
        "spherical": rng.uniform(0.3, 2.0, size=k),
    }[covariance_type]
    return w, mu, cov


def sklearn_with_parameters(w, mu, cov, covariance_type) -> GaussianMixture:
    """A GaussianMixture holding exactly these parameters, without fitting.

    (``max_iter=0`` with ``precisions_init`` would be the public route, but scikit-learn 1.9 then
    fails in ``_get_parameters`` because ``covariances_`` was never set.)
    """
    sk = GaussianMixture(len(w), covariance_type=covariance_type)
    sk.weights_, sk.means_, sk.covariances_ = w, mu, cov
    if covariance_type in ("full", "tied"):
        # scikit-learn stores U with precision = U Uᵀ, i.e. U = L⁻ᵀ for cov = L Lᵀ.
        sk.precisions_cholesky_ = np.swapaxes(np.linalg.inv(np.linalg.cholesky(cov)), -1, -2)
    else:
        sk.precisions_cholesky_ = 1.0 / np.sqrt(cov)
    return sk


def naive_component_logpdf(x, mu, full_cov):
    """ln N(x_n | mu_k, Σ_k) by a double Python loop over scipy, (N, K)."""
    return np.array([[stats.multivariate_normal(mu[k], full_cov[k]).logpdf(xn) for k in range(len(mu))]
                     for xn in x])


# --------------------------------------------------------------------------- densities


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("d", [1, 3])
def test_component_log_densities_match_scipy_loop(rng, covariance_type, d):
    k = 3
    w, mu, cov = random_params(rng, k, d, covariance_type)
    x = rng.normal(scale=3.0, size=(40, d))
    full = gmm.full_covariances(cov, covariance_type, k, d)
    got = gmm.component_log_densities(x, mu, cov, covariance_type)
    assert got.shape == (40, k)
    np.testing.assert_allclose(got, naive_component_logpdf(x, mu, full), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_full_covariances_expand_each_type(rng, covariance_type):
    k, d = 3, 2
    _, _, cov = random_params(rng, k, d, covariance_type)
    full = gmm.full_covariances(cov, covariance_type, k, d)
    assert full.shape == (k, d, d)
    for j in range(k):
        expected = {
            "full": lambda: cov[j],
            "tied": lambda: cov,
            "diag": lambda: np.diag(cov[j]),
            "spherical": lambda: cov[j] * np.eye(d),
        }[covariance_type]()
        np.testing.assert_array_equal(full[j], expected)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_gmm_log_likelihood_matches_naive_double_loop(rng, covariance_type):
    k, d = 3, 2
    w, mu, cov = random_params(rng, k, d, covariance_type)
    x = rng.normal(scale=3.0, size=(60, d))
    full = gmm.full_covariances(cov, covariance_type, k, d)
    per_point = []
    for xn in x:
        acc = -np.inf
        for j in range(k):
            acc = np.logaddexp(acc, np.log(w[j]) + stats.multivariate_normal(mu[j], full[j]).logpdf(xn))
        per_point.append(acc)
    np.testing.assert_allclose(gmm.gmm_logpdf(x, w, mu, cov, covariance_type), per_point, rtol=1e-12, atol=1e-12)
    assert gmm.gmm_log_likelihood(x, w, mu, cov, covariance_type) == pytest.approx(np.sum(per_point), rel=1e-12)


def test_log_space_survives_points_far_from_every_component(rng):
    # Densities of order exp(-5e5) underflow to 0 in linear space (0/0 responsibilities).
    w, mu, cov = random_params(rng, 2, 2, "full")
    x = np.array([[1e3, -1e3], [0.0, 0.0]])
    r = gmm.responsibilities(x, w, mu, cov)
    assert np.all(np.isfinite(r))
    np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert np.all(np.isfinite(gmm.gmm_logpdf(x, w, mu, cov)))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_responsibilities_match_sklearn_predict_proba(rng, covariance_type):
    k, d = 3, 2
    w, mu, cov = random_params(rng, k, d, covariance_type)
    x = gmm.sample_gmm(rng, 200, w, mu, gmm.full_covariances(cov, covariance_type, k, d))[0]
    sk = sklearn_with_parameters(w, mu, cov, covariance_type)
    r = gmm.responsibilities(x, w, mu, cov, covariance_type)
    np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    np.testing.assert_allclose(r, sk.predict_proba(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gmm.gmm_logpdf(x, w, mu, cov, covariance_type), sk.score_samples(x),
                               rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- complete data


def test_complete_data_mle_matches_per_class_numpy(rng):
    k, d = 3, 2
    w, mu, cov = random_params(rng, k, d, "full")
    x, z = gmm.sample_gmm(rng, 500, w, mu, cov)
    w_hat, mu_hat, cov_hat = gmm.complete_data_mle(x, z, k)
    for j in range(k):
        members = x[z == j]
        assert w_hat[j] == pytest.approx(len(members) / len(x), rel=1e-14)
        np.testing.assert_allclose(mu_hat[j], members.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(cov_hat[j], np.cov(members, rowvar=False, ddof=0), rtol=1e-10)


def test_complete_data_log_likelihood_naive_and_maximised_at_mle(rng):
    k, d = 2, 2
    w, mu, cov = random_params(rng, k, d, "full")
    x, z = gmm.sample_gmm(rng, 300, w, mu, cov)
    naive = sum(np.log(w[zn]) + stats.multivariate_normal(mu[zn], cov[zn]).logpdf(xn) for xn, zn in zip(x, z))
    assert gmm.complete_data_log_likelihood(x, z, w, mu, cov) == pytest.approx(naive, rel=1e-12)
    w_hat, mu_hat, cov_hat = gmm.complete_data_mle(x, z, k)
    best = gmm.complete_data_log_likelihood(x, z, w_hat, mu_hat, cov_hat)
    # Any perturbation of the closed-form MLE lowers the complete-data log-likelihood.
    for _ in range(20):
        step = 1e-3
        w_p = np.clip(w_hat + step * rng.normal(size=k), 1e-3, None)
        w_p /= w_p.sum()
        cov_p = cov_hat + step * np.eye(d) * rng.uniform(-1, 1)
        mu_p = mu_hat + step * rng.normal(size=mu_hat.shape)
        assert gmm.complete_data_log_likelihood(x, z, w_p, mu_p, cov_p) < best


def test_complete_data_mle_refuses_empty_class(rng):
    x = rng.normal(size=(10, 2))
    with pytest.raises(DataError, match="component 2 has no observations"):
        gmm.complete_data_mle(x, np.r_[np.zeros(5, int), np.ones(5, int)], 3)


# --------------------------------------------------------------------------- sampling, labels


@pytest.mark.parametrize("covariance_type", TYPES)
def test_sample_gmm_reproducible_and_matches_parameters(covariance_type):
    rng = np.random.default_rng(7)
    k, d, n = 3, 2, 20_000
    w, mu, cov = random_params(rng, k, d, covariance_type)
    x, z = gmm.sample_gmm(np.random.default_rng(1), n, w, mu, cov, covariance_type)
    x2, z2 = gmm.sample_gmm(np.random.default_rng(1), n, w, mu, cov, covariance_type)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(z, z2)
    assert x.shape == (n, d) and z.shape == (n,)
    full = gmm.full_covariances(cov, covariance_type, k, d)
    counts = np.bincount(z, minlength=k)
    # Frequencies within 5 binomial standard errors, class means within 5 standard errors.
    assert np.all(np.abs(counts / n - w) < 5 * np.sqrt(w * (1 - w) / n))
    for j in range(k):
        se = np.sqrt(np.diag(full[j]) / counts[j])
        assert np.all(np.abs(x[z == j].mean(axis=0) - mu[j]) < 5 * se)


# --------------------------------------------------------------------------- bad input


GOOD_W = np.array([0.4, 0.6])
GOOD_MU = np.array([[0.0, 0.0], [3.0, 3.0]])
GOOD_COV = np.array([np.eye(2), 2 * np.eye(2)])
GOOD_X = np.random.default_rng(0).normal(size=(20, 2))
NON_SPD = np.array([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])
X_NAN = GOOD_X.copy()
X_NAN[3, 1] = np.nan


@pytest.mark.parametrize("call, match", [
    (lambda: gmm.gmm_logpdf(X_NAN, GOOD_W, GOOD_MU, GOOD_COV), "NaN"),
    (lambda: gmm.gmm_logpdf(GOOD_X[:, 0], GOOD_W, GOOD_MU, GOOD_COV), "must be 2-D"),
    (lambda: gmm.gmm_logpdf(GOOD_X[None], GOOD_W, GOOD_MU, GOOD_COV), "must be 2-D"),
    (lambda: gmm.gmm_logpdf(GOOD_X, [0.4, 0.5], GOOD_MU, GOOD_COV), "must sum to 1"),
    (lambda: gmm.gmm_logpdf(GOOD_X, [1.2, -0.2], GOOD_MU, GOOD_COV), "nonnegative"),
    (lambda: gmm.gmm_logpdf(GOOD_X, GOOD_W, GOOD_MU, NON_SPD), "component 1 is not positive definite"),
    (lambda: gmm.gmm_logpdf(GOOD_X, GOOD_W, GOOD_MU, GOOD_COV + [[0, 1], [0, 0]]), "not symmetric"),
    (lambda: gmm.gmm_logpdf(GOOD_X, GOOD_W, GOOD_MU, GOOD_COV[0]), r"must have shape \(2, 2, 2\)"),
    (lambda: gmm.gmm_logpdf(GOOD_X, GOOD_W, GOOD_MU[:, :1], GOOD_COV), r"mu must have shape"),
    (lambda: gmm.gmm_logpdf(GOOD_X, GOOD_W, GOOD_MU, [1.0, -1.0], "spherical"), "component 1 is not positive"),
    (lambda: gmm.gmm_logpdf(GOOD_X, GOOD_W, GOOD_MU, GOOD_COV, "banana"), "covariance_type must be one of"),
    (lambda: gmm.responsibilities(GOOD_X, [np.nan, 1.0], GOOD_MU, GOOD_COV), "NaN"),
    (lambda: gmm.complete_data_mle(GOOD_X, np.zeros(20, int), 0), "must be >= 1"),
    (lambda: gmm.complete_data_mle(GOOD_X, np.zeros(20, int), 2.5), "whole number"),
    (lambda: gmm.complete_data_mle(GOOD_X, np.full(20, 2), 2), "must lie in 0..1"),
    (lambda: gmm.complete_data_mle(GOOD_X, np.zeros(19, int), 1), r"shape \(20,\)"),
    (lambda: gmm.sample_gmm(np.random.default_rng(0), 0, GOOD_W, GOOD_MU, GOOD_COV), "n must be"),
])
def test_bad_input_raises_dataerror_naming_the_problem(call, match):
    with pytest.raises(DataError, match=match):
        call()


def test_non_spd_message_gives_a_fix():
    fix = r"component 1 is not positive definite \(smallest eigenvalue -1\); pass a symmetric positive-definite"
    with pytest.raises(DataError, match=fix):
        gmm.component_log_densities(GOOD_X, GOOD_MU, NON_SPD)


def test_weights_within_tolerance_are_renormalised():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = gmm.gmm_logpdf(GOOD_X, GOOD_W + [1e-9, 0.0], GOOD_MU, GOOD_COV)
    np.testing.assert_allclose(a, gmm.gmm_logpdf(GOOD_X, GOOD_W, GOOD_MU, GOOD_COV), rtol=1e-8)
