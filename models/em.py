r"""Expectation-maximisation for the Gaussian mixture (PRML 9.2.2; the book's step 5).

One EM iteration, vectorized over points and components, in log space:

* E-step: :math:`\ln\gamma_{nk} = \ln w_k + \ln\mathcal{N}(x_n \mid \mu_k, \Sigma_k) - \ln p(x_n)`
  (PRML 9.23), with :math:`\ln p(x_n)` by log-sum-exp and the Gaussians through batched
  Cholesky factors (:mod:`models.gmm`).
* M-step: :math:`N_k = \sum_n \gamma_{nk}`, :math:`w_k = N_k/N`,
  :math:`\mu_k = \sum_n \gamma_{nk} x_n / N_k`,
  :math:`\Sigma_k = \sum_n \gamma_{nk}(x_n-\mu_k)(x_n-\mu_k)^\top / N_k + \text{reg\_covar}\, I`
  (PRML 9.24-9.26), restricted per ``covariance_type`` exactly as scikit-learn does.

Step ordering (the book's, which is also what makes the trace start at the initial
parameters)::

    ll_0 = mean log-likelihood at the initial parameters
    for t = 1, 2, ...: E-step at θ_{t-1}; M-step -> θ_t; ll_t = mean log-likelihood at θ_t;
                       stop if |ll_t - ll_{t-1}| < tol

The log-densities computed for ``ll_t`` are reused by the next E-step, so each iteration costs
one density evaluation. Relation to scikit-learn's ``GaussianMixture`` started from the same
parameters: its ``lower_bound_`` at iteration t is ll_{t-1} (it measures the likelihood
*before* its M-step), so with the same ``tol`` it stops one M-step later than :func:`fit_em`:
``n_iter_ == n_iter + 1`` and ``lower_bound_ == mean_log_likelihood``. With ``tol=0`` both run
exactly ``max_iter`` identical M-steps.

The book's printed first value (-16.538 on Old Faithful) is not the exact mean log-likelihood
at its initial parameters (-137.488): its ``likelihood()`` adds ``eps = 1e-8`` inside the log,
which floors every point's log-density at ln 1e-8 = -18.42 while the densities are tiny. From
the first M-step on, the densities dwarf 1e-8 and the book's values equal ``trace[1:]``.

Initialisation ``"kmeans++"``: k-means++ seeding (Arthur & Vassilvitskii 2007: first centre
uniform, then each next centre with probability proportional to its squared distance to the
nearest chosen centre) followed by at most :data:`LLOYD_ITERATIONS` Lloyd iterations; the
hard k-means labels then go through one M-step (with ``reg_covar``) to give the initial
(w, μ, Σ) — the same recipe as scikit-learn's default ``init_params="kmeans"``, with our own
small k-means. A cluster that ends up empty keeps its centre, the pooled data covariance and
weight 0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from models.gmm import cholesky_factors, estimate_parameters, weighted_log_densities
from models.validation import (
    DataError,
    resolve_seed,
    validate_count,
    validate_covariance_type,
    validate_means,
    validate_mixture_covariances,
    validate_n_components,
    validate_nonnegative,
    validate_samples_2d,
    validate_weights,
)

__all__ = ["EMResult", "EMWarning", "EMConvergenceWarning", "EMCollapseWarning", "fit_em", "kmeans_plusplus", "kmeans_parameters"]

#: Lloyd iterations after k-means++ seeding (stops earlier when the labels stop changing).
LLOYD_ITERATIONS = 20

#: A component holding fewer points' worth of responsibility than this is reported as empty.
MIN_COMPONENT_SIZE = 1.0

#: A component whose smallest covariance eigenvalue, minus reg_covar, is below this fraction of
#: the smallest per-feature data variance has collapsed (onto a point, a line, ...).
COLLAPSE_RTOL = 1e-6


class EMWarning(UserWarning):
    """Base class of the warnings issued by :func:`fit_em`."""


class EMConvergenceWarning(EMWarning):
    """EM hit ``max_iter`` before the log-likelihood change fell below ``tol``."""


class EMCollapseWarning(EMWarning):
    """A component emptied or collapsed (singular up to ``reg_covar``): a degenerate maximum."""


@dataclass(frozen=True)
class EMResult:
    """The fit and the settings that produced it (arrays are read-only).

    Attributes
    ----------
    weights : (K,) mixing weights w_k.
    means : (K, D) component means μ_k.
    covariances : covariances in ``covariance_type``'s shape (K, D, D) / (D, D) / (K, D) / (K,).
    covariance_type : ``"full"``, ``"tied"``, ``"diag"`` or ``"spherical"``.
    log_likelihood : total Σ_n ln p(x_n) at the final parameters.
    mean_log_likelihood : log_likelihood / N (the book's and scikit-learn's ``score``).
    trace : (n_iter + 1,) mean log-likelihood at the initial parameters and after each M-step.
    n_iter : number of M-steps performed.
    converged : whether ``|trace[-1] - trace[-2]| < tol`` (on the ``tol_on`` scale) was reached.
    responsibilities : (N, K) posterior class probabilities at the final parameters.
    seed : int that reproduces the k-means++ initialisation (``None`` for given parameters).
    init : ``"kmeans++"`` or ``"given"``.
    reg_covar, tol, tol_on, max_iter, n_init : the settings used.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str
    log_likelihood: float
    mean_log_likelihood: float
    trace: np.ndarray
    n_iter: int
    converged: bool
    responsibilities: np.ndarray = field(repr=False)
    seed: int | None
    init: str
    reg_covar: float
    tol: float
    tol_on: str
    max_iter: int
    n_init: int

    def __post_init__(self):
        for name in ("weights", "means", "covariances", "trace", "responsibilities"):
            getattr(self, name).setflags(write=False)

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.means.shape[1])

    @property
    def labels(self) -> np.ndarray:
        """Most probable component per point, shape (N,)."""
        return np.argmax(self.responsibilities, axis=1)


