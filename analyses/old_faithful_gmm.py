"""Old Faithful, K = 2: the book's EM, EM from k-means++, MAP == MLE, the NUTS posterior.

1. EM from the book's initialisation (w = (½, ½), μ = (0, 50), (0, 100), identity covariances,
   tolerance 1e-4 on the mean log-likelihood) prints the book's sequence
   -16.538, -4.415, -4.357, -4.302, -4.245, -4.200, -4.164, -4.156, -4.155; the first value is
   the book's floored ``log(p + 1e-8)``, the others are exact (checked to 5e-4, the printed
   precision).
2. EM from k-means++ (run to a 1e-12 tolerance, no ridge) and the same EM from the book's start
   reach the same maximum.
3. MAP of the PyMC marginal model with flat priors (:func:`models.gmm_fitting.fit_gmm_map`,
   BFGS, compiled once) equals that EM maximum: log-likelihood to 1e-6 relative, parameters to
   1e-4 in standardized units; the PyMC per-point log-likelihood at the MAP equals numpy's.
4. NUTS on the weakly-informative model (standardized data, ordered means), 2 chains: gated on
   R-hat/ESS/divergences; no label switching between chains; posterior means within 3 posterior
   sd of the MLE; PSIS-LOO Pareto k; posterior-predictive p-values of each feature's mean and sd.
   The model NUTS samples is the seed's generative model with z summed out: ``pymc_extras.marginalize``
   of :func:`models.gmm_builders.gmm_generative_model` has the same total log-density (priors
   included) at the MAP and at 4 posterior draws, and the same per-point log-likelihood, to 1e-9.
5. Responsibilities p(z_n = k | x) averaged over the posterior vs EM's at the MLE: within 3
   posterior sd of γ_nk for every point.

Figures: the EM trace, ArviZ trace / pair / forest plots (data units), posterior-predictive
histograms, the fitted density over the scatter, and points coloured by responsibility.
``--data FILE`` uses the file's first two columns (the book's ``old_faithful.txt`` reproduces
everything, including the book's trace).
"""

from __future__ import annotations

import time

import numpy as np
from matplotlib.figure import Figure

from analyses.common import (
    CATEGORY_COLORS,
    DataNeeds,
    explains_ties,
    check_pareto_k,
    density_contour,
    fig_from_axes,
    gate,
    grid_for,
    load_faithful,
    round_off,
    unit_of,
)
from models import gmm, gmm_metrics
from models.em import fit_em
from models.fitting import to_unconstrained
from models.gmm_arviz import posterior_in_data_units
from models.gmm_builders import gmm_generative_model, gmm_marginal_model
from models.gmm_fitting import (
    fit_gmm_map,
    log_likelihood_function,
    posterior_parameters,
    posterior_responsibilities,
    predictive_in_data_units,
    sample_gmm_posterior,
)
from models.gmm_spec import parameters_to_point

TITLE = "Old Faithful GMM: the book's EM trace, EM from k-means++, MAP == MLE, NUTS posterior, responsibilities"
#: The first two chosen columns of --data; ties checked, --dequantize taken.
DATA = DataNeeds(columns=2, dequantize=True)

#: The book's printed mean log-likelihoods (step 5, em.py) and its initialisation.
BOOK_TRACE = np.array([-16.538, -4.415, -4.357, -4.302, -4.245, -4.200, -4.164, -4.156, -4.155])
BOOK_INIT = (np.array([0.5, 0.5]), np.array([[0.0, 50.0], [0.0, 100.0]]), np.array([np.eye(2), np.eye(2)]))
BOOK_EPS = 1e-8

RTOL_LOGLIK = 1e-6
ATOL_PARAMS_STD = 1e-4
Z_POST = 3.0


def tight_em(x, init, seed):
    """EM to a 1e-12 tolerance on the mean log-likelihood, without the ridge: the MLE."""
    return fit_em(x, 2, init=init, seed=seed, tol=1e-12, max_iter=50_000, reg_covar=0.0)


