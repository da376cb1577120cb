"""Heights: maximum likelihood, flat-prior MAP, NUTS and the exact posterior, side by side
(seed 000 step 2, seed 002).

1. The closed-form MLE μ_ML = x̄, σ_ML = √((1/N) Σ(x_n − x̄)²) (:mod:`models.gaussian`). On the
   book's 25,000 heights (``--data ../shared/data/height.txt``) it must print 172.70 / 4.83, and
   the fitted normal must give the book's P(x <= 160) = 0.00427 and P(x > 180) = 0.0654.
2. MAP of the flat-prior PyMC model (``normal_model(x, "flat")``) equals the MLE to 1e-6
   relative; PyMC's log-likelihood equals the closed-form log-likelihood surface, which is drawn
   over (μ, σ) with the MLE and MAP marked.
3. NUTS on the flat-prior model against its exact posterior (Normal-Gamma with κ = N,
   a = (N − 2)/2, b = S/2, :func:`models.gaussian_models.exact_posterior`), and NUTS on the weak
   prior ``NormalGamma.weak_from_data(x)`` (:mod:`models.conjugate`, as in the closed_forms
   analysis) against the conjugate posterior: posterior mean and sd of μ, σ, τ within 4 Monte
   Carlo standard errors, every run gated on R-hat, ESS and divergences.
4. The posterior predictive of a new height (PyMC, :func:`models.gaussian_models.predict_new`)
   against the closed-form Student-t: quantiles and the two tail probabilities.

Figures: the log-likelihood surface; the histogram with the fitted pdf, the posterior band of
pdfs and the Student-t predictive; ArviZ trace and posterior plots with the closed-form
posterior densities overlaid; every estimate side by side. Posteriors are saved as NetCDF.

Data: the shipped ``heights`` (cm), or the first column of ``--data FILE``. The tail thresholds
are the book's 160 and 180 cm for data that look like heights in cm (mean between 100 and 250),
otherwise μ_ML − 2.5σ_ML and μ_ML + 1.5σ_ML (where the book's thresholds sit on its data).
"""

from __future__ import annotations

import arviz as az
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import integrate, stats

from analyses.common import (
    METHOD_COLORS,
    Series,
    check_map,
    check_moments,
    check_probability,
    check_quantiles,
    fig_from_axes,
    gate,
    histogram_bins,
    load_gaussian_data,
    nuts_settings,
    round_off,
    sigma_density,
    unit_of,
)
from models.conjugate import NormalGamma
from models.fitting import fit_map, sample_nuts
from models.gaussian import mle_mean, mle_var, normal_logpdf, normal_loglik
from models.gaussian_models import exact_posterior, normal_model, predict_new

TITLE = "Height MLE: closed form vs flat MAP vs NUTS vs exact posterior, likelihood surface, tail probabilities"

#: What the book prints for its 25,000 heights, and half a unit of the last printed digit.
BOOK = {"mean": (172.70, 0.005), "sd": (4.83, 0.005), "p_le": (0.00427, 0.000005), "p_gt": (0.0654, 0.00005)}
BOOK_THRESHOLDS = (160.0, 180.0)
#: The book's file, recognised by its size and its known mean / MLE sd (../shared/data/README.md).
BOOK_N, BOOK_MEAN, BOOK_SD = 25_000, 172.7025, 4.8302
#: Data sets larger than this are saved without the (N-sized) log_likelihood group.
MAX_SAVED_LOGLIK = 5_000


def is_book_heights(x: np.ndarray) -> bool:
    return x.size == BOOK_N and abs(x.mean() - BOOK_MEAN) < 5e-4 and abs(x.std() - BOOK_SD) < 5e-4


def thresholds(x: np.ndarray) -> tuple[float, float]:
    mu, sd = float(x.mean()), float(x.std())
    if 100.0 <= mu <= 250.0:
        return BOOK_THRESHOLDS
    return float(np.round(mu - 2.5 * sd, 2)), float(np.round(mu + 1.5 * sd, 2))


