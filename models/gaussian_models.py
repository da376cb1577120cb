"""The Gaussian written in PyMC: univariate, multivariate and linear-Gaussian model builders.

Each builder validates its input with :mod:`models.validation` *before* any PyMC object exists
(bad input raises :class:`~models.validation.DataError`), then returns a ``pm.Model`` with
``coords``/``dims``. The observed data sit in ``pm.Data`` containers, so one model can be
re-used on other data with ``pm.set_data`` (see :func:`predict_new`).

Builders and their closed-form twins (the truth one import away):

* ``normal_model(x, "flat")`` — MAP is the MLE of :mod:`models.gaussian`; NUTS is
  :func:`exact_posterior` ``(x, "flat")``.
* ``normal_model(x, "weakly_informative")`` — no closed form (the tests use 2-D quadrature).
* ``normal_model(x, NormalMeanKnownVariance(...))``, ``(x, GammaPrecisionKnownMean(...))``,
  ``(x, NormalGamma(...))`` — the same object's ``.posterior(x)`` (:mod:`models.conjugate`).
* ``mvn_model(x, "flat")`` — MAP is the MLE (÷N) of :func:`models.gaussian.mle_cov`.
* ``mvn_model(x, "lkj")`` — no closed form (the everyday Bayesian fit).
* ``mvn_model(x, NormalWishart(...))`` — :class:`models.conjugate_mvn.NormalWishart` ``.posterior(x)``.
* ``linear_gaussian_model(lg, y)`` — ``lg.marginal_y()`` and ``lg.posterior_x(y)`` of
  :class:`models.linear_gaussian.LinearGaussian`.

Variable names (the same in every univariate model, so plots and comparisons are generic):
``mu``, ``sigma``, ``tau = 1/σ²`` (free or deterministic), observed ``x`` with data
``x_data``; multivariate: ``mu`` (dim), ``Sigma`` (dim, dim_b), observed ``x`` (obs, dim).

MAP with flat priors equals the MLE because :func:`models.fitting.fit_map` (``pm.find_MAP``)
maximises the log-density *without* the Jacobian of the transforms: with a flat prior that is
the likelihood in the model's own parameters, whose maximum does not depend on how σ or Σ is
parametrised.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from models.conjugate import (
    GammaPrecisionKnownMean,
    NormalGamma,
    NormalGammaPosterior,
    NormalMeanKnownVariance,
)
from models.conjugate_mvn import NormalWishart
from models.linear_gaussian import LinearGaussian
from models.validation import DataError, validate_samples_1d, validate_samples_2d, validate_scalar

__all__ = [
    "UNIVARIATE_PRIORS",
    "MVN_PRIORS",
    "normal_model",
    "mvn_model",
    "linear_gaussian_model",
    "weakly_informative_prior",
    "lkj_prior",
    "exact_posterior",
    "predict_new",
]

#: Prior names accepted by :func:`normal_model` (the last three need the matching conjugate object).
UNIVARIATE_PRIORS = ("flat", "weakly_informative", "normal_mean_known_sigma", "gamma_precision_known_mu",
                     "normal_gamma")
#: Prior names accepted by :func:`mvn_model`.
MVN_PRIORS = ("flat", "lkj", "normal_wishart")

_CONJUGATE = {
    "normal_mean_known_sigma": NormalMeanKnownVariance,
    "gamma_precision_known_mu": GammaPrecisionKnownMean,
    "normal_gamma": NormalGamma,
    "normal_wishart": NormalWishart,
}


# --------------------------------------------------------------------------- argument handling


def _resolve_prior(prior, hyper, allowed: tuple[str, ...]) -> tuple[str, object]:
    """(prior name, hyper-parameter object or None); a conjugate object may be passed as ``prior``."""
    for name, cls in _CONJUGATE.items():
        if isinstance(prior, cls) and name in allowed:
            if hyper is not None:
                raise DataError(f"prior is already a {cls.__name__}; do not also pass hyper=.")
            return name, prior
    if not isinstance(prior, str) or prior not in allowed:
        raise DataError(f"prior must be one of {list(allowed)} (or a matching models.conjugate / models.conjugate_mvn object), "
                        f"got {prior!r:.80}.")
    cls = _CONJUGATE.get(prior)
    if cls is None:
        if hyper is not None:
            raise DataError(f"prior {prior!r} takes no hyper-parameters (it is set from the data); drop hyper=.")
        return prior, None
    if not isinstance(hyper, cls):
        raise DataError(f"prior {prior!r} needs hyper={cls.__module__}.{cls.__name__}(...) so that the PyMC "
                        f"model and the exact posterior share hyper-parameters; got {type(hyper).__name__}.")
    return prior, hyper


def weakly_informative_prior(x) -> dict[str, float]:
    """Hyper-parameters of the univariate weakly informative prior, scaled to the data.

    μ ~ N(x̄, (10 s)²) and σ ~ HalfNormal(5 s), with s the sample sd: nearly flat over every
    plausible value (centred on x̄, it narrows the posterior of μ by a factor of about
    1 − 1/(200 N)), yet proper, so the posterior is proper for any N >= 2 and NUTS never wanders
    off to σ → ∞ while it tunes.

    Parameters
    ----------
    x : array_like, shape (N,), N >= 2, not constant.

    Returns
    -------
    dict with ``mu_loc``, ``mu_scale``, ``sigma_scale`` (floats).
    """
    x = validate_samples_1d(x, name="x", min_rows=2, why="a data-scaled prior needs a spread")
    s = float(x.std())
    return {"mu_loc": float(x.mean()), "mu_scale": 10.0 * s, "sigma_scale": 5.0 * s}


def lkj_prior(x, eta: float = 2.0) -> dict[str, np.ndarray | float]:
    """Hyper-parameters of the multivariate LKJ prior, scaled to the data (per column).

    μ_j ~ N(x̄_j, (10 s_j)²); Σ = diag(σ) Ω diag(σ) with σ_j ~ HalfNormal(5 s_j) and the
    correlation Ω ~ LKJ(η). η = 2 mildly favours |ρ| < 1 (for D = 2, ρ = 2B − 1 with
    B ~ Beta(η, η)).

    Parameters
    ----------
    x : array_like, shape (N, D), N >= D + 1, no constant column.
    eta : float > 0.

    Returns
    -------
    dict with ``mu_loc`` (D,), ``mu_scale`` (D,), ``sd_scale`` (D,), ``eta`` (float).
    """
    x = _mvn_data(x)
    eta = validate_scalar(eta, name="eta", positive=True)
    s = x.std(axis=0)
    return {"mu_loc": x.mean(axis=0), "mu_scale": 10.0 * s, "sd_scale": 5.0 * s, "eta": eta}


def _mvn_data(x, *, allow_constant: bool = False) -> np.ndarray:
    try:
        d = np.shape(x)[1] if np.ndim(x) == 2 else 1
    except ValueError:  # ragged: the validator explains
        d = 1
    return validate_samples_2d(x, name="x", min_rows=d + 1, allow_constant=allow_constant,
                               why="a D-dimensional covariance needs N >= D + 1 to be non-singular")


def _columns(columns, d: int) -> list[str]:
    if columns is None:
        return [f"x{j}" for j in range(d)]
    names = [str(c) for c in columns]
    if len(names) != d or len(set(names)) != d:
        raise DataError(f"columns must be {d} distinct names (one per column of x), got {list(columns)!r}.")
    return names


def _f64(value) -> np.ndarray:
    """A float64 array. PyTensor turns a Python float that float32 represents exactly (7.5, 160.0)
    into a float32 constant, so ``log(7.5)`` would be computed in single precision (errors of
    1e-7 per observation); numpy float64 values keep their dtype."""
    return np.asarray(value, dtype=np.float64)


def _tri_index(d: int, lower: bool) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(d, k=-1) if lower else np.triu_indices(d, k=1)


def _triangular(diag, offdiag, d: int, *, lower: bool):
    """A (D, D) pytensor matrix with ``diag`` on the diagonal and ``offdiag`` (D(D-1)/2,) in the
    strictly lower (or upper) triangle, row-major; zeros elsewhere."""
    rows, cols = _tri_index(d, lower)
    out = pt.zeros((d, d))
    out = pt.set_subtensor(out[np.arange(d), np.arange(d)], diag)
    if rows.size:
        out = pt.set_subtensor(out[rows, cols], offdiag)
    return out


# --------------------------------------------------------------------------- univariate


def normal_model(x, prior="flat", *, hyper=None) -> pm.Model:
    """Univariate Gaussian x_n | μ, σ ~ N(μ, σ²), n = 1..N, with a choice of prior.

    .. math:: p(x \\mid \\mu, \\sigma) = \\prod_n \\frac{1}{\\sqrt{2\\pi}\\sigma}
              \\exp\\!\\left(-\\frac{(x_n-\\mu)^2}{2\\sigma^2}\\right)

    Priors (``prior``):

    * ``"flat"`` — p(μ, σ) ∝ 1 on R × (0, ∞) (``pm.Flat``, ``pm.HalfFlat``), improper. MAP is
      the MLE (x̄, σ_ML = √(S/N), S = Σ(x_n − x̄)²); the posterior is proper for N >= 3 and is
      exactly Normal-Gamma(x̄, κ = N, a = (N − 2)/2, b = S/2) in (μ, τ) (see
      :func:`exact_posterior`).
    * ``"weakly_informative"`` — see :func:`weakly_informative_prior`.
    * ``"normal_mean_known_sigma"`` with ``hyper=NormalMeanKnownVariance(mu0, sigma0, sigma)`` —
      μ ~ N(mu0, sigma0²), σ fixed (PRML 2.138).
    * ``"gamma_precision_known_mu"`` with ``hyper=GammaPrecisionKnownMean(mu, a0, b0)`` —
      τ ~ Gam(a0, rate b0), μ fixed (PRML 2.146).
    * ``"normal_gamma"`` with ``hyper=NormalGamma(mu0, kappa0, a0, b0)`` —
      τ ~ Gam(a0, b0), μ | τ ~ N(mu0, 1/(kappa0 τ)) (PRML 2.154).

    The conjugate object may also be passed directly as ``prior``.

    Parameters
    ----------
    x : array_like, shape (N,) or (N, 1). Finite. N >= 2 and not constant for "flat" and
        "weakly_informative" (σ_ML would be 0); N >= 1 and constant values allowed for the
        conjugate priors, whose posteriors are then still proper.
    prior : str or conjugate prior object.
    hyper : the conjugate prior object for the conjugate priors, else None.

    Returns
    -------
    pm.Model with coords ``obs`` (N); data ``x_data`` (obs); observed ``x`` (obs); free
    variables among ``mu``, ``sigma``, ``tau`` (scalars), the others deterministic or fixed.

    Example
    -------
    The flat-prior MAP is the closed-form MLE (x̄, σ_ML); a conjugate prior's NUTS posterior is
    compared with :func:`exact_posterior` (``sample_nuts(normal_model(x, prior), seed=1)``).

    >>> from models import fit_map, load_dataset, mle_mean, mle_var, normal_model
    >>> x = load_dataset("heights").values[:, 0]
    >>> point = fit_map(normal_model(x, "flat"))
    >>> bool(abs(point["mu"] - mle_mean(x)) < 1e-6 * mle_mean(x)), bool(abs(point["sigma"] - mle_var(x) ** 0.5) < 1e-6)
    (True, True)
    """
    prior, hyper = _resolve_prior(prior, hyper, UNIVARIATE_PRIORS)
    if hyper is None:
        x = validate_samples_1d(x, name="x", min_rows=2, why="σ_ML needs at least two observations")
    else:
        x = validate_samples_1d(x, name="x", allow_constant=True)
    n = x.shape[0]
    with pm.Model(coords={"obs": np.arange(n)}) as model:
        x_data = pm.Data("x_data", x, dims="obs")
        if prior == "flat":
            mu = pm.Flat("mu")
            sigma = pm.HalfFlat("sigma")
            pm.Deterministic("tau", sigma**-2)
        elif prior == "weakly_informative":
            h = weakly_informative_prior(x)
            mu = pm.Normal("mu", _f64(h["mu_loc"]), _f64(h["mu_scale"]))
            sigma = pm.HalfNormal("sigma", _f64(h["sigma_scale"]))
            pm.Deterministic("tau", sigma**-2)
        elif prior == "normal_mean_known_sigma":
            mu = pm.Normal("mu", _f64(hyper.mu0), _f64(hyper.sigma0))
            sigma = _f64(hyper.sigma)
        elif prior == "gamma_precision_known_mu":
            mu = _f64(hyper.mu)
            tau = pm.Gamma("tau", alpha=_f64(hyper.a0), beta=_f64(hyper.b0))
            sigma = pm.Deterministic("sigma", tau**-0.5)
        else:  # normal_gamma
            tau = pm.Gamma("tau", alpha=_f64(hyper.a0), beta=_f64(hyper.b0))
            mu = pm.Normal("mu", _f64(hyper.mu0), (_f64(hyper.kappa0) * tau) ** -0.5)
            sigma = pm.Deterministic("sigma", tau**-0.5)
        pm.Normal("x", mu=mu, sigma=sigma, observed=x_data, dims="obs")
    return model


# --------------------------------------------------------------------------- multivariate


def mvn_model(x, prior="flat", *, hyper=None, columns=None, eta: float = 2.0) -> pm.Model:
    """Multivariate Gaussian x_n | μ, Σ ~ N(μ, Σ), x_n ∈ R^D, with a choice of prior.

    .. math:: p(x_n \\mid \\mu, \\Sigma) = (2\\pi)^{-D/2} |\\Sigma|^{-1/2}
              \\exp\\!\\left(-\\tfrac12 (x_n-\\mu)^\\top \\Sigma^{-1} (x_n-\\mu)\\right)

    Priors (``prior``):

    * ``"flat"`` — p(μ, L) ∝ 1 over μ ∈ R^D and the Cholesky factor Σ = L Lᵀ (``chol_diag``
      > 0 via ``pm.HalfFlat``, ``chol_offdiag`` via ``pm.Flat``). Meant for MAP: without the
      Jacobian, ``find_MAP`` maximises the likelihood over (μ, L), so the MAP Σ = LLᵀ is the MLE
      Σ_ML = (1/N) Σ_n (x_n − x̄)(x_n − x̄)ᵀ (dividing by N) and μ = x̄. The Cholesky
      parametrisation keeps every iterate SPD.
    * ``"lkj"`` — the everyday Bayesian fit: μ_j ~ N, Σ = diag(σ) Ω diag(σ) from
      ``pm.LKJCholeskyCov`` (see :func:`lkj_prior`; ``eta`` sets the LKJ shape).
    * ``"normal_wishart"`` with ``hyper=NormalWishart(m0, beta0, W0, nu0)`` — Λ = Σ⁻¹ ~
      W(W0, nu0), μ | Λ ~ N(m0, (beta0 Λ)⁻¹) (PRML 2.157), matching
      :class:`models.conjugate_mvn.NormalWishart` exactly.

      Why the Bartlett decomposition: ``pm.Wishart`` has no transform to an unconstrained
      space (a random SPD matrix with D² entries but D(D+1)/2 degrees of freedom), so NUTS cannot
      move on it; its docstring says it "is unusable in a PyMC model". The Bartlett decomposition writes the
      same Wishart through D(D+1)/2 ordinary scalars: with W0 = R Rᵀ, R upper triangular, and B
      upper triangular with B_ii² = c_i ~ χ²(nu0 − D + 1 + i) (i = 0..D−1) and B_ij ~ N(0, 1)
      (i < j), Λ = (RB)(RB)ᵀ ~ W(W0, nu0). (It is the usual lower-triangular Bartlett read in
      reversed coordinates.) The c_i are positive (log-transformed by PyMC), the B_ij
      unconstrained: a smooth space NUTS samples well. The likelihood and the prior of μ are
      written with the precision factor itself (:func:`_precision_factor_normal`): with
      Λ = C Cᵀ, ln N(x | μ, Λ⁻¹) = −(D/2) ln 2π + Σ_i ln C_ii − ½ ‖Cᵀ(x − μ)‖², one matrix
      product and no solve. (``pm.MvNormal(chol=C⁻ᵀ)``, the same density, spent 77 % of each
      log-density and gradient in pytensor's Python triangular solves: 2.2 ms against 0.29 ms
      on bdims.) Draws go through ``pm.MvNormal`` with the lower Cholesky factor C⁻ᵀ of Σ.

    Parameters
    ----------
    x : array_like, shape (N, D), N >= D + 1, finite; no constant column, except with the
        Normal-Wishart prior, whose posterior stays proper (as in :mod:`models.conjugate_mvn`).
    prior : str or a :class:`~models.conjugate_mvn.NormalWishart`.
    hyper : the NormalWishart for ``"normal_wishart"``, else None.
    columns : D names for the ``dim`` coordinate (default ``x0, x1, ...``).
    eta : LKJ shape for ``"lkj"``.

    Returns
    -------
    pm.Model with coords ``obs`` (N), ``dim`` and ``dim_b`` (D each, the two axes of a
    matrix), ``offdiag`` (D(D − 1)/2); data ``x_data`` (obs, dim); observed ``x`` (obs, dim);
    ``mu`` (dim) and deterministic ``Sigma`` (dim, dim_b) in every variant, plus

    * flat: ``chol_diag`` (dim), ``chol_offdiag`` (offdiag);
    * lkj: ``chol`` (packed), ``chol_corr`` (dim, dim_b), ``chol_stds`` (dim);
    * normal_wishart: ``bartlett_c`` (dim), ``bartlett_z`` (offdiag), ``Lambda`` (dim, dim_b).
    """
    prior, hyper = _resolve_prior(prior, hyper, MVN_PRIORS)
    x = _mvn_data(x, allow_constant=hyper is not None)
    n, d = x.shape
    names = _columns(columns, d)
    if hyper is not None and hyper.D != d:
        raise DataError(f"the NormalWishart prior is {hyper.D}-dimensional but x has D = {d} columns.")
    lkj = lkj_prior(x, eta) if prior == "lkj" else None
    coords = {"obs": np.arange(n), "dim": names, "dim_b": names, "offdiag": np.arange(d * (d - 1) // 2)}
    with pm.Model(coords=coords) as model:
        x_data = pm.Data("x_data", x, dims=("obs", "dim"))
        if prior == "flat":
            mu = pm.Flat("mu", dims="dim")
            diag = pm.HalfFlat("chol_diag", dims="dim")
            off = pm.Flat("chol_offdiag", dims="offdiag")
            chol = _triangular(diag, off, d, lower=True)
        elif prior == "lkj":
            mu = pm.Normal("mu", _f64(lkj["mu_loc"]), _f64(lkj["mu_scale"]), dims="dim")
            chol, _, _ = pm.LKJCholeskyCov("chol", n=d, eta=_f64(lkj["eta"]),
                                           sd_dist=pm.HalfNormal.dist(sigma=_f64(lkj["sd_scale"]), shape=d),
                                           compute_corr=True)
        else:  # normal_wishart, by the Bartlett decomposition (see the docstring)
            exchange = np.eye(d)[::-1]
            R = exchange @ np.linalg.cholesky(exchange @ hyper.W0 @ exchange) @ exchange  # W0 = R Rᵀ, upper
            c = pm.ChiSquared("bartlett_c", nu=_f64(hyper.nu0 - d + 1 + np.arange(d)), dims="dim")
            z = pm.Normal("bartlett_z", _f64(0.0), _f64(1.0), dims="offdiag")
            C = pt.dot(R, _triangular(pt.sqrt(c), z, d, lower=False))  # upper; Λ = C Cᵀ
            chol = pt.linalg.solve_triangular(C, pt.eye(d), lower=False).T  # lower; Σ = chol cholᵀ (draws only)
            pm.Deterministic("Lambda", pt.dot(C, C.T), dims=("dim", "dim_b"))
            mu = _precision_factor_normal("mu", _f64(hyper.m0), C * _f64(np.sqrt(hyper.beta0)), dims="dim")
            _precision_factor_normal("x", mu, C, observed=x_data, dims=("obs", "dim"))
        pm.Deterministic("Sigma", pt.dot(chol, chol.T), dims=("dim", "dim_b"))
        if prior != "normal_wishart":
            pm.MvNormal("x", mu=mu, chol=chol, observed=x_data, dims=("obs", "dim"))
    return model


def _precision_factor_logp(value, mu, C):
    """ln N(value | μ, (C Cᵀ)⁻¹) for C upper triangular with a positive diagonal; value (..., D)."""
    d = C.shape[-1]
    proj = pt.dot(value - mu, C)                                  # rows (x − μ)ᵀ C; ‖·‖² = (x − μ)ᵀ Λ (x − μ)
    return (-0.5 * d * np.log(2 * np.pi) + pt.sum(pt.log(pt.diagonal(C)))
            - 0.5 * pt.sum(proj**2, axis=-1))


def _precision_factor_draws(mu, C, size):
    chol = pt.linalg.solve_triangular(C, pt.eye(C.shape[-1]), lower=False).T   # Σ = C⁻ᵀ C⁻¹
    return pm.MvNormal.dist(mu=mu, chol=chol, size=size)


def _precision_factor_normal(name: str, mu, C, **kwargs):
    """x ~ N(μ, Λ⁻¹) given an upper-triangular factor C of the precision, Λ = C Cᵀ
    (``pm.CustomDist``): its log-density needs no triangular solve (see :func:`mvn_model`), its
    draws are ``pm.MvNormal``'s with the Cholesky factor C⁻ᵀ of Σ."""
    return pm.CustomDist(name, mu, C, logp=_precision_factor_logp, dist=_precision_factor_draws,
                         signature="(d),(d,d)->(d)", **kwargs)


