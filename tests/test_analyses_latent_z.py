"""analyses/latent_z.py: a --quick run in which every recorded check passes, with its figures."""

from __future__ import annotations

import math

import pytest
from quick_runs import checks_of, run_quick  # tests/ is on sys.path

from analyses.runner import OPT_IN_ANALYSES


@pytest.mark.slow(seconds=120)  # two NUTS runs, one with a Gibbs sweep over z per iteration, and recover_marginals: ~1-2 min
def test_quick_run_passes_every_check(tmp_path):
    assert "latent_z" in OPT_IN_ANALYSES
    code, out, summary = run_quick(tmp_path, ["latent_z"])
    checks, failed = checks_of(summary, "latent_z")
    assert code == 0 and checks and not failed, failed
    quantities = " | ".join(c["quantity"] for c in checks)
    for expected in ("expected step", "explicit z (compound step): max R-hat", "z marginalized (NUTS): divergences",
                     "|Δ posterior mean|", "|Δ posterior sd|", "(vectorized)", "(recover_marginals)",
                     "recover_marginals == vectorized", "ESS per second"):
        assert expected in quantities, expected
    for png in ("rao_blackwell.png", "labels.png"):
        assert (out / "latent_z" / png).is_file()
    extra = summary["analyses"]["latent_z"]
    assert extra["steps"]["z"] == "BinaryGibbsMetropolis"
    ratios = extra["efficiency"]["marginal_over_explicit_z"]
    assert all(math.isfinite(v) and v > 0 for v in ratios.values())