def book_em(ctx, t) -> dict:
    """EM exactly as the book runs it; prints and checks the book's sequence."""
    x = t.values
    em = fit_em(x, 2, init=BOOK_INIT, tol=1e-4, reg_covar=0.0)
    floored = float(np.mean(np.log(np.exp(gmm.gmm_logpdf(x, *BOOK_INIT)) + BOOK_EPS)))
    printed = np.concatenate([[floored], em.trace[1:]])
    ctx.log("EM from the book's start, mean log-likelihood per iteration: "
            + ", ".join(f"{v:.3f}" for v in printed))
    if t.is_book_faithful:
        ctx.check("book's first printed value (floored log(p + 1e-8))", floored, BOOK_TRACE[0],
                  method="models.gmm.gmm_logpdf at the book's start", reference="the book's em.py output", atol=5e-4,
                  dataset=t.name, note="printed to 3 decimals", basis="printed precision")
        m = len(BOOK_TRACE)
        ctx.check("EM mean log-likelihood sequence", em.trace[1:m], BOOK_TRACE[1:],
                  method="models.em.fit_em (tol 1e-4)", reference="the book's em.py output", atol=5e-4,
                  dataset=t.name, note="printed to 3 decimals", basis="printed precision")
        ctx.check("EM iterations to the book's tolerance", em.n_iter, m, method="models.em.fit_em",
                  reference="the book's loop", atol=0, dataset=t.name, basis="exact: a count")
    else:
        ctx.log("the data are not the book's Old Faithful: the book's trace is not compared")
    return {"em": em, "printed": printed, "exact_first": float(em.trace[0])}


def same_fit(ctx, label, fit, ref, scale, dataset, method, reference):
    """Log-likelihood (relative) and parameters (standardized units) after matching components."""
    converged = "optimizer convergence (BFGS gtol 1e-9, EM tol 1e-12)"
    ctx.check(f"{label}: log-likelihood", fit.log_likelihood, ref.log_likelihood, method=method, reference=reference,
              rtol=RTOL_LOGLIK, dataset=dataset, basis=f"{RTOL_LOGLIK:g} relative: {converged}")
    perm = gmm_metrics.match_components(ref.means / scale, fit.means / scale)
    params = f"{ATOL_PARAMS_STD:g} standardized: {converged}"
    ctx.check(f"{label}: weights", fit.weights[perm], ref.weights, method=method, reference=reference,
              atol=ATOL_PARAMS_STD, dataset=dataset, basis=params, probability=True)
    ctx.check(f"{label}: means / sd", fit.means[perm] / scale, ref.means / scale, method=method, reference=reference,
              atol=ATOL_PARAMS_STD, dataset=dataset, note="standardized units", basis=params)
    ctx.check(f"{label}: covariances / (sd sdᵀ)", fit.covariances[perm] / np.outer(scale, scale),
              ref.covariances / np.outer(scale, scale), method=method, reference=reference, atol=ATOL_PARAMS_STD,
              dataset=dataset, note="standardized units", basis=params)