# --------------------------------------------------------------------------- linear-Gaussian


def linear_gaussian_model(lg: LinearGaussian, y=None) -> pm.Model:
    """The linear-Gaussian model of PRML 2.113–2.114 in PyMC.

    x ~ N(μ, Λ⁻¹) (``x``, dims ``x_dim``) and y | x ~ N(Ax + b, L⁻¹) (``y``, dims ``y_dim``),
    with every constant taken from ``lg`` so the closed forms of
    :class:`~models.linear_gaussian.LinearGaussian` are the exact answers:

    * without ``y`` the model is generative: ``pm.sample_prior_predictive`` draws y from
      p(y) = N(Aμ + b, L⁻¹ + AΛ⁻¹Aᵀ) (``lg.marginal_y()``, PRML 2.115);
    * with an observed ``y`` (M,), NUTS samples p(x | y) (``lg.posterior_x(y)``, PRML 2.116).

    Both covariances enter as lower Cholesky factors of Λ⁻¹ and L⁻¹, computed once in numpy.

    Parameters
    ----------
    lg : LinearGaussian.
    y : None, or array_like (M,), one observation of y.

    Returns
    -------
    pm.Model with coords ``x_dim`` (D) and ``y_dim`` (M); free ``x``; ``y`` observed (data
    ``y_data``) or free.
    """
    if not isinstance(lg, LinearGaussian):
        raise DataError(f"lg must be a models.linear_gaussian.LinearGaussian, got {type(lg).__name__}.")
    if y is not None:
        if np.ndim(y) == 0:
            y = [y]
        y = validate_samples_1d(y, name="y", allow_constant=True)
        if y.shape != (lg.M,):
            raise DataError(f"y must have shape ({lg.M},) to match A's {lg.M} rows, got {y.shape}.")
    chol_x = np.linalg.cholesky(lg.cov_x)
    chol_y = np.linalg.cholesky(lg.cov_y_given_x)
    with pm.Model(coords={"x_dim": np.arange(lg.D), "y_dim": np.arange(lg.M)}) as model:
        x = pm.MvNormal("x", mu=_f64(lg.mu), chol=_f64(chol_x), dims="x_dim")
        mean_y = pt.dot(_f64(lg.A), x) + _f64(lg.b)
        if y is None:
            pm.MvNormal("y", mu=mean_y, chol=_f64(chol_y), dims="y_dim")
        else:
            y_data = pm.Data("y_data", y, dims="y_dim")
            pm.MvNormal("y", mu=mean_y, chol=_f64(chol_y), observed=y_data, dims="y_dim")
    return model


