"""Old Faithful, K = 2, sampled with its labels z: PyMC's compound step against z summed out.

The generative model keeps z_n ~ Categorical(w) as a variable
(:func:`models.gmm_builders.gmm_latent_z_model`); the marginal model sums it out
(:func:`models.gmm_builders.gmm_marginal_model`, the model every other analysis fits). Same
priors, same standardization, same data. :mod:`models.gmm_latent_z` explains the steps.

1. **The step PyMC assigns.** ``pm.sample`` gives NUTS to (w, μ, Σ)'s free variables and a
   Gibbs step to z; for a Categorical with K = 2 that is ``BinaryGibbsMetropolis`` (its
   competence is IDEAL there, ``CategoricalGibbsMetropolis``'s only COMPATIBLE). Checked against
   PyMC's own ``assign_step_methods`` and recorded.
2. **The same start.** Both models start each chain at the same point: the EM fit, z at its
   most probable labels (:func:`models.gmm_latent_z.same_starts`).
3. **The same posterior.** Both runs pass the gate (R-hat, bulk and tail ESS, divergences);
   the posterior mean and sd of every scalar of (w, μ, Σ) (data units) agree within Monte Carlo
   error: |Δ| / sqrt(MCSE₁² + MCSE₂²) (ArviZ ``mcse``, method ``mean`` / ``sd``) below the
   Bonferroni threshold for all 2m comparisons at family-wise α = 0.01.
4. **The labels.** z's posterior frequency per point equals p(z_n = k | x) recovered from the
   marginal posterior — by ``pymc_extras.recover_marginals`` and by the project's vectorized
   :func:`models.gmm_fitting.responsibility_draws` — for every point, within the Bonferroni
   threshold for N comparisons (per-point MCSEs); the two recoveries agree draw by draw to 1e-9.
5. **The price of not marginalizing.** Bulk ESS per second and per gradient evaluation (NUTS's
   leapfrog steps) of (w, μ, Σ) in both runs, the autocorrelation of w₁, and the Gibbs step's
   log-density evaluations (one per proposed label flip, each of the whole model).

Figures: ``rao_blackwell.png`` (trace and autocorrelation of w₁, explicit z beside marginal),
``labels.png`` (z's frequency against the recovered responsibility, per point).
``--data FILE``: the first two chosen columns (ties checked, ``--dequantize`` taken).
``--quick``: every fourth row and 300 tuning steps — a Gibbs sweep costs O(N²) (each of the N
label updates evaluates the whole log-density).
"""

from __future__ import annotations

import time

import numpy as np
from matplotlib.figure import Figure

from analyses.common import CATEGORY_COLORS, DataNeeds, explains_ties, gate, load_faithful, round_off
from models.em import fit_em
from models.gmm_builders import gmm_latent_z_model, gmm_marginal_model
from models.gmm_fitting import responsibility_draws
from models.gmm_latent_z import (
    FAMILY_ALPHA,
    compare_frequencies,
    compare_moments,
    efficiency,
    label_frequencies,
    parameter_draws,
    same_starts,
    sample_latent_z,
    sample_marginal,
    step_assignment,
)

TITLE = ("Latent z sampled (PyMC's compound step: Gibbs for z, NUTS for the rest) vs z marginalized: the same "
         "posterior, z's frequencies = recovered responsibilities, the price in ESS per second")
#: The first two chosen columns of --data; ties checked, --dequantize taken.
DATA = DataNeeds(columns=2, dequantize=True)

K = 2
CHAINS = 2
#: Draws kept of the recovered responsibilities by pymc_extras (compiled per draw; the vectorized
#: version uses every draw).
RECOVER_DRAWS = 200
VAR_NAMES = ["w", "mu", "prec_c", "prec_z"]


def settings(ctx) -> dict:
    """Draws per chain, tuning steps and the row stride (--quick: every fourth row). 1000 draws per
    chain in both modes: with 500 the sampling noise of R-hat alone crossed 1.01 (1.011, marginal
    run, Old Faithful every other row), as :func:`analyses.common.nuts_settings` found."""
    if ctx.quick:
        return {"draws": 1000, "tune": 300, "stride": 4}
    return {"draws": 1000, "tune": 1000, "stride": 1}


