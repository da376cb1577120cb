"""analyses.report: the page is self-contained, every image decodes in a real browser, and the
tie-out table has one row per check in summary.json."""

import re
import shutil
import subprocess
import sys
import types

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from analyses.report import render_report, write_report  # noqa: E402
from models.io import save_figure  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Injected into a copy of the page only: counts decoded images once everything has loaded.
PROBE = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
         "document.body.setAttribute('data-images',i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length);"
         "document.body.setAttribute('data-rows',document.querySelectorAll('tr[data-check]').length)});</script>")


def browser_probe(html_path, tmp_path) -> dict[str, str]:
    """Open ``html_path`` in headless Chromium; return the probe's counts."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package)")
    probed = tmp_path / "probed.html"
    probed.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
         probed.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    return dict(re.findall(r'data-(\w+)="([^"]*)"', body))


def screenshot(html_path, png_path, tmp_path) -> None:
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'shot'}",
         "--window-size=1280,2200", f"--screenshot={png_path}", html_path.as_uri()],
        capture_output=True, timeout=120, check=True,
    )


def _fake_run(out):
    for name, colour in (("alpha", "C0"), ("beta", "C1")):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1, 2], [1, 0, 2], color=colour)
        ax.set_title(name)
        save_figure(fig, out / name / f"{name}_plot.png")
        plt.close(fig)
    checks = [
        {"analysis": "alpha", "dataset": "d", "quantity": f"q{i}", "method": "MAP", "reference": "MLE",
         "value": 1.0 + i, "reference_value": 1.0 + i, "abs_error": 0.0, "tolerance": 1e-6, "passed": True}
        for i in range(3)
    ] + [{"analysis": "beta", "dataset": "d", "quantity": "v<&>", "method": "NUTS", "reference": "exact",
          "value": [[1.0, 2.0], [3.0, 4.0]], "reference_value": [[1.0, 2.0], [3.0, 4.1]], "abs_error": 0.1,
          "tolerance": 0.01, "passed": False, "note": "largest coordinate", "basis": "4 MCSE"}]
    diag = {"rhat_max": 1.002, "ess_bulk_min": 812.0, "ess_tail_min": 700.0, "divergences": 0,
            "ess_required": 400.0, "converged": True, "problems": []}
    return {"checks": checks, "seed": 5, "versions": {"pymc": "5.28"}, "timings_seconds": {"alpha": 1.0},
            "settings": {"analyses": ["alpha", "beta"], "quick": True},
            "analyses": {"beta": {"diagnostics": {"mu": diag}}}}


def test_report_is_self_contained_and_escaped(tmp_path):
    summary = _fake_run(tmp_path)
    page = render_report(summary, tmp_path)
    assert "http://" not in page and "https://" not in page
    assert page.count("<img ") == 2 and page.count("data:image/png;base64,") == 2
    assert page.count("<tr class=\"fail\" data-check>") == 1
    assert "v&lt;&amp;&gt;" in page
    assert '<small class="basis">basis: 4 MCSE</small><small>largest coordinate</small>' in page  # tolerance's basis
    assert "1 of 4 checks FAILED" in page
    assert "812" in page  # diagnostics table
    assert 'id="summary"' in page and 'href="#alpha"' in page and 'href="#beta"' in page  # overview links
    assert "Failed checks" in page


def test_report_shows_bounds_docstrings_and_options(tmp_path, monkeypatch):
    """Through render_report: a one-sided bound's cell, a module docstring as paragraphs (hard-wrapped
    lines joined, numbered items on new lines, ``code`` and **bold**), and the options it ran with."""
    module = types.ModuleType("analyses.alpha")
    module.TITLE = "Alpha"
    module.__doc__ = "Intro line\ncontinued with ``code`` and :func:`models.gmm.f`.\n\n1. first\n   wrapped\n2. **second**"
    monkeypatch.setitem(sys.modules, "analyses.alpha", module)
    summary = _fake_run(tmp_path)
    summary["checks"].append({"analysis": "alpha", "dataset": "d", "quantity": "min bulk ESS", "method": "NUTS",
                              "reference": "bound >= 400", "value": 812.0, "reference_value": 400.0,
                              "abs_error": 0.0, "tolerance": 0.0, "passed": True})
    summary["settings"]["options"] = {"alpha": {"covariance_type": "diag"}}
    page = render_report(summary, tmp_path)
    assert '<td class="num tol">≥ 400' in page
    assert ("<p>Intro line continued with <code>code</code> and <code>models.gmm.f</code>.</p>"
            "<p>1. first wrapped<br>2. <strong>second</strong></p>") in page
    assert "options <code>covariance_type = diag</code>" in page and page.count("options <code>") == 1


def test_report_in_headless_chromium(tmp_path):
    summary = _fake_run(tmp_path)
    path = write_report(summary, tmp_path)
    probe = browser_probe(path, tmp_path)
    assert probe["images"] == "2/2"
    assert int(probe["rows"]) == len(summary["checks"])


def test_probe_detects_a_broken_image(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="data:image/png;base64,AAAA"></body></html>')
    assert browser_probe(page, tmp_path)["images"] == "0/1"


def test_report_shows_when_and_how_each_analysis_ran_and_what_is_not_in_the_record(tmp_path):
    """Records (summary.json's ``records`` and ``consistency``): a "ran" column and meta line per
    analysis, a flag on the one whose settings differ, and the folders/records that do not match."""
    summary = _fake_run(tmp_path)
    versions = {"pymc": "5.28"}
    summary["records"] = {
        "alpha": {"settings": {"seed": 5, "quick": True, "data": None, "data_sha256": None, "versions": versions},
                  "finish_time": "2026-05-01T12:34:56+00:00", "seconds": 1.0},
        "beta": {"settings": {"seed": 7, "quick": True, "data": "my.csv", "data_sha256": "ab" * 32,
                              "versions": versions}, "finish_time": "2026-05-02T08:00:00+00:00", "seconds": 2.0},
    }
    summary["consistency"] = {
        "settings_differ": {"beta": {"seed": {"value": 7, "others": 5}, "data": {"value": "my.csv", "others": None}}},
        "folders_without_record": ["stray"],
        "records_without_folder": {"gamma": {"finish_time": "2026-04-30T10:00:00+00:00", "seed": 5}},
    }
    page = render_report(summary, tmp_path)
    assert "ran 2026-05-01 12:34 UTC · seed 5 · quick run · shipped data" in page
    assert ("ran 2026-05-02 08:00 UTC · seed 7 · quick run · data <code>my.csv</code> "
            "(SHA-256 <code>abababababab</code>…)") in page
    assert page.count("settings differ: seed 7 (the rest: seed 5); data my.csv (the rest: the shipped data)") == 1
    assert page.count('<span class="badge warn">settings differ</span>') == 1  # the overview row of beta only
    assert "<th>ran (UTC)</th>" in page and "2026-05-01 12:34 · seed 5" in page
    assert "<code>stray/</code>: a folder with no record" in page
    assert "<code>gamma</code>: recorded earlier, ran 2026-04-30 10:00 UTC, but its folder is missing" in page
    assert "(as most analyses ran; 1 with other settings, flagged below)" in page
    legacy = render_report(_fake_run(tmp_path), tmp_path)  # a summary.json from before records: no such parts
    assert "ran (UTC)" not in legacy and "Not in the record" not in legacy and "settings differ" not in legacy


# --------------------------------------------------------------------------- the tie-out table at 1400 px

#: Injected into a copy of the page: at the window's width, count the tie-out tables wider than
#: their frame, the header cells outside the viewport or squeezed, and the status cells clipped.
WIDTH_PROBE = (
    "<script>window.addEventListener('load',()=>{const vw=document.documentElement.clientWidth;"
    "const wraps=[...document.querySelectorAll('.tablewrap')];"
    "const heads=[...document.querySelectorAll('table.checks th')];"
    "const status=[...document.querySelectorAll('table.checks td.result')];"
    "const b=document.body;b.setAttribute('data-viewport',vw);b.setAttribute('data-tables',wraps.length);"
    "b.setAttribute('data-overflowing',wraps.filter(w=>w.scrollWidth>w.clientWidth+1).length);"
    "b.setAttribute('data-hidden',heads.filter(h=>{const r=h.getBoundingClientRect();"
    "return r.left<0||r.right>vw+0.5||r.width<40}).length);b.setAttribute('data-headers',heads.length);"
    "b.setAttribute('data-clipped',status.filter(c=>c.scrollWidth>c.clientWidth+1).length);"
    "b.setAttribute('data-toggles',document.querySelectorAll('table.checks details').length)});</script>")


def width_probe(html_path, tmp_path, width: int = 1400) -> dict[str, str]:
    """Open ``html_path`` in headless Chromium ``width`` px wide; return the WIDTH_PROBE counts."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package)")
    probed = tmp_path / f"width_{html_path.stem}.html"
    probed.write_text(html_path.read_text().replace("</body>", WIDTH_PROBE + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'width-profile'}",
         f"--window-size={width},1000", "--hide-scrollbars", "--virtual-time-budget=10000", "--dump-dom",
         probed.as_uri()],
        capture_output=True, text=True, timeout=120, check=True).stdout
    return dict(re.findall(r'data-(\w+)="([^"]*)"', re.search(r"<body([^>]*)>", dom).group(1)))