# --------------------------------------------------------------------------- answers and predictions


def exact_posterior(x, prior, hyper=None):
    """The closed-form posterior of the model ``normal_model(x, prior, hyper=hyper)`` or
    ``mvn_model(x, prior, hyper=hyper)``, for the priors that have one.

    * ``"flat"`` (univariate): p(μ, σ) ∝ 1 gives, in (μ, τ = σ⁻²) with the Jacobian ½τ^(-3/2),
      p(μ, τ | x) ∝ τ^(N/2 − 3/2) exp(−τ(S + N(μ − x̄)²)/2): Normal-Gamma with μ_N = x̄, κ_N = N,
      a_N = (N − 2)/2, b_N = S/2 (proper for N >= 3).
    * conjugate priors: ``hyper.posterior(x)`` from :mod:`models.conjugate` / :mod:`models.conjugate_mvn`.

    Returns
    -------
    A posterior object of :mod:`models.conjugate` or :mod:`models.conjugate_mvn` (``NormalGammaPosterior`` for "flat").
    """
    name, hyper = _resolve_prior(prior, hyper, UNIVARIATE_PRIORS + ("normal_wishart",))
    if name == "flat":
        x = validate_samples_1d(x, name="x", min_rows=3, why="the flat-prior posterior is proper for N >= 3")
        centred = x - x.mean()
        return NormalGammaPosterior(float(x.mean()), float(x.size), 0.5 * (x.size - 2), 0.5 * float(centred @ centred),
                                    int(x.size))
    if hyper is None:
        raise DataError(f"prior {name!r} has no closed-form posterior; compare it with quadrature or a large-N limit.")
    return hyper.posterior(x)


