"""Tests for models.gmm_metrics: label matching, the adjusted Rand index and the information
criteria, against scikit-learn and hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from test_gmm import random_params

from models import gmm, gmm_metrics
from models.validation import DataError

TYPES = gmm.COVARIANCE_TYPES


def test_match_components_undoes_a_permutation(rng):
    mu = rng.normal(scale=5.0, size=(5, 3))
    perm = rng.permutation(5)
    shuffled = mu[perm] + 0.01 * rng.normal(size=mu.shape)
    got = gmm_metrics.match_components(mu, shuffled)
    np.testing.assert_allclose(shuffled[got], mu, atol=0.1)
    np.testing.assert_array_equal(perm[got], np.arange(5))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_bic_aic_and_parameter_count_match_sklearn(rng, covariance_type):
    k, d = 3, 2
    w, mu, cov = random_params(rng, k, d, covariance_type)
    x = gmm.sample_gmm(rng, 300, w, mu, gmm.full_covariances(cov, covariance_type, k, d))[0]
    sk = GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(x)
    params = (sk.weights_, sk.means_, sk.covariances_, covariance_type)
    assert gmm_metrics.n_parameters(k, d, covariance_type) == sk._n_parameters()
    assert gmm_metrics.bic(x, *params) == pytest.approx(sk.bic(x), rel=1e-10)
    assert gmm_metrics.aic(x, *params) == pytest.approx(sk.aic(x), rel=1e-10)


def test_adjusted_rand_index_matches_sklearn_and_ignores_label_names():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.integers(0, 3, 150)
        b = np.where(rng.random(150) < 0.7, a, rng.integers(0, 2, 150))
        assert gmm_metrics.adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert gmm_metrics.adjusted_rand_index([0, 0, 1, 1], [5, 5, 2, 2]) == 1.0
    # Independent labellings score about 0 (sklearn's value, which can be slightly negative).
    a, b = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    assert gmm_metrics.adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: gmm_metrics.n_parameters(0, 2), "must be >= 1"),
    (lambda: gmm_metrics.match_components(np.zeros((2, 2)), np.zeros((1, 2))), "same shape"),
    (lambda: gmm_metrics.adjusted_rand_index([0, 1, 1], [0, 1]), "same length"),
])
def test_bad_input_raises_dataerror_naming_the_problem(call, match):
    with pytest.raises(DataError, match=match):
        call()
