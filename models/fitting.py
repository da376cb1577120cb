"""Fitting helpers shared by every PyMC model in the collection: MAP, NUTS, diagnostics.

* :func:`fit_map` — ``pm.find_MAP`` with BFGS and a tight gradient tolerance, because the
  tie-outs against closed-form MLEs are at 1e-6 relative and PyMC's default L-BFGS-B stops
  around 1e-5. ``pm.find_MAP`` maximises the log-density *without* the Jacobian of the
  transforms, so with flat priors its answer is the MLE in the model's own parameters.
* :func:`map_compile_mode` — whether a MAP fit's functions are worth compiling to C (only for
  large data: a fit evaluates them a few dozen times, and gcc takes a minute on a fresh machine).
* :func:`sample_nuts` — ``pm.sample`` returning InferenceData with the log_likelihood group,
  optionally the posterior predictive, and the seed and sampler settings in ``attrs``.
* :func:`diagnose` — R-hat, bulk/tail ESS and divergences via ArviZ, with a verdict.
* :func:`posterior_moment_errors` — posterior mean/sd with their Monte Carlo standard errors
  (ArviZ ``mcse``), for comparisons "within k MCSE" against exact answers.
* :func:`convergence_table` — the one reduction of R-hat and bulk/tail ESS to the worst value
  per variable, used by :func:`diagnose`, :mod:`models.sbc` and the benchmark.
* :func:`to_unconstrained` / :func:`to_constrained` — numpy mirrors of PyMC's transforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "fit_map",
    "map_compile_mode",
    "MAP_C_MIN_POINTS",
    "sample_nuts",
    "Diagnostics",
    "diagnose",
    "posterior_moment_errors",
    "RHAT_MAX",
    "ESS_MIN",
    "ess_threshold",
    "convergence_table",
    "undefined_elements",
    "to_unconstrained",
    "to_constrained",
]

#: Convergence criteria used throughout (Vehtari et al. 2021).
RHAT_MAX = 1.01
ESS_MIN = 400

#: From this many data points on, a MAP fit compiles its functions to C (pytensor's default
#: ``FAST_RUN``); below, in ``FAST_COMPILE`` (Python implementations of the same graph, no C).
#: A MAP fit evaluates its log-density a few dozen to a few hundred times, so at small N the C
#: compile is nearly all of its cost, and on a fresh machine (empty compile cache) gcc takes a
#: minute or more. Measured on the 2-core machine, GMM K = 3 MAP (``fit_gmm_map``, EM start),
#: fresh process, total = build + compile + fit:
#:
#: - N = 272: FAST_COMPILE 3.2 s (4.5 ms per evaluation); C 6.3 s with a warm cache (0.21 ms),
#:   about 80 s with an empty one;
#: - N = 2,000: FAST_COMPILE 3.3 s (13 ms); C 5.6 s warm (0.33 ms);
#: - N = 25,000: FAST_COMPILE 4.5 s (40 ms); C 79 s with an empty cache, 4.6 ms per evaluation.
#:
#: From about 10,000 points a Python evaluation costs 10x C's or more, which a warm cache repays
#: within one fit; the benchmark's MAP-against-scikit-learn target is measured at N = 25,000, in C.
MAP_C_MIN_POINTS = 10_000


def map_compile_mode(n_obs: int) -> str:
    """The pytensor mode a MAP fit of ``n_obs`` data points compiles in: ``"FAST_COMPILE"``
    below :data:`MAP_C_MIN_POINTS`, ``"FAST_RUN"`` (C) from there on."""
    return "FAST_COMPILE" if n_obs < MAP_C_MIN_POINTS else "FAST_RUN"


def observed_rows(model) -> int:
    """The largest leading dimension among ``model``'s observed data (0 when it has none)."""
    rows = 0
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        data = value.get_value() if hasattr(value, "get_value") else getattr(value, "data", None)
        if data is not None and np.ndim(data) > 0:
            rows = max(rows, int(np.shape(data)[0]))
    return rows


