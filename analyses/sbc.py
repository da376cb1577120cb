"""Simulation-based calibration (SBC) of every Bayesian fit in the collection (opt-in:
``python -m analyses sbc``; a few minutes, so not part of the default run).

SBC (Talts et al. 2018, :mod:`models.sbc`): draw θ̃ from the prior, simulate data from the
model, fit, and rank θ̃ among L posterior draws. A correct posterior makes every rank uniform
on {0..L}; a bias, a too-narrow or a too-wide posterior piles the ranks up at one end, at both
ends or in the middle. Each parameter's ranks are tested by χ² over equal bins (p > 0.001 is a
check) and shown as an ECDF-difference plot with its 99 % simultaneous band.

1. **Exact conjugate draws** (Normal mean, Gamma precision, Normal-Gamma, Normal-Wishart from
   :mod:`models.conjugate`): ranks against independent draws of the closed-form posterior —
   calibrates the formulas themselves (1000 simulations each; milliseconds per simulation).
2. **NUTS** on the PyMC builders, the prior and the simulator taken from the model itself
   (:func:`models.sbc.pymc_sbc`, one compiled model with swappable data):

   * ``normal_weak`` — :func:`models.gaussian_models.normal_model` with the weakly informative
     prior, N = 20;
   * ``mvn_lkj`` — :func:`models.gaussian_models.mvn_model` with the LKJ prior, D = 2, N = 30
     (ranked: μ, the two sds and the correlation ρ);
   * ``gmm_k2`` — :func:`models.gmm_builders.gmm_marginal_model`, K = 2, ordered means, D = 1,
     N = 100.

Why these choices
-----------------
* **Fixed priors.** The Gaussian builders set their weak priors from the data they are given
  (μ ~ N(x̄, (10 s)²), σ ~ HalfNormal(5 s)), and the GMM builder standardizes its data. SBC
  needs a prior that does not move with the simulated data, so each model is built *once* on a
  reference sample with mean 0 and sd 1 (so μ ~ N(0, 10²), σ ~ HalfNormal(5); for the GMM an
  identity :class:`~models.gmm_spec.Standardization`); every simulated data set is then
  swapped into that compiled model. The prior is therefore the builder's own, with its
  hyper-parameters frozen at the reference values.
* **The GMM's prior.** With the builder's default weak prior (Dirichlet(1) weights, component
  sd ≈ 1 around means ±1 ± 2) about half the simulated data sets are two heavily overlapping
  components; their posteriors are multimodal, NUTS does not converge on them (measured on 20
  simulations with N = 50: R-hat > 1.01 in 75 % and divergences in 50 % of them), and SBC
  would measure the sampler's failure on unidentifiable data rather than the model.
  ``dirichlet_alpha = 5`` (no nearly empty component), ``wishart_dof = 10`` (component sds near
  1) and ``mu_prior_sd = 3`` (means usually several sds apart), with N = 100, keep most
  posteriors identifiable. The ordering constraint lives in a transform that forward sampling
  ignores, so prior draws with unordered means are rejected (``keep_prior``), which is exactly
  the truncated prior the model's density defines.
* **Thinning.** The χ² test assumes the L draws ranked against θ̃ are independent; correlated
  draws make ranks over-dispersed. L = 99 draws are kept, evenly spaced, from 2 chains × 250
  (every 5th draw) — 2 × 500 for the GMM, which mixes more slowly (with 2 × 250 its bulk ESS
  fell below 99 in 26 % of 200 simulations) — so that the per-simulation bulk ESS exceeds L in
  most simulations; L + 1 = 100 possible ranks split into 20 equal bins of 5.
* **200 simulations** per family with 20 bins gives 10 expected counts per bin (the χ²
  approximation holds); ``--quick`` runs 30 NUTS simulations over 10 bins (3 per bin), a smoke
  test. The exact-draw SBC costs milliseconds per simulation and runs 1000 in both modes.
* **Speed.** One compiled NUTS step serves all simulations of a family; the MVN and GMM steps
  are compiled with Numba (their C-backend gradients call Python-implemented ops: measured 145
  µs per leapfrog step in C, ~60 µs with Numba, for ~15 s of compilation).

Per simulation, :func:`models.sbc.pymc_sbc` records the worst R-hat, the smallest bulk ESS and
the divergences; the summary gives the fraction of simulations that meet R-hat <= 1.01 and
are divergence-free (a miscalibration can then be told apart from a sampler that did not
converge). These are reported, not gated: with 500 draws, R-hat of a handful of scalars
exceeds 1.01 by noise alone in a fair share of well-mixed runs, and SBC is the test of the
whole pipeline, convergence included.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from models.conjugate import GammaPrecisionKnownMean, NormalGamma, NormalMeanKnownVariance
from models.conjugate_mvn import NormalWishart
from models.sbc import SBCResult, plot_rank_ecdfs, pymc_sbc, simulate_ranks

TITLE = "Simulation-based calibration: exact conjugate posteriors and NUTS (weak-prior Gaussian, LKJ MVN, ordered GMM)"

#: χ² p-value below which a family's ranks are declared non-uniform.
P_MIN = 0.001
#: L, posterior draws ranked per simulation (L + 1 = 100 ranks: 20 bins of 5, or 10 of 10).
N_DRAWS = 99


@dataclass(frozen=True)
class SBCSettings:
    """How many simulations, bins and NUTS iterations a run uses."""

    n_sims: int
    n_bins: int
    n_exact: int
    draws: int = 250
    tune: int = 400
    chains: int = 2


FULL = SBCSettings(n_sims=200, n_bins=20, n_exact=1000)
QUICK = SBCSettings(n_sims=30, n_bins=10, n_exact=1000)


@dataclass(frozen=True)
class SBCProblem:
    """A PyMC model ready for :func:`models.sbc.pymc_sbc`.

    ``var_names`` are the ranked variables; ``keep_prior(prior_group, i) -> bool`` rejects prior
    draws outside a transform-only constraint (None: keep all); ``compile_mode`` is PyTensor's
    mode for the NUTS step (None: the default C backend; ``"NUMBA"`` where the gradient has
    Python-implemented ops — measured 2-3x fewer microseconds per leapfrog step, for ~15 s of
    one-off compilation); ``draws`` per chain overrides the settings' (a slower-mixing model
    needs more draws for L = 99 near-independent ones).
    """

    label: str
    model: object
    observed: str
    var_names: tuple[str, ...]
    target_accept: float
    keep_prior: Callable | None = None
    compile_mode: str | None = None
    draws: int | None = None


def reference_sample(n_obs: int, n_features: int = 0) -> np.ndarray:
    """A deterministic sample with mean exactly 0 and sd (ddof 0) exactly 1 per column: normal
    quantiles, standardized. Shape (n_obs,) for ``n_features = 0``, else (n_obs, n_features);
    column j is shifted cyclically by j so that columns are not identical."""
    q = stats.norm.ppf((np.arange(n_obs) + 0.5) / n_obs)
    q = (q - q.mean()) / q.std()
    if n_features == 0:
        return q
    return np.column_stack([np.roll(q, 7 * j) for j in range(n_features)])


def normal_weak_problem(n_obs: int = 20) -> SBCProblem:
    """Univariate Gaussian, weakly informative prior frozen at μ ~ N(0, 10²), σ ~ HalfNormal(5)."""
    from models.gaussian_models import normal_model

    model = normal_model(reference_sample(n_obs), "weakly_informative")
    return SBCProblem(f"univariate Gaussian, weak prior, N={n_obs}", model, "x", ("mu", "sigma"), 0.8)


def mvn_lkj_problem(n_obs: int = 30) -> SBCProblem:
    """Bivariate Gaussian, LKJ(2) prior, μ_j ~ N(0, 10²), sd_j ~ HalfNormal(5).

    The correlation matrix has a constant diagonal and a duplicated off-diagonal, which cannot be
    ranked; its one free entry is added as the deterministic ``rho``.
    """
    import pymc as pm

    from models.gaussian_models import mvn_model

    model = mvn_model(reference_sample(n_obs, 2), "lkj")
    with model:
        pm.Deterministic("rho", model["chol_corr"][0, 1])
    return SBCProblem(f"MVN D=2, LKJ prior, N={n_obs}", model, "x", ("mu", "chol_stds", "rho"), 0.8,
                      compile_mode="NUMBA")


#: The GMM prior used for SBC (see the module docstring for why it is not the default).
GMM_PRIOR = {"dirichlet_alpha": 5.0, "wishart_dof": 10.0, "mu_prior_sd": 3.0}


def _means_ordered(prior, i: int) -> bool:
    return bool(np.all(np.diff(prior["mu_first"].values[0, i]) > 0))


def gmm_k2_problem(n_obs: int = 100) -> SBCProblem:
    """Marginal GMM, K = 2, D = 1, ordered means, identity standardization, :data:`GMM_PRIOR`.

    Ranked: the weights ``w`` (w[1] = 1 − w[0], so its ranks mirror w[0]'s), the ordered means
    ``mu_first`` and the precision factors ``prec_c`` (σ_k = (prec_c[k] / ν)^(-1/2): ranks are
    invariant under such monotone maps, up to reversal).
    """
    from models.gmm_builders import gmm_marginal_model
    from models.gmm_spec import Standardization

    model = gmm_marginal_model(reference_sample(n_obs, 1), 2, standardization=Standardization.identity(1),
                               ordered=True, **GMM_PRIOR)
    return SBCProblem(f"GMM K=2 ordered, D=1, N={n_obs}", model, "x", ("w", "mu_first", "prec_c"), 0.8,
                      keep_prior=_means_ordered, compile_mode="NUMBA", draws=500)


#: NUTS families: name -> builder of the SBC problem.
FAMILIES: dict[str, Callable[[], SBCProblem]] = {
    "normal_weak": normal_weak_problem,
    "mvn_lkj": mvn_lkj_problem,
    "gmm_k2": gmm_k2_problem,
}


class _QuietPyMC:
    """Silence PyMC's per-call INFO lines ("Sequential sampling ...") during hundreds of fits."""

    def __enter__(self):
        self.logger = logging.getLogger("pymc")
        self.level = self.logger.level
        self.logger.setLevel(logging.WARNING)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def run_family(name: str, *, seed: int, settings: SBCSettings = FULL, progress: Callable | None = None) -> SBCResult:
    """NUTS SBC of one family: ``settings.n_sims`` simulations, L = 99 thinned draws each.

    Returns the :class:`models.sbc.SBCResult`; ``extra`` holds per-simulation R-hat, bulk ESS
    and divergences, plus ``label``, ``draws_per_chain`` and ``wall_seconds``.
    """
    problem = FAMILIES[name]()
    start = time.perf_counter()
    with _QuietPyMC():
        result = pymc_sbc(problem.model, problem.observed, list(problem.var_names), n_sims=settings.n_sims,
                          n_draws=N_DRAWS, seed=seed, draws=problem.draws or settings.draws, tune=settings.tune,
                          chains=settings.chains, target_accept=problem.target_accept,
                          keep_prior=problem.keep_prior, n_bins=settings.n_bins, progress=progress,
                          compile_kwargs={"mode": problem.compile_mode} if problem.compile_mode else None)
    result.extra.update(label=problem.label, draws_per_chain=problem.draws or settings.draws,
                        wall_seconds=round(time.perf_counter() - start, 2))
    return result


def convergence_summary(result: SBCResult) -> dict:
    """Fractions of simulations that converged, from :func:`models.sbc.pymc_sbc`'s ``extra``."""
    rhat = np.asarray(result.extra["rhat_max"])
    ess = np.asarray(result.extra["ess_bulk_min"])
    div = np.asarray(result.extra["divergences"])
    return {
        "fraction_rhat_le_1.01": float(np.mean(rhat <= 1.01)),
        "fraction_rhat_le_1.05": float(np.mean(rhat <= 1.05)),
        "fraction_divergence_free": float(np.mean(div == 0)),
        "fraction_ess_bulk_ge_L": float(np.mean(ess >= N_DRAWS)),
        "rhat_max_median": float(np.median(rhat)),
        "ess_bulk_min_median": float(np.median(ess)),
        "divergences_total": int(div.sum()),
    }


# --------------------------------------------------------------------------- exact conjugate draws

#: Observations per simulated data set in the exact-draw SBC.
N_OBS_EXACT = 8


def _univariate_case(prior, simulate, name: str):
    """(draw_prior, simulate_data, draw_posterior, names) for a one-parameter conjugate prior."""
    return (lambda r: prior.sample(r, 1), simulate,
            lambda y, n, r: prior.posterior(y).sample(r, n)[:, None], [name])


def _normal_gamma_case(prior: NormalGamma):
    """θ = (μ, τ); x_n ~ N(μ, 1/τ)."""
    def draw_prior(r):
        d = prior.sample(r, 1)
        return np.array([d.mu[0], d.tau[0]])

    def draw_posterior(y, n, r):
        d = prior.posterior(y).sample(r, n)
        return np.column_stack([d.mu, d.tau])

    return (draw_prior, lambda th, r: r.normal(th[0], th[1] ** -0.5, N_OBS_EXACT), draw_posterior, ["mu", "tau"])


def _normal_wishart_case(prior: NormalWishart):
    """θ = (μ (2,), the lower triangle of Λ (3,)); x_n ~ N(μ, Λ⁻¹)."""
    tril = np.tril_indices(2)

    def flat(d, i):
        return np.concatenate([d.mu[i], d.Lambda[i][tril]])

    def simulate(th, r):
        lam = np.zeros((2, 2))
        lam[tril] = th[2:]
        lam = lam + np.tril(lam, -1).T
        return r.multivariate_normal(th[:2], np.linalg.inv(lam), size=N_OBS_EXACT)

    def draw_posterior(y, n, r):
        d = prior.posterior(y).sample(r, n)
        return np.stack([flat(d, i) for i in range(n)])

    return (lambda r: flat(prior.sample(r, 1), 0), simulate, draw_posterior,
            ["mu[0]", "mu[1]", "Lambda[0,0]", "Lambda[1,0]", "Lambda[1,1]"])


def exact_conjugate_sbc(rng: np.random.Generator, n_sims: int, n_bins: int = 20) -> dict[str, SBCResult]:
    """Exact-draw SBC of the four conjugate posteriors of :mod:`models.conjugate`.

    Each simulation: θ̃ from the prior object's ``sample``, N = 8 observations, L = 99 exact
    draws from ``prior.posterior(y).sample``. Returns name -> SBCResult.
    """
    mean = NormalMeanKnownVariance(mu0=1.0, sigma0=2.0, sigma=1.5)
    gamma = GammaPrecisionKnownMean(mu=0.5, a0=3.0, b0=2.0)
    cases = {
        "normal_mean": _univariate_case(mean, lambda th, r: r.normal(th[0], mean.sigma, N_OBS_EXACT), "mu"),
        "gamma_precision": _univariate_case(gamma, lambda th, r: r.normal(gamma.mu, th[0] ** -0.5, N_OBS_EXACT),
                                            "tau"),
        "normal_gamma": _normal_gamma_case(NormalGamma(mu0=0.0, kappa0=0.5, a0=3.0, b0=2.0)),
        "normal_wishart": _normal_wishart_case(NormalWishart(m0=np.array([0.0, 1.0]), beta0=2.0,
                                                             W0=np.array([[0.5, 0.1], [0.1, 0.3]]), nu0=5.0)),
    }
    return {name: simulate_ranks(prior, simulate, posterior, n_sims=n_sims, n_draws=N_DRAWS, rng=rng, names=names,
                                 n_bins=n_bins)
            for name, (prior, simulate, posterior, names) in cases.items()}


# --------------------------------------------------------------------------- the analysis


def _record(ctx, dataset: str, result: SBCResult, method: str) -> None:
    for name, p in zip(result.names, result.pvalues):
        ctx.check_bound(f"{dataset}: χ² p-value of the {name} ranks", p, P_MIN, kind=">=", method=method,
                        dataset=dataset, note=f"rank uniformity over {result.n_bins} bins; one-sided: p >= {P_MIN}",
                        basis=f"p-value threshold {P_MIN:g}", probability=True)


def _run_exact(ctx, settings: SBCSettings) -> None:
    """Exact-draw SBC of the conjugate posteriors: checks, p-values and one figure per case."""
    start = time.perf_counter()
    exact = exact_conjugate_sbc(ctx.rng(0), settings.n_exact)   # 1000 sims: 20 bins in both modes
    ctx.extra["exact"] = {name: {"names": list(r.names), "pvalues": r.pvalues.tolist(), "n_sims": settings.n_exact,
                                 "n_bins": r.n_bins} for name, r in exact.items()}
    ctx.extra["exact_wall_seconds"] = round(time.perf_counter() - start, 2)
    for name, result in exact.items():
        _record(ctx, f"exact {name}", result, f"exact conjugate draws, {settings.n_exact} sims, L={N_DRAWS}")
        ctx.save_figure(plot_rank_ecdfs(result, title=f"Exact-draw SBC, {name}: {settings.n_exact} simulations, "
                                                      f"L = {N_DRAWS}, 99% band"), f"sbc_exact_{name}.png")


def _run_nuts(ctx, settings: SBCSettings, name: str, seed: int) -> None:
    """NUTS SBC of one family: checks, convergence summary, ranks (JSON) and the figure."""
    every = max(1, settings.n_sims // 4)

    def progress(done, total):
        if done % every == 0:
            ctx.log(f"{name}: {done}/{total} simulations")

    result = run_family(name, seed=seed, settings=settings, progress=progress)
    extra, conv = result.extra, convergence_summary(result)
    ctx.extra["nuts"][name] = {"model": extra["label"], "seed": seed, "names": list(result.names),
                               "pvalues": result.pvalues.tolist(), "chi2": result.chi2.tolist(),
                               "n_sims": settings.n_sims, "n_bins": result.n_bins,
                               "draws_per_chain": extra["draws_per_chain"], "convergence": conv,
                               "wall_seconds": extra["wall_seconds"]}
    ctx.write_json(f"sbc_{name}_ranks.json", {"names": list(result.names), "ranks": result.ranks.tolist(),
                                              "n_draws": N_DRAWS, "seed": seed, "rhat_max": extra["rhat_max"],
                                              "ess_bulk_min": extra["ess_bulk_min"],
                                              "divergences": extra["divergences"]})
    _record(ctx, f"NUTS {name}", result, f"NUTS SBC, {extra['label']}, {settings.n_sims} sims, L={N_DRAWS} "
                                         f"thinned from {settings.chains}x{extra['draws_per_chain']}")
    ctx.save_figure(plot_rank_ecdfs(result, title=f"NUTS SBC, {extra['label']}: {settings.n_sims} simulations, "
                                                  f"L = {N_DRAWS}, 99% band"), f"sbc_nuts_{name}.png")
    ctx.log(f"{name}: min p = {result.min_pvalue:.3g}, R-hat <= 1.01 in {conv['fraction_rhat_le_1.01']:.0%}, "
            f"divergence-free {conv['fraction_divergence_free']:.0%}, {extra['wall_seconds']:.0f} s")


def run(ctx) -> None:
    settings = QUICK if ctx.quick else FULL
    ctx.extra["settings"] = {"n_sims": settings.n_sims, "n_bins": settings.n_bins, "n_draws_ranked": N_DRAWS,
                             "tune": settings.tune, "chains": settings.chains, "exact_sims": settings.n_exact,
                             "seed": ctx.seed}
    _run_exact(ctx, settings)
    ctx.extra["nuts"] = {}
    for stream, name in enumerate(FAMILIES, start=1):
        _run_nuts(ctx, settings, name, seed=int(ctx.rng(stream).integers(2**31)))


if __name__ == "__main__":
    from analyses.runner import main_for_script

    raise SystemExit(main_for_script(__file__))
