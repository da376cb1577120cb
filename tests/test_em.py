"""Tests for models.em: the book's run, scikit-learn step for step, monotonicity, recovery, degeneracy."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from models import gmm, gmm_metrics
from models.data import load_dataset
from models.em import (
    EMCollapseWarning,
    EMConvergenceWarning,
    EMResult,
    fit_em,
    kmeans_plusplus,
)
from models.validation import DataError

TYPES = gmm.COVARIANCE_TYPES

#: The book's printed mean log-likelihoods (step 5, em.py) on Old Faithful.
BOOK_TRACE = [-16.538, -4.415, -4.357, -4.302, -4.245, -4.200, -4.164, -4.156, -4.155]
BOOK_INIT = (np.array([0.5, 0.5]), np.array([[0.0, 50.0], [0.0, 100.0]]), np.array([np.eye(2), np.eye(2)]))

#: Truth for the synthetic sets: three well-separated 2-D components.
TRUE_W = np.array([0.2, 0.3, 0.5])
TRUE_MU = np.array([[-6.0, 0.0], [0.0, 6.0], [5.0, -2.0]])
TRUE_COV = np.array([[[1.0, 0.4], [0.4, 0.8]], [[0.6, -0.2], [-0.2, 1.2]], [[1.5, 0.0], [0.0, 0.5]]])


@pytest.fixture(scope="module")
def faithful() -> np.ndarray:
    return load_dataset("faithful").values


def synthetic(seed: int, n: int = 400) -> np.ndarray:
    return gmm.sample_gmm(np.random.default_rng(seed), n, TRUE_W, TRUE_MU, TRUE_COV)[0]


def start_parameters(x: np.ndarray, k: int, covariance_type: str):
    """Deterministic, deliberately poor starting parameters in covariance_type's shape."""
    d = x.shape[1]
    c = np.cov(x, rowvar=False, ddof=0)
    mu = x[np.linspace(0, len(x) - 1, k).astype(int)]
    cov = {
        "full": np.broadcast_to(c, (k, d, d)).copy(),
        "tied": c,
        "diag": np.broadcast_to(np.diag(c), (k, d)).copy(),
        "spherical": np.full(k, np.mean(np.diag(c))),
    }[covariance_type]
    return np.full(k, 1.0 / k), mu, cov


def sklearn_from(params, covariance_type, *, tol, max_iter, reg_covar=1e-6) -> GaussianMixture:
    w, mu, cov = params
    precisions = np.linalg.inv(cov) if covariance_type in ("full", "tied") else 1.0 / cov
    return GaussianMixture(len(w), covariance_type=covariance_type, weights_init=w, means_init=mu,
                           precisions_init=precisions, tol=tol, max_iter=max_iter, reg_covar=reg_covar,
                           init_params="random_from_data", random_state=0)


def max_rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# --------------------------------------------------------------------------- the book's run


def check_book_run(x: np.ndarray, reg_covar: float) -> None:
    result = fit_em(x, 2, init=BOOK_INIT, tol=1e-4, reg_covar=reg_covar)
    assert result.converged and result.n_iter == len(BOOK_TRACE)
    assert len(result.trace) == result.n_iter + 1
    # From the first M-step on, our exact mean log-likelihood is the book's to 3 decimals.
    np.testing.assert_allclose(result.trace[1:len(BOOK_TRACE)], BOOK_TRACE[1:], rtol=0, atol=5e-4)
    assert abs(result.trace[-1] - result.trace[-2]) < 1e-4 <= abs(result.trace[-2] - result.trace[-3])
    # The book's first value floors every log-density with log(p + 1e-8); ours is exact.
    log_p = gmm.gmm_logpdf(x, *BOOK_INIT)
    assert np.mean(np.log(np.exp(log_p) + 1e-8)) == pytest.approx(BOOK_TRACE[0], abs=5e-4)
    assert result.trace[0] == pytest.approx(np.mean(log_p), rel=1e-14)
    assert result.trace[0] == pytest.approx(-137.488, abs=5e-4)