# --------------------------------------------------------------------------- starts


def _given_parameters(init, x, n_components, covariance_type):
    """Validated (w, mu, cov, chol) from ``init`` = (w, mu, cov) or an :class:`EMResult`."""
    if isinstance(init, EMResult):
        if init.covariance_type != covariance_type:
            raise DataError(f"init is an EMResult with covariance_type={init.covariance_type!r} but "
                            f"covariance_type={covariance_type!r} was asked for; pass the same type.")
        init = (init.weights, init.means, init.covariances)
    if not isinstance(init, (tuple, list)) or len(init) != 3:
        raise DataError(f"init must be 'kmeans++', a tuple (w, mu, cov) or an EMResult, got {init!r:.80}.")
    d = x.shape[1]
    w = validate_weights(init[0], n_components=n_components, name="initial weights")
    mu = validate_means(init[1], n_components=n_components, n_features=d, name="initial means")
    cov = validate_mixture_covariances(init[2], covariance_type, n_components=n_components, n_features=d,
                                name="initial covariances")
    chol = cholesky_factors(cov, covariance_type, context=" in the initial parameters",
                             fix="pass symmetric positive-definite initial covariances")
    return w, mu, cov, chol


# --------------------------------------------------------------------------- k-means++


def _sq_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """‖x_n - c_k‖², shape (N, K); by differences, not the expanded form, to avoid cancellation."""
    diff = x[:, None, :] - centres[None, :, :]
    return np.einsum("nkd,nkd->nk", diff, diff)


def kmeans_plusplus(x, n_components, *, seed=None) -> np.ndarray:
    """k-means++ seeding followed by a few Lloyd iterations.

    Parameters
    ----------
    x : array_like, shape (N, D), N >= K.
    n_components : K.
    seed : int, ``numpy.random.Generator`` or None.

    Returns
    -------
    ndarray, shape (K, D): the cluster centres. Deterministic for a given int seed.
    """
    k = validate_n_components(n_components)
    x = validate_samples_2d(x, name="x", min_rows=k, why="one observation per centre", allow_constant=True)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(resolve_seed(seed))
    return _lloyd(x, _seed_centres(x, k, rng))[0]