def recovered_responsibility_draws(idata, x, columns, n_draws: int) -> tuple[np.ndarray, np.ndarray]:
    """p(z_n = k | x_n, θ) by ``pymc_extras.recover_marginals`` on the marginalized generative model
    at ``n_draws`` evenly thinned draws of the marginal posterior; returns (chain, draw', N, K) and the
    kept draw indices."""
    from pymc_extras import marginalize, recover_marginals
    from scipy.special import logsumexp

    from models.gmm_builders import gmm_generative_model

    keep = np.unique(np.linspace(0, idata.posterior.sizes["draw"] - 1, n_draws).round().astype(int))
    thin = idata.sel(draw=keep)
    marginalized = marginalize(gmm_generative_model(x, K, columns=columns), ["z"])
    recovered = recover_marginals(thin, model=marginalized, var_names=["z"], return_samples=False,
                                  extend_inferencedata=False)
    lp = np.asarray(recovered["lp_z"].values)                                   # (chain, draw', N, K)
    return np.exp(lp - logsumexp(lp, axis=-1, keepdims=True)), keep


# --------------------------------------------------------------------------- figures


def figure_rao_blackwell(draws_z, draws_m, eff_z, eff_m, weight: str) -> Figure:
    fig = Figure(figsize=(13, 7.5))
    axes = fig.subplots(2, 2, sharey="row")
    for col, (label, draws, eff) in enumerate((("explicit z (NUTS + BinaryGibbsMetropolis)", draws_z, eff_z),
                                               ("z marginalized (NUTS)", draws_m, eff_m))):
        series = draws.sel(scalar=weight).values
        ax = axes[0, col]
        for c, chain in enumerate(series):
            ax.plot(chain, lw=0.6, color=CATEGORY_COLORS[c], alpha=0.8, label=f"chain {c}")
        ax.set(title=f"{label}\nbulk ESS of {weight}: {eff['ess_weight']:.0f} of {series.size} draws, "
                     f"{eff['ess_weight'] / eff['seconds']:.1f} per second of sampling",
               xlabel="draw (after tuning)", ylabel=f"{weight} (weight of the long-eruption component)")
        ax.legend(fontsize=8, loc="upper right")
        acf = eff["autocorrelation"]
        ax = axes[1, col]
        ax.bar(np.arange(acf.size), acf, width=0.8, color=CATEGORY_COLORS[col])
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set(title=f"autocorrelation of {weight} (mean over chains); integrated time {eff['integrated_time']:.1f}",
               xlabel="lag (draws)", ylabel="autocorrelation")
    fig.suptitle(f"Rao–Blackwell: the weight {weight} sampled with z (left) and with z summed out (right) — "
                 "per draw and per second")
    fig.tight_layout()
    return fig