@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_book_sequence_on_shipped_faithful(faithful, reg_covar):
    check_book_run(faithful, reg_covar)


def test_book_sequence_on_book_file(shared_data, faithful):
    x = np.loadtxt(shared_data / "old_faithful.txt")
    np.testing.assert_array_equal(x, faithful)
    check_book_run(x, 0.0)


# --------------------------------------------------------------------------- scikit-learn


def data_for(name: str, faithful) -> tuple[np.ndarray, int]:
    return (faithful, 2) if name == "faithful" else (synthetic(3), 3)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("data", ["faithful", "synthetic"])
def test_em_equals_sklearn_step_for_step(faithful, covariance_type, data):
    """tol=0: both run exactly max_iter M-steps from the same start; every iterate agrees."""
    x, k = data_for(data, faithful)
    params = start_parameters(x, k, covariance_type)
    with pytest.warns(EMConvergenceWarning):
        ours = fit_em(x, k, covariance_type=covariance_type, init=params, tol=0.0, max_iter=25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = sklearn_from(params, covariance_type, tol=0.0, max_iter=25).fit(x)
    assert sk.n_iter_ == ours.n_iter == 25
    assert max_rel(ours.weights, sk.weights_) < 1e-9
    assert max_rel(ours.means, sk.means_) < 1e-9
    assert max_rel(ours.covariances, sk.covariances_) < 1e-9
    # scikit-learn's lower bound at iteration t is the likelihood before its M-step: our trace[t-1].
    np.testing.assert_allclose(ours.trace[:-1], sk.lower_bounds_, rtol=1e-12, atol=0)
    assert ours.mean_log_likelihood == pytest.approx(sk.score(x), rel=1e-12)
    np.testing.assert_allclose(ours.responsibilities, sk.predict_proba(x), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_em_stopping_rule_relates_to_sklearn_by_one_m_step(faithful, covariance_type):
    """Same tol: scikit-learn tests the likelihood *before* its M-step, so it stops one step later."""
    x, k = faithful, 2
    params = start_parameters(x, k, covariance_type)
    ours = fit_em(x, k, covariance_type=covariance_type, init=params, tol=1e-3)
    sk = sklearn_from(params, covariance_type, tol=1e-3, max_iter=100).fit(x)
    assert sk.converged_ and ours.converged
    assert sk.n_iter_ == ours.n_iter + 1
    assert sk.lower_bound_ == pytest.approx(ours.mean_log_likelihood, rel=1e-12)
    with pytest.warns(EMConvergenceWarning):
        one_more = fit_em(x, k, covariance_type=covariance_type, init=ours, tol=0.0, max_iter=1)
    assert max_rel(one_more.weights, sk.weights_) < 1e-9
    assert max_rel(one_more.means, sk.means_) < 1e-9
    assert max_rel(one_more.covariances, sk.covariances_) < 1e-9
    assert one_more.mean_log_likelihood == pytest.approx(sk.score(x), rel=1e-12)


# --------------------------------------------------------------------------- EM properties


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_em_never_decreases_the_likelihood(faithful, covariance_type, reg_covar):
    for x in (faithful, synthetic(10), synthetic(11), synthetic(12)):
        for seed in (0, 1):
            with pytest.warns(EMConvergenceWarning):
                result = fit_em(x, 3, covariance_type=covariance_type, seed=seed, tol=0.0, max_iter=60,
                                reg_covar=reg_covar)
            assert np.all(np.diff(result.trace) >= -1e-10)


def test_em_recovers_known_truth_within_standard_errors():
    n = 4000
    x = gmm.sample_gmm(np.random.default_rng(5), n, TRUE_W, TRUE_MU, TRUE_COV)[0]
    result = fit_em(x, 3, seed=1, tol=1e-8, max_iter=500)
    perm = gmm_metrics.match_components(TRUE_MU, result.means)
    w, mu, cov = result.weights[perm], result.means[perm], result.covariances[perm]
    # Complete-data standard errors: fine for components this well separated.
    n_k = n * TRUE_W
    assert np.all(np.abs(w - TRUE_W) < 4 * np.sqrt(TRUE_W * (1 - TRUE_W) / n))
    se_mu = np.sqrt(np.diagonal(TRUE_COV, axis1=1, axis2=2) / n_k[:, None])
    assert np.all(np.abs(mu - TRUE_MU) < 4 * se_mu)
    diag = np.diagonal(TRUE_COV, axis1=1, axis2=2)
    se_cov = np.sqrt((diag[:, :, None] * diag[:, None, :] + TRUE_COV**2) / n_k[:, None, None])
    assert np.all(np.abs(cov - TRUE_COV) < 4 * se_cov)


def test_result_is_consistent_with_closed_forms(faithful):
    result = fit_em(faithful, 2, seed=3)
    params = (result.weights, result.means, result.covariances)
    assert result.log_likelihood == pytest.approx(gmm.gmm_log_likelihood(faithful, *params), rel=1e-12)
    assert result.mean_log_likelihood == pytest.approx(result.log_likelihood / len(faithful), rel=1e-12)
    assert result.trace[-1] == result.mean_log_likelihood
    np.testing.assert_allclose(result.responsibilities, gmm.responsibilities(faithful, *params), rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_array_equal(result.labels, np.argmax(result.responsibilities, axis=1))
    assert (result.n_components, result.n_features) == (2, 2)
    assert result.init == "kmeans++" and result.seed == 3 and result.tol_on == "mean"
    assert np.sort(result.weights) == pytest.approx([0.356, 0.644], abs=1e-3)  # the classic answer
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.n_iter = 0
    with pytest.raises(ValueError):
        result.means[0, 0] = 0.0


def test_kmeans_plusplus_is_reproducible_and_finds_separated_clusters():
    x = synthetic(20)
    a = kmeans_plusplus(x, 3, seed=42)
    np.testing.assert_array_equal(a, kmeans_plusplus(x, 3, seed=42))
    perm = gmm_metrics.match_components(TRUE_MU, a)
    np.testing.assert_allclose(a[perm], TRUE_MU, atol=0.5)
    first = fit_em(x, 3, seed=42, max_iter=1, tol=1e9)
    np.testing.assert_array_equal(first.means, fit_em(x, 3, seed=42, max_iter=1, tol=1e9).means)
    # Other seeds reach the same clusters here, but (first centre uniform) not in the same order.
    starts = {kmeans_plusplus(x, 3, seed=s).round(8).tobytes() for s in range(6)}
    assert len(starts) > 1


def test_seed_none_records_a_seed_that_reproduces_the_fit(faithful):
    first = fit_em(faithful, 3, seed=None)
    assert isinstance(first.seed, int)
    again = fit_em(faithful, 3, seed=first.seed)
    np.testing.assert_array_equal(first.means, again.means)
    from_generator = fit_em(faithful, 3, seed=np.random.default_rng(0))
    np.testing.assert_array_equal(from_generator.means, fit_em(faithful, 3, seed=from_generator.seed).means)


def test_n_init_keeps_the_best_start(faithful):
    single = fit_em(faithful, 4, seed=8)
    several = fit_em(faithful, 4, seed=8, n_init=4)
    assert several.log_likelihood >= single.log_likelihood  # the first start is shared
    assert several.n_init == 4


def test_tol_on_total_runs_at_least_as_long(faithful):
    mean = fit_em(faithful, 2, init=BOOK_INIT, tol=1e-3)
    total = fit_em(faithful, 2, init=BOOK_INIT, tol=1e-3, tol_on="total")
    assert total.n_iter > mean.n_iter
    assert abs(total.trace[-1] - total.trace[-2]) * len(faithful) < 1e-3


def test_max_iter_hit_warns(faithful):
    with pytest.warns(EMConvergenceWarning, match="did not converge in max_iter=2"):
        result = fit_em(faithful, 2, init=BOOK_INIT, max_iter=2)
    assert not result.converged and result.n_iter == 2


# --------------------------------------------------------------------------- degenerate data


@pytest.mark.parametrize("covariance_type", TYPES)
def test_component_collapsing_onto_a_repeated_point_warns_and_stays_finite(covariance_type):
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(size=(100, 2)), np.tile([[4.0, 4.0]], (50, 1))])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit_em(x, 3, covariance_type=covariance_type, seed=0)
    collapse = [w for w in caught if issubclass(w.category, EMCollapseWarning)]
    if covariance_type == "tied":
        assert not collapse  # a shared covariance cannot shrink onto one point
    else:
        assert collapse and "collapsed" in str(collapse[0].message)
    for value in (result.weights, result.means, result.covariances, result.responsibilities, result.trace):
        assert np.all(np.isfinite(value))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_more_components_than_distinct_points_warns_and_stays_finite(covariance_type):
    x = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 10, axis=0)
    with pytest.warns(EMCollapseWarning, match="empty"):
        result = fit_em(x, 5, covariance_type=covariance_type, seed=0)
    assert np.isfinite(result.log_likelihood)
    assert np.all(np.isfinite(result.means)) and np.all(np.isfinite(result.covariances))
    np.testing.assert_allclose(result.responsibilities.sum(axis=1), 1.0)


