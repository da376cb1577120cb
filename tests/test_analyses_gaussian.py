"""The four Gaussian analyses run end to end in --quick mode, every check passes, and their
figures and NetCDF posteriors are written; once more on a small user CSV given with --data;
and one of them as a stand-alone script.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analyses import runner

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["normal_clt", "height_mle", "height_weight_mvn", "sequential_bayes"]
#: Files each analysis must write (besides more figures).
EXPECTED = {
    "normal_clt": ["normal_densities.png", "clt_sample_means.png", "clt_sums_uniform.png",
                   "clt_distance_to_normal.png"],
    "height_mle": ["loglik_surface.png", "histogram_fit_predictive.png", "trace_normal_gamma.png",
                   "posterior_vs_exact.png", "estimates_side_by_side.png", "posterior_flat_prior.nc",
                   "posterior_normal_gamma.nc"],
    "height_weight_mvn": ["density_surface_contours_axes.png", "rotated_coordinates.png", "covariance_estimates.png",
                          "pair_lkj_posterior.png", "posterior_lkj.nc", "posterior_normal_wishart.nc"],
    "sequential_bayes": ["prml_fig_2_12.png", "data_posteriors.png", "online_convergence.png",
                         "prml_fig_2_12_N10.nc"],
}


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def _assert_all_passed(summary: dict, names) -> None:
    failed = [f"{c['analysis']}: {c['quantity']} ({c['abs_error']:.3g} > {c['tolerance']:.3g})"
              for c in summary["checks"] if not c["passed"]]
    assert not failed, failed
    counts = {n: sum(c["analysis"] == n for c in summary["checks"]) for n in names}
    assert all(v >= 10 for v in counts.values()), counts


def test_gaussian_analyses_quick(quick_run):
    """The session's --quick run of every analysis (conftest.quick_run), its Gaussian part."""
    summary = quick_run.summary
    _assert_all_passed(summary, NAMES)
    for name, files in EXPECTED.items():
        for f in files:
            path = quick_run.out / name / f
            assert path.is_file() and path.stat().st_size > 1000, path
    # every NUTS fit went through record_diagnostics, and its diagnostics are in summary.json
    diag = summary["analyses"]["height_weight_mvn"]["diagnostics"]
    assert set(diag) == {"LKJ prior", "Normal-Wishart prior"} and all(d["converged"] for d in diag.values())
    assert {"flat prior", "Normal-Gamma prior"} <= set(summary["analyses"]["height_mle"]["diagnostics"])
    # the posteriors open with ArviZ and carry the seed
    import arviz as az

    idata = az.from_netcdf(quick_run.out / "height_mle" / "posterior_normal_gamma.nc")
    assert {"posterior", "predictions"} <= set(idata.groups()) and "seed" in idata.attrs
    assert "[height_mle] MAP: μ = " in quick_run.stdout


@pytest.fixture
def small_csv(tmp_path) -> Path:
    """60 synthetic (height, weight) rows in a user's CSV."""
    rng = np.random.default_rng(5)
    h = rng.normal(170.0, 8.0, 60)
    w = 65.0 + 0.9 * (h - 170.0) + rng.normal(0.0, 8.0, 60)
    path = tmp_path / "people.csv"
    path.write_text("height_cm,weight_kg\n" + "\n".join(f"{a:.1f},{b:.1f}" for a, b in zip(h, w)) + "\n")
    return path


def test_gaussian_analyses_on_a_user_csv(tmp_path, small_csv):
    out = tmp_path / "out"
    assert runner.main(NAMES + ["--quick", "--out", str(out), "--data", str(small_csv)]) == 0
    summary = _summary(out)
    _assert_all_passed(summary, NAMES)
    assert summary["settings"]["data"] == str(small_csv)
    datasets = {c["dataset"] for c in summary["checks"] if c["analysis"] == "height_mle"}
    assert "people" in datasets
    assert summary["analyses"]["height_weight_mvn"]["N"] == 60
    # normal_clt also averages draws from the file's empirical distribution
    assert any(c["quantity"].startswith("people, N = 10") for c in summary["checks"])


def test_one_column_file_is_refused_by_the_bivariate_analysis(tmp_path, capsys):
    path = tmp_path / "one.csv"
    path.write_text("height_cm\n" + "\n".join(str(170 + i % 7) for i in range(30)) + "\n")
    assert runner.main(["height_weight_mvn", "--quick", "--out", str(tmp_path / "o"), "--data", str(path)]) == 2
    # refused before anything runs, by the data check of the runner (analyses.common.prepare_data)
    assert "height_weight_mvn uses 2 columns, but the file gives 1 (height_cm)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_analysis_runs_as_a_script(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "analyses" / "normal_clt.py"), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "checks passed" in proc.stdout
    _assert_all_passed(_summary(tmp_path), ["normal_clt"])


@pytest.mark.slow(seconds=30)
def test_book_heights_reproduce_the_books_figures(tmp_path, shared_data):
    """--data ../shared/data/height.txt: MLE 172.70 / 4.83, P(x <= 160) = 0.00427, P(x > 180) = 0.0654."""
    assert runner.main(["height_mle", "--quick", "--out", str(tmp_path), "--data",
                         str(shared_data / "height.txt")]) == 0
    summary = _summary(tmp_path)
    _assert_all_passed(summary, ["height_mle"])
    book = {c["quantity"]: c["value"] for c in summary["checks"] if "as the book prints it" in c["quantity"]}
    assert len(book) == 4
    assert round(book["MLE μ as the book prints it"], 2) == 172.70
    assert round(book["MLE σ as the book prints it"], 2) == 4.83
    assert round(book["P(x <= 160) as the book prints it"], 5) == 0.00427
    assert round(book["P(x > 180) as the book prints it"], 4) == 0.0654


@pytest.mark.slow(seconds=130)
def test_book_height_weight_reproduce_the_known_figures(tmp_path, shared_data):
    assert runner.main(["height_weight_mvn", "--quick", "--out", str(tmp_path), "--data",
                         str(shared_data / "height_weight.txt")]) == 0
    summary = _summary(tmp_path)
    _assert_all_passed(summary, ["height_weight_mvn"])
    assert {"mean vector (book file)", "MLE covariance ÷N (book file)"} <= {c["quantity"] for c in summary["checks"]}
