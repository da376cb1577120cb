r"""Closed forms for the Gaussian mixture model: densities, responsibilities, complete-data MLE.

The model (PRML 9.7; the book's step 4):

.. math::

    p(x) = \sum_{k=1}^{K} w_k \, \mathcal{N}(x \mid \mu_k, \Sigma_k), \qquad
    w_k \ge 0, \quad \sum_k w_k = 1.

Pure numpy/scipy. Every public function validates its input through :mod:`models.validation`
and raises :class:`~models.validation.DataError` (with a fix-it message) before computing.

Conventions
-----------
* ``x`` is (N, D), one row per observation; ``w`` is (K,); ``mu`` is (K, D).
* ``cov`` is stored exactly as scikit-learn's ``GaussianMixture.covariances_``:

  ============== ============ ==========================================
  covariance_type shape        meaning
  ============== ============ ==========================================
  ``"full"``      (K, D, D)    one covariance matrix per component
  ``"tied"``      (D, D)       one covariance matrix shared by all
  ``"diag"``      (K, D)       per-component diagonal (variances)
  ``"spherical"`` (K,)         per-component single variance, Σ_k = σ²_k I
  ============== ============ ==========================================

  :func:`full_covariances` expands any of them to (K, D, D).
* Everything is in log space (log-sum-exp over components). Quadratic forms and
  log-determinants go through the Cholesky factor ``Σ_k = L_k L_kᵀ`` and triangular solves;
  no matrix inverse or determinant is ever formed.
* Components are numbered from 0 in messages and labels.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import linalg
from scipy.special import logsumexp

from models.validation import (
    COVARIANCE_TYPES,
    DataError,
    validate_covariance_type,
    validate_labels,
    validate_means,
    validate_mixture_covariances,
    validate_n_components,
    validate_samples_2d,
    validate_weights,
)

__all__ = [
    "COVARIANCE_TYPES",
    "full_covariances",
    "component_log_densities",
    "gmm_logpdf",
    "gmm_log_likelihood",
    "responsibilities",
    "complete_data_mle",
    "complete_data_log_likelihood",
    "sample_gmm",
    "cholesky_factors",
    "weighted_log_densities",
    "estimate_parameters",
]

_LOG_2PI = float(np.log(2.0 * np.pi))

_FIX_SPD = "increase reg_covar or standardize your data"


# --------------------------------------------------------------------------- factors and validation


def cholesky_factors(cov: np.ndarray, covariance_type: str, *, context: str = "",
                      fix: str = _FIX_SPD) -> np.ndarray:
    """Square-root factors of validated-shape covariances, in the covariance_type's shape.

    Returns
    -------
    ``"full"``: (K, D, D) lower Cholesky factors ``L_k`` with ``Σ_k = L_k L_kᵀ``;
    ``"tied"``: (D, D) lower factor; ``"diag"``: (K, D) standard deviations;
    ``"spherical"``: (K,) standard deviations.

    Raises
    ------
    DataError
        "covariance of component 1 is not positive definite (smallest eigenvalue ...); increase
        reg_covar or standardize your data", naming the first bad component.
    """
    if covariance_type in ("diag", "spherical"):
        bad = np.any(cov <= 0, axis=1) if cov.ndim == 2 else cov <= 0     # (K,)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DataError(f"variance of component {k} is not positive ({float(np.min(cov[k])):.3g}){context}; "
                            f"{fix}.")
        return np.sqrt(cov)
    stack = cov if covariance_type == "full" else cov[None]
    chol = None
    try:
        chol = np.linalg.cholesky(stack)
    except np.linalg.LinAlgError:
        pass
    d = stack.shape[-1]
    if chol is not None:
        # A pivot at round-off level means a numerically singular matrix that the factorisation
        # happened to get through; its log-density would be noise, so refuse it (as gaussian.py does).
        pivots = np.diagonal(chol, axis1=-2, axis2=-1)
        floor = d * np.finfo(float).eps * np.max(np.diagonal(stack, axis1=-2, axis2=-1), axis=-1)
        ok = np.min(pivots, axis=-1) ** 2 > floor
        if ok.all():
            return chol if covariance_type == "full" else chol[0]
        bad = int(np.flatnonzero(~ok)[0])
    else:
        bad = next(k for k in range(stack.shape[0]) if not _is_cholesky_ok(stack[k]))
    smallest = float(np.linalg.eigvalsh(stack[bad])[0])
    which = f"covariance of component {bad}" if covariance_type == "full" else "the tied covariance"
    raise DataError(f"{which} is not positive definite (smallest eigenvalue {smallest:.3g}){context}; {fix}.")


def _is_cholesky_ok(a: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return False
    return True


def _validate_x(x, *, n_features: int | None = None, min_rows: int = 1, why: str | None = None,
                allow_constant: bool = True) -> np.ndarray:
    return validate_samples_2d(x, name="x", n_features=n_features, min_rows=min_rows, why=why,
                               allow_constant=allow_constant)


def _validate_model(x, w, mu, cov, covariance_type):
    """Validate data and a full parameter set; returns (x, w, mu, cov, chol, covariance_type)."""
    covariance_type = validate_covariance_type(covariance_type)
    x = _validate_x(x)
    w = validate_weights(w)
    k, d = w.shape[0], x.shape[1]
    mu = validate_means(mu, n_components=k, n_features=d)
    cov = validate_mixture_covariances(cov, covariance_type, n_components=k, n_features=d)
    chol = cholesky_factors(cov, covariance_type, fix="pass a symmetric positive-definite covariance")
    return x, w, mu, cov, chol, covariance_type


# --------------------------------------------------------------------------- core (no validation)


def _log_gaussian(x: np.ndarray, mu: np.ndarray, chol: np.ndarray, covariance_type: str) -> np.ndarray:
    """ln N(x_n | μ_k, Σ_k) for every point and component, shape (N, K).

    ``ln N = -½ (D ln 2π + ln|Σ_k| + ‖L_k⁻¹(x_n - μ_k)‖²)`` with ``ln|Σ_k| = 2 Σ_i ln L_k,ii``.

    x : (N, D); mu : (K, D); chol : output of :func:`cholesky_factors`.
    """
    n, d = x.shape
    if covariance_type == "full":
        diff = x[None, :, :] - mu[:, None, :]                                   # (K, N, D)
        # One batched forward substitution per component (scipy batches over the leading axis).
        y = linalg.solve_triangular(chol, np.swapaxes(diff, 1, 2), lower=True, check_finite=False)  # (K, D, N)
        maha = np.einsum("kdn,kdn->nk", y, y)                                   # (N, K)
        log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)  # (K,)
    elif covariance_type == "tied":
        # L⁻¹(x - μ_k) = L⁻¹x - L⁻¹μ_k: two solves shared by all components.
        yx = linalg.solve_triangular(chol, x.T, lower=True, check_finite=False)    # (D, N)
        ym = linalg.solve_triangular(chol, mu.T, lower=True, check_finite=False)   # (D, K)
        diff = yx[:, :, None] - ym[:, None, :]                                      # (D, N, K)
        maha = np.einsum("dnk,dnk->nk", diff, diff)
        log_det = np.full(mu.shape[0], 2.0 * np.sum(np.log(np.diag(chol))))
    elif covariance_type == "diag":
        z = (x[:, None, :] - mu[None, :, :]) / chol[None, :, :]                   # (N, K, D)
        maha = np.einsum("nkd,nkd->nk", z, z)
        log_det = 2.0 * np.sum(np.log(chol), axis=1)
    else:  # spherical
        diff = x[:, None, :] - mu[None, :, :]                                      # (N, K, D)
        maha = np.einsum("nkd,nkd->nk", diff, diff) / chol[None, :] ** 2
        log_det = 2.0 * d * np.log(chol)
    return -0.5 * (d * _LOG_2PI + log_det[None, :] + maha)


def _log_weights(w: np.ndarray) -> np.ndarray:
    """ln w_k, shape (K,); an empty component (w_k = 0) gives -inf, which log-sum-exp handles."""
    with np.errstate(divide="ignore"):
        return np.log(w)


def weighted_log_densities(x, w, mu, chol, covariance_type) -> np.ndarray:
    """ln w_k + ln N(x_n | μ_k, Σ_k), shape (N, K)."""
    return _log_gaussian(x, mu, chol, covariance_type) + _log_weights(w)[None, :]


def estimate_parameters(x: np.ndarray, r: np.ndarray, covariance_type: str, reg_covar: float,
                         previous: tuple[np.ndarray, np.ndarray] | None = None):
    """Weighted MLE of (w, μ, Σ) given responsibilities: the M-step (PRML 9.24-9.26).

    ``N_k = Σ_n r_nk``, ``w_k = N_k / N``, ``μ_k = Σ_n r_nk x_n / N_k``,
    ``Σ_k = Σ_n r_nk (x_n - μ_k)(x_n - μ_k)ᵀ / N_k + reg_covar I`` (restricted per covariance_type:
    diag keeps the diagonal, spherical its mean, tied pools the scatter over components and
    divides by N).

    x : (N, D); r : (N, K), rows summing to 1 (one-hot for the complete-data MLE).
    previous : (mu (K, D), cov in type shape) kept for components with N_k ~ 0, whose mean
        would be 0/0; ``None`` means every component must be non-empty.

    Returns
    -------
    nk (K,), w (K,), mu (K, D), cov in the covariance_type's shape.
    """
    n, d = x.shape
    nk = r.sum(axis=0)                                                   # (K,)
    # Below ~10 ulp of one point a component carries no information; dividing by it would
    # produce 0/0 = NaN, so keep its previous parameters (its weight is ~0 anyway).
    empty = nk <= 10.0 * np.finfo(float).eps
    safe_nk = np.where(empty, 1.0, nk)
    w = nk / nk.sum()
    mu = (r.T @ x) / safe_nk[:, None]                                    # (K, D)
    diff = x[None, :, :] - mu[:, None, :]                                # (K, N, D)
    weighted = diff * r.T[:, :, None]                                    # r_nk (x_n - μ_k)
    if covariance_type in ("full", "tied"):
        scatter = np.matmul(np.swapaxes(weighted, 1, 2), diff)           # (K, D, D), unnormalised
        if covariance_type == "full":
            cov = scatter / safe_nk[:, None, None]
        else:
            cov = scatter.sum(axis=0) / nk.sum()
        cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))                     # exact symmetry
        cov = cov + reg_covar * np.eye(d)
    else:
        var = np.einsum("knd,knd->kd", weighted, diff) / safe_nk[:, None]  # (K, D)
        cov = var + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(axis=1)
    if empty.any():
        if previous is None:
            k = int(np.flatnonzero(empty)[0])
            raise DataError(f"component {k} has no observations, so its mean and covariance are undefined; "
                            "use fewer components or relabel.")
        prev_mu, prev_cov = previous
        mu[empty] = prev_mu[empty]
        if covariance_type != "tied":
            cov[empty] = prev_cov[empty]
    return nk, w, mu, cov


# --------------------------------------------------------------------------- public API


def full_covariances(cov, covariance_type: str, n_components: int, n_features: int) -> np.ndarray:
    """Expand covariances of any type to one (D, D) matrix per component.

    Parameters
    ----------
    cov : array_like, shape (K, D, D) / (D, D) / (K, D) / (K,) for
        ``"full"`` / ``"tied"`` / ``"diag"`` / ``"spherical"``.
    covariance_type : one of :data:`COVARIANCE_TYPES`.
    n_components, n_features : K and D.

    Returns
    -------
    ndarray, shape (K, D, D).
    """
    covariance_type = validate_covariance_type(covariance_type)
    k = validate_n_components(n_components)
    d = validate_n_components(n_features, name="n_features")
    cov = validate_mixture_covariances(cov, covariance_type, n_components=k, n_features=d)
    cholesky_factors(cov, covariance_type, fix="pass a symmetric positive-definite covariance")
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.broadcast_to(cov, (k, d, d)).copy()
    if covariance_type == "diag":
        return cov[:, :, None] * np.eye(d)[None, :, :]
    return cov[:, None, None] * np.eye(d)[None, :, :]


def component_log_densities(x, mu, cov, covariance_type: str = "full") -> np.ndarray:
    """Per-component log-densities ln N(x_n | μ_k, Σ_k), via batched Cholesky.

    Parameters
    ----------
    x : array_like, shape (N, D).
    mu : array_like, shape (K, D).
    cov : array_like, covariances in ``covariance_type``'s shape (see module docstring).

    Returns
    -------
    ndarray, shape (N, K).
    """
    covariance_type = validate_covariance_type(covariance_type)
    x = _validate_x(x)
    mu = validate_samples_2d(mu, name="mu", allow_constant=True)
    k = validate_n_components(mu.shape[0], name="number of components (rows of mu)")
    mu = validate_means(mu, n_components=k, n_features=x.shape[1])
    cov = validate_mixture_covariances(cov, covariance_type, n_components=k, n_features=x.shape[1])
    chol = cholesky_factors(cov, covariance_type, fix="pass a symmetric positive-definite covariance")
    return _log_gaussian(x, mu, chol, covariance_type)


def gmm_logpdf(x, w, mu, cov, covariance_type: str = "full") -> np.ndarray:
    r"""Mixture log-density :math:`\ln p(x_n) = \ln \sum_k w_k \mathcal{N}(x_n \mid \mu_k, \Sigma_k)` (PRML 9.7).

    Parameters
    ----------
    x : (N, D); w : (K,) nonnegative, summing to 1; mu : (K, D); cov : covariance_type's shape.

    Returns
    -------
    ndarray, shape (N,).
    """
    x, w, mu, _, chol, covariance_type = _validate_model(x, w, mu, cov, covariance_type)
    return logsumexp(weighted_log_densities(x, w, mu, chol, covariance_type), axis=1)


def gmm_log_likelihood(x, w, mu, cov, covariance_type: str = "full") -> float:
    r"""Total log-likelihood :math:`\sum_n \ln \sum_k w_k \mathcal{N}(x_n \mid \mu_k, \Sigma_k)` (PRML 9.14).

    Shapes as in :func:`gmm_logpdf`. Returns a float (divide by N for the per-point mean that
    EM, the book and scikit-learn's ``score`` report).
    """
    return float(np.sum(gmm_logpdf(x, w, mu, cov, covariance_type)))


def responsibilities(x, w, mu, cov, covariance_type: str = "full") -> np.ndarray:
    r"""Posterior class probabilities :math:`\gamma_{nk} = p(z_n = k \mid x_n)` (PRML 9.23).

    Computed in log space, :math:`\ln\gamma_{nk} = \ln w_k + \ln\mathcal{N}_{nk} - \ln p(x_n)`,
    so far-away points do not underflow to 0/0.

    Returns
    -------
    ndarray, shape (N, K); every row sums to 1.

    Example
    -------
    >>> import numpy as np
    >>> from models import responsibilities
    >>> w, mu, cov = np.array([0.5, 0.5]), np.array([[0.0], [4.0]]), np.array([[[1.0]], [[1.0]]])
    >>> responsibilities([[0.0], [2.0]], w, mu, cov).round(4).tolist()   # at 2.0: halfway, 50/50
    [[0.9997, 0.0003], [0.5, 0.5]]
    """
    x, w, mu, _, chol, covariance_type = _validate_model(x, w, mu, cov, covariance_type)
    log_p = weighted_log_densities(x, w, mu, chol, covariance_type)
    return np.exp(log_p - logsumexp(log_p, axis=1, keepdims=True))


def complete_data_mle(x, z, n_components):
    r"""MLE of (w, μ, Σ) when the labels are observed: "the log-sum disappears".

    With :math:`z` known, :math:`\ln p(\mathcal{D}, z) = \sum_n [\ln w_{z_n} + \ln \mathcal{N}(x_n \mid
    \mu_{z_n}, \Sigma_{z_n})]` separates into one Gaussian MLE per class plus a categorical MLE:
    :math:`w_k = N_k / N`, :math:`\mu_k` the class mean, :math:`\Sigma_k` the class scatter
    divided by :math:`N_k` (not :math:`N_k - 1`).

    Parameters
    ----------
    x : array_like, shape (N, D).
    z : array_like of int, shape (N,), labels in 0..K-1; every class must occur.
    n_components : K.

    Returns
    -------
    w : (K,); mu : (K, D); cov : (K, D, D). A class with at most D distinct points has a
    singular covariance: that *is* its MLE, but densities will refuse it.
    """
    k = validate_n_components(n_components)
    x = _validate_x(x)
    z = validate_labels(z, n_rows=x.shape[0], n_components=k)
    r = np.zeros((x.shape[0], k))
    r[np.arange(x.shape[0]), z] = 1.0
    _, w, mu, cov = estimate_parameters(x, r, "full", 0.0, previous=None)
    return w, mu, cov


def complete_data_log_likelihood(x, z, w, mu, cov, covariance_type: str = "full") -> float:
    r""":math:`\ln p(\mathcal{D}, z) = \sum_n [\ln w_{z_n} + \ln \mathcal{N}(x_n \mid \mu_{z_n}, \Sigma_{z_n})]`.

    Shapes as in :func:`gmm_logpdf`, plus ``z`` (N,) integer labels. Returns a float
    (``-inf`` if some point is labelled with a zero-weight component).
    """
    x, w, mu, _, chol, covariance_type = _validate_model(x, w, mu, cov, covariance_type)
    z = validate_labels(z, n_rows=x.shape[0], n_components=w.shape[0])
    log_p = weighted_log_densities(x, w, mu, chol, covariance_type)
    return float(np.sum(log_p[np.arange(x.shape[0]), z]))


def sample_gmm(rng, n, w, mu, cov, covariance_type: str = "full"):
    """Forward (ancestral) sampling, the book's ``gmm_sampling``: z ~ Categorical(w), x | z ~ N(μ_z, Σ_z).

    Parameters
    ----------
    rng : ``numpy.random.Generator`` (or an int seed).
    n : number of draws, >= 1.
    w : (K,); mu : (K, D); cov : covariance_type's shape.

    Returns
    -------
    x : ndarray (n, D); z : ndarray (n,) of int labels.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
        raise DataError(f"n must be a whole number >= 1 (the number of draws), got {n!r}.")
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, (numbers.Integral, np.random.SeedSequence)) and not isinstance(rng, bool):
            rng = np.random.default_rng(rng)
        else:
            raise DataError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}.")
    covariance_type = validate_covariance_type(covariance_type)
    w = validate_weights(w)
    mu = validate_samples_2d(mu, name="mu", allow_constant=True)
    k, d = w.shape[0], mu.shape[1]
    mu = validate_means(mu, n_components=k, n_features=d)
    cov = validate_mixture_covariances(cov, covariance_type, n_components=k, n_features=d)
    cholesky_factors(cov, covariance_type, fix="pass a symmetric positive-definite covariance")
    chol = np.linalg.cholesky(full_covariances(cov, covariance_type, k, d))  # (K, D, D)
    z = rng.choice(k, size=int(n), p=w)
    eps = rng.standard_normal((int(n), d))
    x = mu[z] + np.einsum("nij,nj->ni", chol[z], eps)
    return x, z
