r"""The truncated Dirichlet-process (stick-breaking) Gaussian mixture, in numpy: settings and reference.

The model (standardized data :math:`x_s`, truncation level :math:`T`):

.. math::

    \alpha \sim \mathrm{Gamma}(a, b), \qquad v_t \mid \alpha \sim \mathrm{Beta}(1, \alpha)
    \quad (t = 1, \dots, T-1),

    w_t = v_t \prod_{s<t} (1 - v_s) \quad (t < T), \qquad w_T = \prod_{s<T} (1 - v_s),

    (\mu_t, \Lambda_t) \overset{\text{iid}}{\sim} G_0, \qquad
    x_n \sim \sum_t w_t\, \mathcal{N}(\mu_t, \Lambda_t^{-1}).

The last stick takes the rest, so the T weights sum to one exactly (Ishwaran & James 2001's
truncation). The base measure :math:`G_0` is the project's weak GMM prior
(:mod:`models.gmm_spec`) with every mean centred at 0: ``mu ~ Normal(0, mu_prior_sd)`` per
coordinate and the Bartlett factors of a Wishart(ν, I/ν) precision (``prec_c[t, i] ~ χ²(ν - i)``,
``prec_z ~ Normal(0, 1)``). The atoms must be i.i.d. for a DP, which is why the GMM's evenly
spaced prior means are not used here. Full covariances only.

Prior on α: Gamma(1, 1) by default (:data:`ALPHA_SHAPE`, :data:`ALPHA_RATE`) — mean 1, mode 0.
The expected number of occupied components among N points is about α ln(1 + N/α), so α ≈ 1
says "a handful of components" for a few hundred points; a density that is largest at α = 0
(unlike Gamma(2, 2), which vanishes there) leaves the data free to switch all but one
component off. It is also the choice of the pymc-examples DP notebook, so results compare.

Truncation: given α, :math:`E[w_T] = (\alpha / (1 + \alpha))^{T-1}`
(:func:`last_stick_expected_weight`). With T = 10 this is below 1e-3 for α < 0.87; a
posterior with more mass at larger α needs a larger T.

α integrated out: given α the sticks' depths ``r_t = -ln(1 - v_t)`` are i.i.d. Exponential(α),
to which the Gamma prior is conjugate, so ``p(r) ∝ (b + Σ_t r_t)^-(a + T - 1)``
(:func:`stick_log_marginal`) and ``α | r ~ Gamma(a + T - 1, b + Σ_t r_t)``
(:func:`alpha_conditional`). The PyMC model samples r with α integrated out (the reasons are in
:mod:`models.gmm_dp_builders`) and α is drawn from its conditional afterwards.

Here: the validated settings (:func:`dp_prior`), the stick-breaking map and its inverse
(:func:`stick_breaking_weights`, :func:`stick_fractions`), the joint log-density over (v, α)
and the components (:func:`dp_log_density`, written directly — scipy's Beta/Gamma/χ²/Normal
densities and the Gaussian through its triangular precision factor, not the feature expansion
the PyMC graph uses), the same with α integrated out over the depths
(:func:`dp_marginal_log_density`: the independent reference of
:func:`models.gmm_dp_builders.gmm_dp_model`'s log-density; the tests tie the two together by
quadrature and by Bayes' rule), and the count of active components per draw
(:func:`active_components`). Numpy/scipy only.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import gammaln, logsumexp

from models.gmm_spec import GMMSpec, means_from_point, precision_factors
from models.validation import DataError, validate_scalar

__all__ = [
    "DEFAULT_TRUNCATION",
    "ALPHA_SHAPE",
    "ALPHA_RATE",
    "ACTIVE_WEIGHT",
    "TRUNCATION_TOL",
    "DPPrior",
    "dp_prior",
    "stick_breaking_weights",
    "stick_fractions",
    "last_stick_expected_weight",
    "active_components",
    "stick_log_prior",
    "component_log_prior",
    "mixture_log_likelihood",
    "dp_log_density",
    "stick_log_marginal",
    "alpha_conditional",
    "dp_marginal_log_density",
]

DEFAULT_TRUNCATION = 10
ALPHA_SHAPE = 1.0
ALPHA_RATE = 1.0
#: A component is "active" in a draw when its weight exceeds this.
ACTIVE_WEIGHT = 0.01
#: The truncation is adequate when the last stick's expected weight is below this.
TRUNCATION_TOL = 1e-3

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class DPPrior:
    """Validated settings of the truncated DP: T and the Gamma(a, b) prior (shape, rate) of α."""

    truncation: int
    alpha_shape: float
    alpha_rate: float


def dp_prior(truncation=DEFAULT_TRUNCATION, alpha_shape=ALPHA_SHAPE, alpha_rate=ALPHA_RATE, *,
             n_obs: int | None = None) -> DPPrior:
    """Check the DP's settings before anything is built; raises :class:`DataError` with the fix.

    truncation : T, a whole number with 2 <= T <= N (``n_obs``, when given).
    alpha_shape, alpha_rate : a > 0 and b > 0 of α ~ Gamma(a, b) (rate parametrization, mean a/b).
    """
    if isinstance(truncation, (bool, np.bool_)) or not isinstance(truncation, numbers.Integral) or truncation < 2:
        raise DataError(f"truncation T must be a whole number >= 2 (one stick to break and the rest), got "
                        f"{truncation!r}; use the default T = {DEFAULT_TRUNCATION}, or a plain GMM for one component.")
    t = int(truncation)
    if n_obs is not None and t > n_obs:
        raise DataError(f"truncation T = {t} exceeds the number of points N = {n_obs}; a DP mixture of N points "
                        f"occupies at most N components, so pass T <= {n_obs}.")
    a = validate_scalar(alpha_shape, name="alpha_shape (a of alpha ~ Gamma(a, b))")
    b = validate_scalar(alpha_rate, name="alpha_rate (b of alpha ~ Gamma(a, b))")
    for name, value in (("alpha_shape", a), ("alpha_rate", b)):
        if not value > 0:
            raise DataError(f"{name} must be > 0 for a proper Gamma prior on the concentration alpha, got {value:g}; "
                            f"the default is Gamma({ALPHA_SHAPE:g}, {ALPHA_RATE:g}).")
    return DPPrior(truncation=t, alpha_shape=a, alpha_rate=b)


def stick_breaking_weights(v) -> np.ndarray:
    """Weights (…, T) from the stick fractions v (…, T-1), each in [0, 1]; they sum to 1.

    ``w_t = v_t Π_{s<t} (1 - v_s)`` for t < T and ``w_T = Π_{s<T} (1 - v_s)``.
    """
    v = np.asarray(v, dtype=float)
    rest = np.cumprod(1.0 - v, axis=-1)                                      # (…, T-1) left after stick t
    before = np.concatenate([np.ones(v.shape[:-1] + (1,)), rest[..., :-1]], axis=-1)
    return np.concatenate([v * before, rest[..., -1:]], axis=-1)


def stick_fractions(w) -> np.ndarray:
    """The inverse of :func:`stick_breaking_weights`: v (…, T-1) from weights w (…, T) summing to 1.

    ``v_t = w_t / (1 - Σ_{s<t} w_s)``; each w_t must be > 0 so that every v_t is in (0, 1).
    """
    w = np.asarray(w, dtype=float)
    left = 1.0 - np.concatenate([np.zeros(w.shape[:-1] + (1,)), np.cumsum(w[..., :-2], axis=-1)], axis=-1)
    return w[..., :-1] / left


def last_stick_expected_weight(alpha, truncation: int) -> np.ndarray:
    """``E[w_T | α] = (α / (1 + α))^(T-1)``, elementwise in α (any shape)."""
    alpha = np.asarray(alpha, dtype=float)
    return (alpha / (1.0 + alpha)) ** (truncation - 1)


def active_components(w, threshold: float = ACTIVE_WEIGHT) -> np.ndarray:
    """Number of components with weight > ``threshold`` per draw: w (…, T) -> (…,) ints."""
    return np.sum(np.asarray(w, dtype=float) > threshold, axis=-1)


def stick_log_prior(v, alpha, prior: DPPrior) -> float:
    """ln p(v | α) + ln p(α): Σ_t ln Beta(v_t | 1, α) + ln Gamma(α | a, rate b)."""
    v = np.asarray(v, dtype=float)
    return float(np.sum(stats.beta.logpdf(v, 1.0, alpha))
                 + stats.gamma.logpdf(alpha, prior.alpha_shape, scale=1.0 / prior.alpha_rate))


def component_log_prior(spec: GMMSpec, point: dict) -> float:
    """ln G_0 of all T components: means Normal(0, mu_prior_sd), Bartlett factors χ²(ν - i) and Normal(0, 1).

    point : ``mu`` (T, D) or ``mu_first``/``mu_rest``; ``prec_c`` (T, D); ``prec_z`` (T, D(D-1)/2) if D > 1.
    """
    d, nu = spec.n_features, spec.wishart_dof
    mu = means_from_point(spec, point)
    prec_c = np.asarray(point["prec_c"], dtype=float)
    out = np.sum(stats.norm.logpdf(mu, 0.0, spec.mu_prior_sd))
    out += np.sum(stats.chi2.logpdf(prec_c, nu - np.arange(d)))
    if d > 1:
        out += np.sum(stats.norm.logpdf(np.asarray(point["prec_z"], dtype=float)))
    return float(out)


def mixture_log_likelihood(x_s, w, mu, u) -> np.ndarray:
    """ln Σ_t w_t N(x_n | μ_t, (U_t U_tᵀ)⁻¹) per point, shape (N,), written directly.

    x_s : (N, D); w : (T,); mu : (T, D); u : (T, D, D) lower-triangular precision factors.
    ``ln N = Σ_i ln U[i, i] - ½ ‖U_tᵀ (x - μ_t)‖² - D/2 ln 2π``.
    """
    x_s, w, mu, u = (np.asarray(a, dtype=float) for a in (x_s, w, mu, u))
    diff = x_s[:, None, :] - mu[None, :, :]                                  # (N, T, D)
    proj = np.einsum("tij,ntj->nti", np.swapaxes(u, -1, -2), diff)           # Uᵀ (x - μ)
    half_log_det = np.sum(np.log(np.diagonal(u, axis1=-2, axis2=-1)), axis=-1)
    log_gauss = half_log_det - 0.5 * np.sum(proj**2, axis=-1) - 0.5 * x_s.shape[1] * _LOG_2PI
    with np.errstate(divide="ignore"):
        return logsumexp(np.log(w) + log_gauss, axis=1)


def stick_log_marginal(r, prior: DPPrior) -> float:
    """ln p(r) with α integrated out, for the sticks' depths ``r_t = -ln(1 - v_t)`` (T-1,).

    Given α the depths are i.i.d. Exponential(α) (``v ~ Beta(1, α)`` has ``1 - v = e^{-r}``), and
    α ~ Gamma(a, b) is conjugate to them, so
    ``p(r) = Γ(a + T - 1) / Γ(a) · b^a / (b + Σ_t r_t)^(a + T - 1)`` for r_t >= 0.
    """
    r = np.asarray(r, dtype=float)
    a, b, m = prior.alpha_shape, prior.alpha_rate, r.shape[-1]
    return float(gammaln(a + m) - gammaln(a) + a * np.log(b) - (a + m) * np.log(b + r.sum(axis=-1)))


def alpha_conditional(r, prior: DPPrior) -> tuple[np.ndarray, np.ndarray]:
    """Shape and rate of α | r ~ Gamma(a + T - 1, b + Σ_t r_t), for depths r (…, T-1)."""
    r = np.asarray(r, dtype=float)
    shape = np.full(r.shape[:-1], prior.alpha_shape + r.shape[-1])
    return shape, prior.alpha_rate + r.sum(axis=-1)


def dp_marginal_log_density(x_s, point: dict, spec: GMMSpec, prior: DPPrior) -> float:
    """Log-density of the model as sampled (:func:`models.gmm_dp_builders.gmm_dp_model`): over the
    depths ``v_raw`` = r (T-1,) with α integrated out (:func:`stick_log_marginal`), the components,
    and the mixture log-likelihood with ``v = 1 - exp(-r)``."""
    r = np.asarray(point["v_raw"], dtype=float)
    w = stick_breaking_weights(-np.expm1(-r))
    u = precision_factors(spec, point["prec_c"], point.get("prec_z"))
    loglik = mixture_log_likelihood(x_s, w, means_from_point(spec, point), u)
    return stick_log_marginal(r, prior) + component_log_prior(spec, point) + float(loglik.sum())


def dp_log_density(x_s, point: dict, spec: GMMSpec, prior: DPPrior) -> float:
    """Joint log-density of the truncated DP mixture at a point (constrained values, no Jacobians).

    x_s : (N, D) standardized data; point : ``v`` (T-1,), ``alpha`` (), the component variables
    as in :func:`component_log_prior`. Returns ln p(α) + ln p(v | α) + ln G_0(components)
    + Σ_n ln p(x_n | w(v), components), the weights from :func:`stick_breaking_weights`.
    """
    if spec.covariance_type != "full" or spec.n_components != prior.truncation:
        raise DataError("dp_log_density needs a full-covariance spec with n_components == truncation T.")
    v = np.asarray(point["v"], dtype=float)
    w = stick_breaking_weights(v)
    u = precision_factors(spec, point["prec_c"], point.get("prec_z"))
    loglik = mixture_log_likelihood(x_s, w, means_from_point(spec, point), u)
    return stick_log_prior(v, float(point["alpha"]), prior) + component_log_prior(spec, point) + float(loglik.sum())