# --------------------------------------------------------------------------- 1-2. MLE, MAP, likelihood


def loglik_surface(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """ln p(x | μ, σ) on a grid from the sufficient statistics (N, x̄, S):
    −N/2 ln 2π − N ln σ − (S + N(x̄ − μ)²)/(2σ²); broadcasts μ against σ."""
    n, xbar = x.size, x.mean()
    scatter = float(np.sum((x - xbar) ** 2))
    return -0.5 * n * np.log(2 * np.pi) - n * np.log(sigma) - (scatter + n * (xbar - mu) ** 2) / (2 * sigma**2)


def check_mle_map(ctx, s, lo: float, hi: float) -> dict:
    x, ds, unit = s.values, s.name, unit_of(s.label)
    mu, sd = mle_mean(x), float(np.sqrt(mle_var(x)))
    ctx.log(f"{ds}: N = {x.size}, MLE μ = {mu:.2f} {unit}, σ = {sd:.2f} {unit}")
    normal = stats.norm(mu, sd)
    p_le, p_gt = float(normal.cdf(lo)), float(normal.sf(hi))
    ctx.log(f"fitted normal: P(x <= {lo:g}) = {p_le:.5f}, P(x > {hi:g}) = {p_gt:.4f}")
    # the same probabilities by quadrature of the closed-form density: an independent route
    density = lambda v: float(np.exp(normal_logpdf([v], mu, sd))[0])  # noqa: E731
    quad_le = integrate.quad(density, mu - 40 * sd, lo, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
    quad_gt = integrate.quad(density, hi, mu + 40 * sd, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
    quadrature = "1e-8 relative: adaptive quadrature (epsrel 1e-12) and round-off"
    ctx.check(f"P(x <= {lo:g}) under the fitted normal", p_le, quad_le, method="scipy.stats.norm.cdf",
              reference="quadrature of models.gaussian.normal_logpdf", rtol=1e-8, dataset=ds, basis=quadrature,
              probability=True)
    ctx.check(f"P(x > {hi:g}) under the fitted normal", p_gt, quad_gt, method="scipy.stats.norm.sf",
              reference="quadrature of models.gaussian.normal_logpdf", rtol=1e-8, dataset=ds, basis=quadrature,
              probability=True)
    if is_book_heights(x):
        ctx.log("the book's 25,000 heights: checking its printed figures")
        for key, value in (("mean", mu), ("sd", sd), ("p_le", p_le), ("p_gt", p_gt)):
            printed, half_digit = BOOK[key]
            quantity = {"mean": "MLE μ", "sd": "MLE σ", "p_le": "P(x <= 160)", "p_gt": "P(x > 180)"}[key]
            ctx.check(f"{quantity} as the book prints it", value, printed, method="closed-form MLE",
                      reference="Deep Learning from Scratch 5, step 2", atol=half_digit, dataset=ds,
                      note="half a unit of the book's last printed digit", basis="printed precision",
                      probability=key.startswith("p_"))

    model = normal_model(x, "flat")
    point = fit_map(model)
    err_mu = check_map(ctx, "MAP μ (flat prior) vs MLE", point["mu"], mu, dataset=ds, reference="x̄ (PRML 1.55)")
    err_sd = check_map(ctx, "MAP σ (flat prior) vs MLE", point["sigma"], sd, dataset=ds,
                       reference="√((1/N) Σ(x_n − x̄)²) (PRML 1.56)")
    ctx.log(f"MAP: μ = {float(point['mu']):.6f}, σ = {float(point['sigma']):.6f} "
            f"(relative errors {err_mu:.1e}, {err_sd:.1e})")

    # PyMC's log-likelihood against the closed-form surface at a few (μ, σ)
    loglik = model.compile_logp(vars=[model["x"]], jacobian=False, mode="FAST_COMPILE")  # one-shot: no C
    pts = [(mu, sd), (mu + 0.3 * sd, 0.9 * sd), (mu - 0.5 * sd, 1.2 * sd), (mu + 2 * sd, 2 * sd)]
    pymc_values = [float(loglik({"mu": m, "sigma_log__": np.log(v)})) for m, v in pts]
    ctx.check("PyMC log-likelihood at 4 (μ, σ)", pymc_values, [loglik_surface(x, m, v) for m, v in pts],
              method="model.compile_logp (flat model, observed x)", reference="sufficient-statistics formula",
              rtol=1e-10, dataset=ds, basis=round_off(1e-10))
    ctx.check("log-likelihood surface at the MLE", loglik_surface(x, mu, sd), normal_loglik(x, mu, sd),
              method="sufficient-statistics formula", reference="models.gaussian.normal_loglik", rtol=1e-12, dataset=ds,
              basis=round_off(1e-12))
    return {"mu": mu, "sd": sd, "map": point, "model": model, "p_le": p_le, "p_gt": p_gt}


# --------------------------------------------------------------------------- 3-4. NUTS


def fit_nuts(ctx, s, fit: dict, lo: float, hi: float) -> dict:
    x, ds = s.values, s.name
    settings = nuts_settings(ctx, univariate=True)
    ctx.log(f"NUTS, flat prior ({settings['chains']} x {settings['draws']} draws)")
    idata_flat = sample_nuts(fit["model"], seed=ctx.seed, **settings)
    gate(ctx, "flat prior", idata_flat, dataset=ds)
    exact_flat = exact_posterior(x, "flat")
    t = exact_flat.marginal_mu()
    ref = "exact flat-prior posterior, Normal-Gamma(x̄, N, (N−2)/2, S/2)"
    check_moments(ctx, "flat prior, μ", idata_flat.posterior["mu"], t.mean(), t.std(), reference=ref, dataset=ds)
    check_moments(ctx, "flat prior, σ", idata_flat.posterior["sigma"], exact_flat.mean_sigma, exact_flat.sd_sigma,
                  reference=ref, dataset=ds)

    prior = NormalGamma.weak_from_data(x)
    ctx.log(f"NUTS, Normal-Gamma prior (μ0 = {prior.mu0:g}, κ0 = {prior.kappa0:g}, a0 = {prior.a0:g}, "
            f"b0 = {prior.b0:g})")
    model = normal_model(x, prior)
    idata = sample_nuts(model, seed=ctx.seed + 1, **settings)
    gate(ctx, "Normal-Gamma prior", idata, dataset=ds)
    exact = prior.posterior(x)
    t, g = exact.marginal_mu(), exact.marginal_tau()
    ref = "conjugate Normal-Gamma posterior (PRML 2.154, ex. 2.44)"
    check_moments(ctx, "Normal-Gamma, μ", idata.posterior["mu"], t.mean(), t.std(), reference=ref, dataset=ds)
    check_moments(ctx, "Normal-Gamma, σ", idata.posterior["sigma"], exact.mean_sigma, exact.sd_sigma,
                  reference=ref, dataset=ds)
    check_moments(ctx, "Normal-Gamma, τ", idata.posterior["tau"], g.mean(), g.std(), reference=ref, dataset=ds)

    pred = predict_new(model, idata, 1, seed=ctx.seed + 2).isel(obs=0)
    student = exact.predictive()
    ref_t = f"Student-t predictive (ν = 2a_N = {2 * exact.a_N:g})"
    check_quantiles(ctx, "predictive of a new height", pred, student, reference=ref_t, dataset=ds)
    check_probability(ctx, f"P(x <= {lo:g}) under the posterior predictive", pred <= lo, float(student.cdf(lo)),
                      reference=ref_t, dataset=ds)
    check_probability(ctx, f"P(x > {hi:g}) under the posterior predictive", pred > hi, float(student.sf(hi)),
                      reference=ref_t, dataset=ds)
    idata.add_groups({"predictions": pred.to_dataset(name="x_new")})
    for data, name in ((idata_flat, "posterior_flat_prior.nc"), (idata, "posterior_normal_gamma.nc")):
        if x.size > MAX_SAVED_LOGLIK and "log_likelihood" in data.groups():
            del data.log_likelihood  # N x draws values: 400 MB for the book's 25,000 heights
        ctx.save_netcdf(data, name)
    return {"flat": (idata_flat, exact_flat), "ng": (idata, exact, prior), "pred": pred}


# --------------------------------------------------------------------------- figures


def figure_surface(s, fit: dict, idata_flat) -> Figure:
    x, unit = s.values, unit_of(s.label)
    mu, sd, n = fit["mu"], fit["sd"], x.size
    se_mu, se_sd = sd / np.sqrt(n), sd / np.sqrt(2 * n)
    mus = np.linspace(mu - 5 * se_mu, mu + 5 * se_mu, 241)
    sds = np.linspace(max(sd - 5 * se_sd, 0.25 * sd), sd + 5 * se_sd, 241)  # σ > 0 even for tiny N
    M, S = np.meshgrid(mus, sds)
    ll = loglik_surface(x, M, S)
    fig = Figure(figsize=(7.5, 5.5))
    ax = fig.add_subplot()
    rel = ll - ll.max()
    cf = ax.contourf(M, S, rel, levels=np.linspace(max(rel.min(), -30), 0, 31), cmap="viridis", extend="min")
    fig.colorbar(cf, ax=ax, label="log-likelihood − its maximum (nats)")
    # likelihood-ratio regions: 2(ℓ_max − ℓ) <= χ²₂ quantile
    levels = -0.5 * stats.chi2(2).ppf([0.99, 0.95, 0.68])
    cs = ax.contour(M, S, rel, levels=levels, colors="white", linewidths=1.0, linestyles="solid")
    ax.clabel(cs, fmt={lv: f"{p} %" for lv, p in zip(levels, (99, 95, 68))}, fontsize=8)
    post = idata_flat.posterior
    ax.scatter(post["mu"].values.ravel()[::4], post["sigma"].values.ravel()[::4], s=3, color="white", alpha=0.35,
               label="NUTS draws, flat prior")
    ax.plot(mu, sd, "*", color=METHOD_COLORS["nuts"], ms=16, label=f"MLE ({mu:.3f}, {sd:.3f})")
    ax.plot(float(fit["map"]["mu"]), float(fit["map"]["sigma"]), "o", mfc="none", mec="black", ms=18, mew=1.5,
            label="MAP, flat prior (on the MLE)")
    ax.set(title=f"{s.name}: log-likelihood surface ln p(x | μ, σ), N = {n}", xlabel=f"μ ({unit})",
           ylabel=f"σ ({unit})")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    return fig


def figure_fit(s, fit: dict, nuts: dict, lo: float, hi: float) -> Figure:
    x, unit = s.values, unit_of(s.label)
    idata, exact, _ = nuts["ng"]
    fig = Figure(figsize=(8.5, 5))
    ax = fig.add_subplot()
    ax.hist(x, bins=histogram_bins(x), density=True, color=METHOD_COLORS["data"], label=f"{s.name} (N = {x.size})")
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 400)
    mu_d = idata.posterior["mu"].values.ravel()[::5, None]
    sd_d = idata.posterior["sigma"].values.ravel()[::5, None]
    band = np.percentile(stats.norm(mu_d, sd_d).pdf(grid), [2.5, 97.5], axis=0)
    ax.fill_between(grid, band[0], band[1], color=METHOD_COLORS["nuts"], alpha=0.35,
                    label="95 % posterior band of N(x | μ, σ) (NUTS)")
    ax.plot(grid, stats.norm(fit["mu"], fit["sd"]).pdf(grid), color=METHOD_COLORS["exact"], lw=1.5,
            label=f"MLE normal μ = {fit['mu']:.2f}, σ = {fit['sd']:.2f} {unit}")
    student = exact.predictive()
    ax.plot(grid, student.pdf(grid), color=METHOD_COLORS["map"], lw=1.5, ls="--",
            label=f"Student-t posterior predictive (ν = {2 * exact.a_N:.0f})")
    pred = nuts["pred"].values.ravel()
    ax.hist(pred, bins=60, density=True, histtype="step", color=METHOD_COLORS["nuts"], lw=1,
            label="PyMC posterior predictive draws")
    for v in (lo, hi):
        ax.axvline(v, color="0.4", ls=":", lw=1)
    ax.text(lo, ax.get_ylim()[1] * 0.9, f" P(x ≤ {lo:g}) = {fit['p_le']:.5f}", fontsize=8)
    ax.text(hi, ax.get_ylim()[1] * 0.8, f" P(x > {hi:g}) = {fit['p_gt']:.4f}", fontsize=8)
    ax.set(title=f"{s.name}: fitted normal, posterior band and posterior predictive", xlabel=s.label,
           ylabel=f"density (1/{unit})")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def overlay(ax, grid: np.ndarray, density: np.ndarray, label: str) -> None:
    """A closed-form density drawn over an ArviZ panel, with a legend entry."""
    ax.plot(grid, density, color=METHOD_COLORS["exact"], lw=2.0, ls="--", label=label)
    ax.legend(fontsize=8, loc="upper right")


def _exact_marginals(exact, unit: str, post) -> dict:
    out = {}
    for name, dens in (("mu", exact.marginal_mu().pdf), ("sigma", lambda g: sigma_density(exact, g))):
        v = post[name].values
        grid = np.linspace(*np.percentile(v, [0.05, 99.95]), 300)
        out[name] = (grid, dens(grid))
    return out


def figure_trace(s, nuts: dict):
    idata, exact, _ = nuts["ng"]
    unit = unit_of(s.label)
    axes = az.plot_trace(idata, var_names=["mu", "sigma"], figsize=(11, 5.5), backend_kwargs={"layout": "constrained"})
    marg = _exact_marginals(exact, unit, idata.posterior)
    for row, name, sym in zip(axes, ("mu", "sigma"), ("μ", "σ")):
        overlay(row[0], *marg[name], "exact conjugate posterior")
        row[0].set(xlabel=f"{sym} ({unit})", ylabel="density", title=f"{sym}: NUTS per chain vs exact")
        row[1].set(xlabel="draw", ylabel=f"{sym} ({unit})", title=f"{sym}: trace")
    fig = fig_from_axes(axes)
    fig.suptitle(f"{s.name}: NUTS with the Normal-Gamma prior (ArviZ trace)", fontsize=12)
    return fig


def figure_posterior(s, nuts: dict):
    idata, exact, _ = nuts["ng"]
    idata_flat, exact_flat = nuts["flat"]
    unit = unit_of(s.label)
    axes = az.plot_posterior(idata, var_names=["mu", "sigma"], hdi_prob=0.95, figsize=(11, 4.2), round_to=5,
                             textsize=10, backend_kwargs={"layout": "constrained"})
    marg = _exact_marginals(exact, unit, idata.posterior)
    marg_flat = _exact_marginals(exact_flat, unit, idata_flat.posterior)
    for ax, name, sym in zip(np.ravel(axes), ("mu", "sigma"), ("μ", "σ")):
        overlay(ax, *marg[name], "exact Normal-Gamma posterior")
        ax.plot(*marg_flat[name], color=METHOD_COLORS["extra"], lw=1.2, ls=":", label="exact flat-prior posterior")
        ax.legend(fontsize=8, loc="upper right")
        ax.set(xlabel=f"{sym} ({unit})", title=f"posterior of {sym}: NUTS (ArviZ) vs closed form")
    fig = fig_from_axes(axes)
    fig.suptitle(f"{s.name}: posterior densities", fontsize=12)
    return fig


def side_by_side(fit: dict, nuts: dict) -> dict:
    """Every estimate of (μ, σ): point estimates and posterior mean ± sd."""
    idata_flat, exact_flat = nuts["flat"]
    idata, exact, _ = nuts["ng"]

    def summary(post):
        return {k: [float(post[k].mean()), float(post[k].std())] for k in ("mu", "sigma")}

    return {
        "MLE (closed form)": {"mu": [fit["mu"], None], "sigma": [fit["sd"], None]},
        "MAP, flat prior": {"mu": [float(fit["map"]["mu"]), None], "sigma": [float(fit["map"]["sigma"]), None]},
        "NUTS, flat prior": summary(idata_flat.posterior),
        "exact, flat prior": {"mu": [exact_flat.mu_N, float(exact_flat.marginal_mu().std())],
                              "sigma": [exact_flat.mean_sigma, exact_flat.sd_sigma]},
        "NUTS, Normal-Gamma prior": summary(idata.posterior),
        "exact, Normal-Gamma prior": {"mu": [exact.mu_N, float(exact.marginal_mu().std())],
                                      "sigma": [exact.mean_sigma, exact.sd_sigma]},
    }


def figure_side_by_side(s, table: dict) -> Figure:
    unit = unit_of(s.label)
    fig = Figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
    names = list(table)
    ys = np.arange(len(names))[::-1]
    for ax, key, sym in zip(axes, ("mu", "sigma"), ("μ", "σ")):
        for y, name in zip(ys, names):
            center, sd = table[name][key]
            color = METHOD_COLORS["nuts"] if name.startswith("NUTS") else METHOD_COLORS["exact"]
            if sd is None:
                ax.plot(center, y, "D", color=METHOD_COLORS["map"], ms=6)
            else:
                ax.errorbar(center, y, xerr=2 * sd, fmt="o", color=color, capsize=3)
        ax.set_yticks(ys, names if key == "mu" else [""] * len(names))
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set(title=f"{sym}: estimate (posterior mean ± 2 sd)", xlabel=f"{sym} ({unit})")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{s.name}: every way of fitting the Gaussian", fontsize=12)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- run


def run(ctx) -> None:
    s, _ = load_gaussian_data(ctx)
    if is_book_heights(s.values) and s.label.startswith("col"):
        s = Series(s.name, s.values, "height (cm)")  # the book's header-less file
    lo, hi = thresholds(s.values)
    fit = check_mle_map(ctx, s, lo, hi)
    nuts = fit_nuts(ctx, s, fit, lo, hi)
    ctx.save_figure(figure_surface(s, fit, nuts["flat"][0]), "loglik_surface.png")
    ctx.save_figure(figure_fit(s, fit, nuts, lo, hi), "histogram_fit_predictive.png")
    ctx.save_figure(figure_trace(s, nuts), "trace_normal_gamma.png")
    ctx.save_figure(figure_posterior(s, nuts), "posterior_vs_exact.png")
    table = side_by_side(fit, nuts)
    ctx.save_figure(figure_side_by_side(s, table), "estimates_side_by_side.png")
    idata, exact, prior = nuts["ng"]
    student = exact.predictive()
    pred = nuts["pred"].values.ravel()
    for name, row in table.items():
        mu, sig = row["mu"], row["sigma"]
        spread = "" if mu[1] is None else f" (sd {mu[1]:.4f}, {sig[1]:.4f})"
        ctx.log(f"{name:<28} μ = {mu[0]:.4f}, σ = {sig[0]:.4f}{spread}")
    ctx.log(f"predictive: P(x <= {lo:g}) = {np.mean(pred <= lo):.5f} (t: {student.cdf(lo):.5f}), "
            f"P(x > {hi:g}) = {np.mean(pred > hi):.4f} (t: {student.sf(hi):.4f})")
    ctx.extra.update({
        "dataset": s.name, "N": int(s.values.size), "book_data": is_book_heights(s.values),
        "thresholds": [lo, hi], "side_by_side": table,
        "tail_probabilities": {"fitted_normal": [fit["p_le"], fit["p_gt"]],
                               "student_t_predictive": [float(student.cdf(lo)), float(student.sf(hi))],
                               "pymc_predictive": [float(np.mean(pred <= lo)), float(np.mean(pred > hi))]},
        "normal_gamma_prior": {"mu0": prior.mu0, "kappa0": prior.kappa0, "a0": prior.a0, "b0": prior.b0},
    })


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
