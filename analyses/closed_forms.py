"""Closed forms on real data: the exact answers every PyMC fit is later compared with.

1. Maximum likelihood and unbiased estimates (PRML 2.121–2.125) of the heights' mean and
   variance and of the height–weight mean and covariance, tied to numpy and scipy (the means to
   the exactly rounded sum ``math.fsum``: ``numpy.mean`` is the very call ``mle_mean`` makes).
2. The bias of σ²_ML, E[σ²_ML] = (N − 1)/N · σ² (PRML 1.58), shown by simulation.
3. Sequential estimation — the online mean (2.126), Welford's covariance, Robbins–Monro (2.135)
   and one-point-at-a-time Bayesian updating (2.144) — equal to the batch formulas.
4. Conjugate posteriors (Normal mean, Gamma precision, Normal-Gamma, Normal-Wishart). The
   known-σ posterior of μ equals Bayes' rule done numerically (prior × likelihood on a grid).
   Exact independent draws agree with the closed-form moments their construction does not fix
   (4 Monte Carlo standard errors). Draws of μ built as location + scale × noise have the
   location as their mean by construction, so their *law* is tested instead: Kolmogorov–Smirnov
   (level 1e-4) against the Student-t marginals of μ, and sample-then-draw against the
   Student-t predictive.

Data: ``heights`` (column ``height_cm``) and ``bdims`` (``height_cm``, ``weight_kg``), or with
``--data FILE`` its first column (and first two columns for the bivariate parts). Priors are
the weakly informative ``weak_from_data`` priors of :mod:`models.conjugate` and
:mod:`models.conjugate_mvn`, set from the data's rounded location and scale, so the same code runs
on data in any units; the checks hold for any prior.

(Slightly past the ~500-line guideline: four short studies, each a check function and its figure,
make one section of the report; splitting them would make four analyses of one idea.)
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from scipy import stats

from analyses.common import (
    RTOL_EXACT,
    Z_MC,
    Series,
    Table,
    check_ks,
    round_off,
    histogram_bins,
    load_gaussian_data,
    sigma_density,
    unit_of,
)
from models.conjugate import GammaPrecisionKnownMean, NormalGamma, NormalMeanKnownVariance
from models.conjugate_mvn import NormalWishart
from models.gaussian import (
    covariance_ellipse,
    mahalanobis_sq_chol,
    mahalanobis_sq_eig,
    mle_cov,
    mle_mean,
    mle_var,
    mvn_loglik,
    normal_loglik,
    principal_axes,
    unbiased_cov,
    unbiased_var,
)
from models.sequential import (
    online_mean,
    robbins_monro_mean,
    sequential_gamma_precision,
    sequential_normal_gamma,
    sequential_normal_mean,
    sequential_normal_wishart,
    welford,
)

TITLE = "Closed forms: MLE vs unbiased, the bias of sigma^2_ML, sequential == batch, exact conjugate posteriors"

#: Level of the Kolmogorov–Smirnov checks of exact draws against their marginal laws: about the
#: false-alarm rate of a 4-standard-error check (6e-5).
KS_ALPHA = 1e-4

# --------------------------------------------------------------------------- Monte Carlo helpers


def mc_mean(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean and its standard error, over axis 0."""
    return draws.mean(axis=0), draws.std(axis=0, ddof=1) / np.sqrt(draws.shape[0])


