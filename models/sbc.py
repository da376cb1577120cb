"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

For s = 1..S: draw θ̃ from the prior, simulate data y from p(y | θ̃), draw L posterior
samples θ_1..θ_L given y, and record the rank r_s = #{l : θ_l < θ̃} ∈ {0, ..., L}. If the
posterior sampler is correct, every rank is uniform on {0, ..., L}. Uniformity is tested by a
χ² test over equal-width bins, and shown as an ECDF-difference plot with ArviZ's simultaneous
band (``az.plot_ecdf(..., difference=True, confidence_bands=True)``).

The loop is written here because neither PyMC nor ArviZ ships an SBC driver; the
posterior sampler is a callable, so the same code calibrates exact conjugate draws and NUTS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import stats

from models.fitting import convergence_table

__all__ = ["SBCResult", "simulate_ranks", "rank_uniformity", "thin_draws", "with_swappable_observed",
           "pymc_sbc", "plot_rank_ecdfs"]


@dataclass(frozen=True)
class SBCResult:
    """Ranks of S simulations for P scalar parameters.

    Attributes
    ----------
    ranks : int ndarray, shape (S, P), values in 0..n_draws.
    n_draws : L, the posterior draws per simulation.
    names : P parameter labels.
    n_bins : bins of the χ² test.
    chi2, pvalues : ndarray, shape (P,).
    extra : anything the sampler reported (e.g. worst R-hat per simulation).
    """

    ranks: np.ndarray
    n_draws: int
    names: tuple[str, ...]
    n_bins: int
    chi2: np.ndarray
    pvalues: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def min_pvalue(self) -> float:
        return float(self.pvalues.min())

    def as_dict(self) -> dict:
        return {"n_sims": int(self.ranks.shape[0]), "n_draws": self.n_draws, "n_bins": self.n_bins,
                "names": list(self.names), "chi2": self.chi2.tolist(), "pvalues": self.pvalues.tolist(),
                "extra": self.extra}


