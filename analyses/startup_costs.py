"""What a user waits for: the analyses run cold and warm, each in a fresh interpreter.

Used by the benchmark (:mod:`analyses.benchmark`, section 6). The analyses run one after the
other, each in a new Python process, all sharing one pytensor compile directory that starts
empty (``base_compiledir``, which also holds pytensor's numba cache): the *cold* pass is what
``python -m analyses`` costs on a fresh machine (an analysis pays only for the C modules no
earlier analysis compiled), the *warm* pass — the same sequence again over the now-full directory
— what every later run costs. Per analysis and pass:

* ``wall_s`` — the process, start to exit, timed by the parent;
* ``import_s`` — interpreter start-up and importing PyMC and the analysis modules;
* ``compile_s`` — time inside pytensor's ``FunctionMaker`` (graph rewriting, C code generation,
  gcc, loading cached modules), outermost calls only;
* ``c_modules`` — C modules compiled (new ``.so`` files in the compile directory);
* ``computation_s`` — inference itself: PyMC's own ``sampling_time`` of every ``pm.sample``
  (tuning and draws) plus every ``scipy.optimize.minimize`` less any compilation inside it.
  Numpy closed forms, EM and forward sampling are milliseconds and are left in ``other_s``
  (the rest: figures, NetCDF, diagnostics, model building), so ``wall / computation`` is if
  anything overstated.

Measurement only: the driver below wraps those three library entry points by attribute in its
own fresh process (nothing in ``models`` or the runner is changed for it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["measure_analyses", "summarize_passes", "startup_markdown", "fresh_process_project_nuts"]

_DRIVER = r"""
import json, sys, time
t_start = time.perf_counter()
result_path, argv = sys.argv[1], sys.argv[2:]
ledger = {"compile_s": 0.0, "sampling_s": 0.0, "optimize_s": 0.0, "n_samples": 0, "n_minimize": 0}
depth = [0]

def timed_compile(method):
    def wrapper(*args, **kwargs):
        if depth[0]:
            return method(*args, **kwargs)
        depth[0] += 1
        t = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            ledger["compile_s"] += time.perf_counter() - t
            depth[0] -= 1
    return wrapper

import scipy.optimize
_minimize = scipy.optimize.minimize
def minimize(*args, **kwargs):
    c0, t = ledger["compile_s"], time.perf_counter()
    try:
        return _minimize(*args, **kwargs)
    finally:
        ledger["optimize_s"] += time.perf_counter() - t - (ledger["compile_s"] - c0)
        ledger["n_minimize"] += 1
scipy.optimize.minimize = minimize

from pytensor.compile.function.types import FunctionMaker
FunctionMaker.__init__ = timed_compile(FunctionMaker.__init__)
FunctionMaker.create = timed_compile(FunctionMaker.create)

import pymc
_sample = pymc.sample
def sample(*args, **kwargs):
    out = _sample(*args, **kwargs)
    try:
        ledger["sampling_s"] += float(out.posterior.attrs["sampling_time"])
        ledger["n_samples"] += 1
    except (AttributeError, KeyError):
        pass
    return out
pymc.sample = sample

