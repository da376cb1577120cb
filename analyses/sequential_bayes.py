"""Sequential Bayesian updating of a Gaussian mean (PRML fig. 2.12) and online estimation.

1. PRML fig. 2.12: data from N(0.8, 0.1), σ² = 0.1 known, prior μ ~ N(0, 0.1). The posterior of
   μ after N = 0, 1, 2, 10 points, one point at a time (:func:`models.sequential.sequential_normal_mean`,
   yesterday's posterior is today's prior, PRML 2.144) and by NUTS on the PyMC model
   ``normal_model(x[:N], NormalMeanKnownVariance(...))`` — one model, its data swapped with
   ``pm.set_data`` (N = 0 samples the prior). Each NUTS run is gated and its mean and sd must be
   within 4 Monte Carlo standard errors of μ_N, σ_N (PRML 2.141–2.142); one-at-a-time equals batch.
2. The same on real data (``heights``, or the first column of ``--data FILE``) with the weak
   prior ``NormalMeanKnownVariance.weak_from_data(x)`` (:mod:`models.conjugate`, as in the
   closed_forms analysis; σ fixed at σ_ML): closed form after every point, NUTS after 1, 10 and
   all N points.
3. Online estimates converging to the batch MLE: the running mean (2.126), Robbins–Monro with
   a_N = σ²/N (2.135, identical to 2.126) and with a_N = σ²/N^0.6 (slower), and the posterior mean,
   which misses the MLE by exactly σ²(μ0 − μ_ML)/(Nσ0² + σ²) (PRML 2.141).

Figures: the fig. 2.12 replica (closed form and NUTS), the posterior after N points on the
data, the convergence of the online estimates. Every NUTS posterior is saved as NetCDF.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
from matplotlib.figure import Figure
from scipy import stats

from analyses.common import (
    METHOD_COLORS,
    RTOL_EXACT,
    check_moments,
    gate,
    load_gaussian_data,
    nuts_settings,
    round_off,
    unit_of,
)
from models.conjugate import NormalMeanKnownVariance
from models.fitting import sample_nuts
from models.gaussian import mle_mean, mle_var
from models.gaussian_models import normal_model
from models.sequential import online_mean, robbins_monro_mean, sequential_normal_mean

TITLE = "Sequential Bayesian updating of μ (PRML fig. 2.12): closed form vs NUTS after N points; online estimates"

#: PRML fig. 2.12: true mean 0.8, known variance 0.1, prior N(0, 0.1), N = 0, 1, 2, 10.
PRML_TRUE_MU, PRML_VAR, PRML_PRIOR = 0.8, 0.1, NormalMeanKnownVariance(mu0=0.0, sigma0=np.sqrt(0.1), sigma=np.sqrt(0.1))
PRML_SIZES = (0, 1, 2, 10)
#: Step-size exponent of the slower Robbins–Monro sequence (any 0.5 < γ <= 1 satisfies PRML 2.130–2.132).
RM_GAMMA = 0.6
#: Data sets larger than this are saved without the (N-sized) log_likelihood group.
MAX_SAVED_LOGLIK = 5_000


def posterior_runs(ctx, prior, x: np.ndarray, sizes, label: str, dataset: str, file_stem: str, seed0: int) -> dict:
    """NUTS after the first N points for each N in ``sizes``, with one PyMC model whose data are swapped;
    each run gated and checked against the one-at-a-time closed form. Returns {N: posterior draws of μ}."""
    traj = sequential_normal_mean(prior, x)
    model = normal_model(x, prior)
    settings = nuts_settings(ctx, univariate=True)
    draws = {}
    for i, n in enumerate(sizes):
        with model:
            pm.set_data({"x_data": x[:n]}, coords={"obs": np.arange(n)})
        idata = sample_nuts(model, seed=seed0 + i, cores=1, **settings)
        tag = f"{label}, N = {n}"
        gate(ctx, tag, idata, dataset=dataset)
        check_moments(ctx, f"{tag}: μ", idata.posterior["mu"], traj.mu_N[n], traj.sigma_N[n],
                      reference="μ_N, σ_N one point at a time (PRML 2.141-2.142, 2.144)", dataset=dataset)
        if n > 0:
            batch = prior.posterior(x[:n])
            ctx.check(f"{tag}: one at a time == batch", [traj.mu_N[n], traj.sigma_N[n]], [batch.mu_N, batch.sigma_N],
                      method="models.sequential.sequential_normal_mean", reference="NormalMeanKnownVariance.posterior",
                      rtol=RTOL_EXACT, dataset=dataset, basis=round_off(RTOL_EXACT))
        if n > MAX_SAVED_LOGLIK and "log_likelihood" in idata.groups():
            del idata.log_likelihood
        ctx.save_netcdf(idata, f"{file_stem}_N{n}.nc")
        draws[n] = idata.posterior["mu"].values.ravel()
        ctx.log(f"{tag}: NUTS mean {draws[n].mean():.4f}, sd {draws[n].std():.4f}; "
                f"exact {traj.mu_N[n]:.4f}, {traj.sigma_N[n]:.4f}")
    return {"traj": traj, "draws": draws}


# --------------------------------------------------------------------------- online estimates


def check_online(ctx, s, prior, traj) -> dict:
    x, ds = s.values, s.name
    n = np.arange(1, x.size + 1)
    mu_ml, sigma = mle_mean(x), float(np.sqrt(mle_var(x)))
    online = online_mean(x)
    ctx.check("running mean (2.126) after N points", online[-1], mu_ml, method="models.sequential.online_mean",
              reference="batch μ_ML", rtol=RTOL_EXACT, dataset=ds, basis=round_off(RTOL_EXACT))
    rm = robbins_monro_mean(x, sigma, theta0=0.0)
    ctx.check("Robbins–Monro a_N = σ²/N, every N", rm, online, method="robbins_monro_mean (2.135)",
              reference="running mean (2.126)", rtol=RTOL_EXACT, dataset=ds, basis=round_off(RTOL_EXACT))
    rm_slow = robbins_monro_mean(x, sigma, theta0=float(x[0]), step=lambda k: sigma**2 / k**RM_GAMMA)
    # PRML 2.141: μ_N − μ_ML^(N) = σ²/(Nσ0² + σ²) (μ0 − μ_ML^(N)), with the prefix MLE μ_ML^(N)
    prefix_ml = np.cumsum(x) / n
    gap = prior.sigma**2 / (n * prior.sigma0**2 + prior.sigma**2) * (prior.mu0 - prefix_ml)
    ctx.check("posterior mean − running MLE, every N", traj.mu_N[1:] - prefix_ml, gap,
              method="one-point updates", reference="σ²(μ0 − μ_ML)/(Nσ0² + σ²) (PRML 2.141)",
              atol=1e-9 * sigma, dataset=ds, note="absolute 1e-9 σ: a difference of two nearly equal means",
              basis="1e-9 σ: round-off")
    ctx.log(f"after N = {x.size}: running mean {online[-1]:.4f}, Robbins–Monro (N^-{RM_GAMMA}) {rm_slow[-1]:.4f}, "
            f"posterior mean {traj.mu_N[-1]:.4f}, batch MLE {mu_ml:.4f}")
    return {"online": online, "rm_slow": rm_slow, "mu_ml": mu_ml}


# --------------------------------------------------------------------------- figures


def figure_prml(prml: dict, x: np.ndarray) -> Figure:
    traj, draws = prml["traj"], prml["draws"]
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    grid = np.linspace(-1.0, 1.0, 500)
    colors = ("#1d3557", "#e76f51", "#2a9d8f", "#8d5a97")
    for n, color in zip(PRML_SIZES, colors):
        exact = stats.norm(traj.mu_N[n], traj.sigma_N[n])
        ax.plot(grid, exact.pdf(grid), color=color, lw=2, label=f"N = {n}: exact N(μ_N, σ_N²)")
        ax.hist(draws[n], bins=np.linspace(-1, 1, 81), density=True, histtype="step", color=color, lw=1, alpha=0.8,
                label=f"N = {n}: NUTS draws")
    ax.axvline(PRML_TRUE_MU, color="0.3", ls=":", lw=1.2, label=f"true μ = {PRML_TRUE_MU}")
    ax.plot(x[:10], np.zeros(10), "|", color="k", ms=12, mew=1.5, label="the 10 observations")
    ax.set(title="PRML fig. 2.12: posterior of μ after N points (σ² = 0.1 known, prior N(0, 0.1))",
           xlabel="μ (data units)", ylabel="posterior density p(μ | x₁..x_N)", xlim=(-1, 1))
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    return fig


def figure_data_posteriors(s, prior, data: dict) -> Figure:
    """One panel per N: the exact posterior N(μ_N, σ_N²), NUTS draws where NUTS was run, the batch MLE."""
    traj, draws = data["traj"], data["draws"]
    unit = unit_of(s.label)
    sizes = [n for n in (0, 1, 2, 10, 100) if n < s.values.size] + [s.values.size]
    fig = Figure(figsize=(13, 7))
    axes = fig.subplots(2, 3).ravel()
    mu_ml = mle_mean(s.values)
    for ax, n in zip(axes, sizes):
        post = stats.norm(traj.mu_N[n], traj.sigma_N[n])
        lo, hi = post.ppf(1e-4), post.ppf(1 - 1e-4)
        grid = np.linspace(lo, hi, 400)
        ax.plot(grid, post.pdf(grid), color=METHOD_COLORS["exact"], lw=2, label="exact N(μ_N, σ_N²)")
        if n in draws:
            ax.hist(draws[n], bins=np.linspace(lo, hi, 50), density=True, histtype="step", color=METHOD_COLORS["nuts"],
                    lw=1.2, label="NUTS draws")
        if lo <= mu_ml <= hi:
            ax.axvline(mu_ml, color="0.3", ls=":", lw=1.2, label="batch μ_ML")
        ax.set(title=f"after N = {n} point{'s' if n != 1 else ''}", xlabel=f"μ ({unit})",
               ylabel=f"posterior density (1/{unit})")
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes[len(sizes):]:
        ax.set_axis_off()
    fig.suptitle(f"{s.name}: posterior of μ one point at a time (σ fixed at σ_ML = {prior.sigma:.3g} {unit}, "
                 f"prior N({prior.mu0:g}, {prior.sigma0:g}²))", fontsize=12)
    fig.tight_layout()
    return fig


def figure_convergence(s, traj, online: dict) -> Figure:
    x, unit = s.values, unit_of(s.label)
    n = np.arange(1, x.size + 1)
    fig = Figure(figsize=(9, 5))
    ax = fig.add_subplot()
    ax.fill_between(n, traj.mu_N[1:] - 2 * traj.sigma_N[1:], traj.mu_N[1:] + 2 * traj.sigma_N[1:],
                    color=METHOD_COLORS["data"], alpha=0.8, label="posterior μ_N ± 2σ_N")
    ax.plot(n, traj.mu_N[1:], color=METHOD_COLORS["exact"], lw=1.2, label="posterior mean μ_N")
    ax.plot(n, online["online"], color=METHOD_COLORS["nuts"], lw=1.5,
            label="running mean (2.126) = Robbins–Monro a_N = σ²/N")
    ax.plot(n, online["rm_slow"], color=METHOD_COLORS["map"], lw=1.2, label=f"Robbins–Monro a_N = σ²/N^{RM_GAMMA}")
    ax.axhline(online["mu_ml"], color="0.3", ls=":", lw=1.2, label=f"batch μ_ML = {online['mu_ml']:.3f} {unit}")
    ax.set_xscale("log")
    span = 3 * np.sqrt(mle_var(x))
    ax.set_ylim(online["mu_ml"] - span, online["mu_ml"] + span)
    ax.set(title=f"{s.name}: online estimates of the mean converging to the batch MLE",
           xlabel="observations seen N", ylabel=f"estimate of μ ({unit})")
    ax.legend(fontsize=8, loc="upper right")
    return fig


# --------------------------------------------------------------------------- run


def run(ctx) -> None:
    s, _ = load_gaussian_data(ctx)
    x_prml = ctx.rng(1).normal(PRML_TRUE_MU, np.sqrt(PRML_VAR), size=max(PRML_SIZES))
    prior = NormalMeanKnownVariance.weak_from_data(s.values)
    sizes = sorted({1, min(10, s.values.size), s.values.size})
    ctx.log(f"PRML fig. 2.12: NUTS after N = {list(PRML_SIZES)} points")
    prml = posterior_runs(ctx, PRML_PRIOR, x_prml, PRML_SIZES, "PRML 2.12", "simulated N(0.8, 0.1)", "prml_fig_2_12",
                          ctx.seed)
    ctx.log(f"{s.name}: NUTS after N = {sizes} points (prior N({prior.mu0:g}, {prior.sigma0:g}²), "
            f"σ = {prior.sigma:.3f})")
    data = posterior_runs(ctx, prior, s.values, sizes, s.name, s.name, "data", ctx.seed + 100)
    online = check_online(ctx, s, prior, data["traj"])
    ctx.save_figure(figure_prml(prml, x_prml), "prml_fig_2_12.png")
    ctx.save_figure(figure_data_posteriors(s, prior, data), "data_posteriors.png")
    ctx.save_figure(figure_convergence(s, data["traj"], online), "online_convergence.png")
    ctx.extra.update({
        "prml_fig_2_12": {"true_mu": PRML_TRUE_MU, "sigma2": PRML_VAR, "prior": [PRML_PRIOR.mu0, PRML_PRIOR.sigma0**2],
                          "x": x_prml, "mu_N": prml["traj"].mu_N, "sigma_N": prml["traj"].sigma_N},
        "data": {"dataset": s.name, "N": int(s.values.size), "prior": [prior.mu0, prior.sigma0, prior.sigma],
                 "nuts_sizes": sizes, "final_mu_N": float(data["traj"].mu_N[-1]), "mle": online["mu_ml"],
                 "robbins_monro_slow_final": float(online["rm_slow"][-1])},
    })


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