def _long_rows() -> list[dict]:
    """The widest rows a real run writes: long method and reference strings, a 272 x 2 array, a
    2 x 2 x 2 array, a long basis and note, a bound, a failure."""
    rng = __import__("numpy").random.default_rng(0)
    big = rng.normal(size=(272, 2))
    worse = big.copy()
    worse[200, 1] += 0.5
    base = {"analysis": "alpha", "dataset": "faithful", "passed": True, "tolerance": 1e-9, "abs_error": 0.0}
    return [
        base | {"quantity": "marginalized generative model: per-point log-likelihood at the MAP and 4 draws",
                "method": "pymc_extras.marginalize(gmm_generative_model(x, 2), ['z'])",
                "reference": "gmm_marginal_model (weak priors; the model NUTS samples)",
                "value": big.tolist(), "reference_value": worse.tolist(), "abs_error": 0.5, "passed": False,
                "basis": "1e-09 relative: round-off", "note": "every point, both features: " + "x" * 80},
        base | {"quantity": "covariances / (sd sdᵀ)", "method": "models.gmm_metrics.adjusted_rand_index_by_pairs",
                "reference": "EM MLE (k-means++, tol 1e-12)", "value": [[[1.0, 0.1], [0.1, 1.0]]] * 2,
                "reference_value": [[[1.0, 0.1], [0.1, 1.0]]] * 2, "basis": "1e-4 standardized: optimizer convergence"},
        base | {"quantity": "min bulk ESS", "method": "NUTS (Old Faithful K=2, 1000 draws)", "reference": "bound >= 400",
                "value": 812.123456, "reference_value": 400.0, "tolerance": 0.0,
                "basis": "ESS criterion 400: 400 (Vehtari et al. 2021), or 20 % of the draws in a quick run"},
    ]


