"""Choosing K on Old Faithful: BIC and AIC from EM, PSIS-LOO from NUTS, and whether they agree.

For K = 1..4 (1..3 with ``--quick``):

* **EM** (k-means++, 5 starts) for every covariance type → BIC = -2 ln L + p ln N and
  AIC = -2 ln L + 2p (lower is better; p counted as scikit-learn does).
* **NUTS** on the PyMC marginal model of the selected covariance type (weak priors) → PSIS-LOO
  (``arviz.loo``; every Pareto k must be <= 0.7) and ``arviz.compare`` (higher elpd is better).
  The PyMC model's log-likelihood at each EM fit equals EM's (1e-9), tying the two routes.

The analysis says which K each criterion prefers and whether they disagree; a LOO difference
within two standard errors of the best model is reported as "not distinguishable".

Why the label-invariant gate: with K larger than the data support, the extra components are
(almost) empty, and an empty component's labels are not identified even with ordered means — it
can sit between any two occupied components, and the ordering constraint then creates separate
modes that NUTS cannot cross (measured: R-hat 1.8 at K = 4, tree depth 9 and divergences at
K = 3). LOO needs only label-invariant quantities, so these runs use the *unordered* model
(``ordered=False``, 30 leapfrog steps per draw, no divergences) and gate exactly what LOO uses:
the per-point log-likelihood draws ln p(x_n | θ) — the largest R-hat and the smallest bulk and
tail ESS over the N points — with the total log-likelihood and the divergences. At K = 1 the
labels are identified, so every parameter is gated too (except ``w``, the constant 1).
The largest of N = 272 R-hats is noisier than one: with 2 x 500 draws it crossed 1.01 at every K
(1.013, 1.020, 1.011 at seed 1) while each parameter stayed below 1.008 and the ESS near the
draws; hence 2 x 1500 draws in --quick (2 x 2000 in the full run). For reference, 272
independent chains of i.i.d. draws give a largest R-hat of 1.009 (median; 1.013 worst of 20) at
500 draws per chain, 1.004 (1.009) at 1000, 1.003 (1.004) at 1500.

Option: ``--covariance-type`` (``full``, the default; ``tied``, ``diag`` or ``spherical``) sets
the covariance type of the NUTS fits — ``python -m analyses choosing_k --covariance-type diag``
or ``python analyses/choosing_k.py --covariance-type diag``; EM's BIC and AIC always cover all
four. ``--data FILE`` uses the file's first two columns.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from matplotlib.figure import Figure

from analyses.common import (
    CATEGORY_COLORS,
    DataNeeds,
    explains_ties,
    check_pareto_k,
    load_faithful,
    round_off,
)
from models import gmm, gmm_metrics
from models.em import EMWarning, fit_em
from models.fitting import diagnose
from models.gmm_arviz import posterior_in_data_units
from models.gmm_builders import gmm_marginal_model
from models.gmm_fitting import log_likelihood_function, sample_gmm_posterior
from models.gmm_spec import parameters_to_point

TITLE = "Choosing K on Old Faithful: BIC/AIC from EM vs PSIS-LOO from NUTS (az.compare), and whether they agree"
#: The first two chosen columns of --data; ties checked, --dequantize taken.
DATA = DataNeeds(columns=2, dequantize=True)


def add_arguments(parser) -> None:
    """This analysis' options (the runner adds them to its command line and passes the values
    as ``ctx.options``)."""
    parser.add_argument("--covariance-type", choices=gmm.COVARIANCE_TYPES, default="full",
                        help="covariance type of choosing_k's NUTS fits (EM's BIC/AIC cover all four; "
                             "default %(default)s)")


def em_table(ctx, x, ks) -> dict:
    """EM fits, BIC and AIC for every covariance type and K: {type: {K: dict}}."""
    table = {}
    for ct in gmm.COVARIANCE_TYPES:
        table[ct] = {}
        for k in ks:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", EMWarning)
                em = fit_em(x, k, covariance_type=ct, seed=ctx.seed, n_init=5, tol=1e-8, max_iter=5_000)
            for w in caught:
                ctx.log(f"EM {ct} K={k}: {w.message}")
            table[ct][k] = {"em": em, "bic": gmm_metrics.bic(x, em.weights, em.means, em.covariances, ct),
                            "aic": gmm_metrics.aic(x, em.weights, em.means, em.covariances, ct),
                            "n_parameters": gmm_metrics.n_parameters(k, x.shape[1], ct)}
    return table


def figure_information_criteria(table, ks, selected, name) -> Figure:
    fig = Figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2)
    for ax, key in zip(axes, ("bic", "aic")):
        for i, ct in enumerate(gmm.COVARIANCE_TYPES):
            vals = [table[ct][k][key] for k in ks]
            ax.plot(ks, vals, "o-", color=CATEGORY_COLORS[i], lw=2.5 if ct == selected else 1.2,
                    label=f"{ct}{' (NUTS below)' if ct == selected else ''}")
        ax.set(title=f"{key.upper()} of the EM fit, {name} (lower is better)", xlabel="number of components K",
               ylabel=f"{key.upper()} (nats x 2)", xticks=list(ks))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def figure_loo(compare, loos, ks, selected, name) -> Figure:
    import arviz as az

    fig = Figure(figsize=(12, 4.5))
    ax = fig.add_subplot(1, 2, 1)
    elpd = np.array([loos[k].elpd_loo for k in ks])
    se = np.array([loos[k].se for k in ks])
    ax.errorbar(ks, elpd, yerr=se, fmt="o-", color=CATEGORY_COLORS[0], capsize=4, label="elpd_loo ± se")
    ax.set(title=f"PSIS-LOO, {selected} covariances, {name} (higher is better)",
           xlabel="number of components K", ylabel="elpd_loo (nats)", xticks=list(ks))
    ax.legend(fontsize=8)
    ax2 = fig.add_subplot(1, 2, 2)
    az.plot_compare(compare, ax=ax2, insample_dev=False, textsize=9)
    ax2.set_title("arviz.compare: difference to the best K (± dse)")
    ax2.set_xlabel("elpd_loo (nats)")
    fig.tight_layout()
    return fig


#: The per-point log-likelihood draws, as gated (the name they get in the gated posterior).
POINTWISE = "log_likelihood_pointwise"


def gate_for_loo(ctx, label: str, idata, k: int, *, dataset: str):
    """Gate what LOO uses: the per-point log-likelihood draws (max R-hat, min bulk/tail ESS over
    the N points), the total log-likelihood and divergences; for K = 1, whose labels are
    identified, every parameter too (less ``w``, which is the constant 1). Returns the
    :class:`models.fitting.Diagnostics`."""
    import arviz as az

    posterior = idata.posterior.assign({POINTWISE: idata.log_likelihood["x"]})
    gated = az.InferenceData(posterior=posterior, sample_stats=idata.sample_stats)
    if k == 1:
        diagnostics = diagnose(gated, exclude=["w"])
    else:
        diagnostics = diagnose(gated, var_names=[POINTWISE, "log_likelihood_total"])
    ctx.record_diagnostics(label, diagnostics, dataset=dataset)
    return diagnostics


def criteria_agree(best: dict) -> bool:
    """Do BIC, AIC and LOO prefer the same K? (``best``: {criterion: preferred K})"""
    return len(set(best.values())) == 1


def verdict_text(best: dict, tied: list[int]) -> str:
    """One sentence: which K each criterion prefers and whether they agree; ``tied`` lists the K
    within two standard errors of LOO's best."""
    if criteria_agree(best):
        verdict = f"BIC, AIC and LOO agree: K = {best['BIC']}."
    else:
        verdict = (f"The criteria disagree: BIC prefers K = {best['BIC']}, AIC K = {best['AIC']}, "
                   f"LOO K = {best['LOO']}.")
    others = sorted(set(tied) - {best["LOO"]})
    if others:
        verdict += (f" By LOO, K = {', '.join(map(str, others))} {'is' if len(others) == 1 else 'are'} within two "
                    f"standard errors of K = {best['LOO']}: not distinguishable (the extra components are "
                    "nearly empty).")
    return verdict