def check_generative_equals_marginal(ctx, x, t, fit, idata, n_draws: int = 4) -> None:
    """``pymc_extras.marginalize(gmm_generative_model(x, 2), ["z"])`` — the seed's model with the
    labels summed out — against the fast marginal model NUTS samples (``gmm_marginal_model``,
    weak priors): the total log-density (priors, likelihood and transform Jacobians) at the MAP
    and at ``n_draws`` posterior draws, and the per-point log-likelihood at the same points, to
    1e-9 relative."""
    from pymc_extras import marginalize

    # A fresh copy of the sampled model: after pm.sample_posterior_predictive (PyMC 5.28) the
    # sampled model's compile_logp fails ("Cannot convert None to a tensor variable").
    model = gmm_marginal_model(x, 2, columns=t.columns)
    generative = gmm_generative_model(x, 2, columns=t.columns)
    marginalized = marginalize(generative, ["z"])
    marginalized.gmm_spec = generative.gmm_spec
    rvs = {v.name: marginalized.values_to_rvs[v] for v in marginalized.value_vars}

    def values(point):  # constrained point -> the value variables compile_logp takes
        return {name: to_unconstrained(marginalized.rvs_to_transforms[rv], np.asarray(point[rv.name], dtype=float))
                for name, rv in rvs.items()}

    post = idata.posterior
    picks = np.linspace(0, post.sizes["chain"] * post.sizes["draw"] - 1, n_draws).round().astype(int)
    stacked = post[[rv.name for rv in rvs.values()]].stack(sample=("chain", "draw"))
    points = [parameters_to_point(model.gmm_spec, fit.weights, fit.means, fit.covariances)]
    points += [{name: stacked[name].isel(sample=i).values for name in stacked.data_vars} for i in picks]
    # One-shot functions (5 points): pytensor's Python implementations, no C compilation (~35 s
    # with an empty cache), as in models.gmm_fitting.log_likelihood_function.
    total_generative = marginalized.compile_logp(mode="FAST_COMPILE")
    total_fast = model.compile_logp(mode="FAST_COMPILE")
    ll_generative, ll_fast = log_likelihood_function(marginalized), log_likelihood_function(model)
    method = "pymc_extras.marginalize(gmm_generative_model(x, 2), ['z'])"
    reference = "gmm_marginal_model (weak priors; the model NUTS samples)"
    kw = {"method": method, "reference": reference, "rtol": 1e-9, "dataset": t.name, "basis": round_off(1e-9)}
    ctx.check("marginalized generative model: total log-density at the MAP", float(total_generative(values(points[0]))),
              float(total_fast(values(points[0]))), **kw)
    ctx.check(f"marginalized generative model: total log-density at {n_draws} posterior draws",
              [float(total_generative(values(p))) for p in points[1:]],
              [float(total_fast(values(p))) for p in points[1:]], **kw)
    ctx.check(f"marginalized generative model: per-point log-likelihood at the MAP and {n_draws} draws",
              np.array([ll_generative(p) for p in points]), np.array([ll_fast(p) for p in points]), **kw)


def units_posterior(idata, spec, t):
    """An InferenceData of the posterior in data units (one variable per feature, so that every
    ArviZ panel shares one unit), for the plots and the summary table."""
    import arviz as az

    p = posterior_parameters(idata, spec)
    sd = np.sqrt(np.diagonal(p["cov"], axis1=-2, axis2=-1))
    post = {"w": p["w"], "corr": p["cov"][..., 0, 1] / (sd[..., 0] * sd[..., 1])}
    for j, label in enumerate(t.labels):
        post[f"μ {label}"] = p["mu"][..., j]
        post[f"σ {label}"] = sd[..., j]
    return az.from_dict(posterior=post, dims={name: ["component"] for name in post},
                        coords={"component": [0, 1]})


def ppc_pvalues(x_rep, x):
    """Two-sided posterior-predictive p-values of each feature's mean and sd, dict of (D,) arrays."""
    out = {}
    for name, stat in (("mean", np.mean), ("sd", np.std)):
        rep = stat(x_rep.reshape((-1,) + x_rep.shape[-2:]), axis=1)            # (S, D)
        obs = stat(x, axis=0)
        upper = np.mean(rep >= obs, axis=0)
        out[name] = 2 * np.minimum(upper, 1 - upper)
    return out


# --------------------------------------------------------------------------- figures


def figure_trace(printed, book_ok: bool) -> Figure:
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    it = np.arange(printed.size)
    ax.plot(it[1:], printed[1:], "o-", color=CATEGORY_COLORS[0], label="models.em.fit_em (exact)")
    if book_ok:
        ax.plot(np.arange(1, BOOK_TRACE.size), BOOK_TRACE[1:], "x", color=CATEGORY_COLORS[1], ms=9,
                label="the book's printed values")
    ax.set(title="EM from the book's start: mean log-likelihood per iteration\n"
                 f"(iteration 0: the book prints the floored {printed[0]:.3f})",
           xlabel="EM iteration", ylabel="mean log-likelihood per eruption (nats)")
    ax.legend()
    return fig


