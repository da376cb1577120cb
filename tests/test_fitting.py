"""Tests for models.fitting's diagnostics: the gate sees every scalar it is given.

Posteriors here are made by hand (``arviz.from_dict``) so that the right verdict is known:
well-mixed independent draws pass, a stuck chain or a constant variable fails with its name,
a constant deterministic excluded by name does not count.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

from models.fitting import convergence_table, diagnose, ess_threshold

CHAINS, DRAWS = 2, 1000


def mixed(rng, *shape):
    """Independent N(0, 1) draws (chain, draw, *shape): R-hat ~1, ESS ~ chains x draws."""
    return rng.normal(size=(CHAINS, DRAWS) + shape)


def idata_of(**variables):
    return az.from_dict(posterior=variables,
                        sample_stats={"diverging": np.zeros((CHAINS, DRAWS), dtype=bool)})


def test_independent_draws_pass_and_the_table_is_the_worst_element():
    rng = np.random.default_rng(1)
    d = diagnose(idata_of(a=mixed(rng), b=mixed(rng, 3)))
    assert d.converged, d.problems
    assert d.undefined == {}
    post = idata_of(a=mixed(rng), b=mixed(rng, 3)).posterior
    table = convergence_table(post)
    assert table["b"]["rhat"] == pytest.approx(float(az.rhat(post)["b"].max()), rel=1e-12)
    assert table["b"]["ess_bulk"] == pytest.approx(float(az.ess(post, method="bulk")["b"].min()), rel=1e-12)
    assert table["b"]["ess_tail"] == pytest.approx(float(az.ess(post, method="tail")["b"].min()), rel=1e-12)


def test_a_constant_element_fails_the_gate_by_name():
    """A free variable stuck at one value has NaN R-hat; it used to drop out through nanmax."""
    rng = np.random.default_rng(2)
    stuck = mixed(rng, 2)
    stuck[:, :, 1] = 0.7                                     # element 1 never moves
    d = diagnose(idata_of(a=mixed(rng), prec_c=stuck))
    assert not d.converged
    assert d.undefined == {"prec_c": [[1]]}
    assert np.isnan(d.rhat_max)                              # (ArviZ gives a constant ESS = draws)
    assert any("prec_c" in p and "[[1]]" in p for p in d.problems)


def test_the_order_of_variables_does_not_hide_a_nan():
    rng = np.random.default_rng(3)
    constant = np.full((CHAINS, DRAWS), 1.0)
    for order in (("a", "z"), ("z", "a")):
        variables = {"a": mixed(rng), "z": constant}
        d = diagnose(idata_of(**{k: variables[k] for k in order}))
        assert np.isnan(d.rhat_max) and not d.converged


def test_excluding_a_constant_deterministic_by_name():
    rng = np.random.default_rng(4)
    corr = np.broadcast_to(np.eye(2), (CHAINS, DRAWS, 2, 2)).copy()
    corr[..., 1, 0] = mixed(rng)                             # the unit diagonal stays constant
    data = idata_of(a=mixed(rng), chol_corr=corr)
    assert not diagnose(data).converged
    d = diagnose(data, exclude=["chol_corr"])
    assert d.converged, d.problems
    assert d.excluded == ("chol_corr",) and "chol_corr" not in d.table
    with pytest.raises(KeyError, match="not in the posterior"):
        diagnose(data, exclude=["chol_corrr"])


def test_a_stuck_chain_fails_on_rhat_with_finite_values():
    rng = np.random.default_rng(5)
    draws = mixed(rng)
    draws[1] += 3.0                                          # the second chain sits elsewhere
    d = diagnose(idata_of(a=draws))
    assert d.rhat_max > 1.5 and d.undefined == {}
    assert any(p.startswith("R-hat") for p in d.problems)


def test_ess_threshold_scales_down_only_for_short_runs():
    assert ess_threshold(4000) == 400
    assert ess_threshold(1000) == 200


# --------------------------------------------------------------------------- MAP without a C compile

_MAP_SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from models import fit_gmm_map, fit_map, gmm_marginal_model, load_dataset, normal_model
faithful = load_dataset("faithful").values
fit = fit_gmm_map(gmm_marginal_model(faithful, 2, priors="flat"), seed=0)
point = fit_map(normal_model(load_dataset("heights").column("height_cm"), "flat"))
so = sum(1 for f in Path(sys.argv[1]).rglob("*.so") if f.parent.name != "lazylinker_ext")
print(json.dumps({"so": so, "mode": fit.compile_mode, "loglik": fit.log_likelihood, "mu": float(point["mu"])}))
"""


@pytest.mark.slow(seconds=25)
def test_small_map_fits_compile_no_c_module_on_a_fresh_machine(tmp_path):
    """The point of map_compile_mode: on a fresh machine (empty pytensor compile directory) a GMM
    MAP and a Gaussian MAP of a few hundred points compile no C module of their graphs (gcc took
    ~80 s for the GMM objective), and still reach the MLE: EM's maximum and the sample mean.
    pytensor's own C loop (``lazylinker_ext``, compiled once per machine on first use) is not counted."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from models import fit_em, load_dataset

    flags = [f for f in (os.environ.get("PYTENSOR_FLAGS", ""), f"base_compiledir={tmp_path}") if f]
    env = dict(os.environ, PYTENSOR_FLAGS=",".join(flags))
    proc = subprocess.run([sys.executable, "-c", _MAP_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).resolve().parents[1], timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["so"] == 0 and out["mode"] == "FAST_COMPILE", out
    em = fit_em(load_dataset("faithful").values, 2, seed=0, tol=1e-12, max_iter=10_000)
    assert out["loglik"] == pytest.approx(em.log_likelihood, rel=1e-9)
    assert out["mu"] == pytest.approx(np.mean(load_dataset("heights").column("height_cm")), rel=1e-6)
