"""GMM sampling (the book's step 4, ``gmm_sampling.py``): forward draws from a fixed mixture.

The book draws from a two-component mixture fitted by eye to Old Faithful,
w = (0.35, 0.65), μ₁ = (2.0, 54.5), μ₂ = (4.3, 80.0), Σ₁ = [[0.07, 0.44], [0.44, 33.7]],
Σ₂ = [[0.17, 0.94], [0.94, 36.0]] (eruption duration and waiting time, minutes), by the
generative story of seed 000: z ~ Categorical(w), then x | z ~ N(μ_z, Σ_z).

Done here two ways and tied out:

1. numpy ancestral sampling (:func:`models.gmm.sample_gmm`);
2. the PyMC generative model (:func:`models.gmm_builders.gmm_generative_model`) with its
   parameters fixed by ``pm.do`` and ``pm.sample_prior_predictive`` — the same model that
   ``pymc_extras.marginalize`` turns into the fast marginal model.

Checks (20,000 draws each): label frequencies, per-component means and covariances within
4 Monte Carlo standard errors of the parameters, each coordinate and entry against its own
standard error; and the PyMC marginal model's log-density of
the PyMC draws equals the numpy log-sum-exp formula to 1e-9. A third figure shows draws from the
generative model's *prior* (the weakly informative prior used for NUTS), in data units.

``--data`` is not used: the mixture is fixed (only its axis labels come from Old Faithful).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from analyses.common import CATEGORY_COLORS, Z_MC, DataNeeds, axis_label, density_contour, round_off
from models import gmm
from models.gmm_builders import gmm_generative_model, gmm_marginal_model
from models.gmm_fitting import log_likelihood_function
from models.gmm_spec import Standardization, parameters_to_point

#: Forward draws are one-shot functions: pytensor's Python implementations (no C compilation)
#: cost milliseconds here, where compiling them in C took ~30 s with an empty cache.
ONE_SHOT = {"mode": "FAST_COMPILE"}

TITLE = "GMM sampling (book step 4): forward draws by numpy and by the PyMC generative model, tied to the parameters"
#: --data is not used: the draws come from the book's fixed mixture.
DATA = DataNeeds(columns=0)

#: The book's fixed mixture (step04/gmm_sampling.py).
BOOK_W = np.array([0.35, 0.65])
BOOK_MU = np.array([[2.0, 54.50], [4.3, 80.0]])
BOOK_COV = np.array([[[0.07, 0.44], [0.44, 33.7]], [[0.17, 0.94], [0.94, 36.00]]])
COLUMNS = ("eruptions_min", "waiting_min")


def mixture_moments(w, mu, cov):
    """Mean (D,) and covariance (D, D) of the mixture: E x = Σ w μ, Cov = Σ w (Σ + μμᵀ) - E E ᵀ."""
    mean = w @ mu
    second = np.einsum("k,kij->ij", w, cov + np.einsum("ki,kj->kij", mu, mu))
    return mean, second - np.outer(mean, mean)


def check_draws(ctx, x, z, method: str) -> None:
    """Frequencies, component means and covariances within Z_MC standard errors of the truth,
    each coordinate against its own standard error (waiting times vary ~100x more than
    eruption durations, so one shared tolerance would test the durations at ~90 of theirs)."""
    n = z.size
    freq = np.bincount(z, minlength=2) / n
    # K = 2: both frequencies have the same standard error, √(w(1 − w)/n), and opposite errors.
    ctx.check("label frequencies", freq, BOOK_W, method=method, reference="w (the book's)",
              atol=Z_MC * float(np.max(np.sqrt(BOOK_W * (1 - BOOK_W) / n))), dataset="fixed mixture",
              note=f"{Z_MC:g} binomial standard errors", basis=f"{Z_MC:g} binomial SE", probability=True)
    labels = [axis_label(c) for c in COLUMNS]
    for k in range(2):
        xk = x[z == k]
        nk = xk.shape[0]
        var = np.diag(BOOK_COV[k])
        means = xk.mean(axis=0)
        for j, label in enumerate(labels):
            ctx.check(f"component {k} mean: {label}", means[j], BOOK_MU[k, j], method=method, reference="μ_k",
                      atol=Z_MC * float(np.sqrt(var[j] / nk)), dataset="fixed mixture",
                      note=f"{Z_MC:g} standard errors √(Σ_jj / N_k)", basis=f"{Z_MC:g} SE")
        # SE of a sample covariance entry under normality: sqrt((Σ_ii Σ_jj + Σ_ij²) / n).
        se = np.sqrt((np.outer(var, var) + BOOK_COV[k] ** 2) / nk)
        zscore = np.abs(np.cov(xk, rowvar=False, ddof=1) - BOOK_COV[k]) / se
        ctx.check_bound(f"component {k} covariance: max |error| / SE", float(zscore.max()), Z_MC, kind="<=",
                        method=method, dataset="fixed mixture", note=f"every entry within {Z_MC:g} standard errors",
                        basis=f"{Z_MC:g} SE per entry (normal theory)")
    mean, cov = mixture_moments(BOOK_W, BOOK_MU, BOOK_COV)
    means = x.mean(axis=0)
    for j, label in enumerate(labels):
        ctx.check(f"mixture mean: {label}", means[j], mean[j], method=method, reference="Σ_k w_k μ_k",
                  atol=Z_MC * float(np.sqrt(cov[j, j] / n)), dataset="fixed mixture",
                  note=f"{Z_MC:g} standard errors √(Cov_jj / N)", basis=f"{Z_MC:g} SE")


def pymc_forward(n: int, seed: int):
    """Draws (x (n, 2) in minutes, z (n,)) from the generative model with the book's parameters."""
    import pymc as pm

    mean, cov = mixture_moments(BOOK_W, BOOK_MU, BOOK_COV)
    st = Standardization(loc=mean, scale=np.sqrt(np.diag(cov)))
    model = gmm_generative_model(None, 2, n_obs=n, n_features=2, columns=COLUMNS, standardization=st)
    point = parameters_to_point(model.gmm_spec, BOOK_W, BOOK_MU, BOOK_COV)
    fixed = pm.do(model, point)
    prior = pm.sample_prior_predictive(draws=1, model=fixed, random_seed=seed, var_names=["z", "x"],
                                       compile_kwargs=ONE_SHOT)
    x_s = prior.prior["x"].values[0, 0]
    return st.invert(x_s), prior.prior["z"].values[0, 0].astype(int), model


