"""Fitting helpers shared by every PyMC model in the collection: MAP, NUTS, diagnostics.

* :func:`fit_map` — ``pm.find_MAP`` with BFGS and a tight gradient tolerance, because the
  tie-outs against closed-form MLEs are at 1e-6 relative and PyMC's default L-BFGS-B stops
  around 1e-5. ``pm.find_MAP`` maximises the log-density *without* the Jacobian of the
  transforms, so with flat priors its answer is the MLE in the model's own parameters.
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
    "sample_nuts",
    "Diagnostics",
    "diagnose",
    "posterior_moment_errors",
    "RHAT_MAX",
    "ESS_MIN",
    "ess_threshold",
    "convergence_table",
    "to_unconstrained",
    "to_constrained",
]

#: Convergence criteria used throughout (Vehtari et al. 2021).
RHAT_MAX = 1.01
ESS_MIN = 400


def fit_map(model, *, start: dict | None = None, method: str = "BFGS", gtol: float = 1e-10,
            maxiter: int = 20_000, progressbar: bool = False) -> dict[str, np.ndarray]:
    """Maximum a posteriori point of ``model`` (all free and deterministic variables).

    Parameters
    ----------
    model : pm.Model
    start : optional starting point (in the constrained space, as ``pm.find_MAP`` expects).
    method, gtol, maxiter : passed to ``scipy.optimize.minimize``; the defaults give
        relative agreement ~1e-9 with closed-form MLEs on the shipped data.

    Returns
    -------
    dict mapping variable names to numpy arrays.
    """
    import pymc as pm

    options = {"maxiter": maxiter}
    if method.upper() in {"BFGS", "CG", "L-BFGS-B"}:
        options["gtol"] = gtol
    with model:
        point = pm.find_MAP(start=start, method=method, progressbar=progressbar, options=options,
                            maxeval=maxiter, return_raw=False)
    return {k: np.asarray(v) for k, v in point.items()}


def sample_nuts(model, *, draws: int = 1000, tune: int = 1000, chains: int = 2, seed: int = 0,
                target_accept: float = 0.9, cores: int | None = None, nuts_sampler: str = "pymc",
                posterior_predictive: bool = False, progressbar: bool = False, initvals=None,
                var_names: list[str] | None = None):
    """Sample ``model`` with NUTS.

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
            random_seed=seed, target_accept=target_accept, nuts_sampler=nuts_sampler,
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
    rhat_max : largest rank-normalised split R-hat over all scalar quantities.
    ess_bulk_min, ess_tail_min : smallest bulk / tail effective sample sizes.
    divergences : number of divergent transitions after tuning.
    n_draws : chains x draws.
    ess_required : the ESS threshold applied (scaled down with the draws in quick runs).
    table : per-variable ``{name: {"rhat", "ess_bulk", "ess_tail"}}`` (worst element of each).
    """

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    n_draws: int
    ess_required: float
    rhat_required: float = RHAT_MAX
    table: dict = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        out = []
        if not self.rhat_max <= self.rhat_required:
            out.append(f"R-hat {self.rhat_max:.4f} > {self.rhat_required}")
        if not self.ess_bulk_min >= self.ess_required:
            out.append(f"bulk ESS {self.ess_bulk_min:.0f} < {self.ess_required:.0f}")
        if not self.ess_tail_min >= self.ess_required:
            out.append(f"tail ESS {self.ess_tail_min:.0f} < {self.ess_required:.0f}")
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
                "table": self.table}


def ess_threshold(n_draws: int, ess_min: float = ESS_MIN) -> float:
    """ESS required of ``n_draws`` total draws: ``ess_min``, or 20% of the draws when fewer
    than ``5 * ess_min`` were taken (quick runs). Never zero, never silently disabled."""
    return float(min(ess_min, 0.2 * n_draws))


def convergence_table(posterior, var_names: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Worst R-hat and bulk/tail ESS of each variable of a posterior (via ArviZ).

    Parameters
    ----------
    posterior : xarray.Dataset with dims (chain, draw, ...), e.g. ``idata.posterior``.
    var_names : the variables to reduce (default: all).

    Returns
    -------
    ``{name: {"rhat": max over elements, "ess_bulk": min, "ess_tail": min}}``.
    """
    import arviz as az

    post = posterior if var_names is None else posterior[list(var_names)]
    rhat = az.rhat(post)
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")
    return {name: {"rhat": float(np.nanmax(rhat[name].values)),
                   "ess_bulk": float(np.nanmin(ess_bulk[name].values)),
                   "ess_tail": float(np.nanmin(ess_tail[name].values))}
            for name in post.data_vars}


def diagnose(idata, var_names: list[str] | None = None, *, ess_min: float = ESS_MIN) -> Diagnostics:
    """R-hat, bulk/tail ESS and divergences of ``idata.posterior`` (via ArviZ)."""
    post = idata.posterior if var_names is None else idata.posterior[var_names]
    table = convergence_table(post)
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    divergences = 0
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        divergences = int(idata.sample_stats["diverging"].values.sum())
    return Diagnostics(
        rhat_max=max(v["rhat"] for v in table.values()),
        ess_bulk_min=min(v["ess_bulk"] for v in table.values()),
        ess_tail_min=min(v["ess_tail"] for v in table.values()),
        divergences=divergences,
        n_draws=n_draws,
        ess_required=ess_threshold(n_draws, ess_min),
        table=table,
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