def _seed_centres(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ (D² sampling) centres, shape (K, D)."""
    n = x.shape[0]
    idx = [int(rng.integers(n))]
    d2 = _sq_distances(x, x[idx])[:, 0]                                   # (N,)
    for _ in range(1, k):
        total = d2.sum()
        # All points already coincide with a centre (fewer distinct points than K): any choice
        # is as good as another, so draw uniformly instead of dividing by zero.
        i = int(rng.integers(n)) if total <= 0 else int(rng.choice(n, p=d2 / total))
        idx.append(i)
        d2 = np.minimum(d2, _sq_distances(x, x[i:i + 1])[:, 0])
    return x[idx].copy()


def _lloyd(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most LLOYD_ITERATIONS Lloyd steps; returns centres (K, D) and labels (N,).

    An empty cluster keeps its centre (it would otherwise become 0/0).
    """
    k = centres.shape[0]
    labels = np.argmin(_sq_distances(x, centres), axis=1)
    for _ in range(LLOYD_ITERATIONS):
        counts = np.bincount(labels, minlength=k)                         # (K,)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, x)
        filled = counts > 0
        centres = centres.copy()
        centres[filled] = sums[filled] / counts[filled, None]
        new_labels = np.argmin(_sq_distances(x, centres), axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return centres, labels


def _pooled_covariance(x: np.ndarray, k: int, covariance_type: str, reg_covar: float) -> np.ndarray:
    """The whole data set's MLE covariance in covariance_type's shape (fallback for empty clusters)."""
    c = np.cov(x, rowvar=False, ddof=0).reshape(x.shape[1], x.shape[1]) + reg_covar * np.eye(x.shape[1])
    if covariance_type == "full":
        return np.broadcast_to(c, (k,) + c.shape).copy()
    if covariance_type == "tied":
        return c
    if covariance_type == "diag":
        return np.broadcast_to(np.diag(c), (k, x.shape[1])).copy()
    return np.full(k, np.mean(np.diag(c)))


def kmeans_parameters(x, k, covariance_type, reg_covar, rng):
    """Initial (w, mu, cov): k-means++ + Lloyd labels, then one M-step on the one-hot labels.

    EM's default start, also used by :func:`models.gmm_fitting.fit_gmm_map` (``start="kmeans++"``)
    and the ADVI fit. No validation: ``x`` (N, D) validated, ``k`` <= N, ``rng`` a Generator.

    Returns
    -------
    w (K,), mu (K, D), cov in covariance_type's shape.
    """
    centres, labels = _lloyd(x, _seed_centres(x, k, rng))
    r = np.zeros((x.shape[0], k))
    r[np.arange(x.shape[0]), labels] = 1.0
    previous = (centres, _pooled_covariance(x, k, covariance_type, reg_covar))
    _, w, mu, cov = estimate_parameters(x, r, covariance_type, reg_covar, previous=previous)
    return w, mu, cov


# --------------------------------------------------------------------------- EM loop


def _em_run(x, w, mu, cov, chol, *, covariance_type, reg_covar, tol, tol_on, max_iter):
    """EM from (w, mu, cov) in the book's step order. Returns a dict of the final state."""
    n = x.shape[0]
    scale = 1.0 if tol_on == "mean" else float(n)   # tol applies to mean or total log-likelihood
    log_p = weighted_log_densities(x, w, mu, chol, covariance_type)      # (N, K)
    log_norm = logsumexp(log_p, axis=1)                                   # (N,) ln p(x_n)
    trace = [float(np.mean(log_norm))]
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        r = np.exp(log_p - log_norm[:, None])                             # E-step, (N, K)
        nk, w, mu, cov = estimate_parameters(x, r, covariance_type, reg_covar, previous=(mu, cov))
        chol = cholesky_factors(
            cov, covariance_type, context=f" after EM iteration {n_iter} (reg_covar={reg_covar:g})")
        log_p = weighted_log_densities(x, w, mu, chol, covariance_type)
        log_norm = logsumexp(log_p, axis=1)
        trace.append(float(np.mean(log_norm)))
        if abs(trace[-1] - trace[-2]) * scale < tol:
            converged = True
            break
    r = np.exp(log_p - log_norm[:, None])
    return dict(weights=w, means=mu, covariances=cov, responsibilities=r, trace=np.array(trace),
                n_iter=n_iter, converged=converged, total=float(np.sum(log_norm)))


def _collapse_report(x, state, covariance_type, reg_covar) -> str | None:
    """A sentence naming empty or collapsed components, or None if all are healthy."""
    nk = state["responsibilities"].sum(axis=0)                            # (K,)
    problems = [f"component {k} is (nearly) empty (N_k = {nk[k]:.3g})"
                for k in np.flatnonzero(nk < MIN_COMPONENT_SIZE)]
    cov = state["covariances"]
    smallest = {
        "full": lambda: np.linalg.eigvalsh(cov)[:, 0],                      # (K,)
        "tied": lambda: np.linalg.eigvalsh(cov)[:1],                        # (1,)
        "diag": lambda: cov.min(axis=1),
        "spherical": lambda: cov,
    }[covariance_type]()
    floor = reg_covar + COLLAPSE_RTOL * float(np.min(np.var(x, axis=0)))
    if covariance_type == "tied":
        if smallest[0] <= floor:
            problems.append(f"the tied covariance collapsed (smallest eigenvalue {smallest[0]:.3g}, "
                            f"reg_covar={reg_covar:g})")
    else:
        for k in np.flatnonzero((smallest <= floor) & (nk >= MIN_COMPONENT_SIZE)):
            problems.append(f"component {k} collapsed (smallest covariance eigenvalue {smallest[k]:.3g}, "
                            f"reg_covar={reg_covar:g})")
    if not problems:
        return None
    spike = (" A collapsed component sits on a few points; its likelihood grows without bound as "
             "reg_covar -> 0." if any("collapsed" in p for p in problems) else "")
    return ("EM reached a degenerate solution: " + "; ".join(problems) + "." + spike + " Use fewer components, "
            "a larger reg_covar, standardized data, or another seed.")


def fit_em(x, n_components, *, covariance_type: str = "full", init="kmeans++", seed=None,
           reg_covar: float = 1e-6, tol: float = 1e-3, tol_on: str = "mean", max_iter: int = 100,
           n_init: int = 1) -> EMResult:
    """Fit a Gaussian mixture by EM.

    Parameters
    ----------
    x : array_like, shape (N, D), N >= K, no constant column.
    n_components : K >= 1.
    covariance_type : ``"full"`` (default), ``"tied"``, ``"diag"``, ``"spherical"``.
    init : ``"kmeans++"`` (default; see the module docstring), or given parameters
        ``(w (K,), mu (K, D), cov)`` with cov in covariance_type's shape, or an :class:`EMResult`
        (warm start). Given covariances are used as they are (reg_covar enters at the M-step).
    seed : int, ``numpy.random.Generator`` or None; only k-means++ uses it. The int actually
        used is stored in the result, so ``fit_em(..., seed=result.seed)`` reproduces it.
    reg_covar : >= 0, added to every covariance diagonal at each M-step; keeps a component that
        collapses onto one point positive definite.
    tol : stop when the log-likelihood changes by less than this between iterations.
    tol_on : ``"mean"`` (default; per-point mean log-likelihood, as the book and scikit-learn)
        or ``"total"``.
    max_iter : most M-steps per run (an :class:`EMConvergenceWarning` when hit). ``tol=0`` runs
        exactly ``max_iter`` M-steps.
    n_init : number of k-means++ starts; the run with the highest final log-likelihood is kept.

    Returns
    -------
    EMResult

    Warns
    -----
    EMConvergenceWarning
        ``max_iter`` reached without convergence.
    EMCollapseWarning
        A component is empty (N_k < 1) or its covariance shrank to the ``reg_covar`` level.

    Notes
    -----
    With ``reg_covar=0`` every iteration provably never lowers the likelihood (PRML 9.4). The
    ridge ``reg_covar I`` makes the M-step a slightly non-optimal update, so the trace may dip
    by amounts of order ``reg_covar`` (about 1e-12 at the default on unit-scale data).

    Raises
    ------
    DataError
        Bad data or settings; a covariance that loses positive definiteness (only possible
        with ``reg_covar=0``) — "increase reg_covar or standardize your data".

    Example
    -------
    >>> from models import fit_em, load_dataset
    >>> em = fit_em(load_dataset("faithful").values, 2, seed=0)
    >>> em.converged, round(em.mean_log_likelihood, 3), em.weights.round(3).tolist()
    (True, -4.155, [0.356, 0.644])
    """
    k = validate_n_components(n_components)
    covariance_type = validate_covariance_type(covariance_type)
    x = validate_samples_2d(x, name="x", min_rows=k,
                            why=f"EM needs at least one observation per component, n_components={k}")
    reg_covar = validate_nonnegative(reg_covar, "reg_covar")
    tol = validate_nonnegative(tol, "tol")
    max_iter = validate_count(max_iter, "max_iter")
    n_init = validate_count(n_init, "n_init")
    if tol_on not in ("mean", "total"):
        raise DataError(f"tol_on must be 'mean' (per-point mean log-likelihood) or 'total', got {tol_on!r}.")
    settings = dict(covariance_type=covariance_type, reg_covar=reg_covar, tol=tol, tol_on=tol_on,
                    max_iter=max_iter)

    if isinstance(init, str):
        if init != "kmeans++":
            raise DataError(f"init must be 'kmeans++', a tuple (w, mu, cov) or an EMResult, got {init!r}.")
        used_seed = resolve_seed(seed)
        best = None
        for child in np.random.SeedSequence(used_seed).spawn(n_init):
            rng = np.random.default_rng(child)
            w, mu, cov = kmeans_parameters(x, k, covariance_type, reg_covar, rng)
            chol = cholesky_factors(cov, covariance_type, context=" at the k-means initialisation")
            state = _em_run(x, w, mu, cov, chol, **settings)
            if best is None or state["total"] > best["total"]:
                best = state
        init_name = "kmeans++"
    else:
        if n_init != 1:
            raise DataError(f"n_init={n_init} needs init='kmeans++'; from given parameters EM is deterministic.")
        w, mu, cov, chol = _given_parameters(init, x, k, covariance_type)
        best = _em_run(x, w, mu, cov, chol, **settings)
        used_seed = None if seed is None else resolve_seed(seed)
        init_name = "given"

    if not best["converged"]:
        change = abs(best["trace"][-1] - best["trace"][-2]) * (1.0 if tol_on == "mean" else x.shape[0])
        warnings.warn(
            f"EM did not converge in max_iter={max_iter} iterations: the last change in the {tol_on} "
            f"log-likelihood was {change:.3g} (tol={tol:g}). Increase max_iter or tol, or try another "
            "init or seed.", EMConvergenceWarning, stacklevel=2)
    report = _collapse_report(x, best, covariance_type, reg_covar)
    if report is not None:
        warnings.warn(report, EMCollapseWarning, stacklevel=2)

    return EMResult(
        weights=best["weights"], means=best["means"], covariances=best["covariances"],
        covariance_type=covariance_type, log_likelihood=best["total"],
        mean_log_likelihood=float(best["trace"][-1]), trace=best["trace"], n_iter=int(best["n_iter"]),
        converged=bool(best["converged"]), responsibilities=best["responsibilities"], seed=used_seed,
        init=init_name, reg_covar=reg_covar, tol=tol, tol_on=tol_on, max_iter=max_iter, n_init=n_init,
    )
