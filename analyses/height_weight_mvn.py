"""Height and weight as one bivariate Gaussian, fitted every way (seeds 000 step 3, 001, 004).

1. Closed forms: the MLE mean and covariance Σ_ML (÷N, PRML 2.121–2.122) against the book's
   ``np.cov(xs, rowvar=False)``, which divides by N − 1: the ratio is exactly N/(N − 1). On the
   book's 25,000 × 2 file (``--data ../shared/data/height_weight.txt``) the mean and Σ_ML must be
   the known figures of ``../shared/data/README.md``.
2. The rotation of the seed notes, y = Qᵀ(x − μ) with Σ = QΛQᵀ: the rotated data are
   uncorrelated with variances λ_i, and Σ_i y_i²/λ_i is the squared Mahalanobis distance.
3. MAP of the flat-prior PyMC model (Cholesky-parametrised, :func:`models.gaussian_models.mvn_model`)
   equals (μ_ML, Σ_ML) to 1e-6 relative — the MLE, not np.cov.
4. NUTS with the LKJ prior (the everyday Bayesian fit): gated on R-hat/ESS/divergences; with no
   closed form to compare, the posterior means must lie within one posterior sd of the MLE
   (Bernstein–von Mises: they differ by O(1/N), the sd is O(1/√N)).
5. NUTS with the weak Normal-Wishart prior ``NormalWishart.weak_from_data(y)``
   (:mod:`models.conjugate_mvn`, as in the closed_forms analysis; Bartlett parametrisation)
   against the exact conjugate posterior: mean and sd of μ, Λ and Σ within 4 Monte Carlo standard
   errors; the posterior predictive against the multivariate-t's marginal quantiles.

Figures: the MLE density as a 3-D surface and as contours over the scatter with the eigen-axes;
the rotated coordinates; every estimate of Σ side by side (MLE, np.cov, MAP, LKJ, Normal-Wishart
NUTS and exact draws); an ArviZ pair plot of the LKJ posterior. Posteriors saved as NetCDF.

Data: ``bdims`` (height_cm, weight_kg), or the first two columns of ``--data FILE``.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import arviz as az
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from scipy import stats

from analyses.common import (
    METHOD_COLORS,
    Z_MC,
    DataNeeds,
    Table,
    check_map,
    check_moments,
    check_quantiles,
    fig_from_axes,
    gate,
    grid_for,
    load_gaussian_data,
    nuts_settings,
    round_off,
    unit_of,
)
from models.conjugate_mvn import NormalWishart
from models.fitting import fit_map, posterior_moment_errors, sample_nuts
from models.gaussian import (
    covariance_ellipse,
    mahalanobis_sq_chol,
    mle_cov,
    mle_mean,
    mvn_loglik,
    principal_axes,
    unbiased_cov,
)
from models.gaussian_models import mvn_model, predict_new
from models.validation import DataError

TITLE = "Height-weight MVN: MLE (÷N) vs np.cov (÷N−1) vs flat MAP vs NUTS (LKJ) vs Normal-Wishart, eigen-axes"
#: The first two chosen columns of --data.
DATA = DataNeeds(columns=2)

#: The book's height_weight.txt: size, mean and MLE covariance (../shared/data/README.md, 4 decimals).
BOOK_SHAPE = (25_000, 2)
BOOK_MEAN = np.array([172.7025, 57.6422])
BOOK_MLE_COV = np.array([[23.3305, 12.8469], [12.8469, 27.9755]])
BOOK_ATOL = 5e-5
#: Data sets larger than this are saved without the (N-sized) log_likelihood group.
MAX_SAVED_LOGLIK = 5_000
#: The three distinct entries of a symmetric 2 x 2 matrix.
ENTRIES = ((0, 0), (0, 1), (1, 1))


def is_book_height_weight(y: np.ndarray) -> bool:
    return y.shape == BOOK_SHAPE and bool(np.all(np.abs(y.mean(axis=0) - BOOK_MEAN) < 5e-4))


def short(label: str) -> str:
    """``height (cm)`` -> ``height``."""
    return label.split(" (")[0]


# --------------------------------------------------------------------------- 1-3. closed forms and MAP


def closed_forms(ctx, t: Table) -> dict:
    y, ds = t.values, t.name
    n = y.shape[0]
    mu, cov = mle_mean(y), mle_cov(y)
    book_cov = np.cov(y, rowvar=False)  # what the book calls the MLE
    ctx.log(f"{ds}: N = {n}; MLE μ = {np.round(mu, 4).tolist()}, Σ_ML (÷N) = {np.round(cov, 4).tolist()}, "
            f"np.cov (÷N−1) = {np.round(book_cov, 4).tolist()}")
    ctx.check("np.cov (the book's 'MLE')", book_cov, unbiased_cov(y), method="numpy.cov(rowvar=False)",
              reference="models.gaussian.unbiased_cov (÷N−1, PRML 2.125)", rtol=1e-12, dataset=ds,
              basis=round_off(1e-12))
    ctx.check("np.cov / Σ_ML, every entry", book_cov / cov, np.full((2, 2), n / (n - 1)), method="ratio",
              reference="N/(N−1)", rtol=1e-12, dataset=ds, basis=round_off(1e-12))
    if is_book_height_weight(y):
        ctx.log("the book's 25,000 x 2 file: checking its known figures")
        ctx.check("mean vector (book file)", mu, BOOK_MEAN, method="models.gaussian.mle_mean",
                  reference="../shared/data/README.md", atol=BOOK_ATOL, dataset=ds, note="4 printed decimals",
                  basis="printed precision")
        ctx.check("MLE covariance ÷N (book file)", cov, BOOK_MLE_COV, method="models.gaussian.mle_cov",
                  reference="../shared/data/README.md", atol=BOOK_ATOL, dataset=ds, note="4 printed decimals",
                  basis="printed precision")

    lam, Q = principal_axes(cov)
    rotated = (y - mu) @ Q  # row n is y_n = Qᵀ(x_n − μ)
    ctx.check("covariance of y = Qᵀ(x − μ)", mle_cov(rotated), np.diag(lam), method="rotate, then mle_cov",
              reference="diag(λ₁, λ₂) (PRML 2.56)", atol=1e-10 * float(lam[0]), dataset=ds,
              basis="1e-10 λ₁: round-off")
    ctx.check("Σ_i y_i²/λ_i", np.sum(rotated**2 / lam, axis=1), mahalanobis_sq_chol(y, mu, cov),
              method="rotated coordinates (PRML 2.50)", reference="Cholesky Mahalanobis distance", rtol=1e-10,
              dataset=ds, basis=round_off(1e-10))

    model = mvn_model(y, "flat", columns=[short(c) for c in t.labels])
    loglik = model.compile_logp(vars=[model["x"]], jacobian=False, mode="FAST_COMPILE")  # one-shot: no C
    chol = np.linalg.cholesky(cov)
    at_mle = float(loglik({"mu": mu, "chol_diag_log__": np.log(np.diag(chol)), "chol_offdiag": chol[1:, 0]}))
    ctx.check("PyMC log-likelihood at the MLE", at_mle, mvn_loglik(y, mu, cov), method="pm.MvNormal (flat model)",
              reference="models.gaussian.mvn_loglik", rtol=1e-10, dataset=ds, basis=round_off(1e-10))
    point = fit_map(model)
    err_mu = check_map(ctx, "MAP μ (flat prior) vs MLE", point["mu"], mu, dataset=ds, reference="x̄ (PRML 2.121)")
    err_cov = check_map(ctx, "MAP Σ (flat prior) vs MLE ÷N", point["Sigma"], cov, dataset=ds,
                        reference="Σ_ML (PRML 2.122)")
    ctx.log(f"MAP vs MLE: relative errors μ {err_mu:.1e}, Σ {err_cov:.1e}; MAP vs np.cov: "
            f"{np.max(np.abs(point['Sigma'] - book_cov)) / np.max(np.abs(cov)):.1e} (the ÷(N−1) gap)")
    return {"mu": mu, "cov": cov, "book_cov": book_cov, "lam": lam, "Q": Q, "rotated": rotated, "map": point}


# --------------------------------------------------------------------------- 4-5. NUTS


def fit_lkj(ctx, t: Table, cf: dict):
    y, ds = t.values, t.name
    settings = nuts_settings(ctx)
    ctx.log(f"NUTS, LKJ prior ({settings['chains']} x {settings['draws']} draws)")
    with warnings.catch_warnings():
        # Benign: the first tuning steps overflow the kinetic energy before the step size adapts, and
        # the constant unit diagonal of chol_corr gives a 0/0 R-hat (so chol_corr is left out of the
        # gate; the correlation is gated through chol and Sigma).
        warnings.filterwarnings("ignore", r"(overflow|invalid value) encountered", RuntimeWarning)
        idata = sample_nuts(mvn_model(y, "lkj", columns=[short(c) for c in t.labels]), seed=ctx.seed,
                            **settings)
        gate(ctx, "LKJ prior", idata, exclude=["chol_corr"], dataset=ds)
    post = idata.posterior
    names = [short(c) for c in t.labels]
    note = "Bernstein–von Mises: posterior mean − MLE is O(1/N), the posterior sd O(1/√N); tolerance one sd"
    bvm = "1 posterior sd (Bernstein–von Mises)"
    for j, name in enumerate(names):
        d = post["mu"].isel(dim=j)
        ctx.check(f"LKJ: E[μ {name}] vs MLE", float(d.mean()), cf["mu"][j], method="NUTS posterior mean",
                  reference="MLE", atol=float(d.std()), dataset=ds, note=note, basis=bvm)
    for i, j in ENTRIES:
        d = post["Sigma"].isel(dim=i, dim_b=j)
        ctx.check(f"LKJ: E[Σ {names[i]},{names[j]}] vs MLE", float(d.mean()), cf["cov"][i, j],
                  method="NUTS posterior mean", reference="Σ_ML (÷N)", atol=float(d.std()), dataset=ds, note=note,
                  basis=bvm)
    return idata


def fit_normal_wishart(ctx, t: Table):
    y, ds = t.values, t.name
    names = [short(c) for c in t.labels]
    prior = NormalWishart.weak_from_data(y)
    settings = nuts_settings(ctx)
    ctx.log(f"NUTS, Normal-Wishart prior by the Bartlett decomposition (m0 = {prior.m0.tolist()}, "
            f"β0 = {prior.beta0:g}, ν0 = {prior.nu0:g})")
    model = mvn_model(y, prior, columns=names)
    idata = sample_nuts(model, seed=ctx.seed + 1, **settings)
    gate(ctx, "Normal-Wishart prior", idata, dataset=ds)
    exact = prior.posterior(y)
    post = idata.posterior
    ref = "exact Normal-Wishart posterior (Bishop 10.60-10.63)"
    sd_mu = np.sqrt(np.diag(exact.cov_mu))
    for j, name in enumerate(names):
        check_moments(ctx, f"Normal-Wishart, μ {name}", post["mu"].isel(dim=j), exact.m_N[j], sd_mu[j],
                      reference=ref + ": multivariate-t marginal", dataset=ds)
    W, nu, d = exact.W_N, exact.nu_N, exact.D
    sd_lambda = np.sqrt(nu * (W**2 + np.outer(np.diag(W), np.diag(W))))  # Wishart variances
    psi, k = exact.W_N_inv, nu - d
    # inverse-Wishart variances of Σ ~ IW(Ψ, ν) (Press 1982): finite when ν > D + 3
    var_sigma = ((k + 1) * psi**2 + (k - 1) * np.outer(np.diag(psi), np.diag(psi))) / (k * (k - 1) ** 2 * (k - 3))
    for i, j in ENTRIES:
        tag = f"{names[i]},{names[j]}"
        check_moments(ctx, f"Normal-Wishart, Λ {tag}", post["Lambda"].isel(dim=i, dim_b=j), exact.mean_Lambda[i, j],
                      sd_lambda[i, j], reference=ref + ": Wishart(W_N, ν_N)", dataset=ds)
        check_moments(ctx, f"Normal-Wishart, Σ {tag}", post["Sigma"].isel(dim=i, dim_b=j), exact.mean_Sigma[i, j],
                      np.sqrt(var_sigma[i, j]), reference=ref + ": inverse Wishart", dataset=ds)
    pred = predict_new(model, idata, 1, seed=ctx.seed + 2).isel(obs=0)
    t_pred = exact.predictive()
    for j, name in enumerate(names):
        marginal = stats.t(t_pred.df, loc=t_pred.loc[j], scale=np.sqrt(t_pred.shape[j, j]))
        check_quantiles(ctx, f"predictive {name}", pred.isel(dim=j), marginal, probs=(0.05, 0.5, 0.95),
                        reference=f"multivariate-t predictive, marginal t (ν = {t_pred.df:g})", dataset=ds)
    idata.add_groups({"predictions": pred.to_dataset(name="x_new")})
    return idata, exact, prior


# --------------------------------------------------------------------------- figures


def figure_density(t: Table, cf: dict) -> Figure:
    y, mu, cov = t.values, cf["mu"], cf["cov"]
    gx, gy, _ = grid_for(y, n=120, pad=0.15)
    dens = stats.multivariate_normal(mu, cov).pdf(np.dstack([gx, gy]))
    units = f"1/({unit_of(t.labels[0])}·{unit_of(t.labels[1])})"
    fig = Figure(figsize=(13, 5.5))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    ax3.plot_surface(gx, gy, dens, cmap="viridis", linewidth=0, antialiased=True, alpha=0.9)
    ax3.set(title=f"MLE density N(x | μ_ML, Σ_ML), in {units}", xlabel=t.labels[0], ylabel=t.labels[1])
    ax3.ticklabel_format(axis="z", style="sci", scilimits=(0, 0))
    ax3.set_zlabel("density", labelpad=6)
    ax = fig.add_subplot(1, 2, 2)
    ax.scatter(y[:, 0], y[:, 1], s=4 if y.shape[0] > 2000 else 8, alpha=0.35, color="#457b9d",
               label=f"{t.name} (N = {y.shape[0]})")
    cs = ax.contour(gx, gy, dens, levels=8, cmap="viridis", linewidths=1.2)
    ax.clabel(cs, fontsize=6, fmt="%.1e")
    lam, Q = cf["lam"], cf["Q"]
    for i, color in enumerate((METHOD_COLORS["nuts"], METHOD_COLORS["map"])):
        end = mu + 2 * np.sqrt(lam[i]) * Q[:, i]
        ax.annotate("", xy=end, xytext=mu, arrowprops={"arrowstyle": "->", "color": color, "lw": 2})
        ax.plot([], [], color=color, lw=2, label=f"2√λ{i + 1} q{i + 1}: λ{i + 1} = {lam[i]:.2f}, "
                                                    f"q{i + 1} = ({Q[0, i]:.3f}, {Q[1, i]:.3f})")
    ax.plot(*mu, "k+", ms=12, mew=2, label="μ_ML")
    ax.set(title="Contours over the data, eigen-axes of Σ_ML (Σ q = λ q)", xlabel=t.labels[0], ylabel=t.labels[1])
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{t.name}: the maximum-likelihood bivariate Gaussian", fontsize=12)
    return fig


def figure_rotated(t: Table, cf: dict) -> Figure:
    r, lam = cf["rotated"], cf["lam"]
    fig = Figure(figsize=(6.5, 6))
    ax = fig.add_subplot()
    ax.scatter(r[:, 0], r[:, 1], s=4 if r.shape[0] > 2000 else 8, alpha=0.35, color="#457b9d",
               label="y = Qᵀ(x − μ_ML)")
    for k, style in zip((1, 2, 3), ("-", "--", ":")):
        w, h, angle = covariance_ellipse(np.diag(lam), n_std=k)
        ax.add_patch(Ellipse((0, 0), w, h, angle=angle, fill=False, ls=style, color=METHOD_COLORS["exact"], lw=1.5,
                             label=f"Σ y_i²/λ_i = {k}²"))
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(title=f"{t.name} rotated onto the eigen-axes: uncorrelated, variances λ₁, λ₂",
           xlabel=f"y₁ = q₁ᵀ(x − μ)  (λ₁ = {lam[0]:.2f})", ylabel=f"y₂ = q₂ᵀ(x − μ)  (λ₂ = {lam[1]:.2f})")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def figure_covariances(t: Table, cf: dict, idata_lkj, idata_nw, exact, rng) -> Figure:
    names = [short(c) for c in t.labels]
    units = [unit_of(c) for c in t.labels]
    draws = exact.sample(rng, 8000).Sigma
    fig = Figure(figsize=(14, 4.2))
    axes = fig.subplots(1, 3)
    for ax, (i, j) in zip(axes, ENTRIES):
        lkj = idata_lkj.posterior["Sigma"].isel(dim=i, dim_b=j).values.ravel()
        nw = idata_nw.posterior["Sigma"].isel(dim=i, dim_b=j).values.ravel()
        ex = draws[:, i, j]
        bins = np.linspace(*np.percentile(np.concatenate([lkj, nw, ex]), [0.2, 99.8]), 50)
        ax.hist(ex, bins=bins, density=True, color=METHOD_COLORS["data"], label="exact Normal-Wishart draws")
        ax.hist(nw, bins=bins, density=True, histtype="step", lw=1.5, color=METHOD_COLORS["nuts"],
                label="NUTS, Normal-Wishart")
        ax.hist(lkj, bins=bins, density=True, histtype="step", lw=1.5, color=METHOD_COLORS["extra"], label="NUTS, LKJ")
        for value, style, label in ((cf["cov"][i, j], "-", "MLE ÷N"), (cf["book_cov"][i, j], "--", "np.cov ÷(N−1)"),
                                    (cf["map"]["Sigma"][i, j], ":", "MAP, flat prior")):
            ax.axvline(value, color=METHOD_COLORS["exact"], ls=style, lw=1.5, label=label)
        unit = f"{units[i]}²" if i == j else f"{units[i]}·{units[j]}"
        ax.set(title=f"Σ[{names[i]}, {names[j]}]", xlabel=f"covariance ({unit})", ylabel=f"density (1/{unit})")
        if (i, j) == ENTRIES[0]:
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{t.name}: every estimate of the covariance matrix", fontsize=12)
    fig.tight_layout()
    return fig


def figure_pair(t: Table, cf: dict, idata_lkj):
    names = [short(c) for c in t.labels]
    units = [unit_of(c) for c in t.labels]
    post = idata_lkj.posterior
    sd = np.sqrt(post["Sigma"].isel(dim=[0, 1], dim_b=[0, 1]).values.diagonal(axis1=-2, axis2=-1))
    rho = post["Sigma"].isel(dim=0, dim_b=1).values / (sd[..., 0] * sd[..., 1])
    variables = {
        f"μ {names[0]} ({units[0]})": post["mu"].isel(dim=0).values,
        f"μ {names[1]} ({units[1]})": post["mu"].isel(dim=1).values,
        f"σ {names[0]} ({units[0]})": sd[..., 0],
        f"σ {names[1]} ({units[1]})": sd[..., 1],
        "correlation ρ": rho,
    }
    ds = xr.Dataset({k: (("chain", "draw"), v) for k, v in variables.items()})
    cov = cf["cov"]
    mle_sd = np.sqrt(np.diag(cov))
    reference = dict(zip(variables, [cf["mu"][0], cf["mu"][1], mle_sd[0], mle_sd[1], cov[0, 1] / (mle_sd[0] * mle_sd[1])]))
    axes = az.plot_pair(ds, kind="scatter", marginals=True, reference_values=reference,
                        reference_values_kwargs={"color": METHOD_COLORS["nuts"], "markersize": 8},
                        scatter_kwargs={"alpha": 0.3, "s": 4}, figsize=(11, 11), textsize=9)
    fig = fig_from_axes(axes)
    fig.suptitle(f"{t.name}: LKJ posterior (NUTS), MLE marked in orange", fontsize=12)
    return fig


# --------------------------------------------------------------------------- run


def run(ctx) -> None:
    _, t = load_gaussian_data(ctx)
    if t is None:
        raise DataError(f"height_weight_mvn needs two columns; {ctx.settings.data} has one. "
                        "Pass a file with (height, weight) or any two numeric columns.")
    if is_book_height_weight(t.values) and t.labels[0].startswith("col"):
        t = replace(t, labels=("height (cm)", "weight (kg)"))  # the book's header-less file
    cf = closed_forms(ctx, t)
    idata_lkj = fit_lkj(ctx, t, cf)
    idata_nw, exact, prior = fit_normal_wishart(ctx, t)
    ctx.save_figure(figure_density(t, cf), "density_surface_contours_axes.png")
    ctx.save_figure(figure_rotated(t, cf), "rotated_coordinates.png")
    ctx.save_figure(figure_covariances(t, cf, idata_lkj, idata_nw, exact, ctx.rng(1)), "covariance_estimates.png")
    ctx.save_figure(figure_pair(t, cf, idata_lkj), "pair_lkj_posterior.png")
    for data, name in ((idata_lkj, "posterior_lkj.nc"), (idata_nw, "posterior_normal_wishart.nc")):
        if t.values.shape[0] > MAX_SAVED_LOGLIK and "log_likelihood" in data.groups():
            del data.log_likelihood  # N x draws values: 400 MB for the book's 25,000 rows
        ctx.save_netcdf(data, name)
    lkj_sigma = posterior_moment_errors(idata_lkj.posterior["Sigma"])
    nw_sigma = posterior_moment_errors(idata_nw.posterior["Sigma"])
    table = {
        "MLE (÷N)": cf["cov"], "np.cov (÷N−1, the book)": cf["book_cov"], "MAP, flat prior": cf["map"]["Sigma"],
        "NUTS, LKJ (posterior mean)": lkj_sigma["mean"], "NUTS, Normal-Wishart (posterior mean)": nw_sigma["mean"],
        "exact Normal-Wishart E[Σ]": exact.mean_Sigma,
    }
    for name, value in table.items():
        ctx.log(f"Σ {name:<40} {np.round(value, 4).tolist()}")
    ctx.extra.update({
        "dataset": t.name, "N": int(t.values.shape[0]), "book_data": is_book_height_weight(t.values),
        "mle_mean": cf["mu"], "covariance_estimates": table, "eigenvalues": cf["lam"], "eigenvectors": cf["Q"],
        "normal_wishart_prior": {"m0": prior.m0, "beta0": prior.beta0, "W0": prior.W0, "nu0": prior.nu0},
        "monte_carlo_tolerance_in_mcse": Z_MC,
    })


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
