r"""The GMM at large N: minibatch ADVI on the marginalized likelihood.

At N = 10⁶ one full log-density + gradient costs ~0.1 s, so NUTS (thousands of gradients per
chain) is out of reach and even MAP by BFGS needs a few hundred full passes. Minibatch ADVI
(Kucukelbir et al. 2017; PyMC's ``pm.Minibatch`` + ``pm.fit``) follows a stochastic gradient of
the ELBO computed on ``batch_size`` rows at a time, scaled by ``N / batch_size``
(``total_size``), so each step costs the same whatever N is.

The model is :func:`models.gmm_builders.gmm_minibatch_model`: the marginal model built from the
same pieces (same standardization, weak priors, ordered first coordinate of the means,
Bartlett-Wishart precisions, exponential-family likelihood); only the observed data are a
minibatch. The
approximation starts at a k-means++ fit (cheap, O(N)), and the answer reported is the mean of
the Gaussian approximation mapped to (w, μ, Σ) in data units, so it can be scored against EM by
the log-likelihood per point.

:func:`fit_gmm_advi` is what ``analyses/benchmark.py`` compares with EM at N = 10⁶.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from models.em import kmeans_parameters
from models.fitting import to_constrained
from models.gmm_builders import gmm_minibatch_model
from models.gmm_spec import GMMSpec, mixture_log_density, parameters_to_point, point_to_parameters
from models.validation import resolve_seed

__all__ = ["ADVIFit", "fit_gmm_advi"]


@dataclass(frozen=True)
class ADVIFit:
    """Minibatch ADVI fit of the GMM, reported in data units.

    Attributes
    ----------
    weights (K,), means (K, D), covariances (covariance_type's shape): (w, μ, Σ) at the mean
        of the Gaussian approximation (in the unconstrained space), in data units.
    log_likelihood : Σ_n ln p(x_n) at those parameters, data units (full data, numpy).
    elbo_trace : (n_steps,) the minibatch estimate of -ELBO at each step (PyMC's ``hist``).
    seconds : wall time of the optimization (compilation included: PyMC compiles inside
        ``pm.fit``); ``start_seconds`` the k-means++ start.
    seed, batch_size, n_steps, learning_rate : the settings, recorded.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str
    log_likelihood: float
    elbo_trace: np.ndarray = field(repr=False)
    seconds: float
    start_seconds: float
    seed: int
    batch_size: int
    n_steps: int
    learning_rate: float
    n_obs: int

    @property
    def mean_log_likelihood(self) -> float:
        """Per-point mean log-likelihood (the scale EM and scikit-learn report)."""
        return self.log_likelihood / self.n_obs


def fit_gmm_advi(x, n_components, *, covariance_type: str = "full", batch_size: int = 1000,
                 n_steps: int = 5000, learning_rate: float = 0.01, seed: int = 0) -> ADVIFit:
    """Mean-field minibatch ADVI of the GMM, started at k-means++, scored on the full data.

    Parameters
    ----------
    x : array_like (N, D).
    n_components : K.
    covariance_type, batch_size : see :func:`models.gmm_builders.gmm_minibatch_model`.
    n_steps : Adam steps; learning_rate : Adam's step size (standardized units).
    seed : int >= 0, seed of the k-means++ start and of ``pm.fit`` (the minibatch indices and
        the ELBO's Monte Carlo draws): the same seed gives the same fit.

    Returns
    -------
    ADVIFit
    """
    import pymc as pm

    seed = resolve_seed(seed)
    model = gmm_minibatch_model(x, n_components, batch_size=batch_size, covariance_type=covariance_type)
    spec: GMMSpec = model.gmm_spec
    x = np.asarray(x, dtype=float)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    w0, mu0, cov0 = kmeans_parameters(x, spec.n_components, spec.covariance_type, 1e-6, rng)
    start = parameters_to_point(spec, w0, mu0, cov0, order=True)
    start_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    with model:
        approx = pm.fit(n=int(n_steps), method="advi", start=start, random_seed=int(seed), progressbar=False,
                        obj_optimizer=pm.adam(learning_rate=float(learning_rate)))
    seconds = time.perf_counter() - t0
    mean_point = _approx_mean_point(approx, model, spec)
    w, mu, cov = point_to_parameters(spec, mean_point)
    log_lik = float(np.sum(mixture_log_density(spec, x, mean_point)))
    return ADVIFit(weights=w, means=mu, covariances=cov, covariance_type=spec.covariance_type,
                   log_likelihood=log_lik, elbo_trace=np.asarray(approx.hist), seconds=seconds,
                   start_seconds=start_seconds, seed=int(seed), batch_size=int(batch_size), n_steps=int(n_steps),
                   learning_rate=float(learning_rate), n_obs=int(x.shape[0]))


def _approx_mean_point(approx, model, spec: GMMSpec) -> dict:
    """The constrained values of the free variables at the approximation's (unconstrained) mean."""
    rvs = {v.name: model.values_to_rvs[v] for v in model.value_vars}
    mean = np.asarray(approx.mean.eval())
    point = {}
    for value_name, slc, shape, _dtype in approx.groups[0].ordering.values():
        rv = rvs[value_name]
        point[rv.name] = to_constrained(model.rvs_to_transforms.get(rv), mean[slc].reshape(shape))
    missing = set(spec.value_shapes()) - set(point)
    if missing:
        raise RuntimeError(f"the ADVI approximation lacks {sorted(missing)}")
    return point