def figure_density(t, fit, params) -> Figure:
    x = t.values
    fig = Figure(figsize=(7.5, 6))
    ax = fig.add_subplot()
    ax.scatter(x[:, 0], x[:, 1], s=10, color="#888888", alpha=0.7, label=f"{t.name} (N = {len(x)})")
    density_contour(ax, x, fit.weights, fit.means, fit.covariances, color=CATEGORY_COLORS[0],
                    label="MLE (flat-prior MAP)")
    gx, gy, pts = grid_for(x)
    draws = params["w"].reshape(-1, 2)
    keep = np.linspace(0, draws.shape[0] - 1, 200).round().astype(int)
    w, mu = draws[keep], params["mu"].reshape(-1, 2, 2)[keep]
    cov = params["cov"].reshape(-1, 2, 2, 2)[keep]
    dens = np.mean([np.exp(gmm.gmm_logpdf(pts, w[i], mu[i], cov[i])) for i in range(len(keep))], axis=0)
    ax.contour(gx, gy, dens.reshape(gx.shape), levels=8, colors=CATEGORY_COLORS[1], linewidths=0.9, linestyles="--")
    ax.plot([], [], color=CATEGORY_COLORS[1], ls="--", label="posterior predictive density (NUTS)")
    ax.set(title="Old Faithful: fitted two-component GMM density", xlabel=t.labels[0], ylabel=t.labels[1])
    ax.legend(loc="upper left", fontsize=9)
    return fig