def fit_map(model, *, start: dict | None = None, method: str = "BFGS", gtol: float = 1e-10,
            maxiter: int = 20_000, progressbar: bool = False, compile_mode: str = "auto") -> dict[str, np.ndarray]:
    """Maximum a posteriori point of ``model`` (all free and deterministic variables).

    Parameters
    ----------
    model : pm.Model
    start : optional starting point (in the constrained space, as ``pm.find_MAP`` expects).
    method, gtol, maxiter : passed to ``scipy.optimize.minimize``; the defaults give
        relative agreement ~1e-9 with closed-form MLEs on the shipped data.
    compile_mode : pytensor mode of ``pm.find_MAP``'s functions: ``"auto"`` (default,
        :func:`map_compile_mode` of the observed rows), ``"FAST_RUN"`` (C) or ``"FAST_COMPILE"``.

    Returns
    -------
    dict mapping variable names to numpy arrays.

    Example
    -------
    With flat priors the MAP is the maximum-likelihood estimate: the mean and the ÷N sd.

    >>> import numpy as np
    >>> from models import fit_map, normal_model
    >>> x = np.array([1.0, 2.0, 4.0, 7.0])
    >>> point = fit_map(normal_model(x, prior="flat"))
    >>> print(f"{float(point['mu']):.6f} {float(point['sigma']):.6f} {x.std():.6f}")
    3.500000 2.291288 2.291288
    """
    import pymc as pm
    import pytensor

    if compile_mode not in ("auto", "FAST_RUN", "FAST_COMPILE"):
        raise ValueError(f"compile_mode={compile_mode!r}: use 'auto', 'FAST_RUN' (C) or 'FAST_COMPILE' (no C).")
    mode = map_compile_mode(observed_rows(model)) if compile_mode == "auto" else compile_mode
    options = {"maxiter": maxiter}
    if method.upper() in {"BFGS", "CG", "L-BFGS-B"}:
        options["gtol"] = gtol
    # pm.find_MAP takes no compile arguments; its functions compile in pytensor's configured mode.
    with model, pytensor.config.change_flags(mode=mode):
        point = pm.find_MAP(start=start, method=method, progressbar=progressbar, options=options,
                            maxeval=maxiter, return_raw=False)
    return {k: np.asarray(v) for k, v in point.items()}