def rank_uniformity(ranks: np.ndarray, n_draws: int, n_bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """χ² test of uniform ranks.

    Parameters
    ----------
    ranks : int ndarray, shape (S, P), values in 0..n_draws.
    n_draws : L; the L + 1 possible ranks must split evenly into ``n_bins`` bins.

    Returns
    -------
    chi2, pvalue : ndarray, shape (P,).
    """
    ranks = np.asarray(ranks)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    if (n_draws + 1) % n_bins:
        raise ValueError(f"{n_draws + 1} possible ranks do not split into {n_bins} equal bins; choose L = m*{n_bins} - 1")
    if ranks.min() < 0 or ranks.max() > n_draws:
        raise ValueError(f"ranks must lie in 0..{n_draws}")
    width = (n_draws + 1) // n_bins
    counts = np.stack([np.bincount(r // width, minlength=n_bins) for r in ranks.T])  # (P, n_bins)
    chi2, pvalue = stats.chisquare(counts, axis=1)
    return np.atleast_1d(chi2), np.atleast_1d(pvalue)


def simulate_ranks(draw_prior: Callable, simulate_data: Callable, draw_posterior: Callable, *, n_sims: int,
                   n_draws: int, rng: np.random.Generator, names=None, n_bins: int = 20) -> SBCResult:
    """Run SBC.

    Parameters
    ----------
    draw_prior : rng -> θ̃, array of P scalars (flattened).
    simulate_data : (θ̃, rng) -> y.
    draw_posterior : (y, n_draws, rng) -> ndarray (n_draws, P), near-independent draws;
        may also return ``(draws, info_dict)``; info values are collected in ``extra``.
    n_draws : L; with ``n_bins`` bins, L + 1 must be a multiple of ``n_bins``.
    """
    ranks, infos = [], {}
    for _ in range(n_sims):
        theta = np.ravel(draw_prior(rng))
        y = simulate_data(theta, rng)
        out = draw_posterior(y, n_draws, rng)
        draws, info = out if isinstance(out, tuple) else (out, {})
        draws = np.asarray(draws).reshape(n_draws, -1)
        ranks.append((draws < theta).sum(axis=0))
        for key, value in info.items():
            infos.setdefault(key, []).append(value)
    ranks = np.asarray(ranks, dtype=int)
    chi2, pvalues = rank_uniformity(ranks, n_draws, n_bins)
    names = tuple(names) if names is not None else tuple(f"theta[{i}]" for i in range(ranks.shape[1]))
    return SBCResult(ranks, n_draws, names, n_bins, chi2, pvalues, infos)


def thin_draws(draws: np.ndarray, n_keep: int) -> np.ndarray:
    """Keep ``n_keep`` draws of an array (chain, draw, ...): evenly spaced within each chain,
    the chains sharing the draws as equally as possible.

    Thinning makes the kept draws near-independent, which SBC's uniformity assumes.

    Returns
    -------
    ndarray, shape (n_keep, ...).
    """
    draws = np.asarray(draws)
    n_chains, n_per_chain = draws.shape[:2]
    share = np.full(n_chains, n_keep // n_chains)
    share[: n_keep % n_chains] += 1
    if share.max() > n_per_chain:
        raise ValueError(f"{n_chains} chain(s) of {n_per_chain} draws cannot be thinned to {n_keep}")
    kept = [draws[c, np.linspace(0, n_per_chain - 1, k).round().astype(int)] for c, k in enumerate(share)]
    return np.concatenate(kept, axis=0)


def with_swappable_observed(model, observed: str):
    """A copy of ``model`` whose observed data for ``observed`` is a shared variable.

    Returns ``(model, shared)``; ``shared.set_value(y)`` swaps the data in place, so a NUTS step
    compiled once serves every simulation (compiling per simulation would cost more than
    sampling). Works on any PyMC model, whether or not its builder used ``pm.Data``: the
    observed constant is replaced in the model's function graph.
    """
    import pytensor
    from pymc.model.fgraph import ModelObservedRV, fgraph_from_model, model_from_fgraph

    fgraph, _ = fgraph_from_model(model)
    target = None
    for node in fgraph.toposort():
        if isinstance(node.op, ModelObservedRV) and node.outputs[0].name == observed:
            target = node.inputs[1]
    if target is None:
        names = [v.name for v in model.observed_RVs]
        raise ValueError(f"model has no observed variable {observed!r}; observed variables: {names}")
    shared = pytensor.shared(np.asarray(target.data if hasattr(target, "data") else target.eval()),
                             name=f"{observed}_sbc_data")
    fgraph.replace(target, shared, import_missing=True)
    return model_from_fgraph(fgraph, mutate_fgraph=True), shared


def pymc_sbc(model, observed: str, var_names: list[str], *, n_sims: int, n_draws: int, seed: int,
             draws: int = 1000, tune: int = 1000, chains: int = 2, target_accept: float = 0.9,
             keep_prior=None, n_bins: int = 20, progress: Callable | None = None,
             compile_kwargs: dict | None = None) -> SBCResult:
    """SBC of NUTS on a PyMC model, prior and likelihood taken from the model itself.

    1. (θ̃_s, ỹ_s), s = 1..S, are joint draws of ``pm.sample_prior_predictive``. Forward sampling
       ignores constraints that live only in a transform (e.g. ``ordered``): pass
       ``keep_prior(prior_group, i) -> bool`` to keep only admissible draws (rejection sampling
       gives exactly the constrained prior the model's density defines).
    2. NUTS (one compiled step, reused through :func:`with_swappable_observed`) runs
       ``chains x draws`` per simulation; the draws are thinned per chain to ``n_draws``
       near-independent draws (:func:`thin_draws`) and ranked against θ̃_s.

    ``extra`` records, per simulation, the worst R-hat, the smallest bulk ESS and the
    divergences, so a miscalibration can be told apart from a sampler that did not converge.

    ``compile_kwargs`` go to ``pm.NUTS`` (e.g. ``{"mode": "NUMBA"}``: models whose gradient
    has Python-implemented ops, such as triangular solves, then run 2-3x faster per leapfrog
    step, for a one-off compilation of ~15 s).
    """
    import pymc as pm
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    pool = n_sims
    while True:
        prior = pm.sample_prior_predictive(draws=pool, model=model, random_seed=int(rng.integers(2**31)),
                                           var_names=list(var_names) + [observed])
        keep = [i for i in range(pool) if keep_prior is None or keep_prior(prior.prior, i)]
        if len(keep) >= n_sims:
            break
        if pool > 1000 * n_sims:
            raise ValueError("keep_prior rejects almost every prior draw; check the constraint")
        pool *= 4
    keep = keep[:n_sims]
    truth = np.concatenate([prior.prior[v].values[0, keep].reshape(n_sims, -1) for v in var_names], axis=1)
    data = prior.prior_predictive[observed].values[0, keep]

    sbc_model, shared = with_swappable_observed(model, observed)
    with sbc_model:
        step = pm.NUTS(target_accept=target_accept, compile_kwargs=compile_kwargs)
    ranks, extra = [], {"rhat_max": [], "ess_bulk_min": [], "divergences": []}
    for s in range(n_sims):
        shared.set_value(np.asarray(data[s], dtype=shared.get_value().dtype))
        with sbc_model, threadpool_limits(limits=1, user_api="blas"):  # see models.fitting.sample_nuts
            idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=1, step=step,
                              random_seed=int(rng.integers(2**31)), progressbar=False,
                              compute_convergence_checks=False, var_names=list(var_names))
        post = idata.posterior
        kept = np.concatenate([thin_draws(post[v].values, n_keep=n_draws).reshape(n_draws, -1) for v in var_names],
                              axis=1)
        ranks.append((kept < truth[s]).sum(axis=0))
        table = convergence_table(post, list(var_names))
        extra["rhat_max"].append(float(np.max([row["rhat"] for row in table.values()])))
        extra["ess_bulk_min"].append(float(np.min([row["ess_bulk"] for row in table.values()])))
        extra["divergences"].append(int(idata.sample_stats["diverging"].values.sum()))
        if progress is not None:
            progress(s + 1, n_sims)
    ranks = np.asarray(ranks, dtype=int)
    chi2, pvalues = rank_uniformity(ranks, n_draws, n_bins)
    names = [f"{v}[{i}]" if prior.prior[v].values[0, 0].size > 1 else v
             for v in var_names for i in range(prior.prior[v].values[0, 0].size)]
    return SBCResult(ranks, n_draws, tuple(names), n_bins, chi2, pvalues, extra)


def plot_rank_ecdfs(result: SBCResult, *, ci_prob: float = 0.99, max_panels: int = 12, title: str = ""):
    """ECDF-difference plot of the fractional ranks, one panel per parameter, with ArviZ's
    simultaneous ``ci_prob`` band. Returns the matplotlib figure."""
    import arviz as az
    import matplotlib.pyplot as plt

    n = min(result.ranks.shape[1], max_panels)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    # Fractional ranks in (0, 1): uniform under calibration, compared with the uniform CDF.
    frac = (result.ranks + 0.5) / (result.n_draws + 1)
    for j, ax in enumerate(axes.flat):
        if j >= n:
            ax.set_axis_off()
            continue
        az.plot_ecdf(frac[:, j], cdf=stats.uniform.cdf, difference=True, confidence_bands=True, ci_prob=ci_prob,
                     ax=ax, random_state=0)
        ax.set_title(f"{result.names[j]}  (χ² p = {result.pvalues[j]:.3f})", fontsize=9)
        ax.set_xlabel("fractional rank")
        ax.set_ylabel("ECDF − uniform")
    fig.suptitle(title or f"SBC: {result.ranks.shape[0]} simulations, {result.n_draws} draws each, "
                          f"{int(ci_prob * 100)}% simultaneous band")
    fig.tight_layout()
    return fig
