"""The Gaussian-mixture analyses run end to end in quick mode, and every check they record passes."""

from __future__ import annotations

import numpy as np
import pytest
from quick_runs import run_quick  # tests/ is on sys.path

from analyses.runner import DEFAULT_ANALYSES

GMM_ANALYSES = ["gmm_sampling", "old_faithful_gmm", "body_gmm", "choosing_k"]


#: The K each criterion prefers on Old Faithful with full covariances. BIC and AIC come from the
#: EM maximum (the same at every seed): BIC is lowest at K = 2 by 36, AIC at K = 3 by 10
#: (2272.4 vs 2282.5) — AIC's small penalty buys the third component. LOO (NUTS) prefers K = 2,
#: with K = 3 within two standard errors. So the criteria disagree, and the verdict must say so.
OLD_FAITHFUL_PREFERENCE = {"LOO": 2, "BIC": 2, "AIC": 3}


def assert_verdict(extra: dict, expected: dict) -> None:
    """choosing_k's preferred K per criterion are ``expected``, and its verdict says whether they
    agree: fails when the criteria agree or disagree otherwise than expected, or the sentence errs."""
    assert extra["preferred"] == expected, extra["verdict"]
    agree = len(set(expected.values())) == 1
    assert extra["criteria_agree"] is agree, extra["verdict"]
    assert extra["verdict"].startswith("BIC, AIC and LOO agree: K = " if agree else "The criteria disagree: "), \
        extra["verdict"]


def test_gmm_analyses_are_registered_in_order():
    positions = [DEFAULT_ANALYSES.index(name) for name in GMM_ANALYSES]
    assert positions == sorted(positions)


def test_gmm_analyses_quick_run_passes_every_check(quick_run):
    """The session's --quick run of every analysis (conftest.quick_run), its GMM part."""
    out, summary = quick_run.out, quick_run.summary
    failed = [c for c in summary["checks"] if not c["passed"]]
    assert quick_run.code == 0 and not failed, failed
    per = {name: [c for c in summary["checks"] if c["analysis"] == name] for name in GMM_ANALYSES}
    assert all(per[name] for name in GMM_ANALYSES), {k: len(v) for k, v in per.items()}
    assert set(GMM_ANALYSES) <= set(summary["timings_seconds"])
    # Every NUTS run went through the diagnostics gate.
    gated = summary["analyses"]
    assert set(gated["old_faithful_gmm"]["diagnostics"]) == {"Old Faithful K=2"}
    assert set(gated["choosing_k"]["diagnostics"]) == {f"K={k} (full)" for k in (1, 2, 3)}
    assert summary["settings"]["options"] == {"choosing_k": {"covariance_type": "full"}}  # its default
    # The book's EM sequence is printed and stored.
    printed = gated["old_faithful_gmm"]["book_em"]["printed"]
    np.testing.assert_allclose(printed[:9], [-16.538, -4.415, -4.357, -4.302, -4.245, -4.200, -4.164, -4.156,
                                             -4.155], atol=5e-4)
    assert_verdict(gated["choosing_k"], OLD_FAITHFUL_PREFERENCE)
    assert 0 < gated["body_gmm"]["adjusted_rand_index"] < 1
    for path in ["gmm_sampling/gmm_sampling.png", "old_faithful_gmm/nuts_trace.png", "old_faithful_gmm/nuts_pair.png",
                 "old_faithful_gmm/nuts_forest.png", "old_faithful_gmm/posterior_predictive.png",
                 "old_faithful_gmm/fitted_density.png", "old_faithful_gmm/responsibilities.png",
                 "old_faithful_gmm/old_faithful_posterior.nc", "body_gmm/body_gmm_fits.png",
                 "choosing_k/bic_aic.png", "choosing_k/loo_compare.png", "choosing_k/posterior_K2_full.nc",
                 "report.html"]:
        assert (out / path).stat().st_size > 1000, path


@pytest.mark.slow(seconds=40)
def test_old_faithful_runs_on_the_books_file(tmp_path, shared_data):
    code, _, summary = run_quick(tmp_path, ["old_faithful_gmm"], "--data", str(shared_data / "old_faithful.txt"))
    assert code == 0 and all(c["passed"] for c in summary["checks"])
    names = {c["quantity"] for c in summary["checks"]}
    assert "EM mean log-likelihood sequence" in names      # the book's data are recognised


def test_adjusted_rand_index_matches_sklearn():
    from sklearn.metrics import adjusted_rand_score

    from analyses.body_gmm import rand_index_by_pairs
    from models.gmm_metrics import adjusted_rand_index

    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.integers(0, 3, 150)
        b = np.where(rng.random(150) < 0.7, a, rng.integers(0, 2, 150))
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
        assert rand_index_by_pairs(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 2, 2]) == 1.0


def _verdict_extra(best: dict, tied=()) -> dict:
    """What choosing_k stores, from its own functions."""
    from analyses.choosing_k import criteria_agree, verdict_text

    return {"preferred": best, "criteria_agree": criteria_agree(best), "verdict": verdict_text(best, list(tied))}


def test_the_verdict_assertion_fails_when_the_criteria_disagree_otherwise():
    """assert_verdict (used on the quick run above) can fail: fed choosing_k's verdict for criteria
    that all agree, or that disagree in another way, or a verdict sentence that contradicts the
    preferences, it raises."""
    disagree = {"LOO": 2, "BIC": 2, "AIC": 3}
    assert_verdict(_verdict_extra(disagree, [2, 3]), disagree)
    extra = _verdict_extra(disagree, [2, 3])
    assert extra["verdict"].startswith("The criteria disagree: BIC prefers K = 2, AIC K = 3, LOO K = 2.")
    assert "By LOO, K = 3 is within two standard errors of K = 2" in extra["verdict"]
    agree = {"LOO": 2, "BIC": 2, "AIC": 2}
    assert _verdict_extra(agree)["verdict"] == "BIC, AIC and LOO agree: K = 2."
    assert_verdict(_verdict_extra(agree), agree)
    for wrong in (_verdict_extra(agree), _verdict_extra({"LOO": 3, "BIC": 2, "AIC": 3}),
                  _verdict_extra(disagree) | {"verdict": "BIC, AIC and LOO agree: K = 2."},
                  _verdict_extra(disagree) | {"criteria_agree": True}):
        with pytest.raises(AssertionError):
            assert_verdict(wrong, disagree)
    with pytest.raises(AssertionError):
        assert_verdict(_verdict_extra(disagree), agree)