def sample_nuts(model, *, draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 0,
                target_accept: float = 0.9, cores: int | None = None, nuts_sampler: str = "pymc",
                posterior_predictive: bool = False, progressbar: bool = False, initvals=None,
                var_names: list[str] | None = None, init: str = "auto"):
    """Sample ``model`` with NUTS.

    ``init`` is ``pm.sample``'s (default ``"auto"``: jitter+adapt_diag); ``"adapt_diag"`` starts
    exactly at ``initvals`` (no jitter), for starts that a jitter of ±1 in the unconstrained space
    would throw out of their mode (:func:`models.gmm_dp_fitting.sample_dp_posterior`).

    Returns
    -------
    arviz.InferenceData with groups posterior, sample_stats, log_likelihood, observed_data
    (and posterior_predictive when asked); ``attrs`` record seed, draws, tune, chains,
    target_accept and sampler so a stored result says how it was made.

    Sampling runs with one BLAS thread per process: numpy's OpenBLAS threads spin-wait, and on
    a small machine NUTS's many tiny matrix products then run 10-100x slower (measured on the
    2-core machine: 160 s instead of 12 s for one Normal-Wishart fit).
    """
    import pymc as pm
    from threadpoolctl import threadpool_limits

    with model, threadpool_limits(limits=1, user_api="blas"):
        idata = pm.sample(
            draws=draws, tune=tune, chains=chains, cores=cores if cores is not None else min(chains, 2),
            random_seed=seed, target_accept=target_accept, nuts_sampler=nuts_sampler, init=init,
            progressbar=progressbar, initvals=initvals, var_names=var_names,
            idata_kwargs={"log_likelihood": True}, compute_convergence_checks=False,
        )
        if posterior_predictive:
            pm.sample_posterior_predictive(idata, random_seed=seed + 1, extend_inferencedata=True,
                                           progressbar=False)
    idata.attrs.update({"seed": int(seed), "draws": int(draws), "tune": int(tune), "chains": int(chains),
                        "target_accept": float(target_accept), "sampler": nuts_sampler})
    return idata


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of a posterior sample.

    Attributes
    ----------
    rhat_max : largest rank-normalised split R-hat over all gated scalars; NaN when any gated
        scalar's R-hat is NaN (a variable constant across draws, or stuck).
    ess_bulk_min, ess_tail_min : smallest bulk / tail effective sample sizes (NaN likewise).
    divergences : number of divergent transitions after tuning.
    n_draws : chains x draws.
    ess_required : the ESS threshold applied (scaled down with the draws in quick runs).
    table : per-variable ``{name: {"rhat", "ess_bulk", "ess_tail"}}`` (worst element of each).
    undefined : ``{name: [element index, ...]}`` of gated scalars whose R-hat or ESS is NaN.
    excluded : variables left out of the gate by name (e.g. a deterministic with constant
        elements such as the unit diagonal of a Cholesky factor of a correlation matrix).
    """

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    n_draws: int
    ess_required: float
    rhat_required: float = RHAT_MAX
    table: dict = field(default_factory=dict)
    undefined: dict = field(default_factory=dict)
    excluded: tuple = ()

    @property
    def problems(self) -> list[str]:
        out = [f"R-hat/ESS undefined (NaN) for {name} at element(s) {elements[:5]}: constant across draws or "
               "stuck; exclude a constant deterministic by name" for name, elements in self.undefined.items()]
        rows = list(self.table.values())
        rhat = np.nanmax([r["rhat"] for r in rows]) if rows else np.nan
        bulk = np.nanmin([r["ess_bulk"] for r in rows]) if rows else np.nan
        tail = np.nanmin([r["ess_tail"] for r in rows]) if rows else np.nan
        if rhat > self.rhat_required:
            out.append(f"R-hat {rhat:.4f} > {self.rhat_required}")
        if bulk < self.ess_required:
            out.append(f"bulk ESS {bulk:.0f} < {self.ess_required:.0f}")
        if tail < self.ess_required:
            out.append(f"tail ESS {tail:.0f} < {self.ess_required:.0f}")
        if self.divergences:
            out.append(f"{self.divergences} divergent transition(s)")
        return out

    @property
    def converged(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"rhat_max": self.rhat_max, "ess_bulk_min": self.ess_bulk_min, "ess_tail_min": self.ess_tail_min,
                "divergences": self.divergences, "n_draws": self.n_draws, "ess_required": self.ess_required,
                "rhat_required": self.rhat_required, "converged": self.converged, "problems": self.problems,
                "table": self.table, "undefined": self.undefined, "excluded": list(self.excluded)}


def ess_threshold(n_draws: int, ess_min: float = ESS_MIN) -> float:
    """ESS required of ``n_draws`` total draws: ``ess_min``, or 20% of the draws when fewer
    than ``5 * ess_min`` were taken (quick runs). Never zero, never silently disabled."""
    return float(min(ess_min, 0.2 * n_draws))


def convergence_table(posterior, var_names: list[str] | None = None) -> dict[str, dict]:
    """Worst R-hat and bulk/tail ESS of each variable of a posterior (via ArviZ).

    A NaN (R-hat or ESS of a scalar that is constant across draws, or stuck) is the worst value:
    it propagates to the variable's entry instead of being skipped, so a gate built on this table
    cannot pass a variable it could not assess (:func:`undefined_elements` says which scalars).

    Parameters
    ----------
    posterior : xarray.Dataset with dims (chain, draw, ...), e.g. ``idata.posterior``.
    var_names : the variables to reduce (default: all).

    Returns
    -------
    ``{name: {"rhat": max over elements, "ess_bulk": min, "ess_tail": min}}`` (NaN if any element is).
    """
    post = posterior if var_names is None else posterior[list(var_names)]
    return _reduce(post)[0]


def undefined_elements(posterior) -> dict[str, list[list[int]]]:
    """``{name: [element index, ...]}`` of the scalars whose R-hat or ESS is NaN (ArviZ)."""
    return _reduce(posterior)[1]


def _reduce(post) -> tuple[dict, dict]:
    """:func:`convergence_table` and :func:`undefined_elements` from one pass of ArviZ's R-hat and
    bulk/tail ESS (the ESS computations are the expensive part of a gate)."""
    import arviz as az

    metrics = (az.rhat(post), az.ess(post, method="bulk"), az.ess(post, method="tail"))
    table, undefined = {}, {}
    for name in post.data_vars:
        r, b, t = (np.asarray(m[name].values, dtype=float) for m in metrics)
        table[name] = {"rhat": float(np.max(r)), "ess_bulk": float(np.min(b)), "ess_tail": float(np.min(t))}
        nan = np.isnan(np.atleast_1d(r)) | np.isnan(np.atleast_1d(b)) | np.isnan(np.atleast_1d(t))
        if nan.any():
            undefined[name] = np.argwhere(nan).tolist()
    return table, undefined


def diagnose(idata, var_names: list[str] | None = None, *, exclude=(), ess_min: float = ESS_MIN) -> Diagnostics:
    """R-hat, bulk/tail ESS and divergences of ``idata.posterior`` (via ArviZ).

    Every scalar of every gated variable counts: one whose R-hat or ESS is NaN makes the gate
    fail with a message naming it (a stuck free variable must not drop out of the gate).

    Parameters
    ----------
    var_names : the variables to gate (default: every posterior variable).
    exclude : variables left out by name, for deterministics with constant elements (the unit
        diagonal of a Cholesky correlation factor, the single weight of a K = 1 mixture).
    """
    names = list(idata.posterior.data_vars) if var_names is None else list(var_names)
    unknown = [n for n in list(exclude) + names if n not in idata.posterior]
    if unknown:
        raise KeyError(f"not in the posterior: {unknown}")
    names = [n for n in names if n not in set(exclude)]
    post = idata.posterior[names]
    table, undefined = _reduce(post)
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    divergences = 0
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        divergences = int(idata.sample_stats["diverging"].values.sum())
    # np.max / np.min propagate NaN (Python's max/min would depend on the order).
    return Diagnostics(
        rhat_max=float(np.max([v["rhat"] for v in table.values()])),
        ess_bulk_min=float(np.min([v["ess_bulk"] for v in table.values()])),
        ess_tail_min=float(np.min([v["ess_tail"] for v in table.values()])),
        divergences=divergences,
        n_draws=n_draws,
        ess_required=ess_threshold(n_draws, ess_min),
        table=table,
        undefined=undefined,
        excluded=tuple(exclude),
    )


def posterior_moment_errors(draws) -> dict[str, np.ndarray]:
    """Posterior mean and sd with Monte Carlo standard errors.

    Parameters
    ----------
    draws : xarray.DataArray with dims (chain, draw, ...).

    Returns
    -------
    dict with ``mean``, ``sd``, ``mcse_mean``, ``mcse_sd``, each of the trailing shape.
    """
    import arviz as az

    ds = draws.to_dataset(name="v")
    return {
        "mean": draws.mean(("chain", "draw")).values,
        "sd": draws.std(("chain", "draw"), ddof=1).values,
        "mcse_mean": az.mcse(ds, method="mean")["v"].values,
        "mcse_sd": az.mcse(ds, method="sd")["v"].values,
    }


def _ordered_forward(value):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.concatenate([value[..., :1], np.log(np.diff(value, axis=-1))], axis=-1)


def _ordered_backward(value):
    return np.cumsum(np.concatenate([value[..., :1], np.exp(value[..., 1:])], axis=-1), axis=-1)


def _simplex_forward(value):
    log_value = np.log(value)
    return log_value[..., :-1] - np.mean(log_value, axis=-1, keepdims=True)


def _simplex_backward(value):
    full = np.concatenate([value, -np.sum(value, axis=-1, keepdims=True)], axis=-1)
    e = np.exp(full - full.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


#: PyMC transform name -> (constrained -> unconstrained, unconstrained -> constrained), in numpy.
_TRANSFORMS = {
    "log": (np.log, np.exp),
    "ordered": (_ordered_forward, _ordered_backward),
    "simplex": (_simplex_forward, _simplex_backward),
}


def _mirror(transform) -> tuple:
    name = getattr(transform, "name", None)
    if name not in _TRANSFORMS:
        raise NotImplementedError(f"transform {name!r} is not mirrored in numpy; add it to _TRANSFORMS")
    return _TRANSFORMS[name]


def to_unconstrained(transform, value: np.ndarray) -> np.ndarray:
    """Constrained -> unconstrained value of a variable, mirroring PyMC's transforms in numpy.

    Parameters
    ----------
    transform : ``model.rvs_to_transforms[rv]`` (None for an untransformed variable); the
        ``log``, ``ordered`` and ``simplex`` transforms are mirrored.
    value : the constrained value, any leading axes.

    Lets a fit move between a point (constrained) and the optimizer's flat vector without
    compiling a PyTensor function per conversion; the tests hold it against PyMC's own
    ``transform.backward``.
    """
    return value if transform is None else _mirror(transform)[0](value)


def to_constrained(transform, value: np.ndarray) -> np.ndarray:
    """Unconstrained -> constrained (inverse of :func:`to_unconstrained`)."""
    return value if transform is None else _mirror(transform)[1](value)