def test_long_arrays_show_their_worst_element_and_a_toggle(tmp_path):
    summary = _fake_run(tmp_path)
    summary["checks"] = _long_rows() + summary["checks"]
    page = render_report(summary, tmp_path)
    # the 272 x 2 array: its worst element is [200, 1] (0.5 off), shown with a toggle holding all 544
    assert 'worst at [200, 1] of 272×2</span><details><summary>show all 544</summary>' in page
    assert page.count("<details>") == 4       # value and reference of the two long arrays
    assert '<td class="num">[1, 2, 3, 4.1]</td>' in page  # a four-element array is shown whole, not toggled


def test_tie_out_table_fits_1400_px_in_headless_chromium(tmp_path):
    """Every column header inside the viewport and at least 40 px wide, no table wider than its
    frame, no status cell clipped — with the widest rows a run writes."""
    summary = _fake_run(tmp_path)
    summary["checks"] = _long_rows() + summary["checks"]
    probe = width_probe(write_report(summary, tmp_path), tmp_path)
    assert int(probe["viewport"]) >= 1380 and int(probe["tables"]) == 2
    assert int(probe["headers"]) == 18 and probe["hidden"] == "0" and probe["overflowing"] == "0"
    assert probe["clipped"] == "0" and probe["toggles"] == "4"


def test_an_analysis_notes_are_shown_escaped(tmp_path):
    """``extra["notes"]`` (a verdict, a comparison not run) appear in the analysis' section, escaped."""
    summary = _fake_run(tmp_path)
    summary["analyses"]["beta"]["notes"] = ["d: scikit-learn comparison NOT RUN: <not installed> & more."]
    page = render_report(summary, tmp_path)
    assert '<p class="data-warning">d: scikit-learn comparison NOT RUN: &lt;not installed&gt; &amp; more.</p>' in page
