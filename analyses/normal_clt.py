"""The normal distribution and the central limit theorem (seed 000, step 1).

1. Normal densities N(x | μ, σ²) for several (μ, σ): PyMC's log-density (``pm.logp`` of
   ``pm.Normal.dist``, one compiled function) against the formula of
   :func:`models.gaussian.normal_logpdf`; each density integrates to 1 and has mean μ and
   variance σ² (numerical quadrature).
2. The CLT: the mean of N i.i.d. draws from p(x) is approximately N(μ, σ²/N), whatever p(x).
   For the book's uniform U(0, 1) and a skewed exponential Exp(1) (draws made by PyMC's
   ``pm.draw``), and with ``--data FILE`` also for the empirical distribution of the file's first
   column (resampled), for N = 1, 2, 4, 10 (the book's):

   * the sample means have mean μ and variance σ²/N (4 Monte Carlo standard errors);
   * they follow their *exact* law — Irwin–Hall / N for the uniform, Gamma(N, 1/N) for the
     exponential — by a Kolmogorov–Smirnov test at level 0.001;
   * the exact law is within the Berry–Esseen bound 0.4748 ρ / (σ³ √N) of the CLT normal
     (ρ = E|x − μ|³) — checked only where the bound is below 1 (for Exp(1) at N = 1 it is
     0.4748 (12/e − 2) ≈ 1.15, which no distance between distribution functions can exceed:
     there the distance is logged, not checked);
   * for the data file's empirical distribution, whose exact law is unknown, the simulated
     means are within the Berry–Esseen bound plus the KS allowance of the CLT normal (where that
     sum is below 1). For the uniform and the exponential this would follow from the two checks
     above by the triangle inequality, so there it is a figure, not a check.

   The sums x_1 + ... + x_N (the book's second plot) are the means times N: N(Nμ, Nσ²).

Figures: the densities; histograms of sample means and of sums with the CLT normal and the
exact density; the distance to the normal against N with the Berry–Esseen bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from matplotlib.figure import Figure
from scipy import special, stats

from analyses.common import METHOD_COLORS, Z_MC, axis_label, unit_of, user_data
from models.gaussian import mle_var, normal_logpdf

TITLE = "Normal densities (PyMC vs formula) and the central limit theorem for uniform, exponential and data draws"

#: (μ, σ) pairs drawn and checked, as in the book's figure of several normal densities.
PDF_PARAMS = ((0.0, 1.0), (0.0, 0.5), (0.0, 2.0), (2.0, 1.0), (-3.0, 0.7))
#: Sample sizes N whose means are studied (the book's).
SAMPLE_SIZES = (1, 2, 4, 10)
#: Shevtsova (2011): sup |F_N − Φ| <= C ρ/(σ³√N) for i.i.d. sums, with C = 0.4748.
BERRY_ESSEEN_C = 0.4748
#: Level of the Kolmogorov–Smirnov checks.
KS_ALPHA = 1e-3


class IrwinHallMean:
    """Exact law of the mean of n i.i.d. U(0, 1) draws (the sum is Irwin–Hall):
    F(m) = (1/n!) Σ_{k <= nm} (−1)^k C(n, k) (nm − k)^n. The alternating sum loses about
    log10(C(n, n/2) (n/2)^n / n!) digits, ~4 at n = 10, so it is used for n <= 20 only
    (scipy.stats.irwinhall agrees, but evaluates point by point and is ~100x slower)."""

    def __init__(self, n: int):
        if not 1 <= n <= 20:
            raise ValueError(f"IrwinHallMean is accurate for 1 <= n <= 20, got {n}")
        self.n = n
        k = np.arange(n + 1)
        self._k = k
        self._coef = (-1.0) ** k * special.comb(n, k, exact=False)

    def _terms(self, m, power: int) -> np.ndarray:
        s = np.clip(np.asarray(m, dtype=float), 0.0, 1.0)[..., None] * self.n - self._k
        return np.where(s > 0, np.clip(s, 0.0, None) ** power, 0.0)

    def cdf(self, m) -> np.ndarray:
        out = self._terms(m, self.n) @ self._coef / special.factorial(self.n)
        return np.clip(np.where(np.asarray(m) >= 1.0, 1.0, out), 0.0, 1.0)

    def pdf(self, m) -> np.ndarray:
        inside = (np.asarray(m) > 0) & (np.asarray(m) < 1)
        return np.where(inside, self.n * (self._terms(m, self.n - 1) @ self._coef) / special.factorial(self.n - 1), 0.0)

    def ppf(self, q: float) -> float:
        return 0.0 if q < 0.5 else 1.0  # only used for the plotting range: the support is [0, 1]


@dataclass(frozen=True)
class Source:
    """A distribution p(x) to average: how to draw from it, its moments, and (if known) the exact law of the mean."""

    name: str
    label: str
    draw: Callable[[np.random.Generator, tuple], np.ndarray]
    mean: float
    var: float
    rho: float  # E|x − μ|³
    exact_mean_law: Callable[[int], object] | None
    unit: str

    def berry_esseen(self, n: int) -> float:
        return BERRY_ESSEEN_C * self.rho / (self.var**1.5 * np.sqrt(n))

    def clt(self, n: int):
        return stats.norm(self.mean, np.sqrt(self.var / n))


def _pymc_draw(dist_factory):
    """Draws from a PyMC distribution with ``pm.draw`` (seeded from the analysis' generator)."""

    def draw(rng: np.random.Generator, shape: tuple) -> np.ndarray:
        import pymc as pm

        return np.asarray(pm.draw(dist_factory(pm, shape), random_seed=rng))

    return draw


def sources(ctx) -> list[Source]:
    out = [
        Source("uniform", "U(0, 1) (the book's)", _pymc_draw(lambda pm, shape: pm.Uniform.dist(0.0, 1.0, shape=shape)),
               0.5, 1.0 / 12.0, 1.0 / 32.0, IrwinHallMean, "arbitrary units"),
        Source("exponential", "Exp(1) (skewed)", _pymc_draw(lambda pm, shape: pm.Exponential.dist(1.0, shape=shape)),
               # E|x − 1|³ = 12/e − 2 for Exp(1)
               1.0, 1.0, 12.0 / np.e - 2.0, lambda n: stats.gamma(n, scale=1.0 / n), "arbitrary units"),
    ]
    if ctx.settings.data:
        ds = user_data(ctx)
        x = ds.column(0)
        mle_var(x)  # refuses constant or one-point data with a clear message
        m = float(x.mean())
        label = axis_label(ds.columns[0], keep_unnamed=True)
        out.append(Source(ds.name, f"{ds.name}: empirical distribution of {label}",
                          lambda rng, shape, x=x: rng.choice(x, size=shape), m, float(mle_var(x)),
                          float(np.mean(np.abs(x - m) ** 3)), None, unit_of(label)))
    return out


# --------------------------------------------------------------------------- 1. densities


def check_densities(ctx) -> dict:
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    x, mu, sigma = pt.dvector("x"), pt.dscalar("mu"), pt.dscalar("sigma")
    logp = pytensor.function([x, mu, sigma], pm.logp(pm.Normal.dist(mu, sigma), x), mode="FAST_COMPILE")  # one-shot: no C
    curves = {}
    for m, s in PDF_PARAMS:
        grid = np.linspace(m - 12 * s, m + 12 * s, 20_001)
        lp = logp(grid, m, s)
        tag = f"N(μ = {m:g}, σ = {s:g})"
        ctx.check(f"{tag}: log-density on 20001 points", lp, normal_logpdf(grid, m, s), method="PyMC pm.logp(pm.Normal)",
                  reference="-½ln(2π) - ln σ - (x-μ)²/(2σ²) (models.gaussian)", rtol=1e-12, atol=1e-12,
                  dataset="grid μ ± 12σ", basis="1e-12 absolute + 1e-12 relative: round-off")
        p = np.exp(lp)
        total = np.trapezoid(p, grid)
        mean = np.trapezoid(grid * p, grid)
        var = np.trapezoid((grid - mean) ** 2 * p, grid)
        quadrature = "quadrature: the trapezoid rule is exponentially accurate here, e^(-72) tails; round-off"
        ctx.check(f"{tag}: ∫ p(x) dx", total, 1.0, method="trapezoid rule, 20001 points", reference="1",
                  atol=1e-10, dataset="grid μ ± 12σ", basis=f"1e-10 {quadrature}")
        ctx.check(f"{tag}: mean ∫ x p(x) dx", mean, m, method="trapezoid rule", reference="μ", atol=1e-9 * s,
                  dataset="grid μ ± 12σ", basis=f"1e-9 σ {quadrature}")
        ctx.check(f"{tag}: variance", var, s * s, method="trapezoid rule", reference="σ²", rtol=1e-9,
                  dataset="grid μ ± 12σ", basis=f"1e-9 relative {quadrature}")
        curves[(m, s)] = (grid, p)
    return curves


def figure_densities(curves: dict) -> Figure:
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for (m, s), (grid, p) in curves.items():
        keep = np.abs(grid - m) <= 4.5 * s
        ax.plot(grid[keep], p[keep], lw=1.8, label=f"μ = {m:g}, σ = {s:g}")
    ax.set(title="Normal densities N(x | μ, σ²) from PyMC's log-density", xlabel="x (arbitrary units)",
           ylabel="density p(x) (1/unit)", xlim=(-6.5, 6.5))
    ax.legend(fontsize=9)
    return fig


# --------------------------------------------------------------------------- 2. the CLT


def exact_distance(src: Source, n: int) -> float:
    """sup_x |F_exact(x) − Φ_CLT(x)| on a fine grid covering both laws."""
    exact, clt = src.exact_mean_law(n), src.clt(n)
    lo = min(exact.ppf(1e-9), clt.ppf(1e-9))
    hi = max(exact.ppf(1 - 1e-9), clt.ppf(1 - 1e-9))
    grid = np.linspace(lo, hi, 8_001)
    return float(np.max(np.abs(exact.cdf(grid) - clt.cdf(grid))))


def check_irwin_hall(ctx) -> None:
    """The fast Irwin–Hall CDF used below against scipy's (slow, independent) implementation."""
    m = np.linspace(0.0, 1.0, 41)
    for n in SAMPLE_SIZES:
        ctx.check(f"Irwin–Hall/N CDF, N = {n}", IrwinHallMean(n).cdf(m), stats.irwinhall(n, scale=1.0 / n).cdf(m),
                  method="alternating-sum formula", reference="scipy.stats.irwinhall", atol=1e-11,
                  dataset="41 points in [0, 1]", probability=True,
                  basis="1e-11: round-off of the alternating sum (about 4 digits lost at N = 10)")


def study_source(ctx, src: Source, trials: int, stream: int) -> dict:
    """Simulate ``trials`` means for each N and record the checks; returns the means per N."""
    rng = ctx.rng(stream)
    draws = src.draw(rng, (trials, max(SAMPLE_SIZES)))
    ds = f"{trials} simulated samples from {src.label}"
    crit = float(stats.kstwo(trials).ppf(1 - KS_ALPHA))
    out = {"means": {}, "ecdf_distance": {}, "exact_distance": {}}
    for n in SAMPLE_SIZES:
        means = draws[:, :n].mean(axis=1)
        out["means"][n] = means
        se_mean = np.sqrt(src.var / n / trials)
        ctx.check(f"{src.name}, N = {n}: mean of the sample means", means.mean(), src.mean, method="simulation",
                  reference="μ", atol=Z_MC * se_mean, dataset=ds, note=f"{Z_MC:g} standard errors",
                  basis=f"{Z_MC:g} SE (exact σ/√(N · trials))")
        c = means - means.mean()
        var = float(np.mean(c * c))
        se_var = np.sqrt((np.mean(c**4) - var**2) / trials)
        ctx.check(f"{src.name}, N = {n}: variance of the sample means", var, src.var / n, method="simulation",
                  reference="σ²/N (CLT)", atol=Z_MC * se_var, dataset=ds, note=f"{Z_MC:g} standard errors",
                  basis=f"{Z_MC:g} SE (fourth-moment estimate)")
        bound = src.berry_esseen(n)
        d_normal = float(stats.kstest(means, src.clt(n).cdf).statistic)
        out["ecdf_distance"][n] = d_normal
        if src.exact_mean_law is not None:
            # The CLT against the exact law, with a Monte Carlo tolerance. (sup|ECDF − Φ_CLT| <=
            # Berry–Esseen + KS allowance would follow from this check and the next one by the
            # triangle inequality, so it is a logged figure here, not a check.)
            d_exact = float(stats.kstest(means, src.exact_mean_law(n).cdf).statistic)
            ctx.check_bound(f"{src.name}, N = {n}: KS distance to the exact law", d_exact, crit, kind="<=",
                            method="simulation", dataset=ds, probability=True,
                            basis=f"KS critical value, level {KS_ALPHA:g}",
                            note=f"Kolmogorov–Smirnov at level {KS_ALPHA:g}; exact law of the mean is "
                                 + ("Irwin–Hall/N" if src.name == "uniform" else "Gamma(N, 1/N)"))
            d = exact_distance(src, n)
            out["exact_distance"][n] = d
            if bound < 1:
                ctx.check_bound(f"{src.name}, N = {n}: sup|F_exact − Φ_CLT|", d, bound, kind="<=",
                                method="exact CDFs on an 8001-point grid", dataset=src.label, probability=True,
                                basis="theorem bound (Berry–Esseen, C = 0.4748)",
                                note=f"Berry–Esseen bound 0.4748 ρ/(σ³√N) = {bound:.4f}")
            else:
                ctx.log(f"{src.name}, N = {n}: sup|F_exact − Φ_CLT| = {d:.4f}; the Berry–Esseen bound {bound:.4f} "
                        ">= 1 says nothing about a distance between distribution functions (not a check)")
        elif bound + crit < 1:
            # No exact law (the empirical distribution of a data file): the ECDF is within the
            # Berry–Esseen bound of the CLT normal, plus the KS allowance for the simulation.
            ctx.check_bound(f"{src.name}, N = {n}: sup|ECDF − Φ_CLT|", d_normal, bound + crit, kind="<=",
                            method="simulation", dataset=ds, probability=True,
                            basis=f"theorem bound (Berry–Esseen) + KS critical value, level {KS_ALPHA:g}",
                            note=f"Berry–Esseen {bound:.4f} + KS allowance {crit:.4f} (level {KS_ALPHA:g})")
        else:
            ctx.log(f"{src.name}, N = {n}: sup|ECDF − Φ_CLT| = {d_normal:.4f}; Berry–Esseen {bound:.4f} + KS "
                    f"allowance {crit:.4f} >= 1 says nothing about a distance between distribution functions "
                    "(not a check)")
    out["sums_first"] = draws
    return out


def figure_means(srcs: list[Source], results: dict) -> Figure:
    fig = Figure(figsize=(13, 3.3 * len(srcs)))
    axes = fig.subplots(len(srcs), len(SAMPLE_SIZES), squeeze=False)
    for row, src in zip(axes, srcs):
        for ax, n in zip(row, SAMPLE_SIZES):
            means = results[src.name]["means"][n]
            ax.hist(means, bins=40, density=True, color=METHOD_COLORS["data"], label="simulated means")
            clt = src.clt(n)
            lo, hi = np.percentile(means, [0.05, 99.95])
            grid = np.linspace(min(lo, clt.ppf(0.001)), max(hi, clt.ppf(0.999)), 400)
            ax.plot(grid, clt.pdf(grid), color=METHOD_COLORS["nuts"], lw=1.8, label="CLT: N(μ, σ²/N)")
            if src.exact_mean_law is not None:
                ax.plot(grid, src.exact_mean_law(n).pdf(grid), color=METHOD_COLORS["exact"], lw=1.2, ls="--",
                        label="exact law of the mean")
            ax.set(title=f"{src.name}: mean of N = {n}", xlabel=f"sample mean ({src.unit})",
                   ylabel=f"density (1/{src.unit})" if src.unit != "arbitrary units" else "density")
            if n == SAMPLE_SIZES[0]:
                ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("Central limit theorem: the mean of N draws approaches N(μ, σ²/N)", fontsize=12)
    fig.tight_layout()
    return fig


def figure_sums(src: Source, draws: np.ndarray) -> Figure:
    fig = Figure(figsize=(13, 3.3))
    axes = fig.subplots(1, len(SAMPLE_SIZES))
    for ax, n in zip(axes, SAMPLE_SIZES):
        sums = draws[:, :n].sum(axis=1)
        ax.hist(sums, bins=40, density=True, color=METHOD_COLORS["data"], label="simulated sums")
        normal = stats.norm(n * src.mean, np.sqrt(n * src.var))
        grid = np.linspace(sums.min(), sums.max(), 400)
        ax.plot(grid, normal.pdf(grid), color=METHOD_COLORS["nuts"], lw=1.8, label="N(Nμ, Nσ²)")
        ax.set(title=f"sum of N = {n} draws", xlabel=f"x₁ + … + x_N ({src.unit})", ylabel="density")
        if n == SAMPLE_SIZES[0]:
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Sums of N draws from {src.label} (the book's second CLT plot)", fontsize=12)
    fig.tight_layout()
    return fig


def figure_distance(srcs: list[Source], results: dict) -> Figure:
    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.add_subplot()
    dense = np.array([1, 2, 3, 4, 6, 10, 15, 20])
    for src, color in zip(srcs, (METHOD_COLORS["exact"], METHOD_COLORS["nuts"], METHOD_COLORS["map"])):
        ax.plot(dense, [src.berry_esseen(n) for n in dense], color=color, ls=":", lw=1.2,
                label=f"{src.name}: Berry–Esseen bound")
        if src.exact_mean_law is not None:
            ax.plot(dense, [exact_distance(src, n) for n in dense], color=color, lw=1.8,
                    label=f"{src.name}: exact sup|F_N − Φ|")
        ecdf = results[src.name]["ecdf_distance"]
        ax.plot(list(ecdf), list(ecdf.values()), "o", color=color, ms=5, label=f"{src.name}: simulated (ECDF)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(title="Distance of the sample-mean law from the CLT normal", xlabel="sample size N",
           ylabel="sup_x |F_N(x) − Φ(x)| (probability)")
    ax.legend(fontsize=7, ncol=2)
    return fig


# --------------------------------------------------------------------------- run


def run(ctx) -> None:
    curves = check_densities(ctx)
    ctx.save_figure(figure_densities(curves), "normal_densities.png")
    check_irwin_hall(ctx)
    trials = 2_000 if ctx.quick else 10_000
    srcs = sources(ctx)
    results = {}
    for stream, src in enumerate(srcs, start=1):
        ctx.log(f"CLT: {trials} samples of N = {max(SAMPLE_SIZES)} draws from {src.label}")
        results[src.name] = study_source(ctx, src, trials, stream)
    ctx.save_figure(figure_means(srcs, results), "clt_sample_means.png")
    ctx.save_figure(figure_sums(srcs[0], results[srcs[0].name]["sums_first"]), "clt_sums_uniform.png")
    ctx.save_figure(figure_distance(srcs, results), "clt_distance_to_normal.png")
    ctx.extra.update({
        "trials": trials,
        "sample_sizes": list(SAMPLE_SIZES),
        "exact_distance": {s.name: results[s.name]["exact_distance"] for s in srcs},
        "ecdf_distance": {s.name: results[s.name]["ecdf_distance"] for s in srcs},
        "berry_esseen": {s.name: {n: s.berry_esseen(n) for n in SAMPLE_SIZES} for s in srcs},
    })


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