def figure_responsibilities(t, resp, em_resp) -> Figure:
    x = t.values
    fig = Figure(figsize=(13, 5.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, r, title in ((axes[0], resp[:, 1], "posterior mean of p(z = 1 | x, θ) (NUTS)"),
                         (axes[1], em_resp[:, 1], "EM responsibility at the MLE")):
        sc = ax.scatter(x[:, 0], x[:, 1], c=r, cmap="coolwarm", vmin=0, vmax=1, s=14, edgecolor="k", linewidth=0.2)
        ax.set(title=title, xlabel=t.labels[0], ylabel=t.labels[1])
        ax.scatter([], [], c="#3b4cc0", s=14, label="component 0 (short eruptions)")
        ax.scatter([], [], c="#b40426", s=14, label="component 1 (long eruptions)")
        ax.legend(loc="upper left", fontsize=8)
    fig.colorbar(sc, ax=axes, label="responsibility of component 1")
    fig.suptitle("Old Faithful: points coloured by their responsibility p(z_n = 1 | x)")
    return fig


def figure_ppc(t, x_rep) -> Figure:
    x = t.values
    fig = Figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2)
    reps = x_rep.reshape((-1,) + x_rep.shape[-2:])
    pick = np.linspace(0, reps.shape[0] - 1, 40).round().astype(int)
    for j, ax in enumerate(axes):
        bins = np.histogram_bin_edges(x[:, j], bins=30)
        for i, s in enumerate(pick):
            ax.hist(reps[s, :, j], bins=bins, density=True, histtype="step", color=CATEGORY_COLORS[1], alpha=0.15,
                    label="40 posterior-predictive replicates" if i == 0 else None)
        ax.hist(x[:, j], bins=bins, density=True, histtype="step", color=CATEGORY_COLORS[0], lw=2, label="observed")
        ax.set(title=f"posterior predictive check: {t.labels[j]}", xlabel=t.labels[j],
               ylabel=f"density (1/{unit_of(t.labels[j])})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def arviz_figures(ctx, units, t) -> None:
    import arviz as az

    names = list(units.posterior.data_vars)
    axes = az.plot_trace(units, var_names=names, compact=True, figsize=(11, 11),
                         legend=True, chain_prop={"linestyle": ("-", ":")})
    fig = fig_from_axes(axes)
    fig.suptitle("NUTS trace in data units (both components per panel; chains solid / dotted)")
    fig.tight_layout()
    ctx.save_figure(fig, "nuts_trace.png")

    axes = az.plot_pair(units, var_names=["w", f"μ {t.labels[0]}", f"μ {t.labels[1]}"],
                        coords={"component": [1]}, kind="scatter", marginals=True, divergences=False,
                        figsize=(8, 8), scatter_kwargs={"alpha": 0.2})
    fig = fig_from_axes(axes)
    fig.suptitle("NUTS pair plot, component 1 (long eruptions): weight and means")
    ctx.save_figure(fig, "nuts_pair.png")

    fig = Figure(figsize=(14, 5))
    groups = [("weight and correlation (unitless)", ["w", "corr"])] + [
        (label, [f"μ {label}", f"σ {label}"]) for label in t.labels]
    for i, (title, var_names) in enumerate(groups):
        ax = fig.add_subplot(1, 3, i + 1)
        az.plot_forest(units, var_names=var_names, combined=False, ax=ax, textsize=9)
        ax.set_title(title)
    fig.suptitle("NUTS forest plot, 94% HDI per chain: both chains agree (no label switching)")
    fig.tight_layout()
    ctx.save_figure(fig, "nuts_forest.png")


# --------------------------------------------------------------------------- run


@explains_ties
def run(ctx) -> None:
    t = load_faithful(ctx)
    x = t.values
    scale = x.std(axis=0)
    ctx.log(f"data: {t.name} ({x.shape[0]} rows; {t.labels[0]}, {t.labels[1]})")

    # 1-2. EM.
    book = book_em(ctx, t)
    em_kpp = tight_em(x, "kmeans++", ctx.seed)
    if t.is_book_faithful:
        em_book = tight_em(x, BOOK_INIT, None)
        same_fit(ctx, "EM (book's start) vs EM (k-means++)", em_book, em_kpp, scale, t.name,
                 "models.em.fit_em from the book's start, tol 1e-12", "models.em.fit_em from k-means++, tol 1e-12")

    # 3. MAP with flat priors == MLE.
    flat = gmm_marginal_model(x, 2, priors="flat", columns=t.columns)
    t0 = time.perf_counter()
    fit = fit_gmm_map(flat, start="kmeans++", seed=ctx.seed, gtol=1e-9)     # independent of EM
    map_wall = time.perf_counter() - t0
    ctx.log(f"MAP: {fit.n_evaluations} evaluations, {fit.seconds * 1e3:.1f} ms optimizing, "
            f"{fit.compile_seconds:.1f} s compiling; {fit.message}")
    same_fit(ctx, "MAP (flat priors) vs EM", fit, em_kpp, scale, t.name,
             "fit_gmm_map (PyMC marginal model, BFGS)", "EM MLE (k-means++, tol 1e-12)")
    ctx.check("PyMC per-point log-likelihood at the MAP", log_likelihood_function(flat)(fit.point),
              gmm.gmm_logpdf(x, fit.weights, fit.means, fit.covariances), method="PyMC model logp (x)",
              reference="numpy log-sum-exp (models.gmm)", rtol=1e-9, dataset=t.name, basis=round_off(1e-9))

    # 4. NUTS.
    draws = 500 if ctx.quick else 1000
    model = gmm_marginal_model(x, 2, columns=t.columns)
    t0 = time.perf_counter()
    idata = sample_gmm_posterior(model, draws=draws, tune=draws, chains=2, seed=ctx.seed, start=em_kpp,
                                 posterior_predictive=True, progressbar=ctx.progressbar)
    nuts_wall = time.perf_counter() - t0
    spec = model.gmm_spec
    gate(ctx, "Old Faithful K=2", idata, var_names=["w", "mu", "prec_c", "prec_z"], dataset=t.name)
    check_generative_equals_marginal(ctx, x, t, fit, idata)
    params = posterior_parameters(idata, spec)
    order = np.argsort(em_kpp.means[:, 0])
    mle = {"w": em_kpp.weights[order], "mu": em_kpp.means[order], "cov": em_kpp.covariances[order]}
    switched = sum(int(np.any(gmm_metrics.match_components(mle["mu"] / scale, chain_mu / scale) != np.arange(2)))
                   for chain_mu in params["mu"].mean(axis=1))
    ctx.check_bound("chains whose labels differ from the MLE's", switched, 0, kind="<=",
                    method="per-chain posterior means matched to the MLE", dataset=t.name,
                    note="ordered means: no label switching between chains", basis="exact: a count")
    zmax = {}
    for name in ("w", "mu", "cov"):
        draws_ = params[name].reshape((-1,) + params[name].shape[2:])
        zmax[name] = float(np.max(np.abs(draws_.mean(axis=0) - mle[name]) / draws_.std(axis=0)))
        ctx.check_bound(f"|posterior mean - MLE| / posterior sd ({name})", zmax[name], Z_POST, kind="<=",
                        method="NUTS", dataset=t.name, note=f"every element within {Z_POST:g} posterior sd",
                        basis=f"{Z_POST:g} posterior sd (Bernstein–von Mises)")
    import arviz as az

    loo = az.loo(idata, pointwise=True)
    check_pareto_k(ctx, "Old Faithful K=2", loo, dataset=t.name)
    x_rep = predictive_in_data_units(idata, spec)
    pvals = ppc_pvalues(x_rep, x)
    ctx.check_bound("smallest posterior-predictive p-value (feature means and sds)",
                    float(min(np.min(v) for v in pvals.values())), 0.01, kind=">=", method="NUTS posterior predictive",
                    dataset=t.name, note="two-sided; the model reproduces each feature's mean and sd",
                    basis="p-value threshold 0.01", probability=True)

    # 5. Responsibilities.
    resp, resp_sd = posterior_responsibilities(idata, x, spec, return_sd=True)
    em_resp = em_kpp.responsibilities[:, order]
    ctx.check_bound("max |E[γ_nk | x] - γ_nk(MLE)| / posterior sd of γ_nk",
                    float(np.max(np.abs(resp - em_resp) / np.maximum(resp_sd, 1e-12))), Z_POST, kind="<=",
                    method="posterior_responsibilities (mean over draws)", dataset=t.name,
                    note="EM's plug-in value inside the posterior spread, every point",
                    basis=f"{Z_POST:g} posterior sd")

    # Figures and outputs.
    ctx.save_figure(figure_trace(book["printed"], t.is_book_faithful), "em_book_trace.png")
    ctx.save_figure(figure_density(t, fit, params), "fitted_density.png")
    ctx.save_figure(figure_responsibilities(t, resp, em_resp), "responsibilities.png")
    ctx.save_figure(figure_ppc(t, x_rep), "posterior_predictive.png")
    units = units_posterior(idata, spec, t)
    arviz_figures(ctx, units, t)
    posterior_in_data_units(idata, spec)                # means, sds and the posterior predictive in data units
    ctx.save_netcdf(idata, "old_faithful_posterior.nc")
    stats = idata.sample_stats
    ctx.extra.update({
        "book_em": {"printed": book["printed"], "exact_first": book["exact_first"], "n_iter": book["em"].n_iter},
        "mle": {"weights": em_kpp.weights, "means": em_kpp.means, "covariances": em_kpp.covariances,
                "log_likelihood": em_kpp.log_likelihood},
        "map": {"log_likelihood": fit.log_likelihood, "evaluations": fit.n_evaluations,
                "optimize_seconds": fit.seconds, "compile_seconds": fit.compile_seconds, "wall_seconds": map_wall},
        "nuts": {"draws": draws, "chains": 2, "wall_seconds": nuts_wall,
                 "sampling_seconds": idata.posterior.attrs.get("sampling_time"),
                 "leapfrog_per_draw": float(stats["n_steps"].mean()),
                 "posterior_mean_minus_mle_in_sd": zmax, "ppc_p_values": pvals,
                 "elpd_loo": float(loo.elpd_loo), "elpd_loo_se": float(loo.se)},
        "summary": az.summary(units, kind="stats").reset_index().to_dict(orient="list"),
    })
    ctx.log(f"NUTS: {nuts_wall:.1f} s wall ({idata.posterior.attrs.get('sampling_time', float('nan')):.1f} s "
            f"sampling), {float(stats['n_steps'].mean()):.1f} leapfrog steps per draw")


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
