"""Helpers shared by the Gaussian PyMC analyses (normal_clt, height_mle, height_weight_mvn,
sequential_bayes): NUTS settings, Monte Carlo checks, density overlays on ArviZ plots.

Not an analysis itself (the runner only loads the names in ``DEFAULT_ANALYSES``).
"""

from __future__ import annotations


import numpy as np

from models.fitting import diagnose, posterior_moment_errors

#: Monte Carlo comparisons pass within this many Monte Carlo standard errors.
Z_MC = 4.0
#: MAP with flat priors against the closed-form MLE.
RTOL_MAP = 1e-6
#: Colours used by every Gaussian figure: data, closed form, PyMC (NUTS), MAP / extra.
COLORS = {"data": "#c9d6e8", "exact": "#1d3557", "nuts": "#e76f51", "map": "#2a9d8f", "extra": "#8d5a97"}


def nuts_settings(ctx, *, univariate: bool = False) -> dict:
    """Keyword arguments for ``models.fitting.sample_nuts``: 2 chains x 1000 draws after 1000
    tuning steps; --quick halves the tuning but keeps the draws.

    Why not fewer draws: the gate is R-hat <= 1.01 on every scalar of the posterior, and with 500
    draws per chain the sampling noise of R-hat alone, maximised over a dozen quantities, crosses
    1.01 in a noticeable fraction of runs (measured on the univariate models: 5-15 % of seeds; on
    the Normal-Wishart fit of the book's data: R-hat 1.014 with bulk ESS ~1000 of 1000 draws, i.e.
    perfect mixing). With 1000 draws per chain no run failed.

    Univariate Gaussians get target_accept = 0.65: NUTS takes 1- or 3-step trajectories on these
    near-Gaussian, 1- or 2-parameter posteriors, and larger steps make the draws nearly antithetic.
    Measured on the PRML fig. 2.12 model (20 seeds, 2 x 1000 draws): median bulk ESS 1400 at 0.65,
    850 at 0.8, 740 at 0.9 (sample_nuts' default, kept for the multivariate models); largest R-hat
    1.0085, 1.0074 (one seed of the analysis reached 1.0126) and 1.0073; no divergences.
    """
    settings = {"draws": 1000, "tune": 500 if ctx.quick else 1000, "chains": 2, "progressbar": ctx.progressbar}
    if univariate:
        settings["target_accept"] = 0.65
    return settings


def gate(ctx, label: str, idata, *, dataset: str = "") -> bool:
    """Every NUTS result goes through ``ctx.record_diagnostics`` (R-hat, ESS, divergences)."""
    return ctx.record_diagnostics(label, diagnose(idata), dataset=dataset)


def check_moments(ctx, label: str, draws, mean, sd, *, reference: str, dataset: str, method: str = "NUTS") -> None:
    """Posterior mean and sd of ``draws`` (chain, draw[, ...]) against exact values, each within
    Z_MC Monte Carlo standard errors (ArviZ mcse of the mean / of the sd)."""
    got = posterior_moment_errors(draws)
    n = int(draws.sizes["chain"] * draws.sizes["draw"])
    for moment, exact, mcse in (("mean", mean, got["mcse_mean"]), ("sd", sd, got["mcse_sd"])):
        ctx.check(f"{label}: posterior {moment}", got[moment], exact, method=f"{method} ({n} draws)",
                  reference=reference, atol=Z_MC * float(np.max(mcse)), dataset=dataset,
                  note=f"{Z_MC:g} Monte Carlo standard errors (ArviZ mcse_{moment})")


def check_quantiles(ctx, label: str, draws, dist, *, reference: str, dataset: str,
                    probs=(0.05, 0.25, 0.5, 0.75, 0.95)) -> None:
    """Quantiles of predictive draws (chain, draw) against ``dist.ppf``, within Z_MC ArviZ quantile MCSEs."""
    import arviz as az

    ds = draws.to_dataset(name="v")
    values = draws.values
    got = np.array([np.quantile(values, p) for p in probs])
    mcse = np.array([float(az.mcse(ds, method="quantile", prob=p)["v"]) for p in probs])
    exact = np.array([dist.ppf(p) for p in probs])
    # one check per quantile: each has its own Monte Carlo error
    for p, g, e, m in zip(probs, got, exact, mcse):
        ctx.check(f"{label}: {100 * p:g} % quantile", g, e, method=f"NUTS posterior predictive ({values.size} draws)",
                  reference=reference, atol=Z_MC * m, dataset=dataset,
                  note=f"{Z_MC:g} Monte Carlo standard errors (ArviZ quantile mcse)")


def check_probability(ctx, label: str, indicator, exact: float, *, reference: str, dataset: str) -> None:
    """A probability estimated as the mean of 0/1 ``indicator`` draws (chain, draw) against ``exact``."""
    got = posterior_moment_errors(indicator.astype(float))
    ctx.check(label, got["mean"], exact, method=f"NUTS posterior predictive ({indicator.size} draws)",
              reference=reference, atol=Z_MC * float(got["mcse_mean"]) + 1e-12, dataset=dataset,
              note=f"{Z_MC:g} Monte Carlo standard errors")


def check_map(ctx, label: str, value, mle, *, dataset: str, reference: str) -> float:
    """MAP (flat priors) against the closed-form MLE, relative tolerance RTOL_MAP; returns the
    largest relative error."""
    value, mle = np.asarray(value, float), np.asarray(mle, float)
    ctx.check(label, value, mle, method="MAP, flat priors (models.fitting.fit_map, BFGS)", reference=reference,
              rtol=RTOL_MAP, dataset=dataset)
    return float(np.max(np.abs(value - mle)) / np.max(np.abs(mle)))


def sigma_density(post, grid: np.ndarray) -> np.ndarray:
    """Density of σ = τ^(-1/2) when τ ~ Gam(a_N, b_N): Gam(σ⁻² | a_N, b_N) · 2σ⁻³ (change of variables)."""
    return post.marginal_tau().pdf(grid**-2.0) * 2.0 * grid**-3.0


def fig_from_axes(axes):
    """The figure ArviZ drew into (it returns axes)."""
    return np.ravel(np.asarray(axes, dtype=object))[0].figure


def overlay(ax, grid: np.ndarray, density: np.ndarray, label: str) -> None:
    """A closed-form density drawn over an ArviZ panel, with a legend entry."""
    ax.plot(grid, density, color=COLORS["exact"], lw=2.0, ls="--", label=label)
    ax.legend(fontsize=8, loc="upper right")
