"""Write ``<out>/report.html``: one self-contained page (figures embedded, no network).

Per analysis: what it shows (the module docstring), the tie-out table (estimate vs closed
form, error, tolerance, pass), the convergence diagnostics it recorded, and its figures.
The page is built from ``summary.json`` and the PNGs under ``<out>/<analysis>/`` only, so it
can be regenerated at any time with ``python -m analyses.report --out results``.
"""

from __future__ import annotations

import argparse
import base64
import html
import importlib
import json
import sys
from pathlib import Path

from models.io import write_text

__all__ = ["write_report", "render_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:1.2rem 2rem}
header h1{margin:0;font-size:1.5rem} header p{margin:.3rem 0 0;opacity:.85}
main{max-width:1200px;margin:0 auto;padding:1rem 2rem 3rem}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin:1.2rem 0;padding:1rem 1.5rem}
h2{margin:.2rem 0 .4rem;font-size:1.25rem} .what{color:#444;white-space:pre-line;margin:.3rem 0 .8rem}
.tablewrap{overflow-x:auto;max-height:32rem;overflow-y:auto;border:1px solid #e3e6ea;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.8rem;margin:0}
th,td{border-bottom:1px solid #e3e6ea;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f0f2f5;position:sticky;top:0} td.num{text-align:right;font-variant-numeric:tabular-nums;max-width:16rem}
td small{color:#666}
tr.fail td{background:#fde8e8} .pass{color:#13794a;font-weight:600} .fail-tag{color:#b3261e;font-weight:700}
.badge{display:inline-block;border-radius:999px;padding:.1rem .6rem;font-size:.8rem;font-weight:600;margin-left:.5rem}
.badge.ok{background:#dff3e7;color:#13794a} .badge.bad{background:#fde8e8;color:#b3261e}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:1rem;margin-top:.8rem}
figure{margin:0;border:1px solid #e3e6ea;border-radius:6px;padding:.4rem;background:#fff}
figure img{width:100%;height:auto;display:block} figcaption{font-size:.8rem;color:#555;margin-top:.3rem}
nav a{color:#fff;margin-right:1rem;font-size:.9rem} code{background:#f0f2f5;padding:0 .25rem;border-radius:3px}
"""


def _fmt(value) -> str:
    if isinstance(value, list):
        flat = _flatten(value)
        text = ", ".join(_fmt(v) for v in flat[:4])
        return f"[{text}{f', … ({len(flat)} values)' if len(flat) > 4 else ''}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


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


def _inline_code(text: str) -> str:
    """Escape a docstring and show its ``literal`` spans as code."""
    parts = html.escape(text).split("``")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _checks_table(rows: list[dict]) -> str:
    head = ("<tr><th>quantity</th><th>dataset</th><th>method</th><th>reference</th><th>value</th>"
            "<th>reference value</th><th>|error|</th><th>tolerance</th><th>result</th></tr>")
    body = []
    for r in rows:
        cls = "" if r["passed"] else ' class="fail"'
        tag = '<span class="pass">pass</span>' if r["passed"] else '<span class="fail-tag">FAIL</span>'
        note = f'<br><small>{html.escape(r.get("note", ""))}</small>' if r.get("note") else ""
        body.append(
            f'<tr{cls} data-check><td>{html.escape(r["quantity"])}</td><td>{html.escape(r["dataset"])}</td>'
            f'<td>{html.escape(r["method"])}</td><td>{html.escape(r["reference"])}</td>'
            f'<td class="num">{_fmt(r["value"])}</td><td class="num">{_fmt(r["reference_value"])}</td>'
            f'<td class="num">{_fmt(r["abs_error"])}</td><td class="num">{_fmt(r["tolerance"])}{note}</td>'
            f"<td>{tag}</td></tr>"
        )
    return f'<div class="tablewrap"><table class="checks"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'


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
    return ("<h3>NUTS diagnostics</h3><table><thead><tr><th>posterior</th><th>max R-hat</th><th>min bulk ESS</th>"
            "<th>min tail ESS</th><th>divergences</th><th>ESS required</th><th>verdict</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _figures(folder: Path) -> str:
    items = []
    for png in sorted(folder.glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        caption = html.escape(png.stem.replace("_", " "))
        items.append(f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{caption} <code>{html.escape(png.name)}</code></figcaption></figure>")
    return f'<div class="figs">{"".join(items)}</div>' if items else ""


def render_report(summary: dict, out: Path) -> str:
    """The report's HTML, from ``summary`` (the dict written to summary.json) and ``out``'s PNGs."""
    names = summary["settings"].get("analyses") or sorted({c["analysis"] for c in summary["checks"]})
    checks = summary["checks"]
    n_fail = sum(not c["passed"] for c in checks)
    timings = summary.get("timings_seconds", {})
    sections, nav = [], []
    for name in names:
        title, doc = _description(name)
        rows = [c for c in checks if c["analysis"] == name]
        bad = sum(not r["passed"] for r in rows)
        badge = (f'<span class="badge ok">{len(rows)}/{len(rows)} checks pass</span>' if not bad else
                 f'<span class="badge bad">{bad} of {len(rows)} checks FAIL</span>')
        seconds = f" · {timings[name]:.1f} s" if name in timings else ""
        nav.append(f'<a href="#{name}">{html.escape(name)}</a>')
        sections.append(
            f'<section id="{name}"><h2>{html.escape(title)}{badge}</h2>'
            f'<div><code>{html.escape(name)}</code>{seconds}</div><p class="what">{_inline_code(doc)}</p>'
            f"{_checks_table(rows) if rows else ''}{_diagnostics_table(summary.get('analyses', {}).get(name, {}))}"
            f"{_figures(out / name)}</section>"
        )
    versions = ", ".join(f"{k} {v}" for k, v in summary.get("versions", {}).items() if v)
    verdict = (f"all {len(checks)} checks passed" if not n_fail else f"{n_fail} of {len(checks)} checks FAILED")
    settings = summary.get("settings", {})
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Gaussian & GMM tie-out report</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Gaussian & GMM in PyMC: tie-out report</h1>"
        f"<p>{verdict} · seed {summary.get('seed')} · {'quick' if settings.get('quick') else 'full'} run"
        f"{' · data ' + html.escape(str(settings['data'])) if settings.get('data') else ''}</p>"
        f"<p><small>{html.escape(versions)}</small></p><nav>{''.join(nav)}</nav></header>"
        f"<main>{''.join(sections)}</main></body></html>"
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
