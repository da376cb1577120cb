r"""Variational Bayes for the Bayesian Gaussian mixture (PRML 10.2), in numpy: coordinate ascent on q(z) q(π) q(μ, Λ).

The model (PRML 10.37-10.40), priors in data units:

.. math::

    \pi \sim \mathrm{Dir}(\alpha_0 \mathbf 1), \quad
    \Lambda_k \sim \mathcal W(W_0, \nu_0), \quad
    \mu_k \mid \Lambda_k \sim \mathcal N(m_0, (\beta_0\Lambda_k)^{-1}), \quad
    z_n \sim \mathrm{Cat}(\pi), \quad x_n \mid z_n = k \sim \mathcal N(\mu_k, \Lambda_k^{-1}).

The variational posterior q(z) q(π) Π_k q(μ_k, Λ_k) has the same families (PRML 10.55-10.59):
``alpha`` (K,) Dirichlet, and per component a Normal-Wishart with ``m`` (K, D), ``beta`` (K,),
``nu`` and the scale in its *inverse* ("scatter") form ``W_inv`` = W_k⁻¹ (PRML 10.62), stored in
the covariance type's shape exactly like scikit-learn's ``covariances_ = W_inv / nu``.

Covariance types (the precision Λ_k and its prior; scikit-learn's ``covariance_prior`` is W0⁻¹)
------------------------------------------------------------------------------------------------
=============== ================================================================= ==============
type            precision prior                                                   ``W0_inv``
=============== ================================================================= ==============
``"full"``      Λ_k ~ W(W0, ν0), one D-dim Wishart per component                 (D, D)
``"tied"``      Λ ~ W(W0, ν0) shared; μ_k | Λ ~ N(m0, (β0 Λ)⁻¹)                   (D, D)
``"diag"``      Λ_k = diag(λ_kd), λ_kd ~ W₁(W0_d, ν0) = Gamma(ν0/2, rate 1/(2 W0_d)) (D,)
``"spherical"`` Λ_k = λ_k I, λ_k ~ W₁(W0/D, D ν0) = Gamma(D ν0/2, rate D/(2 W0))   scalar
=============== ================================================================= ==============

With these parametrizations ``E[Λ_k] = ν_k W_k`` in every type and the updates of ``alpha``,
``beta``, ``m`` and (for full, diag, spherical) ``nu`` and ``W_inv`` are *the same formulas as
scikit-learn's* ``BayesianGaussianMixture`` (``weight_concentration_prior_type=
"dirichlet_distribution"``, ``reg_covar=0``). Each type is one row of :data:`_TYPES`.

Two variants of the update (``updates=``):

* ``"exact"`` (default): coordinate ascent on the model above; the ELBO never decreases.
* ``"sklearn"``: scikit-learn's updates, which are CAVI only for ``"full"``. For diag and
  spherical scikit-learn takes E[ln|Λ_k|] from the D-dimensional Wishart formula (10.65),
  Σ_i ψ((ν+1-i)/2) + D ln 2 + ln|W|, where the Gamma factors above give D ψ(ν/2) + D ln 2 + ln|W|
  (diag) and D ψ(Dν/2) + D ln(2/D) + ln|W| (spherical); for tied it gives the shared Wishart
  ``nu = ν0 + N/K`` and ``W_inv = W0⁻¹ + (Σ_k ...)/K`` where coordinate ascent gives ``ν0 + N``
  and ``W0⁻¹ + Σ_k ...``. This variant exists to tie out to scikit-learn to round-off; its
  trace is still the exact ELBO of the model above at its q, but need not be monotone.

One iteration (PRML 10.2.1; scikit-learn's order)
--------------------------------------------------
* E-step (10.46-10.49): ln ρ_nk = E[ln π_k] + E[ln N(x_n | μ_k, Λ_k)] with
  E[ln π_k] = ψ(α_k) - ψ(Σα) (10.66) and
  E[ln N] = ½ E[ln|Λ_k|] - (D/2) ln 2π - ½ (D/β_k + ν_k (x_n - m_k)ᵀ W_k (x_n - m_k)) (10.64-10.65),
  computed as ln N(x_n | m_k, (ν_k W_k)⁻¹) through batched Cholesky factors (:mod:`models.gmm`)
  plus ½ (E[ln|Λ_k|] - ln|ν_k W_k|) - D/(2β_k); r_nk = ρ_nk / Σ_j ρ_nj by log-sum-exp.
* M-step (10.51-10.63): N_k = Σ_n r_nk, x̄_k, S_k; α_k = α0 + N_k (10.58); β_k = β0 + N_k (10.60);
  m_k = (β0 m0 + N_k x̄_k)/β_k (10.61);
  W_k⁻¹ = W0⁻¹ + N_k S_k + β0 N_k/β_k (x̄_k - m0)(x̄_k - m0)ᵀ (10.62); ν_k = ν0 + N_k (10.63).
* ELBO (10.70-10.77), every constant included, at (r_t, θ_t):
  ``L = Σ_nk r_nk (ln ρ_nk - ln r_nk) - KL(q(π) ‖ p(π)) - Σ_k E_q(Λ)[KL(q(μ_k|Λ_k) ‖ p(μ_k|Λ_k))]
  - Σ_blocks KL(q(Λ) ‖ p(Λ))``: the first sum is 10.71 + 10.72 - 10.75, the Dirichlet KL is
  10.73 - 10.76, the Normal-Wishart KLs are 10.74 - 10.77.

The trace starts at the q(θ) computed from the initial responsibilities (``trace[0]``), then
one value per E+M iteration, so ``n_iter`` equals scikit-learn's ``n_iter_`` for the same run.

What scikit-learn's ``lower_bound_`` drops
------------------------------------------
scikit-learn evaluates, after each M-step,
``-Σ r ln r - Σ_k ln B(W_k, ν_k)' - ln C(α) - (D/2) Σ_k ln β_k`` where ``ln B'`` is the
Wishart log-normaliser (B.79) *without* its -(D(D-1)/4) ln π. That is the collapsed form of the
ELBO, ``ln ∫ p(θ) exp(E_r[ln p(X, Z | θ)]) dθ - Σ r ln r``, which equals the ELBO only when
q(θ) is the exact optimum for the r it is paired with; what it leaves out is then the constant
``ln C(α0) - (ND/2) ln 2π + K ln B(W0, ν0) + (KD/2) ln β0 + K (D(D-1)/4) ln π``. Terms that
change between iterations enter as soon as that premise fails: with ``reg_covar > 0`` (its
default), or with its diag/spherical/tied updates (``updates="sklearn"`` above), which are not
coordinate-ascent steps, the three expectations E[ln p(X, Z | θ)], E[ln p(θ)], -E[ln q(θ)] no longer collapse, and
``lower_bound_`` is not the ELBO plus a constant. :func:`sklearn_dropped_constant` gives the
constant for the tests.

Empty components (N_k → 0) need no special case: every update is written with N_k x̄_k and
N_k S_k, which vanish, so the component's q returns to its prior (PRML 10.2.4).

Past the ~500-line guideline on purpose: one job (the VB fit and its ELBO), but the ELBO's
every term is written out with its equation number, and the per-type table keeps the four
covariance types in one place; splitting it would separate each update from its bound term.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg
from scipy.special import digamma, gammaln, logsumexp, xlogy

from models.em import kmeans_plusplus
from models.gmm import cholesky_factors, weighted_log_densities
from models.validation import (
    DataError,
    mixture_covariance_shape,
    resolve_seed,
    validate_count,
    validate_covariance_type,
    validate_mixture_covariances,
    validate_n_components,
    validate_nonnegative,
    validate_samples_2d,
    validate_scalar,
    validate_vector,
)

__all__ = [
    "VBConvergenceWarning",
    "VBPrior",
    "VBResult",
    "elbo",
    "fit_vb",
    "sklearn_dropped_constant",
    "variational_m_step",
    "vb_prior",
]

UPDATES = ("exact", "sklearn")
_LOG_2PI = math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)


class VBConvergenceWarning(UserWarning):
    """VB hit ``max_iter`` before the ELBO change fell below ``tol``."""


@dataclass(frozen=True)
class VBPrior:
    """Dirichlet(alpha0) × Normal-Wishart(m0, beta0, W0, nu0), in data units.

    ``W0_inv`` is W0⁻¹ in the covariance type's shape ((D, D), (D, D), (D,), scalar), i.e.
    scikit-learn's ``covariance_prior``; ``E[Λ] = nu0 W0`` a priori.
    """

    alpha0: float
    beta0: float
    m0: np.ndarray
    W0_inv: np.ndarray
    nu0: float
    covariance_type: str


@dataclass(frozen=True)
class VBResult:
    """q(π) q(μ, Λ) and q(z) at the last iteration (arrays read-only).

    Attributes
    ----------
    alpha : (K,) Dirichlet concentrations α_k (scikit-learn's ``weight_concentration_``).
    beta : (K,) mean precisions β_k (``mean_precision_``).
    m : (K, D) means m_k (``means_``).
    nu : (K,), or () for tied: degrees of freedom ν_k (``degrees_of_freedom_``).
    W_inv : W_k⁻¹ in the type's shape (``covariances_ * degrees_of_freedom_``).
    responsibilities : (N, K) r_nk from the last E-step (the ones the last q(θ) was computed from).
    trace : (n_iter + 1,) ELBO at the initial q(θ) and after each iteration.
    elbo : trace[-1]. n_iter, converged, prior, updates, tol, max_iter, seed: as used.
    """

    alpha: np.ndarray
    beta: np.ndarray
    m: np.ndarray
    nu: np.ndarray
    W_inv: np.ndarray
    responsibilities: np.ndarray = field(repr=False)
    trace: np.ndarray
    n_iter: int
    converged: bool
    prior: VBPrior = field(repr=False)
    updates: str
    tol: float
    max_iter: int
    seed: int | None

    def __post_init__(self):
        for name in ("alpha", "beta", "m", "nu", "W_inv", "responsibilities", "trace"):
            getattr(self, name).setflags(write=False)

    @property
    def covariance_type(self) -> str:
        return self.prior.covariance_type

    @property
    def elbo(self) -> float:
        return float(self.trace[-1])

    @property
    def weights(self) -> np.ndarray:
        """E_q[π], (K,)."""
        return self.alpha / self.alpha.sum()

    @property
    def covariances(self) -> np.ndarray:
        """W_k⁻¹/ν_k = E_q[Λ_k]⁻¹ in the type's shape (scikit-learn's ``covariances_``)."""
        return self.W_inv / _bcast(self.nu, self.W_inv)

    @property
    def mean_covariances(self) -> np.ndarray:
        """E_q[Σ_k] (full/tied: W_k⁻¹/(ν_k - D - 1), needs ν_k > D + 1; diag/spherical: E[1/λ])."""
        d = self.m.shape[1]
        row = _TYPES[self.covariance_type]
        return self.W_inv / row.inverse_mean_denominator(_bcast(self.nu, self.W_inv), d)


# --------------------------------------------------------------------------- per-type table


def _bcast(nu, like):
    """ν reshaped to broadcast against a W_inv-shaped array."""
    nu = np.asarray(nu, dtype=float)
    return nu.reshape(nu.shape + (1,) * (like.ndim - nu.ndim)) if nu.ndim else nu


def _wishart_elog_det(nu, d: int):
    """Σ_{i<d} ψ((ν - i)/2) + d ln 2 = E[ln|Λ|] - ln|W| for Λ ~ W(W, ν) of dimension d (PRML 10.65)."""
    nu = np.asarray(nu, dtype=float)
    return np.sum(digamma(0.5 * (nu[..., None] - np.arange(d))), axis=-1) + d * math.log(2.0)


def _wishart_log_norm(nu, log_det_w, d: int):
    """ln B(W, ν) (PRML B.79) from ln|W|; broadcasts over blocks."""
    nu = np.asarray(nu, dtype=float)
    return (-0.5 * nu * log_det_w - 0.5 * nu * d * math.log(2.0) - 0.25 * d * (d - 1) * _LOG_PI
            - np.sum(gammaln(0.5 * (nu[..., None] - np.arange(d))), axis=-1))


def _wishart_kl(nu, log_det_w, nu0, log_det_w0, trace_w0inv_w, d: int):
    """KL(W(W, ν) ‖ W(W0, ν0)) per block = E_q[ln q] - E_q[ln p] (PRML B.79-B.82)."""
    e_log_det = _wishart_elog_det(nu, d) + log_det_w
    return (_wishart_log_norm(nu, log_det_w, d) - _wishart_log_norm(nu0, log_det_w0, d)
            + 0.5 * (nu - nu0) * e_log_det - 0.5 * nu * d + 0.5 * nu * trace_w0inv_w)


@dataclass(frozen=True)
class _Type:
    """Everything that differs between covariance types (shapes as in the module docstring).

    elog_det : (nu, D) -> E[ln|Λ_k|] - ln|W_k| under the exact model.
    scale_update : (nk, sum_x, xbar, r, x, beta, prior) -> (nu, W_inv), PRML 10.62-10.63.
    blocks_kl : (nu, W_inv, prior, D) -> Σ over Wishart blocks of KL(q(Λ) ‖ p(Λ)).
    inverse_mean_denominator : (nu, D) -> c with E[Σ] = W_inv / c.
    """

    elog_det: callable
    scale_update: callable
    blocks_kl: callable
    inverse_mean_denominator: callable


def _chol_log_det(a):
    """ln|A| for SPD A (…, D, D) by Cholesky."""
    return 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(a), axis1=-2, axis2=-1)), axis=-1)


def _trace_inv_product(w0_inv, w_inv):
    """tr(W0⁻¹ W) = tr(W0⁻¹ (W⁻¹)⁻¹) per matrix, by Cholesky solves: ‖L⁻¹ C0‖²_F, W⁻¹ = L Lᵀ, W0⁻¹ = C0 C0ᵀ."""
    chol = np.linalg.cholesky(w_inv)                                     # (…, D, D)
    c0 = np.broadcast_to(np.linalg.cholesky(w0_inv), chol.shape)
    y = linalg.solve_triangular(chol, c0, lower=True, check_finite=False)   # batched over a leading axis
    return np.sum(y * y, axis=(-2, -1))


def _scatter(x, r, xbar):
    """Σ_n r_nk (x_n - x̄_k)(x_n - x̄_k)ᵀ, (K, D, D): N_k S_k without dividing by N_k."""
    diff = x[None, :, :] - xbar[:, None, :]                              # (K, N, D)
    return np.matmul(np.swapaxes(diff * r.T[:, :, None], 1, 2), diff)


def _mean_shift(nk, xbar, beta, prior):
    """β0 N_k / β_k and x̄_k - m0, (K,) and (K, D) (the last term of PRML 10.62)."""
    return prior.beta0 * nk / beta, xbar - prior.m0


def _full_scale(nk, xbar, r, x, beta, prior):
    c, dm = _mean_shift(nk, xbar, beta, prior)
    w_inv = prior.W0_inv + _scatter(x, r, xbar) + c[:, None, None] * dm[:, :, None] * dm[:, None, :]
    return prior.nu0 + nk, 0.5 * (w_inv + np.swapaxes(w_inv, 1, 2))


def _tied_scale(nk, xbar, r, x, beta, prior):
    c, dm = _mean_shift(nk, xbar, beta, prior)
    w_inv = prior.W0_inv + _scatter(x, r, xbar).sum(axis=0) + (c[:, None] * dm).T @ dm
    return np.asarray(prior.nu0 + nk.sum()), 0.5 * (w_inv + w_inv.T)


def _tied_scale_sklearn(nk, xbar, r, x, beta, prior):
    k = nk.shape[0]
    c, dm = _mean_shift(nk, xbar, beta, prior)
    w_inv = prior.W0_inv + (_scatter(x, r, xbar).sum(axis=0) + (c[:, None] * dm).T @ dm) / k
    return np.asarray(prior.nu0 + nk.sum() / k), 0.5 * (w_inv + w_inv.T)


def _diag_scale(nk, xbar, r, x, beta, prior):
    c, dm = _mean_shift(nk, xbar, beta, prior)
    var = np.einsum("nk,knd->kd", r, (x[None, :, :] - xbar[:, None, :]) ** 2)  # N_k S_k diagonal
    return prior.nu0 + nk, prior.W0_inv + var + c[:, None] * dm**2


def _spherical_scale(nk, xbar, r, x, beta, prior):
    nu, w_inv = _diag_scale(nk, xbar, r, x, beta, prior)
    return nu, w_inv.mean(axis=1)                                        # W0⁻¹ + N_k s_k + ...


def _full_kl(nu, w_inv, prior, d):
    return float(np.sum(_wishart_kl(nu, -_chol_log_det(w_inv), prior.nu0, -_chol_log_det(prior.W0_inv),
                                    _trace_inv_product(prior.W0_inv, w_inv), d)))


def _diag_kl(nu, w_inv, prior, d):
    nu = np.broadcast_to(_bcast(nu, w_inv), w_inv.shape)
    return float(np.sum(_wishart_kl(nu, -np.log(w_inv), prior.nu0, -np.log(prior.W0_inv),
                                    prior.W0_inv / w_inv, 1)))


def _spherical_kl(nu, w_inv, prior, d):
    # λ ~ W₁(w/D, Dν): ln|W'| = -ln(D w_inv), tr(W0'⁻¹ W') = w0_inv / w_inv.
    return float(np.sum(_wishart_kl(d * nu, -np.log(d * w_inv), d * prior.nu0, -np.log(d * prior.W0_inv),
                                    prior.W0_inv / w_inv, 1)))


_TYPES = {
    "full": _Type(elog_det=_wishart_elog_det, scale_update=_full_scale,
                  blocks_kl=_full_kl, inverse_mean_denominator=lambda nu, d: nu - d - 1),
    "tied": _Type(elog_det=_wishart_elog_det,
                  scale_update=_tied_scale, blocks_kl=_full_kl,
                  inverse_mean_denominator=lambda nu, d: nu - d - 1),
    "diag": _Type(elog_det=lambda nu, d: d * (digamma(0.5 * np.asarray(nu)) + math.log(2.0)),
                  scale_update=_diag_scale, blocks_kl=_diag_kl, inverse_mean_denominator=lambda nu, d: nu - 2),
    "spherical": _Type(elog_det=lambda nu, d: d * (digamma(0.5 * d * np.asarray(nu))
                                                                            + math.log(2.0 / d)),
                       scale_update=_spherical_scale, blocks_kl=_spherical_kl,
                       inverse_mean_denominator=lambda nu, d: nu - 2.0 / d),
}


def _elog_det(covariance_type, updates, nu, d):
    """E[ln|Λ_k|] - ln|W_k| used by the E-step: the model's, or scikit-learn's Wishart formula."""
    if updates == "sklearn":
        return _wishart_elog_det(nu, d)
    return _TYPES[covariance_type].elog_det(nu, d)


# --------------------------------------------------------------------------- core (no validation)


def _m_step(x, r, prior, updates):
    """q(π), q(μ, Λ) from responsibilities (PRML 10.51-10.63); x (N, D), r (N, K)."""
    nk = r.sum(axis=0)                                                   # (K,)
    sum_x = r.T @ x                                                      # (K, D) = N_k x̄_k
    # An empty component's x̄_k is 0/0; any finite value does, since it only enters times N_k.
    safe = nk > 0
    xbar = np.where(safe[:, None], sum_x / np.where(safe, nk, 1.0)[:, None], prior.m0)
    alpha = prior.alpha0 + nk                                            # (10.58)
    beta = prior.beta0 + nk                                              # (10.60)
    m = (prior.beta0 * prior.m0 + sum_x) / beta[:, None]                 # (10.61)
    scale = _tied_scale_sklearn if (updates == "sklearn" and prior.covariance_type == "tied") else \
        _TYPES[prior.covariance_type].scale_update
    nu, w_inv = scale(nk, xbar, r, x, beta, prior)                       # (10.62-10.63)
    return alpha, beta, m, np.asarray(nu, dtype=float), w_inv


def _log_rho(x, q, covariance_type, elog_det_fn):
    """ln ρ_nk = E[ln π_k] + E[ln N(x_n | μ_k, Λ_k)], (N, K) (PRML 10.46 with 10.64-10.66)."""
    alpha, beta, m, nu, w_inv = q
    k, d = m.shape
    cov = w_inv / _bcast(nu, w_inv)                                      # (ν W)⁻¹, type shape
    chol = cholesky_factors(cov, covariance_type, context=" in the variational posterior",
                            fix="give the Wishart prior a larger scale W0⁻¹ or standardize the data")
    log_gauss = weighted_log_densities(x, np.ones(k), m, chol, covariance_type)   # ln N(x | m, (νW)⁻¹)
    nu_k = np.broadcast_to(nu, (k,))
    e_log_pi = digamma(alpha) - digamma(alpha.sum())                     # (10.66)
    return log_gauss + e_log_pi + 0.5 * (elog_det_fn(nu_k, d) - d * np.log(nu_k)) - 0.5 * d / beta


def _elbo(x, r, q, prior, log_rho):
    """The full ELBO (PRML 10.70-10.77) at responsibilities r and q(θ) = q; log_rho under the exact model."""
    alpha, beta, m, nu, w_inv = q
    k, d = m.shape
    row = _TYPES[prior.covariance_type]
    data = float(np.sum(r * log_rho) - np.sum(xlogy(r, r)))             # 10.71 + 10.72 - 10.75
    a0 = np.full(k, prior.alpha0)
    e_log_pi = digamma(alpha) - digamma(alpha.sum())
    kl_pi = float(gammaln(alpha.sum()) - np.sum(gammaln(alpha)) - gammaln(a0.sum()) + np.sum(gammaln(a0))
                  + np.sum((alpha - a0) * e_log_pi))                     # 10.76 - 10.73
    # E_Λ[KL(N(m_k, (β_kΛ)⁻¹) ‖ N(m0, (β0Λ)⁻¹))]: the ln|Λ| terms cancel; E[Λ] = ν W.
    cov = w_inv / _bcast(nu, w_inv)
    chol = cholesky_factors(cov, prior.covariance_type)
    maha = -2.0 * (weighted_log_densities(prior.m0[None, :], np.ones(k), m, chol, prior.covariance_type)[0]
                   + 0.5 * d * _LOG_2PI) - _log_det_cov(cov, prior.covariance_type, k, d)
    ratio = prior.beta0 / beta
    kl_mu = float(0.5 * np.sum(d * ratio - d - d * np.log(ratio) + prior.beta0 * maha))
    kl_lambda = row.blocks_kl(nu, w_inv, prior, d)                       # 10.77 - 10.74, Λ part
    return data - kl_pi - kl_mu - kl_lambda


def _log_det_cov(cov, covariance_type, k, d):
    """ln|Σ̃_k| of a type-shaped covariance, (K,)."""
    if covariance_type == "full":
        return _chol_log_det(cov)
    if covariance_type == "tied":
        return np.full(k, _chol_log_det(cov))
    if covariance_type == "diag":
        return np.sum(np.log(cov), axis=1)
    return d * np.log(cov)


def _run(x, r, q, prior, *, updates, tol, max_iter):
    """Iterate E/M from (r, q(θ) = M-step(r)) or, with q given, from the E-step of q. Returns a dict."""
    ctype = prior.covariance_type
    exact_elog = _TYPES[ctype].elog_det
    step_elog = (lambda nu, d: _elog_det(ctype, updates, nu, d))
    if q is None:
        q = _m_step(x, r, prior, updates)
    log_rho_exact = _log_rho(x, q, ctype, exact_elog)
    trace = [] if r is None else [_elbo(x, r, q, prior, log_rho_exact)]
    converged, n_iter = False, 0
    for n_iter in range(1, max_iter + 1):
        log_rho = log_rho_exact if updates == "exact" else _log_rho(x, q, ctype, step_elog)
        r = np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))  # E-step (10.46-10.49)
        q = _m_step(x, r, prior, updates)
        log_rho_exact = _log_rho(x, q, ctype, exact_elog)
        trace.append(_elbo(x, r, q, prior, log_rho_exact))
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < tol:
            converged = True
            break
    return {"q": q, "r": r, "trace": np.array(trace), "n_iter": n_iter, "converged": converged}


# --------------------------------------------------------------------------- public API


def vb_prior(x, n_components, *, covariance_type: str = "full", alpha0=None, beta0=1.0, m0=None, W0_inv=None,
             nu0=None) -> VBPrior:
    """The validated prior, with scikit-learn's defaults for what is not given.

    Parameters
    ----------
    x : array_like (N, D), only for the defaults and D.
    alpha0 : > 0, default 1/K. beta0 : > 0, default 1. m0 : (D,), default the data mean.
    W0_inv : W0⁻¹ in the type's shape ((D, D), (D, D), (D,), scalar), positive definite;
        default the sample covariance (ddof=1), its diagonal, or its mean diagonal.
    nu0 : > D - 1, default D.

    Raises
    ------
    DataError : a non-positive alpha0, beta0 or scale, nu0 <= D - 1, wrong shapes.
    """
    covariance_type = validate_covariance_type(covariance_type)
    k = validate_n_components(n_components)
    x = validate_samples_2d(x, name="x", min_rows=2, why="the default prior uses the sample covariance")
    d = x.shape[1]
    alpha0 = validate_scalar(1.0 / k if alpha0 is None else alpha0, name="alpha0 (Dirichlet concentration)",
                             positive=True)
    beta0 = validate_scalar(beta0, name="beta0 (prior pseudo-count of the means)", positive=True)
    m0 = x.mean(axis=0) if m0 is None else validate_vector(m0, name="m0", size=d)
    nu0 = validate_scalar(d if nu0 is None else nu0, name="nu0 (Wishart degrees of freedom)",
                          greater_than=d - 1)
    if W0_inv is None:
        c = np.atleast_2d(np.cov(x, rowvar=False))
        W0_inv = {"full": c, "tied": c, "diag": np.diag(c), "spherical": np.mean(np.diag(c))}[covariance_type]
    W0_inv = _validate_scale(W0_inv, covariance_type, d)
    return VBPrior(alpha0=alpha0, beta0=beta0, m0=m0, W0_inv=W0_inv, nu0=nu0, covariance_type=covariance_type)


def _validate_scale(W0_inv, covariance_type, d):
    """W0⁻¹ in the type's shape, positive (definite)."""
    shape = mixture_covariance_shape(covariance_type, 1, d)
    if covariance_type in ("full", "tied"):
        arr = validate_mixture_covariances(W0_inv, "tied", n_components=1, n_features=d, name="W0_inv")
        cholesky_factors(arr, "tied", context=" (W0_inv, the prior scale W0⁻¹)",
                         fix="pass a symmetric positive-definite W0_inv")
        return arr
    arr = np.asarray(validate_mixture_covariances(np.reshape(W0_inv, shape), covariance_type, n_components=1,
                                                  n_features=d, name="W0_inv"))
    if np.any(arr <= 0):
        raise DataError(f"W0_inv (the prior scale W0⁻¹) must be positive, got {np.ravel(arr).tolist()}.")
    return arr[0] if covariance_type == "diag" else float(arr[0])