def predict_new(model: pm.Model, idata, n_new: int = 1, *, seed: int):
    """Posterior predictive draws of ``n_new`` new observations from a fitted univariate or
    multivariate model, memory O(draws · n_new) whatever N was.

    The model's data are swapped for ``n_new`` placeholder rows (``pm.set_data``), ``x`` is
    drawn given each posterior draw (``pm.sample_posterior_predictive(predictions=True)``), and
    the data are put back.

    Returns
    -------
    xarray.DataArray with dims (chain, draw, obs) or (chain, draw, obs, dim), obs = n_new.
    """
    if isinstance(n_new, (bool, np.bool_)) or not isinstance(n_new, (int, np.integer)) or n_new < 1:
        raise DataError(f"n_new must be a whole number >= 1, got {n_new!r}.")
    if not isinstance(model, pm.Model) or "x_data" not in model.named_vars:
        raise DataError("predict_new needs a model from normal_model() or mvn_model() (with data x_data).")
    old = model["x_data"].get_value()
    old_obs = model.coords["obs"]
    try:
        with model:
            pm.set_data({"x_data": np.zeros((n_new,) + old.shape[1:])}, coords={"obs": np.arange(n_new)})
            pred = pm.sample_posterior_predictive(idata, var_names=["x"], predictions=True, random_seed=seed,
                                                  progressbar=False)
    finally:
        with model:
            pm.set_data({"x_data": old}, coords={"obs": old_obs})
    return pred.predictions["x"]
