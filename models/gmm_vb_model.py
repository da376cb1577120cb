r"""The Bayesian GMM of :mod:`models.gmm_vb` as a PyMC model, for ADVI and NUTS on the same posterior.

Same prior as VB (PRML 10.37-10.40, data units, ``covariance_type="full"``), with z summed out:

.. math::

    w \sim \mathrm{Dir}(\alpha_0), \quad \Lambda_k \sim \mathcal W(W_0, \nu_0), \quad
    \mu_k \mid \Lambda_k \sim \mathcal N(m_0, (\beta_0\Lambda_k)^{-1}), \quad
    \ln p(x_n \mid \theta) = \ln \sum_k w_k \mathcal N(x_n \mid \mu_k, \Lambda_k^{-1}).

Free variables (a non-centred, sampler-friendly reparametrization of the same prior):

* ``w`` (K,) Dirichlet(α0);
* Bartlett (PRML 2.155 / Bartlett 1933): ``Λ_k = L_k L_kᵀ``, ``L_k = C0 A_k`` with ``W0 = C0 C0ᵀ``
  and ``A_k`` lower triangular, ``A_k[i, i]² = prec_c[k, i] ~ χ²(ν0 - i)``,
  ``A_k[i, j] = prec_z[k, t] ~ N(0, 1)`` (i > j, t running over the strict lower triangle row by row);
  then ``Λ_k ~ W(W0, ν0)`` exactly;
* ``mu_eps`` (K, D) ~ N(0, I), ``μ_k = m0 + L_k⁻ᵀ mu_eps_k / √β0``, so ``μ_k | Λ_k ~ N(m0, (β0 Λ_k)⁻¹)``.

The likelihood is a ``pm.Potential`` with every constant (``-D/2 ln 2π``) and the log-densities
of the free variables are PyMC's normalized ones, so ``model.logp()`` (Jacobians of the default
transforms included) is ln p(x, φ) for the unconstrained φ, and ADVI's ELBO bounds the same
ln p(x) as VB's ELBO: p(x) = ∫ p(x | θ) p(θ) dθ does not depend on how θ is parametrized.

No ordering constraint: the analyses start every fit at VB's mode and relabel draws by the
first coordinate of μ.
"""

from __future__ import annotations

import math

import numpy as np

from models.gmm_vb import VBPrior, VBResult
from models.validation import DataError, validate_samples_2d

__all__ = ["gmm_normal_wishart_model", "lower_index", "start_from_vb"]


def lower_index(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the strict lower triangle, row by row (the order of ``prec_z``)."""
    return np.tril_indices(d, k=-1)


def _prior_chol(prior: VBPrior) -> np.ndarray:
    """C0 with W0 = C0 C0ᵀ, (D, D), from W0⁻¹ by one Cholesky and one triangular inverse."""
    w0 = np.linalg.inv(np.asarray(prior.W0_inv, dtype=float))
    return np.linalg.cholesky(0.5 * (w0 + w0.T))


def gmm_normal_wishart_model(x, n_components: int, prior: VBPrior, *, columns=None):
    """The marginal PyMC model (module docstring); deterministics ``mu`` (K, D), ``Sigma`` (K, D, D).

    Parameters
    ----------
    x : array_like (N, D); n_components : K; prior : :class:`models.gmm_vb.VBPrior` of type "full".
    columns : feature names for the ``feature`` coordinate.
    """
    import pymc as pm
    import pytensor.tensor as pt

    if prior.covariance_type != "full":
        raise DataError(f"gmm_normal_wishart_model is built for covariance_type='full', got "
                        f"{prior.covariance_type!r}; fit the other types with models.gmm_vb.")
    x = validate_samples_2d(x, name="x", min_rows=n_components)
    k, d = int(n_components), x.shape[1]
    c0 = _prior_chol(prior)
    rows, cols = lower_index(d)
    coords = {"component": np.arange(k), "feature": list(columns) if columns else [f"x{i}" for i in range(d)],
              "feature_bis": list(columns) if columns else [f"x{i}" for i in range(d)]}
    with pm.Model(coords=coords) as model:
        w = pm.Dirichlet("w", a=np.full(k, prior.alpha0), dims="component")
        prec_c = pm.ChiSquared("prec_c", nu=prior.nu0 - np.arange(d), shape=(k, d))
        a = pt.zeros((k, d, d))
        for i in range(d):                                # D is small: one set per entry, no fancy indexing
            a = pt.set_subtensor(a[:, i, i], pt.sqrt(prec_c[:, i]))
        if d > 1:
            prec_z = pm.Normal("prec_z", 0.0, 1.0, shape=(k, rows.size))
            for t, (i, j) in enumerate(zip(rows, cols)):
                a = pt.set_subtensor(a[:, i, j], prec_z[:, t])
        chol = pt.matmul(c0[None], a)                                            # (K, D, D), Λ_k = L Lᵀ
        mu_eps = pm.Normal("mu_eps", 0.0, 1.0, shape=(k, d))
        shift = pt.stack([pt.linalg.solve_triangular(chol[j].T, mu_eps[j], lower=False) for j in range(k)])
        mu = pm.Deterministic("mu", prior.m0 + shift / math.sqrt(prior.beta0), dims=("component", "feature"))
        precision = pt.matmul(chol, pt.swapaxes(chol, 1, 2))
        pm.Deterministic("Sigma", pt.linalg.inv(precision), dims=("component", "feature", "feature_bis"))
        y = pt.matmul(x[None, :, :] - mu[:, None, :], chol)                      # (K, N, D): Lᵀ(x - μ)
        half_log_det = np.sum(np.log(np.diag(c0))) + 0.5 * pt.sum(pt.log(prec_c), axis=1)   # ½ ln|Λ_k|
        log_joint = (pt.log(w)[:, None] + half_log_det[:, None] - 0.5 * d * math.log(2.0 * math.pi)
                     - 0.5 * pt.sum(y**2, axis=2))                                # (K, N)
        pm.Potential("log_likelihood", pt.sum(pm.math.logsumexp(log_joint, axis=0)))
    return model


def start_from_vb(result: VBResult) -> dict:
    """The free variables at VB's posterior means: w = E[π], Λ_k = E[Λ_k] = ν_k W_k, μ_k = m_k.

    Returns {"w", "prec_c", "prec_z", "mu_eps"} (constrained values; ``prec_z`` only for D > 1).
    """
    prior = result.prior
    d = result.m.shape[1]
    c0 = _prior_chol(prior)
    lam = np.linalg.inv(result.covariances)                                     # ν_k W_k, (K, D, D)
    chol = np.linalg.cholesky(0.5 * (lam + np.swapaxes(lam, 1, 2)))
    a = np.linalg.solve(c0[None], chol)                                          # C0⁻¹ L_k, lower triangular
    eps = math.sqrt(prior.beta0) * np.einsum("kji,kj->ki", chol, result.m - prior.m0)   # √β0 L_kᵀ (m_k - m0)
    point = {"w": result.weights.copy(), "prec_c": np.diagonal(a, axis1=1, axis2=2) ** 2, "mu_eps": eps}
    if d > 1:
        rows, cols = lower_index(d)
        point["prec_z"] = a[:, rows, cols]
    return point
