"""The benchmark's own pieces (analyses/benchmark.py, analyses/benchmark_peers.py).

The full benchmark is opt-in and takes minutes; these tests check that what it times computes
the right thing: the numpy floor, the peers' models, the project's MAP path, the targets.
Peers that are not installed (the ``bench`` extra) are skipped by name.
"""

import numpy as np
import pytensor.tensor as pt
import pytest

from analyses import benchmark, benchmark_peers
from analyses.runner import Context, Settings
from analyses.benchmark_peers import available, naive_pymc_model
from models.data import load_dataset
from models.em import fit_em
from models.gmm import gmm_log_likelihood


@pytest.fixture(scope="module")
def faithful():
    return load_dataset("faithful").values


def value_point(model, constrained: dict) -> dict:
    """The model's value-variable point (transformed space) for constrained values by RV name."""
    point = {}
    for v in model.value_vars:
        rv = model.values_to_rvs[v]
        transform = model.rvs_to_transforms[rv]
        value = np.asarray(constrained[rv.name], dtype=float)
        point[v.name] = value if transform is None else transform.forward(pt.as_tensor(value), *rv.owner.inputs).eval()
    return point


def test_numpy_floor_equals_the_reference_log_likelihood(faithful):
    em = fit_em(faithful, 2, seed=1)
    value = benchmark_peers.numpy_loglik(faithful, np.log(em.weights), em.means,
                                   benchmark_peers.precision_cholesky(em.covariances))
    assert value == pytest.approx(gmm_log_likelihood(faithful, em.weights, em.means, em.covariances), rel=1e-12)


def test_synthetic_data_follow_the_known_mixture():
    x = benchmark.synthetic(50_000, seed=3)
    em = fit_em(x, 3, seed=0, n_init=3)
    order = np.argsort(em.means[:, 0])
    np.testing.assert_allclose(em.weights[order], benchmark.TRUE_W[np.argsort(benchmark.TRUE_MU[:, 0])], atol=0.01)
    np.testing.assert_allclose(em.means[order], benchmark.TRUE_MU[np.argsort(benchmark.TRUE_MU[:, 0])], atol=0.05)


def test_naive_model_log_likelihood_is_the_mixture_density(faithful):
    """The newcomer's ``pm.Mixture`` of ``MvNormal`` computes the same likelihood (1e-9)."""
    em = fit_em(faithful, 2, seed=1)
    model = naive_pymc_model(faithful, 2)
    point = {"w": em.weights}
    for k in range(2):
        point[f"mu_{k}"] = em.means[k]
        chol = np.linalg.cholesky(em.covariances[k])
        point[f"chol_{k}"] = chol[np.tril_indices(2)]
    value = float(model.compile_logp(vars=[model["x"]], jacobian=False)(value_point(model, point)))
    assert value == pytest.approx(gmm_log_likelihood(faithful, em.weights, em.means, em.covariances), rel=1e-9)


@pytest.mark.skipif(not available("numpyro"), reason="numpyro not installed (pip install -e '.[bench]')")
def test_numpyro_twin_has_the_project_models_log_density(faithful):
    """Same prior and likelihood: log densities (no Jacobians) agree to 1e-9 at the EM start."""
    import numpyro
    from numpyro.infer.util import log_density

    numpyro.enable_x64()  # the PyMC model is float64 (the benchmark enables it too)

    from analyses.benchmark_peers import numpyro_gmm

    model = benchmark.project_nuts_model(faithful, 2)
    start = benchmark.project_start(faithful, 2, seed=0)
    expected = float(model.compile_logp(jacobian=False)(value_point(model, start)))
    spec = model.gmm_spec
    xs = spec.standardization.apply(faithful)
    got, _ = log_density(numpyro_gmm, (xs, benchmark.project_prior(faithful, 2)), {}, start)
    assert float(got) == pytest.approx(expected, rel=1e-9)


def test_project_map_matches_em_and_records_phases(faithful):
    row = benchmark.project_map(faithful, 2, seed=0)
    ref = fit_em(faithful, 2, seed=0, tol=1e-10, max_iter=5000, n_init=3)
    assert row["loglik"] == pytest.approx(ref.log_likelihood, rel=1e-9)
    assert row["total_s"] == pytest.approx(row["build_s"] + row["compile_s"] + row["optimize_s"])
    assert row["converged"]


def test_targets_judge_measured_ratios():
    """The targets table compares each measured ratio with its bound, in the right direction."""
    result = {
        "map": [{"data": "synthetic N=25000", "N": 25_000, "sklearn": {"total_s": 0.05}, "sklearn_tol_1e-6": {"total_s": 0.1},
                 "project_map": {"optimize_s": 0.25, "total_s": 12.0}}],
        "logp": {"sizes": [272, 25_000], "project_logp_dlogp": [1.0, 3.0], "numpy_logp_only": [1.0, 1.0],
                 "slope_project": 1.05},
        "nuts": {"project_default": {"total_s": 10.0, "ess_per_s_total": 50.0},
                 "naive_pymc": {"ess_per_s_total": 1.0}, "numpyro_native": {"total_s": 20.0}},
    }
    met = {row["target"]: row["met"] for row in benchmark.targets(result)}
    assert met["MAP optimisation / sklearn EM, N=25,000 K=3"] is False         # 5 > 3
    assert met["MAP optimisation / sklearn EM at tol 1e-6 (same log-likelihood), N=25,000 K=3"] is True  # 2.5 <= 3
    assert met["MAP total incl. build+compile (s), N=25,000 K=3"] is False      # 12 > 10
    assert met["logp+grad / numpy logp, N=272"] is True                         # 1 <= 2
    assert met["logp+grad / numpy logp, N=25000"] is False                      # 3 > 2
    assert met["NUTS total wall time / numpyro native"] is True                 # 0.5 <= 1
    assert met["NUTS min bulk ESS/s (total): project / naive PyMC"] is True     # 50 >= 10


def test_map_section_checks_agreement_on_small_data(tmp_path):
    ctx = Context(name="benchmark", settings=Settings(out=tmp_path, quick=True))
    rows = benchmark.bench_map(ctx, {"map_sizes": (500,), "naive_map_max_n": 0})
    assert [r["data"] for r in rows] == ["faithful", "synthetic N=500"]
    assert all(c.passed for c in ctx.checks), [c.as_dict() for c in ctx.checks if not c.passed]
    assert len(ctx.checks) == 2