from analyses.runner import main
t_imported = time.perf_counter()
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    code = main(argv)
ledger.update(exit_code=code, import_s=t_imported - t_start, in_process_s=time.perf_counter() - t_start)
open(result_path, "w").write(json.dumps(ledger))
"""


def _count_modules(base: Path) -> int:
    return sum(1 for _ in base.rglob("*.so"))


def _one_run(name: str, args: list[str], base: Path, env: dict, cwd: Path, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "ledger.json"
        before = _count_modules(base)
        t = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", _DRIVER, str(result_path), name, *args,
                                   "--out", str(Path(tmp) / "results")],
                                  capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        wall = time.perf_counter() - t
        if proc.returncode not in (0, 1) or not result_path.exists():  # 1: a failed check, still a run
            return {"error": proc.stderr[-2000:], "exit_code": proc.returncode}
        row = json.loads(result_path.read_text())
    row["wall_s"] = wall
    row["c_modules"] = _count_modules(base) - before
    row["computation_s"] = row["sampling_s"] + row["optimize_s"]
    row["other_s"] = wall - row["import_s"] - row["compile_s"] - row["computation_s"]
    return row


def measure_analyses(names: list[str], *, quick: bool, seed: int, timeout: float = 1800.0) -> dict:
    """``{"cold": {name: row}, "warm": {name: row}}`` (rows as the module docstring says)."""
    cwd = Path(__file__).resolve().parents[1]
    args = ["--seed", str(seed)] + (["--quick"] if quick else [])
    out: dict = {"cold": {}, "warm": {}, "quick": quick, "seed": seed, "names": list(names)}
    with tempfile.TemporaryDirectory() as cache:
        base = Path(cache)
        env = dict(os.environ)
        flags = env.get("PYTENSOR_FLAGS", "")
        env["PYTENSOR_FLAGS"] = ",".join(f for f in [flags, f"base_compiledir={base}"] if f)
        for state in ("cold", "warm"):
            for name in names:
                out[state][name] = _one_run(name, args, base, env, cwd, timeout)
    return out


def summarize_passes(measured: dict) -> dict:
    """Totals per pass and the ratios the performance issue sets targets on."""
    totals = {}
    for state in ("cold", "warm"):
        rows = [r for r in measured[state].values() if "wall_s" in r]
        totals[state] = {k: sum(r[k] for r in rows) for k in
                         ("wall_s", "import_s", "compile_s", "computation_s", "other_s", "c_modules")}
        totals[state]["complete"] = len(rows) == len(measured["names"])
    cold, warm = totals["cold"], totals["warm"]
    slowest = max(((n, r["wall_s"]) for n, r in measured["cold"].items() if "wall_s" in r),
                  key=lambda item: item[1], default=(None, float("nan")))
    return {"totals": totals,
            "cold_over_warm": cold["wall_s"] / warm["wall_s"] if warm["wall_s"] else float("nan"),
            "warm_wall_over_computation": (warm["wall_s"] / warm["computation_s"]
                                           if warm["computation_s"] else float("nan")),
            "slowest_cold": {"analysis": slowest[0], "wall_s": slowest[1]}}


def startup_markdown(measured: dict, summary: dict) -> str:
    """The cold/warm table of the README's Performance section."""
    lines = ["| analysis | cold wall s | C modules | compile s | warm wall s | compile s | computation s "
             "| warm wall / computation |", "|---|---|---|---|---|---|---|---|"]

    def f(v, fmt=".1f"):
        return format(v, fmt) if isinstance(v, (int, float)) else "-"

    for name in measured["names"]:
        c, w = measured["cold"].get(name, {}), measured["warm"].get(name, {})
        if "wall_s" not in c or "wall_s" not in w:
            lines.append(f"| {name} | failed: {(c.get('error') or w.get('error') or '')[-120:]!r} |||||||")
            continue
        ratio = w["wall_s"] / w["computation_s"] if w["computation_s"] else float("nan")
        lines.append(f"| {name} | {f(c['wall_s'])} | {c['c_modules']} | {f(c['compile_s'])} | {f(w['wall_s'])} "
                     f"| {f(w['compile_s'])} | {f(w['computation_s'])} | {f(ratio)} |")
    tc, tw = summary["totals"]["cold"], summary["totals"]["warm"]
    lines.append(f"| **all** | {f(tc['wall_s'])} | {tc['c_modules']} | {f(tc['compile_s'])} | {f(tw['wall_s'])} "
                 f"| {f(tw['compile_s'])} | {f(tw['computation_s'])} | {f(summary['warm_wall_over_computation'])} |")
    return "\n".join(lines) + "\n"


_NUTS_DRIVER = r"""
import json, sys, time
t0 = time.perf_counter()
from analyses.benchmark import project_nuts
from models.data import load_dataset
t1 = time.perf_counter()
draws, tune, seed = (int(a) for a in sys.argv[1:4])
row, _ = project_nuts(load_dataset("faithful").values, 2, draws=draws, tune=tune, seed=seed)
row["startup_s"] = t1 - t0
print(json.dumps(row))
"""


def fresh_process_project_nuts(*, draws: int, tune: int, seed: int, timeout: float = 1800.0) -> dict:
    """The project's default NUTS row (:func:`analyses.benchmark.project_nuts`) in a fresh
    interpreter with the warm compile cache — what a user's second run gets. ``startup_s`` is the
    interpreter start and imports (not in ``total_s``, as for the NumPyro rows); ``process_wall_s``
    is the whole process as timed by the parent."""
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", _NUTS_DRIVER, str(draws), str(tune), str(seed)],
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["process_wall_s"] = time.perf_counter() - t
    return row
