"""Write ``<out>/report.html``: one self-contained page (figures embedded, no network).

Per analysis: what it shows (the module docstring), when and with which seed, data and options it
ran (flagged when its settings differ from those most analyses ran with), the tie-out table
(estimate vs closed form, error, tolerance with what it rests on, pass), the convergence diagnostics it recorded, and
its figures. Folders without a record, and records whose folder has gone, are listed, not shown.
The page is built from ``summary.json`` and the PNGs under ``<out>/<analysis>/`` only, so it
can be regenerated at any time with ``python -m analyses.report --out results``.
"""

from __future__ import annotations

import argparse
import base64
import html
import importlib
import json
import re
import sys
from pathlib import Path

from models.io import write_text

__all__ = ["write_report", "render_report", "describe_differences"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:1.2rem 2rem}
header h1{margin:0;font-size:1.5rem} header p{margin:.3rem 0 0;opacity:.85}
main{max-width:1200px;margin:0 auto;padding:1rem 2rem 3rem}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin:1.2rem 0;padding:1rem 1.5rem}
h2{margin:.2rem 0 .4rem;font-size:1.25rem} .what{color:#333;margin:.3rem 0 .8rem;max-width:62rem;line-height:1.45}
.what p{margin:.45rem 0} td.nowrap{white-space:nowrap}
.tablewrap{overflow-x:auto;max-height:32rem;overflow-y:auto;border:1px solid #e3e6ea;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.8rem;margin:0}
th,td{border-bottom:1px solid #e3e6ea;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f0f2f5;position:sticky;top:0} td.num{text-align:right;font-variant-numeric:tabular-nums;max-width:16rem}
td small{color:#666} td.tol small.basis{color:#1d3557;font-weight:600} td.tol small{display:block}
table.checks{table-layout:fixed} table.checks td{overflow-wrap:anywhere} table.checks td.num{max-width:none}
table.checks th.result,table.checks td.result{position:sticky;right:0;background:#fff;box-shadow:-1px 0 0 #e3e6ea}
table.checks th.result{background:#f0f2f5;z-index:1} tr.fail td.result{background:#fde8e8}
table.checks details{text-align:left;font-size:.75rem} table.checks summary{cursor:pointer;color:#1d3557}
table.checks .all{max-height:12rem;overflow-y:auto;white-space:normal} span.at{color:#666;font-size:.72rem}
p.data-warning{background:#fff8e1;border-left:4px solid #e0a800;padding:.4rem .7rem;font-size:.85rem}
tr.fail td{background:#fde8e8} .pass{color:#13794a;font-weight:600} .fail-tag{color:#b3261e;font-weight:700}
.badge{display:inline-block;border-radius:999px;padding:.1rem .6rem;font-size:.8rem;font-weight:600;margin-left:.5rem}
.badge.ok{background:#dff3e7;color:#13794a} .badge.bad{background:#fde8e8;color:#b3261e}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:1rem;margin-top:.8rem}
figure{margin:0;border:1px solid #e3e6ea;border-radius:6px;padding:.4rem;background:#fff}
figure img{width:100%;height:auto;display:block} figcaption{font-size:.8rem;color:#555;margin-top:.3rem}
code{background:#f0f2f5;padding:0 .25rem;border-radius:3px}
h3{font-size:1rem;margin:1rem 0 .4rem;color:#1d3557} .meta{color:#555;font-size:.9rem}
header .verdict{font-size:1.15rem;font-weight:700;margin-top:.5rem} header .verdict.ok{color:#b7f0cf} header .verdict.bad{color:#ffb4ab}
table.overview{font-size:.9rem} table.overview td:first-child{white-space:nowrap} tr.total td{font-weight:700;border-top:2px solid #c9ced6}
ul.failed{font-size:.85rem}
.badge.warn{background:#fff1c7;color:#7a4d00} tr.differ td{background:#fff8e1} .record-problems{border-left:4px solid #e0a800}
"""


#: Arrays up to this many elements are shown whole in the tie-out table; longer ones show one
#: element (the worst) and a "show all" toggle.
SHOWN_WHOLE = 4


def _fmt(value) -> str:
    if isinstance(value, list):
        flat = _flatten(value)
        text = ", ".join(_fmt(v) for v in flat[:SHOWN_WHOLE])
        return f"[{text}{f', … ({len(flat)} values)' if len(flat) > SHOWN_WHOLE else ''}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def _shape(value) -> tuple[int, ...]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def worst_index(row: dict) -> int | None:
    """Flat index of the element of ``value`` farthest from ``reference_value`` (two-sided checks
    whose value is an array), or None. NaN counts as farthest."""
    value, reference = row.get("value"), row.get("reference_value")
    if not isinstance(value, list):
        return None
    v = _flatten(value)
    r = _flatten(reference) if isinstance(reference, list) else [reference] * len(v)
    if len(r) != len(v) or not v:
        return None
    def gap(a, b):
        try:
            d = abs(float(a) - float(b))
        except (TypeError, ValueError):
            return float("inf")
        return d if d == d else float("inf")
    return max(range(len(v)), key=lambda i: gap(v[i], r[i]))


def _value_cell(value, row: dict) -> str:
    """A value for the tie-out table: scalars and short arrays whole; a long array as its worst
    element (by :func:`worst_index`, with its index) and a toggle showing every element."""
    if not isinstance(value, list) or len(_flatten(value)) <= SHOWN_WHOLE:
        return _fmt(value)
    flat = _flatten(value)
    k = worst_index(row)
    k = 0 if k is None or k >= len(flat) else k
    shape, index, rest = _shape(value), [], k
    for size in reversed(shape):
        index.append(rest % size)
        rest //= size
    at = ", ".join(map(str, reversed(index)))
    element = flat[k]
    every = ", ".join(_fmt(v) for v in flat)
    return (f'{_fmt(element)} <span class="at">worst at [{at}] of {"×".join(map(str, shape))}</span>'
            f'<details><summary>show all {len(flat)}</summary><div class="all">[{every}]</div></details>')


def _flatten(value) -> list:
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return [value]


def _description(name: str) -> tuple[str, str]:
    try:
        module = importlib.import_module(f"analyses.{name}")
    except ImportError:
        return name, ""
    return getattr(module, "TITLE", name), (module.__doc__ or "").strip()


def _inline(text: str) -> str:
    """Escape docstring text; ``literal`` and :func:`name` become code, **bold** and *emphasis* too."""
    text = re.sub(r":(?:func|mod|class|meth|data):`~?([^`]+)`", r"``\1``", text)
    parts = html.escape(text, quote=False).split("``")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
            continue
        part = re.sub(r"\*\*(\S[^*]*?\S|\S)\*\*", r"<strong>\1</strong>", part)
        out.append(re.sub(r"(?<![\w*])\*(\S[^*\n]*?\S|\S)\*(?![\w*])", r"<em>\1</em>", part))
    return "".join(out)


def _doc_html(doc: str) -> str:
    """A module docstring as paragraphs: hard-wrapped lines are joined again, numbered and bulleted
    items start a new line, blank lines separate paragraphs."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", doc.strip()):
        items: list[str] = []
        for line in block.splitlines():
            line = line.strip()
            if not items or re.match(r"^(\d+\.|[*•-])\s", line):
                items.append(re.sub(r"^[*-]\s", "• ", line))
            else:
                items[-1] += " " + line
        paragraphs.append("<p>" + "<br>".join(_inline(item) for item in items) + "</p>")
    return "".join(paragraphs)


def _is_bound(row: dict) -> bool:
    return str(row.get("reference", "")).startswith("bound ")


def _error_cell(row: dict) -> str:
    """|value − reference| for two-sided checks; for one-sided bounds the excess over the bound."""
    if _is_bound(row):
        return "—" if row["passed"] else f"over by {_fmt(row['abs_error'])}"
    return _fmt(row["abs_error"])


def _tolerance_cell(row: dict) -> str:
    if _is_bound(row):
        return html.escape(row["reference"][len("bound "):].replace("<=", "≤").replace(">=", "≥"))
    return _fmt(row["tolerance"])


def _checks_table(rows: list[dict]) -> str:
    # Fixed column widths: the table fits its section at 1400 px and long strings wrap.
    widths = (15, 7, 14, 14, 11, 11, 8, 13, 7)
    cols = "".join(f'<col style="width:{w}%">' for w in widths)
    head = ("<tr><th>quantity</th><th>dataset</th><th>method</th><th>reference</th><th>value</th>"
            "<th>reference value</th><th>|error|</th><th>tolerance / bound</th><th class=\"result\">result</th></tr>")
    body = []
    for r in rows:
        cls = "" if r["passed"] else ' class="fail"'
        tag = '<span class="pass">pass</span>' if r["passed"] else '<span class="fail-tag">FAIL</span>'
        basis = f'<small class="basis">basis: {html.escape(r["basis"])}</small>' if r.get("basis") else ""
        note = f'<small>{html.escape(r.get("note", ""))}</small>' if r.get("note") else ""
        body.append(
            f'<tr{cls} data-check><td>{html.escape(r["quantity"])}</td><td>{html.escape(r["dataset"])}</td>'
            f'<td>{html.escape(r["method"])}</td><td>{html.escape(r["reference"])}</td>'
            f'<td class="num">{_value_cell(r["value"], r)}</td><td class="num">{_value_cell(r["reference_value"], r)}</td>'
            f'<td class="num">{_error_cell(r)}</td><td class="num tol">{_tolerance_cell(r)}{basis}{note}</td>'
            f'<td class="result">{tag}</td></tr>'
        )
    return (f'<div class="tablewrap"><table class="checks"><colgroup>{cols}</colgroup><thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _diagnostics_table(extra: dict) -> str:
    diags = extra.get("diagnostics") if isinstance(extra, dict) else None
    if not diags:
        return ""
    rows = []
    for label, d in diags.items():
        verdict = "converged" if d.get("converged") else "; ".join(d.get("problems", [])) or "not converged"
        rows.append(f"<tr><td>{html.escape(label)}</td><td class='num'>{d['rhat_max']:.4f}</td>"
                    f"<td class='num'>{d['ess_bulk_min']:.0f}</td><td class='num'>{d['ess_tail_min']:.0f}</td>"
                    f"<td class='num'>{d['divergences']}</td><td class='num'>{d['ess_required']:.0f}</td>"
                    f"<td>{html.escape(verdict)}</td></tr>")
    rhat = max(d.get("rhat_required", 1.01) for d in diags.values())
    return ("<h3>NUTS diagnostics</h3><table class='diagnostics'><thead><tr><th>posterior</th>"
            f"<th>max R-hat (≤ {rhat:g})</th><th>min bulk ESS</th><th>min tail ESS</th><th>divergences (0)</th>"
            "<th>ESS required</th><th>verdict</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _data_and_posteriors(extra: dict) -> str:
    """The analysis' notes (``extra["notes"]``: a verdict, a comparison not run, ...), heavy-ties
    warnings about the data it fitted, and the NetCDF files it saved."""
    if not isinstance(extra, dict):
        return ""
    parts = [f'<p class="data-warning">{html.escape(str(note))}</p>' for note in extra.get("notes") or []]
    for dataset, ties in (extra.get("ties") or {}).items():
        if ties.get("heavy") and ties.get("message"):
            parts.append(f'<p class="data-warning"><strong>{html.escape(dataset)}:</strong> '
                         f'{html.escape(ties["message"])}</p>')
    if extra.get("dequantize"):
        d = extra["dequantize"]
        widths = ", ".join(f"{html.escape(str(c))} {w:g}" for c, w in d.get("widths", {}).items())
        parts.append(f"<p>Dequantized before fitting: uniform noise of width {widths} (seed {d.get('seed')}).</p>")
    files = extra.get("netcdf") or []
    if files:
        items = "".join(f"<li><code>{html.escape(f)}</code></li>" for f in files)
        parts.append(f'<h3>Posteriors saved (NetCDF)</h3><ul class="netcdf">{items}</ul>'
                     "<p class='meta'>Open one with <code>arviz.from_netcdf(path)</code> (paths relative to the "
                     "output folder); the README's <em>Inspect a posterior</em> shows the ArviZ calls.</p>")
    return "".join(parts)


def _figures(folder: Path) -> str:
    items = []
    for png in sorted(folder.glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        caption = html.escape(png.stem.replace("_", " "))
        items.append(f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{caption} <code>{html.escape(png.name)}</code></figcaption></figure>")
    return f'<div class="figs">{"".join(items)}</div>' if items else ""


def _overview(names: list[str], titles: dict[str, str], checks: list[dict], timings: dict,
              records: dict | None = None, differ: dict | None = None) -> str:
    """The summary at the top: one row per analysis, linked to its section, with when and with which
    seed it ran (``records``; ``differ`` flags the rows whose settings differ); failed checks listed."""
    records, differ = records or {}, differ or {}
    rows = []
    for name in names:
        mine = [c for c in checks if c["analysis"] == name]
        bad = sum(not c["passed"] for c in mine)
        result = ('<span class="pass">all pass</span>' if not bad else f'<span class="fail-tag">{bad} FAIL</span>')
        seconds = f"{timings[name]:.1f} s" if timings.get(name) is not None else ""
        cls = ' class="fail"' if bad else (' class="differ"' if name in differ else "")
        ran = ""
        if name in records:
            flag = ' <span class="badge warn">settings differ</span>' if name in differ else ""
            ran = (f"<td class='nowrap'>{html.escape(_when(records[name].get('finish_time')))} · seed "
                   f"{html.escape(str(records[name].get('settings', {}).get('seed')))}{flag}</td>")
        rows.append(f'<tr{cls}><td><a href="#{name}"><code>{html.escape(name)}</code></a></td>'
                    f"<td>{html.escape(titles[name])}</td><td class='num nowrap'>{len(mine) - bad}/{len(mine)}</td>"
                    f"<td class='nowrap'>{result}</td><td class='num nowrap'>{seconds}</td>{ran}</tr>")
    n_fail = sum(not c["passed"] for c in checks)
    known = [t for t in timings.values() if t is not None]
    total = f"{sum(known):.1f} s" if known else ""
    rows.append(f"<tr class='total'><td>total</td><td></td><td class='num nowrap'>{len(checks) - n_fail}/{len(checks)}</td>"
                f"<td class='nowrap'>{'<span class=pass>all pass</span>' if not n_fail else f'<span class=fail-tag>{n_fail} FAIL</span>'}"
                f"</td><td class='num nowrap'>{total}</td>{'<td></td>' if records else ''}</tr>")
    failed = [c for c in checks if not c["passed"]]
    failed_list = ""
    if failed:
        items = "".join(f'<li><a href="#{c["analysis"]}">{html.escape(c["analysis"])}</a>: {html.escape(c["quantity"])} '
                        f"(|error| {_error_cell(c)}, tolerance {_tolerance_cell(c)})</li>" for c in failed[:30])
        more = f"<li>… and {len(failed) - 30} more</li>" if len(failed) > 30 else ""
        failed_list = f'<h3 class="fail-tag">Failed checks</h3><ul class="failed">{items}{more}</ul>'
    return ('<section id="summary"><h2>Summary</h2><p class="what">Each analysis compares its estimates with a '
            "closed form (or an exact sampler) and records every comparison as a check: it passes when "
            "|estimate − reference| ≤ tolerance, or, for a one-sided bound (R-hat, ESS, divergences, Pareto k), "
            "when the bound holds. Every tolerance states what it rests on (its basis: Monte Carlo standard errors, "
            "round-off, a theorem's bound, a printed precision), and the runner refuses a check that could not fail. "
            "Click an analysis for its tie-out table, NUTS diagnostics and figures.</p>"
            '<table class="overview"><thead><tr><th>analysis</th><th>what it shows</th><th>checks passed</th>'
            f"<th>result</th><th>time</th>{'<th>ran (UTC)</th>' if records else ''}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{failed_list}</section>")


def _when(iso: str | None) -> str:
    """``2026-05-01T12:34:56+00:00`` as ``2026-05-01 12:34``."""
    return iso[:16].replace("T", " ") if iso else "time unknown"


def _setting_text(key: str, value) -> str:
    if key == "quick":
        return "--quick" if value else "a full run"
    if key == "data":
        return f"data {value}" if value else "the shipped data"
    if key == "data_sha256":
        return f"data SHA-256 {value[:12]}…" if value else "no data file"
    if key == "versions" and isinstance(value, dict):
        return ", ".join(f"{package} {version}" for package, version in value.items())
    return f"{key} {value}"


def describe_differences(diff: dict) -> str:
    """One line from a ``settings_differ`` entry of summary.json:
    ``seed 5 (the rest: seed 20261124); data my.csv (the rest: the shipped data)``."""
    return "; ".join(f"{_setting_text(key, d.get('value'))} (the rest: {_setting_text(key, d.get('others'))})"
                     for key, d in diff.items())


def _ran_with(record: dict) -> str:
    """When and with what an analysis ran (the meta line of its section)."""
    settings = record.get("settings", {})
    data = settings.get("data")
    data_text = "shipped data" if not data else f"data <code>{html.escape(str(data))}</code>"
    if settings.get("data_sha256"):
        data_text += f" (SHA-256 <code>{html.escape(settings['data_sha256'][:12])}</code>…)"
    return (f" · ran {html.escape(_when(record.get('finish_time')))} UTC · seed {html.escape(str(settings.get('seed')))}"
            f" · {'quick' if settings.get('quick') else 'full'} run · {data_text}")


def _record_problems(consistency: dict) -> str:
    """Folders in ``out`` that no record describes, and records whose folder has gone."""
    items = []
    for name in consistency.get("folders_without_record") or []:
        items.append(f"<li><code>{html.escape(name)}/</code>: a folder with no record (left by an older version "
                     "of this program, or not written by it); not shown — run the analysis again, or remove the folder."
                     "</li>")
    for name, info in (consistency.get("records_without_folder") or {}).items():
        when = f", ran {html.escape(_when(info.get('finish_time')))} UTC" if info.get("finish_time") else ""
        items.append(f"<li><code>{html.escape(name)}</code>: recorded earlier{when}, but its folder is missing; "
                     "run it again (or delete summary.json, which is rebuilt from the folders, to forget it).</li>")
    if not items:
        return ""
    return (f'<section id="record-problems" class="record-problems"><h2>Not in the record</h2>'
            f"<ul>{''.join(items)}</ul></section>")


def render_report(summary: dict, out: Path) -> str:
    """The report's HTML, from ``summary`` (the dict written to summary.json) and ``out``'s PNGs."""
    names = summary["settings"].get("analyses") or sorted({c["analysis"] for c in summary["checks"]})
    checks = summary["checks"]
    n_fail = sum(not c["passed"] for c in checks)
    timings = summary.get("timings_seconds", {})
    settings = summary.get("settings", {})
    records = summary.get("records", {})
    consistency = summary.get("consistency", {})
    differ = consistency.get("settings_differ") or {}
    sections, titles = [], {}
    for name in names:
        title, doc = _description(name)
        titles[name] = title
        rows = [c for c in checks if c["analysis"] == name]
        bad = sum(not r["passed"] for r in rows)
        badge = (f'<span class="badge ok">{len(rows)}/{len(rows)} checks pass</span>' if not bad else
                 f'<span class="badge bad">{bad} of {len(rows)} checks FAIL</span>')
        meta = _ran_with(records[name]) if name in records else ""
        if name in differ:
            badge += f'<span class="badge warn">settings differ: {html.escape(describe_differences(differ[name]))}</span>'
        meta += f" · {timings[name]:.1f} s" if timings.get(name) is not None else ""
        options = settings.get("options", {}).get(name, {})
        if options:
            meta += " · options " + ", ".join(f"<code>{html.escape(f'{k} = {v}')}</code>" for k, v in options.items())
        diagnostics = _diagnostics_table(summary.get("analyses", {}).get(name, {}))
        diagnostics += _data_and_posteriors(summary.get("analyses", {}).get(name, {}))
        figures = _figures(out / name)
        sections.append(
            f'<section id="{name}"><h2>{html.escape(title)}{badge}</h2>'
            f'<div class="meta"><code>{html.escape(name)}</code>{meta} · <a href="#summary">back to the summary</a></div>'
            f'<h3>What it shows</h3><div class="what">{_doc_html(doc)}</div>'
            f"<h3>Tie-out: estimate vs reference ({len(rows)} checks)</h3>{_checks_table(rows) if rows else '<p>no checks</p>'}"
            f"{diagnostics}{'<h3>Figures</h3>' + figures if figures else ''}</section>"
        )
    versions = ", ".join(f"{k} {v}" for k, v in summary.get("versions", {}).items() if v)
    verdict = (f"all {len(checks)} checks passed" if not n_fail else f"{n_fail} of {len(checks)} checks FAILED")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Gaussian & GMM tie-out report</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Gaussian & GMM in PyMC: tie-out report</h1>"
        f"<p class='verdict {'ok' if not n_fail else 'bad'}'>{verdict}</p>"
        f"<p>seed {summary.get('seed')} · {'quick' if settings.get('quick') else 'full'} run"
        f"{' · data ' + html.escape(str(settings['data'])) if settings.get('data') else ''}"
        f"{f' (as most analyses ran; {len(differ)} with other settings, flagged below)' if differ else ''}</p>"
        f"<p><small>{html.escape(versions)}</small></p></header>"
        f"<main>{_overview(names, titles, checks, timings, records, differ)}{_record_problems(consistency)}"
        f"{''.join(sections)}</main></body></html>"
    )


def write_report(summary: dict, out: Path) -> Path:
    """Write ``<out>/report.html`` atomically and return its path."""
    return write_text(Path(out) / "report.html", render_report(summary, Path(out)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild report.html from an output folder's summary.json.")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    summary = json.loads((args.out / "summary.json").read_text())
    print(write_report(summary, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