def figure_labels(t, x, freq, names) -> Figure:
    fig = Figure(figsize=(13, 5.5))
    axes = fig.subplots(1, 2)
    ax = axes[0]
    f, r, se = freq["frequency"][:, 0], freq["responsibility"][:, 0], np.hypot(freq["se_frequency"][:, 0],
                                                                               freq["se_responsibility"][:, 0])
    unsure = (r > 0.01) & (r < 0.99)
    ax.plot([0, 1], [0, 1], color="k", lw=0.7, label="equal")
    ax.errorbar(r[unsure], f[unsure], yerr=freq["threshold"] * se[unsure], fmt="o", ms=4, color=CATEGORY_COLORS[1],
                lw=0.8, label=f"{unsure.sum()} points with 0.01 < p < 0.99 (bars: ±{freq['threshold']:.2f} MCSE)")
    ax.plot(r[~unsure], f[~unsure], ".", color=CATEGORY_COLORS[0], ms=4, label=f"{(~unsure).sum()} other points")
    ax.set(title="per point: z's posterior frequency vs the recovered responsibility",
           xlabel=f"p(z_n = 1 | x) recovered from the marginal posterior ({names})",
           ylabel="frequency of z_n = 1 in the explicit-z run", xlim=(-0.03, 1.03), ylim=(-0.03, 1.03))
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[1]
    sc = ax.scatter(x[:, 0], x[:, 1], c=f, cmap="coolwarm", vmin=0, vmax=1, s=14, edgecolor="k", linewidth=0.2)
    ax.scatter(x[unsure, 0], x[unsure, 1], s=80, facecolor="none", edgecolor="k", lw=0.8,
               label="0.01 < p(z_n = 1 | x) < 0.99")
    ax.set(title="the data, coloured by z's posterior frequency", xlabel=t.labels[0], ylabel=t.labels[1])
    ax.legend(fontsize=8, loc="upper left")
    fig.colorbar(sc, ax=ax, label="frequency of z_n = 1 (long eruptions)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- run


@explains_ties
def run(ctx) -> None:
    import arviz as az

    t = load_faithful(ctx)
    s = settings(ctx)
    x = t.values[:: s["stride"]]
    n = x.shape[0]
    ctx.log(f"data: {t.name} ({n} rows{'; every fourth row (--quick)' if s['stride'] > 1 else ''}; "
            f"{t.labels[0]}, {t.labels[1]}); {CHAINS} chains x ({s['tune']} tuning + {s['draws']} draws) per model")

    marginal = gmm_marginal_model(x, K, columns=t.columns)
    explicit = gmm_latent_z_model(x, K, columns=t.columns)
    spec = marginal.gmm_spec

    # 1. The step PyMC assigns.
    steps = step_assignment(explicit)
    expected = {name: "NUTS" for name in spec.value_shapes()} | {
        "z": "BinaryGibbsMetropolis" if K == 2 else "CategoricalGibbsMetropolis"}
    wrong = sorted(name for name in expected if steps.get(name) != expected[name])
    ctx.log("pm.sample assigns: " + "; ".join(f"{name} -> {cls}" for name, cls in steps.items()))
    ctx.check_bound("variables not given the expected step (z: BinaryGibbsMetropolis, the rest: NUTS)", len(wrong), 0,
                    kind="<=", method="pymc.sampling.mcmc.assign_step_methods (what pm.sample calls)",
                    dataset=t.name, basis="exact: a count",
                    note="K = 2: BinaryGibbsMetropolis's competence for a 2-category Categorical is IDEAL, "
                         "CategoricalGibbsMetropolis's COMPATIBLE")

    # 2. The same starts, then both runs.
    em = fit_em(x, K, seed=ctx.seed, tol=1e-12, max_iter=50_000, reg_covar=0.0)
    starts = same_starts(marginal, em, chains=CHAINS, seed=ctx.seed)
    kw = {"draws": s["draws"], "tune": s["tune"], "seed": ctx.seed, "progressbar": ctx.progressbar}
    t0 = time.perf_counter()
    idata_m = sample_marginal(marginal, starts, **kw)
    wall_m = time.perf_counter() - t0
    t0 = time.perf_counter()
    idata_z = sample_latent_z(explicit, starts, **kw)
    wall_z = time.perf_counter() - t0
    ok_m = gate(ctx, "z marginalized (NUTS)", idata_m, var_names=VAR_NAMES, dataset=t.name)
    ok_z = gate(ctx, "explicit z (compound step)", idata_z, var_names=VAR_NAMES, dataset=t.name)

    # 3. The same posterior of (w, μ, Σ).
    draws_z, draws_m = parameter_draws(idata_z, explicit.gmm_spec), parameter_draws(idata_m, spec)
    moments = compare_moments(draws_z, draws_m)
    m2 = 2 * len(moments["scalar"])
    basis = f"Bonferroni z = {moments['threshold']:.2f}: family-wise α = {FAMILY_ALPHA:g} over {m2} comparisons"
    for what, z in (("mean", moments["z_mean"]), ("sd", moments["z_sd"])):
        worst = int(np.nanargmax(z)) if np.any(np.isfinite(z)) else 0
        ctx.check_bound(f"max over (w, μ, Σ) of |Δ posterior {what}| / combined MCSE, explicit z vs marginal",
                        float(np.max(z)), moments["threshold"], kind="<=",
                        method=f"compound step vs NUTS on the marginal model (ArviZ mcse, method '{what}')",
                        dataset=t.name, basis=basis, note=f"largest at {moments['scalar'][worst]}")

    # 4. The labels: z's frequencies against the recovered responsibilities.
    labels = label_frequencies(idata_z, K)
    ours = responsibility_draws(idata_m, x, spec)                                     # (chain, draw, N, K)
    t0 = time.perf_counter()
    theirs, keep = recovered_responsibility_draws(idata_m, x, t.columns, RECOVER_DRAWS)
    ctx.log(f"pymc_extras.recover_marginals: {keep.size} draws per chain in {time.perf_counter() - t0:.1f} s")
    ctx.check("recover_marginals == vectorized responsibilities, draw by draw", theirs, ours[:, keep],
              method="pymc_extras.recover_marginals (marginalized gmm_generative_model)",
              reference="models.gmm_fitting.responsibility_draws (numpy)", atol=1e-9, dataset=t.name,
              basis=round_off(1e-9), note=f"{keep.size} draws per chain x {n} points")
    freq = {}
    for name, resp in (("vectorized", ours), ("recover_marginals", theirs)):
        freq[name] = compare_frequencies(labels, resp)
        f = freq[name]
        ctx.check_bound(f"max over points of |z frequency - p(z_n = 1 | x)| / combined MCSE ({name})", f["z_max"],
                        f["threshold"], kind="<=",
                        method=f"explicit-z run's label frequencies vs the marginal posterior ({name})",
                        dataset=t.name, basis=f"Bonferroni z = {f['threshold']:.2f}: family-wise α = {FAMILY_ALPHA:g} "
                                              f"over {n} points",
                        note=f"worst: point {f['worst_point']}, frequency {f['frequency'][f['worst_point'], 0]:.4f} vs "
                             f"{f['responsibility'][f['worst_point'], 0]:.4f}")

    # 5. The price of not marginalizing.
    weight = "w[1]"
    eff_z = efficiency(idata_z, draws_z, weight=weight, n_obs=n)
    eff_m = efficiency(idata_m, draws_m, weight=weight)
    ratios = {"ess_per_second": eff_m["ess_per_second"] / eff_z["ess_per_second"],
              "ess_per_gradient": eff_m["ess_per_gradient"] / eff_z["ess_per_gradient"],
              "weight_ess": eff_m["ess_weight"] / eff_z["ess_weight"],
              "seconds": eff_z["seconds"] / eff_m["seconds"]}
    for label, e in (("explicit z", eff_z), ("marginal", eff_m)):
        ctx.log(f"{label}: min bulk ESS {e['ess_bulk_min']:.0f} in {e['seconds']:.1f} s sampling "
                f"({e['ess_per_second']:.1f}/s), {e['gradients_per_draw']:.1f} gradients per draw "
                f"({1000 * e['ess_per_gradient']:.2f} ESS per 1000 gradients); {weight}: ESS {e['ess_weight']:.0f}, "
                f"lag-1 autocorrelation {e['autocorrelation'][1]:.3f}")
    ctx.log(f"wall time per run (compilation included): explicit z {wall_z:.1f} s, marginal {wall_m:.1f} s")
    ctx.log(f"marginal / explicit z: ESS per second x{ratios['ess_per_second']:.1f}, ESS per gradient "
            f"x{ratios['ess_per_gradient']:.2f}, ESS of {weight} x{ratios['weight_ess']:.2f}; the Gibbs step evaluated "
            f"the whole log-density ~{eff_z['gibbs_logp_per_iteration']:.0f} times per iteration")
    ctx.check_bound("ESS per second of (w, μ, Σ): marginal / explicit z", ratios["ess_per_second"], 1.0, kind=">=",
                    method="min bulk ESS over (w, μ, Σ) / sampling wall time (tuning included), both runs",
                    dataset=t.name, basis="the claim under test: summing z out pays",
                    note=f"explicit z {eff_z['ess_per_second']:.2f}/s, marginal {eff_m['ess_per_second']:.2f}/s "
                         "(wall time on a shared machine)")

    # Figures and outputs.
    ctx.save_figure(figure_rao_blackwell(draws_z, draws_m, eff_z, eff_m, weight), "rao_blackwell.png")
    ctx.save_figure(figure_labels(t, x, freq["vectorized"], "vectorized, every draw"), "labels.png")
    ctx.save_netcdf(idata_z, "latent_z_posterior.nc")
    unsure = (freq["vectorized"]["responsibility"][:, 0] > 0.01) & (freq["vectorized"]["responsibility"][:, 0] < 0.99)
    ctx.extra.update({
        "data": {"name": t.name, "n_obs": n, "row_stride": s["stride"]},
        "sampling": {"chains": CHAINS, "draws": s["draws"], "tune": s["tune"], "seed": ctx.seed,
                     "start": "every chain of both models exactly at the EM fit (k-means++, tol 1e-12); z at "
                              "its most probable labels",
                     "gates_passed": {"marginal": ok_m, "explicit_z": ok_z}},
        "steps": steps,
        "moments": {"scalar": moments["scalar"], "explicit_z": moments["a"], "marginal": moments["b"],
                    "z_mean": moments["z_mean"], "z_sd": moments["z_sd"], "threshold": moments["threshold"]},
        "labels": {name: {k: f[k] for k in ("z_max", "worst_point", "threshold")} for name, f in freq.items()}
        | {"uncertain_points": int(unsure.sum()), "recover_marginals_draws_per_chain": int(keep.size)},
        "efficiency": {"explicit_z": eff_z, "marginal": eff_m, "marginal_over_explicit_z": ratios,
                       "wall_seconds": {"explicit_z": wall_z, "marginal": wall_m}},
        "summary": {"explicit_z": az.summary(idata_z, var_names=["w", "mu"], kind="stats").reset_index()
                    .to_dict(orient="list"),
                    "marginal": az.summary(idata_m, var_names=["w", "mu"], kind="stats").reset_index()
                    .to_dict(orient="list")},
    })


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
