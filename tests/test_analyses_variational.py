"""analyses/variational_gmm.py: its helpers, and a --quick run in which every recorded check passes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from quick_runs import checks_of, run_quick  # tests/ is on sys.path

from analyses import variational_gmm as vg
from analyses.runner import OPT_IN_ANALYSES, main


def test_registered_as_opt_in():
    assert "variational_gmm" in OPT_IN_ANALYSES


def test_relabel_sorts_components_by_the_first_mean_coordinate():
    w = np.array([[0.3, 0.7], [0.6, 0.4]])
    mu = np.array([[[5.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [4.0, 1.0]]])
    sigma = np.stack([np.stack([np.eye(2) * 2, np.eye(2)])] * 2)
    w2, mu2, sigma2 = vg.relabel(w, mu, sigma)
    np.testing.assert_array_equal(w2, [[0.7, 0.3], [0.6, 0.4]])
    assert np.all(np.diff(mu2[:, :, 0], axis=1) > 0)
    np.testing.assert_array_equal(sigma2[0, 1], np.eye(2) * 2)


def test_importance_estimate_of_a_known_mean():
    """log-weights of a log-normal: E[exp(N(0, s²))] = exp(s²/2)."""
    s = 0.3
    log_w = np.random.default_rng(0).normal(0.0, s, 20_000)
    value, se, ess = vg.importance_estimate(log_w)
    assert abs(value - s**2 / 2) < 4 * se and ess > 15_000


def test_count_options_refuse_zero_before_anything_runs(tmp_path, capsys):
    import argparse

    assert vg.positive_count("12") == 12
    with pytest.raises(argparse.ArgumentTypeError):
        vg.positive_count("0")
    # Through the runner: an int-typed option given, another analysis' option absent.
    with pytest.raises(SystemExit) as exc:
        main(["variational_gmm", "--draws", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "--draws" in capsys.readouterr().err
    assert main(["closed_forms", "--draws", "5", "--out", str(tmp_path)]) == 2
    assert "is an option of variational_gmm" in capsys.readouterr().err


@pytest.mark.slow(seconds=200)  # NUTS on two data sets plus two ADVI fits each: ~5 min in --quick
def test_quick_run_passes_every_check(tmp_path):
    code, out, summary = run_quick(tmp_path, ["variational_gmm"])
    checks, failed = checks_of(summary, "variational_gmm")
    assert code == 0 and not failed, failed
    for name in ("faithful", "bdims"):
        quantities = " | ".join(c["quantity"] for c in checks if c["dataset"] == name)
        assert "VB ELBO step" in quantities and "NUTS: max R-hat" in quantities
        assert "VB/NUTS sd ratio" in quantities and "log-likelihood at VB's means" in quantities
        for png in ("elbo_traces", "marginals", "densities"):
            assert (out / "variational_gmm" / f"{name}_{png}.png").is_file()
    extra = summary["analyses"]["variational_gmm"]
    for name in ("faithful", "bdims"):
        assert math.isfinite(extra[name]["vb"]["elbo"])
        assert set(extra[name]["vb_minus_advi_elbo"]) == {"ADVI mean-field", "ADVI full-rank"}