@explains_ties
def run(ctx) -> None:
    import arviz as az

    t = load_faithful(ctx)
    x = t.values
    ct = ctx.options["covariance_type"]
    ks = (1, 2, 3) if ctx.quick else (1, 2, 3, 4)
    draws, tune = (1500, 500) if ctx.quick else (2000, 1000)
    ctx.log(f"data: {t.name} ({x.shape[0]} rows); K = {list(ks)}; NUTS with {ct} covariances, "
            f"2 chains x {draws} draws after {tune} tuning steps")

    table = em_table(ctx, x, ks)
    loos, idatas, rhat_pointwise, seconds = {}, {}, {}, {}
    for k in ks:
        start = time.perf_counter()
        em = table[ct][k]["em"]
        model = gmm_marginal_model(x, k, covariance_type=ct, columns=t.columns, ordered=False)
        point = parameters_to_point(model.gmm_spec, em.weights, em.means, em.covariances)
        ctx.check(f"K={k}: PyMC log-likelihood at the EM fit", np.sum(log_likelihood_function(model)(point)),
                  em.log_likelihood, method="gmm_marginal_model (PyTensor)", reference="models.em.fit_em",
                  rtol=1e-9, dataset=t.name, basis=round_off(1e-9))
        idata = sample_gmm_posterior(model, draws=draws, tune=tune, chains=2, seed=ctx.seed + k, start=em,
                                     progressbar=ctx.progressbar)
        ll = idata.log_likelihood["x"]
        idata.posterior["log_likelihood_total"] = ll.sum("obs")
        diagnostics = gate_for_loo(ctx, f"K={k} ({ct})", idata, k, dataset=t.name)
        rhat_pointwise[k] = diagnostics.table[POINTWISE]["rhat"]
        loo = az.loo(idata, pointwise=True)
        check_pareto_k(ctx, f"K={k} ({ct})", loo, dataset=t.name)
        ctx.log(f"K={k}: elpd_loo {loo.elpd_loo:.1f} ± {loo.se:.1f}, p_loo {loo.p_loo:.1f}; "
                f"BIC {table[ct][k]['bic']:.1f}; max R-hat of per-point log-lik {rhat_pointwise[k]:.4f}")
        loos[k], idatas[f"K={k}"] = loo, idata
        posterior_in_data_units(idata, model)
        ctx.save_netcdf(idata, f"posterior_K{k}_{ct}.nc")
        seconds[k] = {"wall": round(time.perf_counter() - start, 2),
                      "sampling": round(float(idata.posterior.attrs.get("sampling_time", np.nan)), 2),
                      "leapfrog_per_draw": round(float(idata.sample_stats["n_steps"].mean()), 1)}
        ctx.log(f"K={k}: {seconds[k]['wall']:.1f} s (NUTS sampling {seconds[k]['sampling']:.1f} s, "
                f"{seconds[k]['leapfrog_per_draw']:.1f} leapfrog steps per draw)")

    compare = az.compare(idatas, ic="loo")
    best = {"LOO": int(compare.index[0].split("=")[1]),
            "BIC": int(min(ks, key=lambda k: table[ct][k]["bic"])),
            "AIC": int(min(ks, key=lambda k: table[ct][k]["aic"]))}
    # Models whose elpd is within 2 dse of the best one are not distinguishable by LOO.
    tied = [int(name.split("=")[1]) for name, row in compare.iterrows() if row["elpd_diff"] <= 2 * row["dse"]]
    verdict = verdict_text(best, tied)
    ctx.log(verdict)

    ctx.save_figure(figure_information_criteria(table, ks, ct, t.name), "bic_aic.png")
    ctx.save_figure(figure_loo(compare, loos, ks, ct, t.name), "loo_compare.png")
    ctx.extra.update({
        "covariance_type": ct, "ks": list(ks), "draws": draws, "tune": tune, "preferred": best, "loo_indistinguishable": tied,
        "criteria_agree": criteria_agree(best), "verdict": verdict,
        "bic": {c: {k: table[c][k]["bic"] for k in ks} for c in gmm.COVARIANCE_TYPES},
        "aic": {c: {k: table[c][k]["aic"] for k in ks} for c in gmm.COVARIANCE_TYPES},
        "em_log_likelihood": {k: table[ct][k]["em"].log_likelihood for k in ks},
        "elpd_loo": {k: loos[k].elpd_loo for k in ks}, "elpd_loo_se": {k: loos[k].se for k in ks},
        "p_loo": {k: loos[k].p_loo for k in ks}, "max_pareto_k": {k: float(loos[k].pareto_k.max()) for k in ks},
        "max_rhat_pointwise_log_likelihood": rhat_pointwise, "seconds": seconds,
        "compare": compare.reset_index().astype({"index": str}).to_dict(orient="list"),
    })


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