def mc_sd(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample sd and its standard error: SE(var) from the fourth central moment, then the delta method."""
    c = draws - draws.mean(axis=0)
    var = np.mean(c**2, axis=0)
    se_var = np.sqrt((np.mean(c**4, axis=0) - var**2) / draws.shape[0])
    sd = np.sqrt(var)
    return sd, se_var / (2.0 * sd)


def check_mc(ctx, quantity: str, draws: np.ndarray, exact: float, *, moment: str, reference: str, dataset: str):
    """Record |Monte Carlo estimate - exact| <= Z_MC standard errors (moment: "mean" or "sd")."""
    value, se = (mc_mean if moment == "mean" else mc_sd)(draws)
    ctx.check(quantity, value, exact, method=f"{moment} of {draws.shape[0]} exact draws", reference=reference,
              atol=Z_MC * float(se), dataset=dataset, note=f"{Z_MC:g} Monte Carlo standard errors",
              basis=f"{Z_MC:g} MCSE (independent draws)")


# --------------------------------------------------------------------------- 1. estimators


def check_estimators(ctx, s: Series, t: Table | None) -> None:
    x = s.values
    # numpy.mean would be the same x.mean() that mle_mean calls: the reference is the exactly
    # rounded sum instead (math.fsum), a different algorithm from numpy's pairwise summation.
    ctx.check("mean (MLE)", mle_mean(x), math.fsum(x) / x.size, method="models.gaussian.mle_mean",
              reference="math.fsum / N (exactly rounded sum)", rtol=RTOL_EXACT, dataset=s.name,
              basis=round_off(RTOL_EXACT))
    ctx.check("variance (MLE, /N)", mle_var(x), np.var(x, ddof=0), method="mle_var", reference="numpy.var ddof=0",
              rtol=RTOL_EXACT, dataset=s.name, basis=round_off(RTOL_EXACT))
    ctx.check("variance (unbiased, /(N-1))", unbiased_var(x), np.var(x, ddof=1), method="unbiased_var",
              reference="numpy.var ddof=1", rtol=RTOL_EXACT, dataset=s.name, basis=round_off(RTOL_EXACT))
    sd = np.sqrt(mle_var(x))
    ctx.check("log-likelihood at the MLE", normal_loglik(x, mle_mean(x), sd),
              stats.norm(mle_mean(x), sd).logpdf(x).sum(), method="normal_loglik",
              reference="scipy.stats.norm.logpdf", rtol=RTOL_EXACT, dataset=s.name, basis=round_off(RTOL_EXACT))
    if t is None:
        return
    y = t.values
    ctx.check("mean vector (MLE)", mle_mean(y), [math.fsum(column) / y.shape[0] for column in y.T],
              method="mle_mean", reference="math.fsum / N per column (exactly rounded sums)", rtol=RTOL_EXACT,
              dataset=t.name, basis=round_off(RTOL_EXACT))
    ctx.check("covariance (MLE, /N)", mle_cov(y), np.cov(y, rowvar=False, bias=True), method="mle_cov",
              reference="numpy.cov bias=True", rtol=RTOL_EXACT, dataset=t.name, basis=round_off(RTOL_EXACT))
    ctx.check("covariance (unbiased, /(N-1))", unbiased_cov(y), np.cov(y, rowvar=False, ddof=1),
              method="unbiased_cov", reference="numpy.cov ddof=1", rtol=RTOL_EXACT, dataset=t.name,
              basis=round_off(RTOL_EXACT))
    mu, cov = mle_mean(y), mle_cov(y)
    ctx.check("log-likelihood at the MLE", mvn_loglik(y, mu, cov), stats.multivariate_normal(mu, cov).logpdf(y).sum(),
              method="mvn_loglik (Cholesky)", reference="scipy.stats.multivariate_normal.logpdf (eigh)", rtol=1e-10,
              dataset=t.name, basis="1e-10 relative: round-off (two factorizations)")
    ctx.check("Mahalanobis distances", mahalanobis_sq_eig(y, mu, cov), mahalanobis_sq_chol(y, mu, cov),
              method="eigendecomposition, PRML 2.50", reference="Cholesky solve", rtol=1e-10, dataset=t.name,
              basis="1e-10 relative: round-off (two factorizations)")
    # Σ_n Δ²_n = N·D at the MLE exactly: tr(Σ_ML⁻¹ Σ_n (x_n - μ)(x_n - μ)ᵀ) = tr(N I).
    ctx.check("sum of Mahalanobis distances at the MLE", mahalanobis_sq_chol(y, mu, cov).sum(), y.size,
              method="Σ_n Δ²_n", reference="N·D (trace identity)", rtol=1e-10, dataset=t.name,
              basis="1e-10 relative: round-off (an identity)")


def figure_univariate_fit(s: Series, predictive) -> Figure:
    x, unit = s.values, unit_of(s.label)
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    ax.hist(x, bins=histogram_bins(x), density=True, color="#c9d6e8", edgecolor="white",
            label=f"{s.name} (N = {x.size})")
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 400)
    mu, sd_ml, sd_unb = mle_mean(x), np.sqrt(mle_var(x)), np.sqrt(unbiased_var(x))
    ax.plot(grid, stats.norm(mu, sd_ml).pdf(grid), color="#1d3557", lw=2,
            label=f"MLE normal: μ = {mu:.2f}, σ_ML = {sd_ml:.3f} {unit}")
    ax.plot(grid, stats.norm(mu, sd_unb).pdf(grid), color="#e76f51", lw=1.2, ls="--",
            label=f"unbiased σ = {sd_unb:.3f} {unit}")
    ax.plot(grid, predictive.pdf(grid), color="#2a9d8f", lw=1.2, ls=":",
            label=f"Normal-Gamma predictive t(ν = {predictive.kwds['df']:.0f})")
    ax.set(title=f"{s.name}: maximum-likelihood fit and posterior predictive", xlabel=s.label,
           ylabel=f"density (1/{unit})")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def figure_bivariate_fit(t: Table) -> Figure:
    y = t.values
    mu, cov = mle_mean(y), mle_cov(y)
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    ax.scatter(y[:, 0], y[:, 1], s=8, alpha=0.5, color="#457b9d", label=f"{t.name} (N = {y.shape[0]})")
    for k, style in zip((1, 2, 3), ("-", "--", ":")):
        w, h, angle = covariance_ellipse(cov, n_std=k)
        ax.add_patch(Ellipse(mu, w, h, angle=angle, fill=False, ls=style, color="#1d3557", lw=1.5,
                             label=f"Δ = {k} ({100 * (1 - np.exp(-k * k / 2)):.1f} % of a Gaussian)"))
    lam, U = principal_axes(cov)
    for i in range(2):
        end = mu + 2 * np.sqrt(lam[i]) * U[:, i]
        ax.annotate("", xy=end, xytext=mu, arrowprops={"arrowstyle": "->", "color": "#e63946", "lw": 1.5})
    ax.plot([], [], color="#e63946", label="principal axes 2√λᵢ uᵢ (PRML 2.45)")
    ax.plot(*mu, "k+", ms=12, mew=2, label="μ_ML")
    ax.set(title=f"{t.name}: MLE Gaussian, Mahalanobis ellipses", xlabel=t.labels[0], ylabel=t.labels[1])
    ax.legend(fontsize=8, loc="upper left")
    ax.autoscale_view()
    return fig


# --------------------------------------------------------------------------- 2. bias of σ²_ML


def bias_simulation(ctx, s: Series) -> None:
    """Simulate many data sets of size N from N(μ_ML, σ²_ML) and average the two variance estimates."""
    mu, sigma2 = mle_mean(s.values), mle_var(s.values)
    sizes = [2, 3, 5, 10, 20, 50]
    reps = 4_000 if ctx.quick else 40_000
    rng = ctx.rng(1)
    rows = []
    for n in sizes:
        x = rng.normal(mu, np.sqrt(sigma2), size=(n, reps))  # one simulated data set per column
        ml, unb = mle_var(x), unbiased_var(x)
        (m_ml, se_ml), (m_unb, se_unb) = mc_mean(ml), mc_mean(unb)
        ctx.check(f"E[σ²_ML], N = {n}", m_ml, (n - 1) / n * sigma2, method=f"mean over {reps} simulated data sets",
                  reference="(N-1)/N σ² (PRML 1.58)", atol=Z_MC * se_ml, dataset=f"simulated from {s.name} MLE",
                  note=f"{Z_MC:g} Monte Carlo standard errors", basis=f"{Z_MC:g} MCSE (independent data sets)")
        ctx.check(f"E[unbiased variance], N = {n}", m_unb, sigma2, method=f"mean over {reps} simulated data sets",
                  reference="σ² (PRML 1.59)", atol=Z_MC * se_unb, dataset=f"simulated from {s.name} MLE",
                  note=f"{Z_MC:g} Monte Carlo standard errors", basis=f"{Z_MC:g} MCSE (independent data sets)")
        rows.append((n, m_ml, se_ml, m_unb, se_unb))
    ctx.save_figure(figure_bias(np.array(rows), sigma2, reps, s), "sigma2_ml_bias_vs_n.png")


def figure_bias(rows: np.ndarray, sigma2: float, reps: int, s: Series) -> Figure:
    n, m_ml, se_ml, m_unb, se_unb = rows.T
    unit = unit_of(s.label)
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    grid = np.geomspace(n.min(), n.max() * 1.1, 200)
    ax.axhline(sigma2, color="0.3", lw=1, label=f"true σ² = {sigma2:.1f} {unit}²")
    ax.plot(grid, (grid - 1) / grid * sigma2, color="#1d3557", lw=1.5, label="(N − 1)/N · σ²  (PRML 1.58)")
    ax.errorbar(n, m_ml, yerr=2 * se_ml, fmt="o", color="#1d3557", capsize=3, label="mean of σ²_ML (±2 SE)")
    ax.errorbar(n * 1.04, m_unb, yerr=2 * se_unb, fmt="s", color="#e76f51", capsize=3,
                label="mean of unbiased s² (±2 SE)")
    ax.set_xscale("log")
    ax.set_xticks(n, labels=[f"{v:.0f}" for v in n])
    ax.minorticks_off()
    ax.set(title=f"Bias of the ML variance: {reps} simulated data sets per N", xlabel="sample size N",
           ylabel=f"average variance estimate ({unit}²)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


# --------------------------------------------------------------------------- priors


def weak_priors(x: np.ndarray) -> dict:
    """The weak, data-scaled conjugate priors of the univariate parts (``weak_from_data``)."""
    return {"normal_mean": NormalMeanKnownVariance.weak_from_data(x),
            "gamma_precision": GammaPrecisionKnownMean.weak_from_data(x),
            "normal_gamma": NormalGamma.weak_from_data(x)}


# --------------------------------------------------------------------------- 3. sequential == batch


def check_sequential(ctx, s: Series, t: Table | None, priors: dict, nw_prior: NormalWishart | None) -> dict:
    x = s.values
    n = np.arange(1, x.size + 1)
    prefix_mean = np.cumsum(x) / n  # a different summation order from the recursion
    online = online_mean(x)
    ctx.check("online mean (2.126), every prefix", online, prefix_mean, method="models.sequential.online_mean",
              reference="cumsum / n", rtol=1e-11, dataset=s.name, basis=round_off(1e-11))
    rm = robbins_monro_mean(x, np.sqrt(mle_var(x)), theta0=0.0)
    ctx.check("Robbins-Monro with a_N = σ²/N (2.135)", rm, online, method="robbins_monro_mean",
              reference="online mean (2.126)", rtol=RTOL_EXACT, dataset=s.name, basis=round_off(RTOL_EXACT))
    run = welford(x)
    ctx.check("Welford variance, final", run.covariance(0)[-1], mle_var(x), method="welford",
              reference="mle_var (batch)", rtol=1e-11, dataset=s.name, basis=round_off(1e-11))

    seq_nm = sequential_normal_mean(priors["normal_mean"], x)
    batch_nm = priors["normal_mean"].posterior(x)
    ctx.check("sequential posterior (σ known): μ_N, σ_N", [seq_nm.mu_N[-1], seq_nm.sigma_N[-1]],
              [batch_nm.mu_N, batch_nm.sigma_N], method="one point at a time (2.144)",
              reference="batch PRML 2.141-2.142", rtol=RTOL_EXACT, dataset=s.name, basis=round_off(RTOL_EXACT))
    seq_gp = sequential_gamma_precision(priors["gamma_precision"], x)
    batch_gp = priors["gamma_precision"].posterior(x)
    ctx.check("sequential posterior (μ known): a_N, b_N", [seq_gp.a_N[-1], seq_gp.b_N[-1]],
              [batch_gp.a_N, batch_gp.b_N], method="one point at a time", reference="batch PRML 2.150-2.151",
              rtol=RTOL_EXACT, dataset=s.name, basis=round_off(RTOL_EXACT))
    seq_ng = sequential_normal_gamma(priors["normal_gamma"], x)
    batch_ng = priors["normal_gamma"].posterior(x)
    ctx.check("sequential Normal-Gamma: μ_N, κ_N, a_N, b_N",
              [seq_ng.mu_N[-1], seq_ng.kappa_N[-1], seq_ng.a_N[-1], seq_ng.b_N[-1]],
              [batch_ng.mu_N, batch_ng.kappa_N, batch_ng.a_N, batch_ng.b_N], method="one point at a time",
              reference="batch Normal-Gamma update", rtol=RTOL_EXACT, dataset=s.name, basis=round_off(RTOL_EXACT))
    if t is not None:
        y = t.values
        ctx.check("Welford covariance, final", welford(y).covariance(0)[-1], mle_cov(y), method="welford",
                  reference="mle_cov (batch)", rtol=1e-11, dataset=t.name, basis=round_off(1e-11))
        seq_nw = sequential_normal_wishart(nw_prior, y)
        batch_nw = nw_prior.posterior(y)
        ctx.check("sequential Normal-Wishart: m_N", seq_nw.m_N[-1], batch_nw.m_N, method="one point at a time",
                  reference="batch Bishop 10.61", rtol=RTOL_EXACT, dataset=t.name, basis=round_off(RTOL_EXACT))
        ctx.check("sequential Normal-Wishart: W_N", seq_nw.W_N[-1], batch_nw.W_N, method="one point at a time",
                  reference="batch Bishop 10.62", rtol=1e-10, dataset=t.name,
                  note="relative 1e-10: W_N passes through one SPD inverse", basis=round_off(1e-10))
    sigma2 = mle_var(x)
    rm_slow = robbins_monro_mean(x, np.sqrt(sigma2), theta0=float(x[0]), step=lambda k: sigma2 / k**0.6)
    return {"online": online, "rm_slow": rm_slow,
            "welford_sd": np.sqrt(run.covariance(0)), "normal_mean": seq_nm, "normal_gamma": seq_ng}


def figure_sequential(s: Series, traj: dict) -> Figure:
    x, unit = s.values, unit_of(s.label)
    n = np.arange(1, x.size + 1)
    nm, ng = traj["normal_mean"], traj["normal_gamma"]
    fig = Figure(figsize=(11, 4.5))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.fill_between(nm.n[1:], nm.mu_N[1:] - 2 * nm.sigma_N[1:], nm.mu_N[1:] + 2 * nm.sigma_N[1:],
                     color="#a8dadc", alpha=0.7, label="posterior μ_N ± 2σ_N (σ known)")
    ax1.plot(n, traj["online"], color="#1d3557", lw=1.5, label="online mean = Robbins–Monro a_N = σ²/N")
    ax1.plot(n, traj["rm_slow"], color="#e76f51", lw=1, label="Robbins–Monro a_N = σ²/N^0.6")
    ax1.axhline(mle_mean(x), color="0.3", ls=":", lw=1, label="batch μ_ML")
    ax1.set_xscale("log")
    span = 4 * np.sqrt(mle_var(x))
    ax1.set_ylim(mle_mean(x) - span, mle_mean(x) + span)
    ax1.set(title="Sequential estimates of the mean", xlabel="observations seen n", ylabel=f"mean ({unit})")
    ax1.legend(fontsize=8, loc="upper right")

    # sd of the Student-t marginal of μ, √(b_N/(κ_N (a_N - 1))), finite once a_N > 1.
    finite = ng.a_N > 1
    t_sd = np.sqrt(ng.b_N[finite] / (ng.kappa_N[finite] * (ng.a_N[finite] - 1)))
    ax2.plot(n[1:], traj["welford_sd"][1:], color="#1d3557", lw=1.5, label="σ_ML (Welford)")
    ax2.plot(ng.n[1:], np.sqrt(ng.b_N[1:] / ng.a_N[1:]), color="#2a9d8f", lw=1,
             label="Normal-Gamma √(b_N/a_N)")
    ax2.plot(ng.n[finite], t_sd, color="#e76f51", lw=1, label="Normal-Gamma posterior sd of μ")
    ax2.plot(n, np.sqrt(mle_var(x) / n), color="#e76f51", ls=":", lw=1, label="σ_ML/√n")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set(title="Sequential estimates of spread", xlabel="observations seen n", ylabel=f"standard deviation ({unit})")
    ax2.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{s.name}: every sequential trajectory ends at its batch value", fontsize=11)
    return fig


# --------------------------------------------------------------------------- 4. exact conjugate draws


def grid_posterior_normal_mean(x: np.ndarray, prior: NormalMeanKnownVariance, n_points: int = 801):
    """Posterior mean and sd of μ (σ known) by Bayes' rule on a grid, without the conjugate
    algebra: ln N(μ | μ0, σ0²) + Σ_n ln N(x_n | μ, σ²) point by point (scipy), normalised and
    integrated by the trapezoid rule over x̄ ± (12 σ/√N + |μ0 − x̄|). Returns (mean, sd)."""
    xbar = math.fsum(x) / x.size
    half = 12.0 * prior.sigma / np.sqrt(x.size) + abs(prior.mu0 - xbar)
    offsets = np.linspace(-half, half, n_points)  # μ - x̄: small numbers keep the moments accurate
    log_post = stats.norm(prior.mu0, prior.sigma0).logpdf(xbar + offsets)
    for chunk in np.array_split(np.arange(n_points), max(1, n_points * x.size // 2_000_000)):
        log_post[chunk] += stats.norm.logpdf(x[None, :], loc=xbar + offsets[chunk, None], scale=prior.sigma).sum(axis=1)
    p = np.exp(log_post - log_post.max())
    p /= np.trapezoid(p, offsets)
    mean = np.trapezoid(offsets * p, offsets)
    return xbar + mean, float(np.sqrt(np.trapezoid((offsets - mean) ** 2 * p, offsets)))


def check_univariate_draws(ctx, s: Series, priors: dict, n_draws: int) -> dict:
    x, ds = s.values, s.name
    rng = ctx.rng(2)
    nm = priors["normal_mean"].posterior(x)
    # The draws are μ_N + σ_N z: their mean and sd would test numpy's generator, not μ_N and σ_N.
    # Bayes' rule on a grid tests the posterior itself; the draws only feed the figure.
    mu = nm.sample(rng, n_draws)
    grid_mean, grid_sd = grid_posterior_normal_mean(x, priors["normal_mean"])
    ctx.check("σ known: posterior mean and sd of μ by quadrature", [grid_mean, grid_sd], [nm.mu_N, nm.sigma_N],
              method="Bayes' rule on a grid: prior × Π_n N(x_n | μ, σ²) (scipy.stats.norm.logpdf), trapezoid rule",
              reference="μ_N, σ_N (PRML 2.141-2.142)", atol=1e-9 * nm.sigma_N, dataset=ds,
              basis="1e-9 σ_N: round-off (the trapezoid rule is exponentially accurate for a Gaussian)")

    gp = priors["gamma_precision"].posterior(x)
    tau = gp.sample(rng, n_draws)
    check_mc(ctx, "μ known: posterior mean of τ", tau, gp.a_N / gp.b_N, moment="mean",
             reference="a_N/b_N (PRML 2.147, 2.150-2.151)", dataset=ds)
    check_mc(ctx, "μ known: posterior sd of τ", tau, np.sqrt(gp.a_N) / gp.b_N, moment="sd",
             reference="√a_N/b_N (PRML 2.148)", dataset=ds)
    check_mc(ctx, "μ known: posterior mean of σ", tau**-0.5, gp.mean_sigma, moment="mean",
             reference="√b_N Γ(a_N-½)/Γ(a_N)", dataset=ds)

    ng = priors["normal_gamma"].posterior(x)
    d = ng.sample(rng, n_draws)
    t_mu, g_tau = ng.marginal_mu(), ng.marginal_tau()
    # μ = μ_N + z/√(κ_N τ) has mean μ_N whatever τ is; its law, the Student-t, is the real test.
    check_ks(ctx, "Normal-Gamma: exact draws of μ vs the Student-t marginal", d.mu, t_mu, alpha=KS_ALPHA,
             method=f"{n_draws} exact draws (τ, then μ | τ)", reference="Student-t(2a_N, μ_N, √(b_N/(a_N κ_N)))",
             dataset=ds)
    check_mc(ctx, "Normal-Gamma: posterior sd of μ", d.mu, t_mu.std(), moment="sd",
             reference="√(b_N/(κ_N (a_N-1)))", dataset=ds)
    check_mc(ctx, "Normal-Gamma: posterior mean of τ", d.tau, g_tau.mean(), moment="mean", reference="a_N/b_N",
             dataset=ds)
    check_mc(ctx, "Normal-Gamma: posterior sd of σ", d.sigma, ng.sd_sigma, moment="sd",
             reference="√(b_N/(a_N-1) - E[σ]²)", dataset=ds)
    x_new = rng.normal(d.mu, d.sigma)  # sample-then-draw from the posterior predictive
    pred = ng.predictive()
    check_ks(ctx, "Normal-Gamma predictive: sample-then-draw vs the Student-t", x_new, pred, alpha=KS_ALPHA,
             method=f"{n_draws} draws of x | μ, σ", reference="Student-t(2a_N, μ_N, √(b_N (κ_N+1)/(a_N κ_N)))",
             dataset=ds)
    check_mc(ctx, "Normal-Gamma predictive: sd", x_new, pred.std(), moment="sd",
             reference="√(b_N (κ_N+1)/(a_N κ_N)) · √(ν/(ν-2))", dataset=ds)
    return {"normal_mean": (nm, mu), "gamma_precision": (gp, tau), "normal_gamma": (ng, d)}


def check_bivariate_draws(ctx, t: Table, prior: NormalWishart, n_draws: int):
    y, ds = t.values, t.name
    rng = ctx.rng(3)
    post = prior.posterior(y)
    d = post.sample(rng, n_draws)
    # μ = m_N + C⁻ᵀz/√β_N has mean m_N by construction; each coordinate's law is a Student-t.
    t_mu = post.marginal_mu()
    for j, label in enumerate(t.labels):
        marginal = stats.t(t_mu.df, loc=t_mu.loc[j], scale=np.sqrt(t_mu.shape[j, j]))
        check_ks(ctx, f"Normal-Wishart: exact draws of μ {label} vs the t marginal", d.mu[:, j], marginal,
                 alpha=KS_ALPHA, method=f"{n_draws} exact draws (Bartlett, then μ | Λ)",
                 reference=f"Student-t(ν_N - D + 1 = {t_mu.df:g}) marginal of the multivariate t", dataset=ds)
    for i, j in ((0, 0), (0, 1), (1, 1)):
        check_mc(ctx, f"Normal-Wishart: E[Λ][{i},{j}]", d.Lambda[:, i, j], post.mean_Lambda[i, j], moment="mean",
                 reference="ν_N W_N", dataset=ds)
        check_mc(ctx, f"Normal-Wishart: E[Σ][{i},{j}]", d.Sigma[:, i, j], post.mean_Sigma[i, j], moment="mean",
                 reference="W_N⁻¹/(ν_N - D - 1)", dataset=ds)
    # The exact 95 % region of the multivariate-t marginal of μ: Δ²/D ~ F(D, ν_N - D + 1).
    delta2 = mahalanobis_sq_chol(d.mu, t_mu.loc, t_mu.shape)
    inside = np.mean(delta2 <= 2 * stats.f(2, t_mu.df).ppf(0.95))
    ctx.check("Normal-Wishart: μ draws inside the 95 % t region", inside, 0.95, method=f"{n_draws} exact draws",
              reference="multivariate-t marginal (F quantile)", atol=Z_MC * np.sqrt(0.95 * 0.05 / n_draws),
              dataset=ds, note=f"{Z_MC:g} binomial standard errors", basis=f"{Z_MC:g} binomial SE",
              probability=True)
    chol = np.linalg.cholesky(d.Sigma)
    y_new = d.mu + (chol @ rng.standard_normal((n_draws, 2, 1)))[..., 0]
    pred = post.predictive()
    pred_sd = np.sqrt(np.diag(pred.shape) * pred.df / (pred.df - 2))
    for j, label in enumerate(t.labels):
        check_mc(ctx, f"Normal-Wishart predictive: sd of {label}", y_new[:, j], pred_sd[j], moment="sd",
                 reference="multivariate t shape · ν/(ν-2)", dataset=ds)
    return post, d


def figure_conjugate(s: Series, uni: dict, t: Table | None, nw) -> Figure:
    unit = unit_of(s.label)
    fig = Figure(figsize=(11, 8.5))
    axes = fig.subplots(2, 2).ravel()
    nm, mu = uni["normal_mean"]
    ng, d = uni["normal_gamma"]
    ax = axes[0]
    ax.hist(mu, bins=60, density=True, color="#c9d6e8", label="exact draws, σ known")
    ax.hist(d.mu, bins=60, density=True, histtype="step", color="#e76f51", label="exact draws, Normal-Gamma")
    grid = np.linspace(*np.percentile(d.mu, [0.01, 99.99]), 300)
    ax.plot(grid, nm.marginal_mu().pdf(grid), color="#1d3557", lw=1.5, label="N(μ_N, σ_N²)  (PRML 2.140)")
    ax.plot(grid, ng.marginal_mu().pdf(grid), color="#e76f51", lw=1.5, ls="--", label="Student-t marginal")
    ax.set(title="Posterior of the mean μ", xlabel=f"μ ({unit})", ylabel=f"density (1/{unit})")
    ax.legend(fontsize=8)

    gp, tau = uni["gamma_precision"]
    ax = axes[1]
    ax.hist(tau**-0.5, bins=60, density=True, color="#c9d6e8", label="exact draws, μ known")
    ax.hist(d.sigma, bins=60, density=True, histtype="step", color="#e76f51", label="exact draws, Normal-Gamma")
    grid = np.linspace(*np.percentile(d.sigma, [0.01, 99.99]), 300)
    for post, style, label in ((gp, "-", "μ known"), (ng, "--", "Normal-Gamma")):
        ax.plot(grid, sigma_density(post, grid), ls=style,
                color="#1d3557" if style == "-" else "#e76f51", lw=1.5, label=f"exact density, {label}")
    ax.set(title="Posterior of the standard deviation σ = τ^(-1/2)", xlabel=f"σ ({unit})",
           ylabel=f"density (1/{unit})")
    ax.legend(fontsize=8)

    ax = axes[2]
    pred = ng.predictive()
    x_new = np.random.default_rng(0).normal(d.mu, d.sigma)  # display only; checks use the context's streams
    ax.hist(x_new, bins=80, density=True, color="#c9d6e8", label="sample μ, σ then x (Monte Carlo)")
    ax.hist(s.values, bins=histogram_bins(s.values), density=True, histtype="step", color="0.4",
            label=f"observed {s.name}")
    grid = np.linspace(*np.percentile(x_new, [0.05, 99.95]), 300)
    ax.plot(grid, pred.pdf(grid), color="#e76f51", lw=1.5, label=f"Student-t predictive (ν = {pred.kwds['df']:.0f})")
    ax.set(title="Posterior predictive of a new observation", xlabel=s.label, ylabel=f"density (1/{unit})")
    ax.legend(fontsize=8)

    ax = axes[3]
    if nw is None:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no bivariate data", ha="center", va="center")
    else:
        post, dn = nw
        ax.scatter(dn.mu[:3000, 0], dn.mu[:3000, 1], s=3, alpha=0.3, color="#457b9d", label="exact draws of μ")
        t_mu = post.marginal_mu()
        w, h, angle = covariance_ellipse(t_mu.shape, n_std=np.sqrt(2 * stats.f(2, t_mu.df).ppf(0.95)))
        ax.add_patch(Ellipse(post.m_N, w, h, angle=angle, fill=False, color="#e63946", lw=1.5,
                             label="exact 95 % region (multivariate t)"))
        ax.plot(*post.m_N, "k+", ms=10, mew=2, label="m_N")
        ax.set(title=f"Normal-Wishart posterior of μ ({t.name})", xlabel=t.labels[0], ylabel=t.labels[1])
        ax.legend(fontsize=8)
    fig.suptitle("Conjugate posteriors: exact draws against their closed-form densities", fontsize=12)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- run


def run(ctx) -> None:
    s, t = load_gaussian_data(ctx)
    ctx.log(f"univariate: {s.name} ({s.values.size} values); bivariate: {t.name if t else 'none'}")
    n_draws = 4_000 if ctx.quick else 40_000

    check_estimators(ctx, s, t)
    priors = weak_priors(s.values)
    nw_prior = NormalWishart.weak_from_data(t.values) if t is not None else None
    ctx.save_figure(figure_univariate_fit(s, priors["normal_gamma"].posterior(s.values).predictive()),
                    f"{s.name}_mle_fit.png")
    if t is not None:
        ctx.save_figure(figure_bivariate_fit(t), f"{t.name}_mle_ellipses.png")

    bias_simulation(ctx, s)

    traj = check_sequential(ctx, s, t, priors, nw_prior)
    ctx.save_figure(figure_sequential(s, traj), "sequential_convergence.png")

    uni = check_univariate_draws(ctx, s, priors, n_draws)
    nw = check_bivariate_draws(ctx, t, nw_prior, n_draws) if t is not None else None
    ctx.save_figure(figure_conjugate(s, uni, t, nw), "conjugate_posteriors.png")

    ctx.extra.update(summary(s, t, uni, nw))


def summary(s: Series, t: Table | None, uni: dict, nw) -> dict:
    """The closed-form numbers, for summary.json (and for anyone comparing a PyMC fit by hand)."""
    x = s.values
    nm, gp, ng = uni["normal_mean"][0], uni["gamma_precision"][0], uni["normal_gamma"][0]
    out = {
        s.name: {"N": int(x.size), "mle_mean": mle_mean(x), "mle_sd": float(np.sqrt(mle_var(x))),
                 "unbiased_sd": float(np.sqrt(unbiased_var(x))),
                 "posterior_normal_mean": {"mu_N": nm.mu_N, "sigma_N": nm.sigma_N, "sigma": nm.sigma},
                 "posterior_gamma_precision": {"mu": gp.mu, "a_N": gp.a_N, "b_N": gp.b_N},
                 "posterior_normal_gamma": {"mu_N": ng.mu_N, "kappa_N": ng.kappa_N, "a_N": ng.a_N, "b_N": ng.b_N}},
    }
    if t is not None:
        post = nw[0]
        out[t.name] = {"N": int(t.values.shape[0]), "columns": list(t.labels), "mle_mean": mle_mean(t.values),
                       "mle_cov": mle_cov(t.values), "unbiased_cov": unbiased_cov(t.values),
                       "posterior_normal_wishart": {"m_N": post.m_N, "beta_N": post.beta_N, "W_N": post.W_N,
                                                    "nu_N": post.nu_N}}
    return out


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
