"""End to end: a real ``python -m analyses --quick`` run of two fast analyses, its real
report.html opened in headless Chromium — every image decodes and the tie-out table has one
row per check in summary.json."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_report import CHROMIUM, browser_probe  # tests/ is on sys.path (pytest's rootdir-less import)

ROOT = Path(__file__).resolve().parents[1]
#: Two analyses that finish in seconds: closed forms only, and forward sampling with a fixed mixture.
FAST = ["closed_forms", "gmm_sampling"]


@pytest.mark.slow(seconds=25)
def test_real_quick_run_renders_in_headless_chromium(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package)")
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "analyses", *FAST, "--quick", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in FAST:  # one progress line per analysis, with its time
        assert f"[{name}] done in " in proc.stdout
    assert "checks passed" in proc.stdout and str(out / "report.html") in proc.stdout

    summary = json.loads((out / "summary.json").read_text())
    n_figures = sum(len(list((out / name).glob("*.png"))) for name in FAST)
    assert n_figures >= 2 and len(summary["checks"]) > 0

    probe = browser_probe(out / "report.html", tmp_path)
    assert probe["images"] == f"{n_figures}/{n_figures}", "every figure decoded (naturalWidth > 0)"
    assert int(probe["rows"]) == len(summary["checks"]), "one tie-out row per check in summary.json"


def test_posteriors_are_named_at_the_end_of_the_console_and_in_the_report(quick_run):
    """Every NetCDF file the session's --quick run wrote is listed in its last lines and in its
    analysis' section of report.html."""
    written = sorted(p.relative_to(quick_run.out) for p in quick_run.out.glob("*/*.nc"))
    assert len(written) >= 8
    tail = quick_run.stdout[quick_run.stdout.rindex("posteriors (NetCDF"):]
    page = (quick_run.out / "report.html").read_text()
    for path in written:
        assert path.name in tail and str(quick_run.out / path.parent) in tail, path
        section = page[page.index(f'<section id="{path.parent}"'):]
        section = section[:section.index("</section>")]
        assert f"<code>{path}</code>" in section, path


def test_real_report_fits_1400_px(quick_run, tmp_path):
    """The session's --quick run's report.html, 1400 px wide: every tie-out column visible."""
    from test_report import width_probe

    probe = width_probe(quick_run.out / "report.html", tmp_path)
    assert int(probe["tables"]) >= 9 and int(probe["headers"]) == 9 * int(probe["tables"])
    assert probe["hidden"] == "0" and probe["overflowing"] == "0" and probe["clipped"] == "0"
