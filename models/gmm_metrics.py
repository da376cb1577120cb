"""Comparing and choosing mixture fits: label matching, clustering agreement, information criteria.

Numpy/scipy only.

* :func:`match_components` — the permutation that undoes label switching between two fits;
* :func:`adjusted_rand_index` — agreement of two clusterings, invariant to label names;
* :func:`n_parameters`, :func:`bic`, :func:`aic` — scikit-learn's parameter count and criteria.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from models.gmm import gmm_log_likelihood
from models.validation import (
    DataError,
    validate_covariance_type,
    validate_n_components,
    validate_samples_2d,
)

__all__ = ["match_components", "adjusted_rand_index", "n_parameters", "bic", "aic"]


def match_components(reference_mu, mu) -> np.ndarray:
    """Permutation that undoes label switching: ``mu[perm]`` lines up with ``reference_mu``.

    Solves the assignment problem (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``)
    on Euclidean distances between means, so the total distance is minimal. Distances are in
    the data's units: standardize first if the features have very different scales.

    Parameters
    ----------
    reference_mu : (K, D); mu : (K, D).

    Returns
    -------
    ndarray of int, shape (K,). Apply it to every parameter: ``w[perm]``, ``mu[perm]``,
    ``cov[perm]`` (not to a tied covariance), ``resp[:, perm]``.
    """
    ref = validate_samples_2d(reference_mu, name="reference_mu", allow_constant=True)
    mu = validate_samples_2d(mu, name="mu", allow_constant=True)
    if ref.shape != mu.shape:
        raise DataError(f"reference_mu and mu must have the same shape (K, D), got {ref.shape} and {mu.shape}.")
    dist = np.sqrt(np.sum((ref[:, None, :] - mu[None, :, :]) ** 2, axis=-1))  # (K ref, K est)
    rows, cols = linear_sum_assignment(dist)
    perm = np.empty(ref.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


def n_parameters(n_components, n_features, covariance_type: str = "full") -> int:
    """Number of free parameters, as scikit-learn counts them for BIC/AIC.

    ``(K - 1)`` weights + ``K D`` means + covariance parameters: ``K D(D+1)/2`` (full),
    ``D(D+1)/2`` (tied), ``K D`` (diag), ``K`` (spherical).
    """
    covariance_type = validate_covariance_type(covariance_type)
    k = validate_n_components(n_components)
    d = validate_n_components(n_features, name="n_features")
    cov_params = {
        "full": k * d * (d + 1) // 2,
        "tied": d * (d + 1) // 2,
        "diag": k * d,
        "spherical": k,
    }[covariance_type]
    return int((k - 1) + k * d + cov_params)


def bic(x, w, mu, cov, covariance_type: str = "full") -> float:
    """Bayesian information criterion ``-2 ln L + p ln N`` (lower is better), as scikit-learn."""
    x = validate_samples_2d(x, name="x", allow_constant=True)
    log_lik = gmm_log_likelihood(x, w, mu, cov, covariance_type)
    p = n_parameters(np.asarray(w).shape[0], x.shape[1], covariance_type)
    return float(-2.0 * log_lik + p * np.log(x.shape[0]))


def aic(x, w, mu, cov, covariance_type: str = "full") -> float:
    """Akaike information criterion ``-2 ln L + 2 p`` (lower is better), as scikit-learn."""
    x = validate_samples_2d(x, name="x", allow_constant=True)
    log_lik = gmm_log_likelihood(x, w, mu, cov, covariance_type)
    p = n_parameters(np.asarray(w).shape[0], x.shape[1], covariance_type)
    return float(-2.0 * log_lik + 2.0 * p)


def adjusted_rand_index(labels_a, labels_b) -> float:
    """Adjusted Rand index of two clusterings (Hubert & Arabie 1985): 1 identical, ~0 chance.

    ``(Σ_ij C(n_ij, 2) - E) / (½(Σ_i C(a_i, 2) + Σ_j C(b_j, 2)) - E)`` with
    ``E = Σ_i C(a_i, 2) Σ_j C(b_j, 2) / C(N, 2)`` from the contingency table ``n_ij``. Label
    values are arbitrary (the index is invariant to renaming).

    Parameters
    ----------
    labels_a, labels_b : (N,) integer labels.
    """
    a = np.asarray(labels_a)
    b = np.asarray(labels_b)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise DataError(f"labels must be two 1-D arrays of the same length >= 2, got shapes {a.shape} and {b.shape}.")
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1.0)

    def pairs(v):
        return float(np.sum(v * (v - 1.0) / 2.0))

    index = pairs(table)
    sum_a, sum_b = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = sum_a * sum_b / (a.size * (a.size - 1.0) / 2.0)
    maximum = 0.5 * (sum_a + sum_b)
    if maximum == expected:             # both clusterings trivial (one cluster, or all singletons)
        return 1.0
    return float((index - expected) / (maximum - expected))