def test_collapse_without_reg_covar_is_a_clear_error():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(size=(100, 2)), np.tile([[4.0, 4.0]], (50, 1))])
    with pytest.raises(DataError, match="not positive definite.*increase reg_covar or standardize your data"):
        fit_em(x, 3, seed=0, reg_covar=0.0)


# --------------------------------------------------------------------------- bad input


X = np.random.default_rng(0).normal(size=(30, 2))
X_NAN = X.copy()
X_NAN[4, 0] = np.nan
W2, MU2, COV2 = np.array([0.5, 0.5]), np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([np.eye(2), np.eye(2)])


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=X_NAN, n_components=2), "NaN"),
    (dict(x=X[:, 0], n_components=2), "must be 2-D"),
    (dict(x=X[None], n_components=2), "must be 2-D"),
    (dict(x=X[:3], n_components=4), "at least 4 are needed"),
    (dict(x=X, n_components=0), "must be >= 1"),
    (dict(x=X, n_components=2.5), "whole number"),
    (dict(x=X, n_components=2, init=([0.5, 0.6], MU2, COV2)), "must sum to 1"),
    (dict(x=X, n_components=2, init=(W2, MU2, np.array([np.eye(2), [[1.0, 3.0], [3.0, 1.0]]]))),
     "covariance of component 1 is not positive definite"),
    (dict(x=X, n_components=2, init=(W2, MU2[:, :1], COV2)), "initial means must have shape"),
    (dict(x=X, n_components=2, init="random"), "init must be"),
    (dict(x=X, n_components=2, covariance_type="banana"), "covariance_type must be one of"),
    (dict(x=X, n_components=2, reg_covar=-1e-6), "reg_covar must be"),
    (dict(x=X, n_components=2, tol=np.nan), "tol must be"),
    (dict(x=X, n_components=2, max_iter=0), "max_iter must be"),
    (dict(x=X, n_components=2, tol_on="median"), "tol_on must be"),
    (dict(x=X, n_components=2, init=(W2, MU2, COV2), n_init=3), "n_init=3 needs init='kmeans"),
    (dict(x=X, n_components=2, seed=-1), "seed must be"),
    (dict(x=np.c_[X, np.ones(30)], n_components=2), "constant column"),
])
def test_bad_input_raises_dataerror_naming_the_problem(kwargs, match):
    with pytest.raises(DataError, match=match):
        fit_em(**kwargs)


def test_warm_start_needs_the_same_covariance_type(faithful):
    result = fit_em(faithful, 2, seed=0, covariance_type="diag")
    with pytest.raises(DataError, match="covariance_type='diag'"):
        fit_em(faithful, 2, init=result)
    assert isinstance(fit_em(faithful, 2, init=result, covariance_type="diag"), EMResult)