def fit_vb(x, n_components, *, covariance_type: str = "full", prior: VBPrior | None = None, init="kmeans++",
           seed=None, updates: str = "exact", tol: float = 1e-8, max_iter: int = 500) -> VBResult:
    """Coordinate-ascent variational Bayes for the Bayesian GMM (PRML 10.2).

    Parameters
    ----------
    x : array_like, shape (N, D), N >= K.
    n_components : K >= 1.
    covariance_type : ``"full"``, ``"tied"``, ``"diag"`` or ``"spherical"`` (see module docstring).
    prior : :class:`VBPrior` from :func:`vb_prior` (default: :func:`vb_prior` (x, K, type)).
    init : ``"kmeans++"`` (one-hot labels of :func:`models.em.kmeans_plusplus` centres),
        responsibilities (N, K) (rows summing to 1; the first q(θ) is their M-step, as
        scikit-learn's ``_initialize(X, resp)``), or a :class:`VBResult` (continue from its q(θ)).
    seed : for k-means++ only.
    updates : ``"exact"`` (coordinate ascent) or ``"sklearn"`` (see module docstring).
    tol : stop when the ELBO (total, nats) changes by less than tol; ``tol=0`` runs exactly
        ``max_iter`` iterations (no warning).
    max_iter : most E+M iterations; a :class:`VBConvergenceWarning` (with the last ELBO change)
        when reached with ``tol > 0``.

    Returns
    -------
    VBResult
    """
    k = validate_n_components(n_components)
    covariance_type = validate_covariance_type(covariance_type)
    x = validate_samples_2d(x, name="x", min_rows=k,
                            why=f"variational Bayes needs at least one observation per component, n_components={k}")
    tol = validate_nonnegative(tol, "tol")
    max_iter = validate_count(max_iter, "max_iter")
    if updates not in UPDATES:
        raise DataError(f"updates must be one of {list(UPDATES)}, got {updates!r}.")
    prior = vb_prior(x, k, covariance_type=covariance_type) if prior is None else prior
    if not isinstance(prior, VBPrior) or prior.covariance_type != covariance_type or prior.m0.shape != (x.shape[1],):
        raise DataError("prior must be a VBPrior from vb_prior(x, n_components, covariance_type=...) with the "
                        "same covariance_type and number of features as x.")
    used_seed, r, q = None, None, None
    if isinstance(init, VBResult):
        if init.covariance_type != covariance_type or init.m.shape != (k, x.shape[1]):
            raise DataError("init is a VBResult of another covariance type or shape; pass one fitted to this model.")
        q = (np.array(init.alpha), np.array(init.beta), np.array(init.m), np.array(init.nu), np.array(init.W_inv))
    elif isinstance(init, str):
        if init != "kmeans++":
            raise DataError(f"init must be 'kmeans++', responsibilities (N, K) or a VBResult, got {init!r}.")
        used_seed = resolve_seed(seed)
        centres = kmeans_plusplus(x, k, seed=used_seed)
        labels = np.argmin(((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
        r = np.eye(k)[labels]
    else:
        r = _validate_responsibilities(init, x.shape[0], k)
    state = _run(x, r, q, prior, updates=updates, tol=tol, max_iter=max_iter)
    if not state["converged"] and tol > 0:
        trace = state["trace"]
        change = abs(trace[-1] - trace[-2]) if trace.size > 1 else float("nan")
        warnings.warn(f"VB did not converge in max_iter={max_iter} iterations: the last ELBO change was "
                      f"{change:.3g} nats (tol={tol:g}). Increase max_iter or tol.", VBConvergenceWarning,
                      stacklevel=2)
    alpha, beta, m, nu, w_inv = state["q"]
    return VBResult(alpha=alpha, beta=beta, m=m, nu=np.asarray(nu, dtype=float), W_inv=np.asarray(w_inv, dtype=float),
                    responsibilities=state["r"], trace=state["trace"], n_iter=int(state["n_iter"]),
                    converged=bool(state["converged"]), prior=prior, updates=updates, tol=tol, max_iter=max_iter,
                    seed=used_seed)


def variational_m_step(x, responsibilities, prior: VBPrior, *, updates: str = "exact"):
    """q(π) q(μ, Λ) from responsibilities (PRML 10.58-10.63): the first q(θ) of :func:`fit_vb`.

    x : (N, D); responsibilities : (N, K), nonnegative rows summing to 1.

    Returns
    -------
    alpha (K,), beta (K,), m (K, D), nu (K,) or () for tied, W_inv in the type's shape. A
    component with N_k = 0 gets exactly its prior (alpha0, beta0, m0, nu0, W0⁻¹).
    """
    x = validate_samples_2d(x, name="x", n_features=prior.m0.shape[0], allow_constant=True)
    r = _validate_responsibilities(responsibilities, x.shape[0], None)
    if updates not in UPDATES:
        raise DataError(f"updates must be one of {list(UPDATES)}, got {updates!r}.")
    return _m_step(x, r, prior, updates)


def _validate_responsibilities(r, n, k):
    r = validate_samples_2d(r, name="responsibilities", n_features=k, allow_constant=True)
    if r.shape[0] != n or np.any(r < 0) or not np.allclose(r.sum(axis=1), 1.0, atol=1e-8):
        raise DataError(f"responsibilities must be an (N, K) array with N = {n}, nonnegative rows summing to 1; "
                        "normalize each row by its sum.")
    return r


def elbo(x, result: VBResult, responsibilities=None) -> float:
    """The full ELBO (PRML 10.70) of ``result``'s q(θ) paired with responsibilities (default: its own)."""
    x = validate_samples_2d(x, name="x", n_features=result.m.shape[1], allow_constant=True)
    r = result.responsibilities if responsibilities is None else \
        _validate_responsibilities(responsibilities, x.shape[0], result.m.shape[0])
    q = (result.alpha, result.beta, result.m, result.nu, result.W_inv)
    log_rho = _log_rho(x, q, result.covariance_type, _TYPES[result.covariance_type].elog_det)
    return _elbo(x, r, q, result.prior, log_rho)


def sklearn_dropped_constant(prior: VBPrior, n_samples: int, n_components: int) -> float:
    """ELBO − scikit-learn's ``lower_bound_`` for ``"full"`` after an exact M-step with ``reg_covar=0``.

    ``ln C(α0) - (ND/2) ln 2π + K ln B(W0, ν0) + (KD/2) ln β0 + K (D(D-1)/4) ln π`` (module docstring).
    """
    d, k = prior.m0.shape[0], n_components
    a0 = np.full(k, prior.alpha0)
    log_c0 = float(gammaln(a0.sum()) - np.sum(gammaln(a0)))
    log_b0 = float(_wishart_log_norm(prior.nu0, -_chol_log_det(np.atleast_2d(prior.W0_inv)), d))
    return (log_c0 - 0.5 * n_samples * d * _LOG_2PI + k * log_b0 + 0.5 * k * d * math.log(prior.beta0)
            + k * 0.25 * d * (d - 1) * _LOG_PI)