def prior_draws(n: int, seed: int):
    """Draws from the weak prior of the generative model (3 data sets), in minutes."""
    import pymc as pm

    mean, cov = mixture_moments(BOOK_W, BOOK_MU, BOOK_COV)
    st = Standardization(loc=mean, scale=np.sqrt(np.diag(cov)))
    model = gmm_generative_model(None, 2, n_obs=n, n_features=2, columns=COLUMNS, standardization=st)
    prior = pm.sample_prior_predictive(draws=3, model=model, random_seed=seed, var_names=["z", "x"],
                                       compile_kwargs=ONE_SHOT)
    return st.invert(prior.prior["x"].values[0]), prior.prior["z"].values[0].astype(int)


def figure_samples(panels) -> Figure:
    labels = tuple(axis_label(c) for c in COLUMNS)
    fig = Figure(figsize=(12, 5))
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True)
    for ax, (title, x, z) in zip(np.atleast_1d(axes), panels):
        for k in range(2):
            ax.scatter(x[z == k, 0], x[z == k, 1], s=9, alpha=0.7, color=CATEGORY_COLORS[k],
                       label=f"z = {k} (w = {BOOK_W[k]:.2f}; {np.sum(z == k)} draws)")
        density_contour(ax, np.vstack([x, BOOK_MU]), BOOK_W, BOOK_MU, BOOK_COV, label="mixture density p(x)")
        ax.set(title=title, xlabel=labels[0], ylabel=labels[1])
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Forward sampling from the book's GMM: z ~ Categorical(w), x | z ~ N(μ_z, Σ_z)")
    fig.tight_layout()
    return fig


def figure_prior(x, z) -> Figure:
    labels = tuple(axis_label(c) for c in COLUMNS)
    fig = Figure(figsize=(13, 4.3))
    axes = fig.subplots(1, x.shape[0])
    for i, ax in enumerate(axes):
        for k in range(2):
            ax.scatter(x[i, z[i] == k, 0], x[i, z[i] == k, 1], s=7, alpha=0.6, color=CATEGORY_COLORS[k],
                       label=f"z = {k}")
        ax.set(title=f"prior draw {i + 1}", xlabel=labels[0], ylabel=labels[1])
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Prior predictive of the generative model (weak, data-scaled prior; Wishart(D+2) precisions)")
    fig.tight_layout()
    return fig


def run(ctx) -> None:
    if ctx.settings.data:
        ctx.log("--data is not used: this analysis samples from the book's fixed mixture")
    n_check = 5_000 if ctx.quick else 20_000
    n_plot = 500

    x_np, z_np = gmm.sample_gmm(ctx.rng(0), n_check, BOOK_W, BOOK_MU, BOOK_COV)
    check_draws(ctx, x_np, z_np, "numpy ancestral sampling (models.gmm.sample_gmm)")

    x_pm, z_pm, _ = pymc_forward(n_check, ctx.seed)
    check_draws(ctx, x_pm, z_pm, "PyMC generative model, pm.do + sample_prior_predictive")

    # The fast marginal model scores the generative model's draws exactly as the numpy formula does.
    marginal = gmm_marginal_model(x_pm, 2, columns=COLUMNS)
    point = parameters_to_point(marginal.gmm_spec, BOOK_W, BOOK_MU, BOOK_COV)
    ours = float(np.sum(log_likelihood_function(marginal)(point)))
    ctx.check("log-likelihood of the PyMC draws", ours, gmm.gmm_log_likelihood(x_pm, BOOK_W, BOOK_MU, BOOK_COV),
              method="gmm_marginal_model (PyTensor)", reference="numpy log-sum-exp (models.gmm)", rtol=1e-9,
              dataset="fixed mixture", basis=round_off(1e-9))

    ctx.save_figure(figure_samples([("numpy: models.gmm.sample_gmm", x_np[:n_plot], z_np[:n_plot]),
                                    ("PyMC: gmm_generative_model + pm.do", x_pm[:n_plot], z_pm[:n_plot])]),
                    "gmm_sampling.png")
    x_prior, z_prior = prior_draws(300, ctx.seed + 1)
    ctx.save_figure(figure_prior(x_prior, z_prior), "gmm_prior_predictive.png")
    ctx.extra.update({"weights": BOOK_W, "means": BOOK_MU, "covariances": BOOK_COV, "n_draws": n_check,
                      "pymc_label_frequencies": np.bincount(z_pm, minlength=2) / n_check})


if __name__ == "__main__":
    import sys

    from analyses.runner import main_for_script

    sys.exit(main_for_script(__file__))
