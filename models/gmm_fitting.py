r"""Fitting the GMM built by :mod:`models.gmm_builders`: MAP, NUTS, and the posterior in data units.

* :func:`fit_gmm_map` — BFGS on the unconstrained variables with one compiled log-density and
  gradient per model; with ``priors="flat"`` its answer is the maximum-likelihood estimate (EM's).
* :func:`sample_gmm_posterior` — NUTS (:func:`models.fitting.sample_nuts`) started at an EM fit,
  with the stored log-likelihood shifted to data units.
* :func:`log_likelihood_function` — the compiled per-point log-likelihood at any point.
* :func:`posterior_parameters`, :func:`posterior_responsibilities`, :func:`responsibility_draws`,
  :func:`predictive_in_data_units` — posterior draws mapped back to (w, μ, Σ) in data units.

Responsibilities from the posterior
-----------------------------------
:func:`posterior_responsibilities` computes
:math:`p(z_n = k \mid x) = \mathbb{E}_{\theta \mid x}[\,p(z_n = k \mid x_n, \theta)\,]` by
averaging the per-draw responsibilities over the posterior draws in numpy (vectorized). That is
what ``pymc_extras.recover_marginals`` computes (it returns the per-draw log-probabilities);
the test suite checks the two agree on a thinned posterior.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from models.em import EMResult, fit_em, kmeans_parameters
from models.fitting import map_compile_mode, to_constrained, to_unconstrained
from models.gmm_spec import (
    GMMSpec,
    features,
    gmm_spec,
    means_from_point,
    mixture_log_density,
    natural_parameters,
    parameters_to_point,
    point_to_parameters,
)
from models.validation import DataError, resolve_seed, validate_samples_2d

__all__ = [
    "GMMFit",
    "fit_gmm_map",
    "start_point",
    "map_objective",
    "log_likelihood_function",
    "sample_gmm_posterior",
    "posterior_parameters",
    "posterior_responsibilities",
    "responsibility_draws",
    "predictive_in_data_units",
]


# --------------------------------------------------------------------------- MAP


@dataclass(frozen=True)
class GMMFit:
    """A MAP fit of a model built here, reported in data units.

    Attributes
    ----------
    weights (K,), means (K, D), covariances (covariance_type's shape): data units, components
        in the model's order (ascending first coordinate of the mean).
    log_likelihood : Σ_n ln p(x_n) in data units at the fit (numpy, :func:`mixture_log_density`).
    log_density : the maximized log-density (standardized units, no Jacobian).
    point : the model's variables at the optimum (standardized units).
    converged, message, n_iterations, n_evaluations, grad_norm : from the optimizer;
        ``grad_norm`` is the sup-norm of the gradient of the per-point mean log-density.
    seconds : optimization wall time (the start's EM / k-means++ included, compilation excluded).
    compile_seconds : time spent compiling the log-density and gradient (0 when cached).
    start : ``"kmeans++"``, ``"em"``, ``"given"`` or ``"model"``.
    compile_mode : the pytensor mode the objective was compiled in (:func:`map_compile_mode`).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str
    log_likelihood: float
    log_density: float
    point: dict = field(repr=False)
    converged: bool
    message: str
    n_iterations: int
    n_evaluations: int
    grad_norm: float
    seconds: float
    compile_seconds: float
    start: str
    n_obs: int
    compile_mode: str = "FAST_RUN"

    @property
    def mean_log_likelihood(self) -> float:
        """Per-point mean log-likelihood (the scale EM and scikit-learn report)."""
        return self.log_likelihood / self.n_obs


#: model -> compiled objective, so repeated fits of one model compile once.
_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _Objective:
    """-(log-density)/N and its gradient over the unconstrained variables, as one flat vector."""

    def __init__(self, model, spec: GMMSpec, n_obs: int, mode: str):
        import pytensor.tensor as pt
        from pymc.pytensorf import compile as compile_fn
        from pymc.pytensorf import join_nonshared_inputs

        start = time.perf_counter()
        self.n_obs = n_obs
        self.mode = mode
        self.value_vars = list(model.value_vars)
        self.transforms = [model.rvs_to_transforms[model.values_to_rvs[v]] for v in self.value_vars]
        self.names = [model.values_to_rvs[v].name for v in self.value_vars]
        shapes = spec.value_shapes()
        self.shapes = [self._unconstrained_shape(shapes[n], t) for n, t in zip(self.names, self.transforms)]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        logp = model.logp(jacobian=False)
        grads = pt.grad(logp, self.value_vars)
        point = {v.name: np.zeros(s) for v, s in zip(self.value_vars, self.shapes)}
        outs, flat = join_nonshared_inputs(point, [logp, pt.concatenate([g.ravel() for g in grads])],
                                           self.value_vars)
        scale = 1.0 / n_obs
        self.fn = compile_fn([flat], [-outs[0] * scale, -outs[1] * scale], mode=mode)
        self.fn.trust_input = True
        self.compile_seconds = time.perf_counter() - start

    @staticmethod
    def _unconstrained_shape(shape, transform):
        name = getattr(transform, "name", None)
        if name == "simplex":
            return shape[:-1] + (shape[-1] - 1,)
        return shape

    def to_flat(self, point: dict) -> np.ndarray:
        parts = []
        for name, t, shape in zip(self.names, self.transforms, self.shapes):
            parts.append(np.reshape(to_unconstrained(t, np.asarray(point[name], dtype=float)), -1))
        return np.concatenate(parts)

    def to_point(self, theta: np.ndarray) -> dict:
        point, i = {}, 0
        for name, t, shape, size in zip(self.names, self.transforms, self.shapes, self.sizes):
            point[name] = to_constrained(t, theta[i:i + size].reshape(shape))
            i += size
        return point


def map_objective(model, mode: str | None = None) -> "_Objective":
    """The compiled MAP objective of a model built by :mod:`models.gmm_builders` (cached per model).

    Returns an object with ``fn(theta) -> (value, gradient)``, the negative per-point mean
    log-density (no Jacobian) and its gradient over the flat vector ``theta`` of unconstrained
    variables, and ``to_flat(point)`` / ``to_point(theta)`` to move between that vector and a
    point of constrained values. :func:`fit_gmm_map` minimizes exactly this function. ``mode``
    is the pytensor mode (default :func:`map_compile_mode` of the model's N).
    """
    spec = gmm_spec(model)
    n_obs = _model_data(model).shape[0]
    return _objective(model, spec, n_obs, mode or map_compile_mode(n_obs))[0]


def _objective(model, spec: GMMSpec, n_obs: int, mode: str) -> tuple[_Objective, float]:
    """The model's compiled objective and the compile time this call paid (0 when cached)."""
    cached = _COMPILED.get(model)
    if cached is not None and cached.n_obs == n_obs and cached.mode == mode:
        return cached, 0.0
    cached = _Objective(model, spec, n_obs, mode)
    _COMPILED[model] = cached
    return cached, cached.compile_seconds


def _model_data(model) -> np.ndarray:
    return np.asarray(model["x_std"].get_value())


def start_point(model, spec: GMMSpec, start, seed) -> tuple[dict, str]:
    """Starting values (constrained, standardized) and the name of the recipe."""
    x_data = None
    if isinstance(start, str) and start in ("kmeans++", "em"):
        if spec.kind != "marginal":
            raise DataError(f"start={start!r} is for the marginal model; pass start=None (the model's own "
                            "default) or given parameters for this model.")
        x_data = spec.standardization.invert(_model_data(model))
    if start is None:
        ip = model.initial_point()
        point = {}
        for v in model.value_vars:
            rv = model.values_to_rvs[v]
            point[rv.name] = to_constrained(model.rvs_to_transforms[rv], np.asarray(ip[v.name]))
        return point, "model"
    if isinstance(start, str):
        if start == "kmeans++":
            rng = np.random.default_rng(resolve_seed(seed))
            w, mu, cov = kmeans_parameters(x_data, spec.n_components, spec.covariance_type, 1e-6, rng)
            return parameters_to_point(spec, w, mu, cov, order=spec.kind != "complete"), "kmeans++"
        if start == "em":
            em = fit_em(x_data, spec.n_components, covariance_type=spec.covariance_type, seed=seed)
            return parameters_to_point(spec, em.weights, em.means, em.covariances), "em"
        raise DataError(f"start must be 'kmeans++', 'em', None, an EMResult or (w, mu, cov); got {start!r}.")
    if isinstance(start, EMResult):
        if start.covariance_type != spec.covariance_type:
            raise DataError(f"start is an EM fit with covariance_type={start.covariance_type!r}, the model has "
                            f"{spec.covariance_type!r}.")
        start = (start.weights, start.means, start.covariances)
    if isinstance(start, (tuple, list)) and len(start) == 3:
        return parameters_to_point(spec, *start, order=spec.kind != "complete"), "given"
    raise DataError(f"start must be 'kmeans++', 'em', None, an EMResult or (w, mu, cov); got {type(start).__name__}.")


def _inverse_hessian_at(fun, theta: np.ndarray, step: float = 1e-6) -> tuple[np.ndarray | None, int]:
    """Inverse of the objective's Hessian at ``theta`` by forward differences of the gradient.

    Returns (H⁻¹ or None when H is not clearly positive definite, evaluations spent). From an
    EM start the objective is already near its minimum, where BFGS started from the identity
    spends ~P iterations learning the curvature of the P parameters; started from H⁻¹ it takes
    Newton steps at once. Measured on the synthetic K = 3 benchmark data (P = 17): 22
    evaluations (this one's 18 included) instead of ~50, same optimum to 1e-12.
    """
    _, g0 = fun(theta)
    d = theta.size
    hess = np.empty((d, d))
    for i in range(d):
        shifted = theta.copy()
        shifted[i] += step
        hess[:, i] = (fun(shifted)[1] - g0) / step
    hess = 0.5 * (hess + hess.T)
    eigval, eigvec = np.linalg.eigh(hess)
    if not np.all(np.isfinite(eigval)) or eigval.min() <= 1e-8 * eigval.max():
        return None, d + 1
    inv = (eigvec / eigval) @ eigvec.T
    return 0.5 * (inv + inv.T), d + 1


def fit_gmm_map(model, *, start="auto", seed=None, method: str = "BFGS", gtol: float = 1e-6,
                maxiter: int = 5000, precondition: bool = True, compile_mode: str = "auto") -> GMMFit:
    """MAP of a model built here: BFGS on the unconstrained variables, compiled once per model.

    The log-density is maximized *without* the Jacobian of the transforms (as ``pm.find_MAP``),
    so with ``priors="flat"`` the result is the maximum-likelihood estimate. The objective is the
    per-point mean log-density, so ``gtol`` does not depend on N: at the default 1e-6 the
    log-likelihood is within ~1e-12 (relative) of the optimum and the parameters within ~1e-6 in
    standardized units; pass ``gtol=1e-9`` for tie-outs at round-off level.

    Parameters
    ----------
    model : a model from :func:`gmm_marginal_model` or :func:`gmm_complete_data_model`.
    start : ``"auto"`` (default: ``"em"`` for the marginal model, the model's own initial point
        for the complete-data one); ``"em"`` (EM from k-means++ with its default tolerance, then
        BFGS polishes — the fast path: EM's cheap iterations do the global work, one compiled
        gradient certifies the optimum); ``"kmeans++"`` (k-means++ + Lloyd + one M-step: BFGS
        does all the work, independently of EM); an :class:`~models.em.EMResult`;
        ``(w, mu, cov)`` in data units; or None (the model's default initial point).
    seed : seed of the k-means++ / EM initialisation.
    method, gtol, maxiter : passed to ``scipy.optimize.minimize``.
    precondition : with BFGS, start its inverse-Hessian estimate from the finite-difference
        Hessian at the start when that is positive definite (halves the evaluations from an
        EM start; see :func:`_inverse_hessian_at`); otherwise BFGS starts from the identity.
    compile_mode : the pytensor mode of the objective: ``"auto"`` (default,
        :func:`models.fitting.map_compile_mode`: no C below 10,000 points), ``"FAST_RUN"``
        (C) or ``"FAST_COMPILE"``. Every mode computes the same function; they trade compile
        time against evaluation time.

    Returns
    -------
    GMMFit

    Example
    -------
    With flat priors the MAP is the MLE: the log-likelihood equals EM's maximum.

    >>> from models import fit_em, fit_gmm_map, gmm_marginal_model, load_dataset
    >>> x = load_dataset("faithful").values                      # (272, 2)
    >>> fit = fit_gmm_map(gmm_marginal_model(x, 2, priors="flat"), seed=0)
    >>> em = fit_em(x, 2, seed=0, tol=1e-12, max_iter=10_000)
    >>> print(f"{fit.log_likelihood:.4f}", abs(fit.log_likelihood - em.log_likelihood) < 1e-6)
    -1130.2640 True
    """
    from scipy.optimize import minimize

    spec = gmm_spec(model)
    if spec.kind == "generative":
        raise DataError("fit the marginal model (gmm_marginal_model); the generative one has discrete z.")
    x_s = _model_data(model)
    n = x_s.shape[0]
    if compile_mode not in ("auto", "FAST_RUN", "FAST_COMPILE"):
        raise ValueError(f"compile_mode={compile_mode!r}: use 'auto', 'FAST_RUN' (C) or 'FAST_COMPILE' (no C).")
    mode = map_compile_mode(n) if compile_mode == "auto" else compile_mode
    objective, compile_seconds = _objective(model, spec, n, mode)
    if isinstance(start, str) and start == "auto":
        start = "em" if spec.kind == "marginal" else None
    t0 = time.perf_counter()
    point0, start_name = start_point(model, spec, start, seed)
    theta0 = objective.to_flat(point0)
    if not np.all(np.isfinite(theta0)):
        raise DataError("the starting point is outside the model's support (e.g. tied first coordinates "
                        "of the means); pass another start.")
    fun = objective.fn
    options = {"gtol": gtol, "maxiter": maxiter}
    n_extra = 0
    if precondition and method.upper() == "BFGS":
        hess_inv0, n_extra = _inverse_hessian_at(fun, theta0)
        if hess_inv0 is not None:
            options["hess_inv0"] = hess_inv0
    result = minimize(lambda th: fun(th), theta0, jac=True, method=method, options=options)
    seconds = time.perf_counter() - t0
    point = objective.to_point(result.x)
    value, grad = fun(result.x)
    grad_norm = float(np.max(np.abs(grad)))
    point["mu"] = means_from_point(spec, point)
    w, mu, cov = point_to_parameters(spec, point)
    # Σ_n ln p(x_n) in data units by the numpy natural-parameter formula (tested equal to
    # models.gmm.gmm_log_likelihood to 1e-9; several times faster at large N).
    log_lik = float(np.sum(mixture_log_density(spec, spec.standardization.invert(x_s), point)))
    # BFGS stops on "precision loss" once the gradient is at round-off level; that is converged.
    converged = bool(result.success or grad_norm < 1e-6)
    return GMMFit(weights=w, means=mu, covariances=cov, covariance_type=spec.covariance_type,
                  log_likelihood=float(log_lik), log_density=float(-value * n), point=point,
                  converged=converged, message=str(result.message), n_iterations=int(result.get("nit", -1)),
                  n_evaluations=int(result.nfev) + n_extra, grad_norm=grad_norm, seconds=seconds,
                  compile_seconds=compile_seconds, start=start_name, n_obs=n, compile_mode=mode)


_LOGLIK_FNS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def log_likelihood_function(model):
    """Compiled per-point ln p(x_n) of the model's ``x`` in **data units**, as a function of a point.

    Parameters
    ----------
    model : a model built by this module; for ``pymc_extras.marginalize(generative, ["z"])``
        copy the spec first (``marginal.gmm_spec = generative.gmm_spec``).

    Returns
    -------
    callable ``f(point) -> ndarray (N,)``, where ``point`` maps the free variables' names to
    constrained values (as :func:`parameters_to_point` gives). Compiled once per model, in
    pytensor's ``FAST_COMPILE`` mode: the analyses call it a handful of times per model (a tie-out
    at one point), and its Python implementations take milliseconds per call where compiling the
    graph to C took up to ~30 s with an empty cache (``python -m analyses benchmark``, section 6).
    """
    cached = _LOGLIK_FNS.get(model)
    if cached is not None:
        return cached
    spec = gmm_spec(model)
    fn = model.compile_fn(model.logp(vars=[model["x"]], sum=False)[0], inputs=model.value_vars,
                          on_unused_input="ignore", mode="FAST_COMPILE")
    pairs = [(v.name, model.values_to_rvs[v].name, model.rvs_to_transforms[model.values_to_rvs[v]])
             for v in model.value_vars]
    shift = spec.standardization.log_jacobian

    def log_likelihood(point: dict) -> np.ndarray:
        values = {value_name: to_unconstrained(t, np.asarray(point[rv_name], dtype=float))
                  for value_name, rv_name, t in pairs if rv_name in point}
        return np.asarray(fn(values)) + shift

    _LOGLIK_FNS[model] = log_likelihood
    return log_likelihood


# --------------------------------------------------------------------------- NUTS and posterior


def sample_gmm_posterior(model, *, draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 0,
                         start="em", target_accept: float = 0.9, posterior_predictive: bool = False,
                         cores: int | None = None, nuts_sampler: str = "pymc", progressbar: bool = False):
    """NUTS on the marginal model, started at an EM (or given) fit, log-likelihood in data units.

    Parameters
    ----------
    model : from :func:`gmm_marginal_model` (weak priors).
    start : ``"em"`` (default: EM from k-means++ with ``seed``), ``"kmeans++"``, an EMResult,
        ``(w, mu, cov)`` or None (PyMC's default initial point). Chains are jittered around it.
    Others as :func:`models.fitting.sample_nuts`.

    Returns
    -------
    arviz.InferenceData from :func:`models.fitting.sample_nuts`, whose ``log_likelihood["x"]``
    (chain, draw, obs) is ln p(x_n) in **data units**, and whose ``attrs`` also record the
    model's spec (covariance type, priors, K, standardization).

    Example
    -------
    >>> import arviz as az
    >>> from models import gmm_marginal_model, load_dataset, sample_gmm_posterior
    >>> x = load_dataset("faithful").values
    >>> idata = sample_gmm_posterior(gmm_marginal_model(x, 2), draws=300, tune=300, seed=1)
    >>> idata.posterior["w"].shape                                # (chain, draw, component)
    (2, 300, 2)
    >>> w = az.summary(idata, var_names=["w"])["mean"].to_numpy()  # short, long eruptions
    >>> print(abs(w[0] - 0.356) < 0.05, abs(w.sum() - 1) < 1e-9)
    True True
    """
    from models.fitting import sample_nuts

    spec = gmm_spec(model)
    if spec.priors == "flat":
        raise DataError("NUTS needs proper priors: build the model with priors='weak'.")
    initvals = None
    if start is not None:
        point, _ = start_point(model, spec, start, seed)
        initvals = {k: v for k, v in point.items() if k in spec.value_shapes()}
    idata = sample_nuts(model, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
                        cores=cores, nuts_sampler=nuts_sampler, posterior_predictive=posterior_predictive,
                        initvals=initvals, progressbar=progressbar)
    idata.log_likelihood["x"] = idata.log_likelihood["x"] + spec.standardization.log_jacobian
    idata.attrs.update({
        "model": f"gmm_{spec.kind}", "covariance_type": spec.covariance_type, "priors": spec.priors,
        "n_components": spec.n_components, "loc": spec.standardization.loc.tolist(),
        "scale": spec.standardization.scale.tolist(), "log_likelihood_units": "data",
    })
    return idata


def _posterior_point(idata, spec: GMMSpec) -> dict:
    post = idata.posterior
    point = {name: post[name].values for name in spec.value_shapes() if name in post}
    point["mu"] = post["mu"].values if "mu" in post else means_from_point(spec, point)
    return point


def posterior_parameters(idata, spec: GMMSpec) -> dict[str, np.ndarray]:
    """Posterior draws of (w, mu, cov) in data units.

    Returns
    -------
    dict ``w`` (chain, draw, K), ``mu`` (chain, draw, K, D), ``cov`` (chain, draw, *cov shape*).
    """
    w, mu, cov = point_to_parameters(spec, _posterior_point(idata, spec))
    return {"w": w, "mu": mu, "cov": cov}


def posterior_responsibilities(idata, x, spec: GMMSpec, *, max_draws: int | None = None,
                               return_sd: bool = False):
    r"""Posterior class probabilities :math:`p(z_n = k \mid x) = \mathbb{E}[\gamma_{nk}(\theta)]`.

    Averages the per-draw responsibilities (log space) over the posterior draws — what
    ``pymc_extras.recover_marginals`` computes, without compiling anything.

    Parameters
    ----------
    x : (N, D) data in data units. max_draws : thin to at most this many draws (evenly).
    return_sd : also return the posterior sd of each γ_nk (how uncertain the assignment is).

    Returns
    -------
    ndarray (N, K), rows summing to 1 (and the (N, K) sd when ``return_sd``).
    """
    x = validate_samples_2d(x, name="x", n_features=spec.n_features, allow_constant=True)
    point = _posterior_point(idata, spec)
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in point.items()}
    n_draws = next(iter(flat.values())).shape[0]
    if max_draws is not None and n_draws > max_draws:
        keep = np.linspace(0, n_draws - 1, max_draws).round().astype(int)
        flat = {k: v[keep] for k, v in flat.items()}
    resp = _responsibilities_at(flat, x, spec)
    return (resp.mean(axis=0), resp.std(axis=0)) if return_sd else resp.mean(axis=0)


def responsibility_draws(idata, x, spec: GMMSpec) -> np.ndarray:
    r"""The responsibilities :math:`\gamma_{nk}(\theta) = p(z_n = k \mid x_n, \theta)` at every
    posterior draw (numpy, vectorized), for Monte Carlo errors of their average.

    Parameters
    ----------
    x : (N, D) data in data units.

    Returns
    -------
    ndarray (chain, draw, N, K); its mean over (chain, draw) is :func:`posterior_responsibilities`.
    """
    x = validate_samples_2d(x, name="x", n_features=spec.n_features, allow_constant=True)
    point = _posterior_point(idata, spec)
    lead = point["w"].shape[:2]
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in point.items()}
    return _responsibilities_at(flat, x, spec).reshape(lead + (x.shape[0], spec.n_components))


def _responsibilities_at(flat: dict, x: np.ndarray, spec: GMMSpec) -> np.ndarray:
    """(S, N, K) responsibilities at S draws of the model's variables (leading axis S)."""
    a, b = natural_parameters(spec, flat["w"], flat["mu"], flat["prec_c"], flat.get("prec_z"))  # (S,P,K),(S,K)
    f = features(spec.standardization.apply(x), spec.covariance_type)                            # (N, P)
    lp = np.einsum("np,spk->snk", f, a) + b[:, None, :]                                          # (S, N, K)
    return np.exp(lp - logsumexp(lp, axis=-1, keepdims=True))


def predictive_in_data_units(idata, spec: GMMSpec) -> np.ndarray:
    """Posterior-predictive draws of ``x`` mapped back to data units, (chain, draw, N, D)."""
    return spec.standardization.invert(idata.posterior_predictive["x"].values)
