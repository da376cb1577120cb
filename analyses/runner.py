"""The analysis runner: command line, per-analysis context, checks and summary.json.

An analysis is a module in this package with

* ``TITLE`` — one line saying what it shows;
* ``run(ctx: Context) -> None`` — does the work, records every comparison with
  :meth:`Context.check` / :meth:`Context.check_bound` (each with its ``basis=``: what the
  tolerance rests on — ``"4 MCSE"``, ``"1e-12 relative: round-off"``, ``"theorem bound"``,
  ``"printed precision"`` ...), saves figures/posteriors through the context (atomically);
* optionally ``add_arguments(parser)`` — declares the analysis' own options with argparse's
  ``add_argument`` (numpyro's examples do the same). The runner lists them under the analysis'
  name in ``--help``, validates them (a bad ``choices`` value exits 2 before anything runs),
  refuses one whose analysis is not being run, hands the values to the analysis as
  ``ctx.options`` (a dict: ``ctx.options["covariance_type"]``, defaults filled in) and records
  them in summary.json under ``settings["options"][name]``. Building the command line therefore
  imports every analysis module.

``python -m analyses`` runs :data:`DEFAULT_ANALYSES`; ``python -m analyses NAME ...`` runs
some (opt-in ones such as ``benchmark`` included); each module also runs as a script,
``python analyses/NAME.py [options]``. Analyses share helpers through :mod:`analyses.common`.

Results go to ``--out`` as one record (:mod:`analyses.results_record`): each analysis writes into
a staging folder that replaces ``<out>/<name>`` only when it finishes, with its ``record.json``
(checks and settings); summary.json and report.html are rebuilt from the records on disk after
each analysis, so a run of some analyses keeps the others' records. One run writes into a folder
at a time (``<out>/.lock``). Ctrl-C stops the analysis in progress and keeps everything before it
(:mod:`analyses.interrupts`).
Exit status: 0 every check of the analyses run passed, 1 a check failed, 2 bad input or an
unusable or busy ``--out`` (one line, no traceback), 130 interrupted (one line).

A check that could not fail — an infinite tolerance, a relative tolerance >= 1, a bound on a
quantity in [0, 1] (declared with ``probability=True``) that every such value meets, a reference
that is the value itself — is a programming error: :class:`VacuousCheckError` names the analysis
and the quantity (see :meth:`Context.refuse_vacuous` for what the runner cannot see). Every
recorded check is re-judged by the same rule, :func:`judge`, through :meth:`Check.rejudge`
(``tests/test_checks_can_fail.py`` moves each value 10 tolerances and asserts the check fails).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from analyses import interrupts, results_record
from analyses.report import describe_differences, write_report
from analyses.common import prepare_data
from models.fitting import ESS_MIN
from models.io import save_figure, save_netcdf, to_jsonable, write_json
from models.validation import DataError

#: Analyses run by a bare ``python -m analyses``, in order.
DEFAULT_ANALYSES: list[str] = [
    "closed_forms",
    # Gaussian models in PyMC
    "normal_clt",
    "height_mle",
    "height_weight_mvn",
    "sequential_bayes",
    # Gaussian mixture models in PyMC
    "gmm_sampling",
    "old_faithful_gmm",
    "body_gmm",
    "choosing_k",
]
#: Analyses that run only when named (too long, or not part of the tie-out).
OPT_IN_ANALYSES: list[str] = ["benchmark", "sbc", "variational_gmm", "dp_mixture", "latent_z"]


@dataclass
class Settings:
    """What the user asked for; recorded in summary.json."""

    seed: int = 20261124
    quick: bool = False
    out: Path = Path("results")
    data: str | None = None
    #: How the --data file is used (:func:`analyses.common.prepare_data`): ``--columns`` as typed
    #: (names or 1-based positions), ``--dropna``, ``--labels`` (a column of group labels) and
    #: ``--dequantize`` widths as typed. Recorded in summary.json when set.
    columns: str | None = None
    dropna: bool = False
    labels: str | None = None
    dequantize: str | None = None
    #: Per-analysis option values, {analysis: {dest: value}} (``main`` passes every option of the
    #: analyses being run; ``run_analyses`` fills in the defaults of any missing, :func:`option_defaults`).
    options: dict[str, dict] = field(default_factory=dict)
    #: PyMC's progress bars while sampling: on for an interactive full run (``main`` decides), off
    #: in --quick runs, tests and logs. Display only, so not recorded in summary.json.
    progressbar: bool = False
    #: The --data set as the analyses get it, read once (:func:`analyses.common.user_data`), and
    #: what reading it decided (rows dropped, dequantization widths and seed), recorded.
    dataset: object = field(default=None, repr=False, compare=False)
    data_record: dict = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict:
        chosen = {"columns": self.columns, "dropna": self.dropna or None, "labels": self.labels,
                  "dequantize": self.dequantize}
        return ({"seed": self.seed, "quick": self.quick, "out": str(self.out), "data": self.data}
                | {key: value for key, value in chosen.items() if value is not None} | self.data_record)


#: The comparisons a check can make: ``|value - reference_value| <= tolerance`` (elementwise
#: max for arrays), or a one-sided bound ``value <= bound`` / ``value >= bound``.
CHECK_KINDS = ("two-sided", "<=", ">=")


class VacuousCheckError(ValueError):
    """A check that could not fail (a programming error: raised, never recorded as a check)."""


def judge(kind: str, value, reference_value, tolerance: float) -> tuple[float, bool]:
    """The runner's one pass/fail rule, used when a check is recorded and when it is re-judged
    (:meth:`Check.rejudge`). Returns (abs_error, passed).

    ``"two-sided"``: abs_error = max |value - reference_value| (0 for empty arrays), passed when
    it is finite and <= ``tolerance``. ``"<="`` / ``">="``: ``reference_value`` is the bound;
    abs_error is how far ``value`` lies beyond it (0 when it holds, inf when ``value`` is not
    finite), passed when ``value`` is finite and on the right side.
    """
    if kind == "two-sided":
        v = np.asarray(value, dtype=float)
        r = np.asarray(reference_value, dtype=float)
        err = float(np.max(np.abs(v - r))) if v.size else 0.0
        return err, bool(np.isfinite(err) and err <= tolerance)
    if kind not in CHECK_KINDS:
        raise ValueError(f"kind must be one of {CHECK_KINDS}, got {kind!r}")
    value, bound = float(value), float(reference_value)
    over = value - bound if kind == "<=" else bound - value
    if not np.isfinite(value):
        return float("inf"), False
    return max(0.0, over), bool(over <= 0)


@dataclass
class Check:
    """One recorded comparison (a row of summary.json's ``checks`` and of the report's table).

    ``basis`` says what the tolerance rests on (``"4 MCSE"``, ``"1e-12 round-off"``,
    ``"theorem bound"``, ``"printed precision"`` ...); ``kind`` is ``"two-sided"`` or a bound's
    ``"<="`` / ``">="``; ``probability`` marks a quantity in [0, 1] (a probability, frequency or
    weight, a p-value, a distance between distribution functions).
    """

    analysis: str
    dataset: str
    quantity: str
    method: str
    reference: str
    value: object
    reference_value: object
    abs_error: float
    tolerance: float
    passed: bool
    note: str = ""
    basis: str = ""
    kind: str = "two-sided"
    probability: bool = False

    def as_dict(self) -> dict:
        return to_jsonable(self.__dict__)

    @classmethod
    def from_dict(cls, row: dict) -> "Check":
        """A record read back from summary.json."""
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})

    def rejudge(self, value) -> bool:
        """Would this check pass with ``value`` in place of the recorded one? (:func:`judge`)"""
        return judge(self.kind, value, self.reference_value, self.tolerance)[1]


@dataclass
class Context:
    """Everything an analysis needs: settings, its output folder, seeded RNGs, check recording."""

    name: str
    settings: Settings
    #: This analysis' options, {dest: value} (see ``add_arguments`` in the module docstring).
    options: dict = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    #: Where the analysis writes: the runner gives its staging folder, which replaces
    #: ``<out>/<name>`` only when the analysis finishes (None: ``<out>/<name>`` itself).
    folder: Path | None = None

    @property
    def out_dir(self) -> Path:
        """The analysis' output folder. After a Ctrl-C (even one a library swallowed) this and
        :meth:`log`, :meth:`check`, :meth:`check_bound` raise :class:`analyses.interrupts.Interrupted`."""
        interrupts.checkpoint()
        return self.folder if self.folder is not None else self.settings.out / self.name

    @property
    def quick(self) -> bool:
        return self.settings.quick

    @property
    def progressbar(self) -> bool:
        """Pass as ``progressbar=`` to ``models.fitting.sample_nuts`` / ``pm.sample``."""
        return self.settings.progressbar

    @property
    def seed(self) -> int:
        """The analysis' own seed, derived from the run seed and the analysis name."""
        return (self.settings.seed + zlib.crc32(self.name.encode())) % (2**31)

    def rng(self, stream: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, stream])

    def log(self, message: str) -> None:
        interrupts.checkpoint()
        print(f"  [{self.name}] {message}", flush=True)

    def check(self, quantity: str, value, reference_value, *, method: str, reference: str,
              atol: float | None = None, rtol: float | None = None, basis: str = "", dataset: str = "",
              note: str = "", probability: bool = False) -> bool:
        """Record ``|value - reference_value| <= tolerance`` (elementwise max for arrays).

        The tolerance is ``atol + rtol * max|reference_value|`` (either may be omitted); ``basis``
        says what it rests on. ``probability=True`` declares a quantity in [0, 1]. A check that
        could not fail is refused with :class:`VacuousCheckError` (see :meth:`refuse_vacuous`).
        """
        if atol is None and rtol is None:
            raise ValueError("give atol and/or rtol")
        interrupts.checkpoint()
        v = np.asarray(value, dtype=float)
        r = np.asarray(reference_value, dtype=float)
        tol = (atol or 0.0) + (rtol or 0.0) * float(np.max(np.abs(r)))
        self.refuse_vacuous(quantity, value, reference_value, kind="two-sided", tolerance=tol, rtol=rtol,
                            probability=probability)
        err, passed = judge("two-sided", v, r, tol)
        if rtol is not None and not note and not basis:
            note = f"relative tolerance {rtol:g}"
        self.checks.append(Check(self.name, dataset, quantity, method, reference, v.tolist(), r.tolist(),
                                 err, tol, passed, note, basis, "two-sided", probability))
        return passed

    def check_bound(self, quantity: str, value: float, bound: float, *, kind: str, method: str, basis: str = "",
                    dataset: str = "", note: str = "", probability: bool = False) -> bool:
        """Record a one-sided check: ``kind`` is ``"<="`` or ``">="`` (e.g. R-hat <= 1.01)."""
        if kind not in ("<=", ">="):
            raise ValueError(f"kind must be '<=' or '>=', got {kind!r}")
        interrupts.checkpoint()
        self.refuse_vacuous(quantity, value, bound, kind=kind, tolerance=0.0, probability=probability)
        value = float(value)
        err, passed = judge(kind, value, bound, 0.0)
        self.checks.append(Check(self.name, dataset, quantity, method, f"bound {kind} {bound:g}", value, bound,
                                 err, 0.0, passed, note or f"one-sided: value {kind} {bound:g}", basis, kind,
                                 probability))
        return passed

    def refuse_vacuous(self, quantity: str, value, reference_value, *, kind: str, tolerance: float,
                       rtol: float | None = None, probability: bool = False) -> None:
        """Raise :class:`VacuousCheckError`, naming the analysis and the quantity, for a check
        that could not fail:

        * an infinite tolerance, a bound ``<= inf`` or ``>= -inf``;
        * a relative tolerance >= 1 (|value - reference| <= |reference| lets 0 and 2x reference pass);
        * on a quantity in [0, 1] (``probability=True``): a two-sided tolerance >= 1, a bound
          ``<= b`` with b >= 1 or ``>= b`` with b <= 0;
        * a reference that is the value itself: the same object (Python ints aside: small ones are
          shared), or an array sharing its memory.

        Limits: the runner sees values, not how they were computed. It cannot tell that two
        different calls ran the same code (``mle_mean(x)`` against ``np.mean(x)``, both
        ``x.mean()``), nor that a ratio of two quantities built from one sum is an identity; a
        quantity's range is known only when the check declares it. Those are for review, which
        ``method``, ``reference`` and ``basis`` in every row make possible.
        """
        where = f"{self.name}: {quantity!r}"
        limit = float(reference_value) if kind != "two-sided" else tolerance
        if limit == (-np.inf if kind == ">=" else np.inf):  # (a NaN limit is not refused: it fails the check)
            raise VacuousCheckError(f"{where}: a {'bound' if kind != 'two-sided' else 'tolerance'} of {limit} "
                                    "can never fail")
        if rtol is not None and rtol >= 1:
            raise VacuousCheckError(f"{where}: relative tolerance {rtol:g} >= 1 lets any value between 0 and "
                                    "twice the reference pass")
        if probability:
            if kind == "two-sided" and tolerance >= 1:
                raise VacuousCheckError(f"{where}: tolerance {tolerance:g} >= 1 on a quantity in [0, 1]")
            if (kind == "<=" and limit >= 1) or (kind == ">=" and limit <= 0):
                raise VacuousCheckError(f"{where}: bound {kind} {limit:g} holds for every value in [0, 1]")
        # (Python's small ints are shared objects, so a count equal to its reference is not "the same call".)
        same = (value is reference_value and not isinstance(value, int)) or (
            isinstance(value, np.ndarray) and isinstance(reference_value, np.ndarray)
            and np.shares_memory(value, reference_value))
        if same:
            raise VacuousCheckError(f"{where}: the reference is the value itself (same object or memory)")

    def record_diagnostics(self, label: str, diagnostics, *, dataset: str = "") -> bool:
        """Gate a NUTS result: R-hat, bulk and tail ESS, divergences become checks, and the
        full :class:`models.fitting.Diagnostics` goes into summary.json and the report.

        Returns True when every criterion is met.
        """
        d = diagnostics
        note = "; ".join(d.problems) or "converged"
        method = f"NUTS ({label}, {d.n_draws} draws)"
        ess_basis = (f"ESS criterion {d.ess_required:g} (Vehtari et al. 2021)" if d.ess_required >= ESS_MIN else
                     f"ESS criterion {d.ess_required:g}: a quick run's lower bar ({ESS_MIN} in a full run, "
                     "Vehtari et al. 2021)")
        gates = [("max R-hat", d.rhat_max, d.rhat_required, "<=",
                  f"R-hat criterion {d.rhat_required:g} (Vehtari et al. 2021)"),
                 ("min bulk ESS", d.ess_bulk_min, d.ess_required, ">=", ess_basis),
                 ("min tail ESS", d.ess_tail_min, d.ess_required, ">=", ess_basis),
                 ("divergences", d.divergences, 0, "<=", "none allowed: a divergence means a biased sampler")]
        ok = True
        for what, value, bound, kind, basis in gates:
            ok &= self.check_bound(f"{label}: {what}", value, bound, kind=kind, method=method, basis=basis,
                                   dataset=dataset, note=note)
        self.extra.setdefault("diagnostics", {})[label] = d.as_dict()
        if not ok:
            self.log(f"WARNING: {label} did not meet the convergence criteria: {note}")
        return bool(ok)

    def save_figure(self, fig, filename: str) -> Path:
        import matplotlib.pyplot as plt

        path = save_figure(fig, self.out_dir / filename)
        plt.close(fig)
        return path

    def save_netcdf(self, idata, filename: str) -> Path:
        """Save a posterior (atomically); its path under ``--out`` is listed in summary.json
        (``analyses[name]["netcdf"]``), in the report and at the end of the console output."""
        path = save_netcdf(idata, self.out_dir / filename)
        files = self.extra.setdefault("netcdf", [])
        if f"{self.name}/{filename}" not in files:
            files.append(f"{self.name}/{filename}")
        return path

    def write_json(self, filename: str, obj) -> Path:
        return write_json(self.out_dir / filename, obj)


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "scipy", "pymc", "pytensor", "pymc-extras", "arviz", "matplotlib", "xarray"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def load_analysis(name: str):
    if name not in DEFAULT_ANALYSES + OPT_IN_ANALYSES:
        raise DataError(f"unknown analysis {name!r}; choose from {DEFAULT_ANALYSES + OPT_IN_ANALYSES} (see --list).")
    return importlib.import_module(f"analyses.{name}")


def option_defaults(module) -> dict:
    """{dest: default} of an analysis module's own options (empty when it has no ``add_arguments``)."""
    if not hasattr(module, "add_arguments"):
        return {}
    parser = argparse.ArgumentParser(add_help=False)
    module.add_arguments(parser)
    return vars(parser.parse_args([]))


def _parser(prog: str) -> tuple[argparse.ArgumentParser, dict[str, str]]:
    """The command line, every analysis' options included; and {option dest: analysis name}."""
    # No abbreviations: with options from many analyses, one that is unique today may not be tomorrow.
    p = argparse.ArgumentParser(prog=prog, allow_abbrev=False,
                                description="Run the analyses and tie every estimate out against its closed form.")
    p.add_argument("names", nargs="*", help="analyses to run (default: all of --list except opt-in ones)")
    p.add_argument("--list", action="store_true", help="list the analyses and exit")
    p.add_argument("--quick", action="store_true", help="small draws and grids (for tests and a first look)")
    p.add_argument("--seed", type=int, default=Settings.seed, help="seed for every random path (default %(default)s)")
    p.add_argument("--out", type=Path, default=Settings.out, help="output folder (default %(default)s)")
    p.add_argument("--data", default=None,
                   help="a data file (.csv with header, ',' or ';'; .tsv; or whitespace .txt without header) to use "
                        "instead of the shipped data sets")
    data = p.add_argument_group("--data options", "how the analyses use the --data file (checked before anything runs)")
    data.add_argument("--columns", metavar="NAME[,NAME...]",
                      help="the columns to use, by name or 1-based position, in order (text columns elsewhere in the "
                           "file are fine); univariate analyses take the first, bivariate ones the first two")
    data.add_argument("--dropna", action="store_true",
                      help="drop rows with a missing cell (empty, NA, NaN) in a column used; the count is printed and "
                           "recorded (default: refuse them)")
    data.add_argument("--labels", metavar="COLUMN",
                      help="a column of group labels, text or numbers, for the analyses that use them (body_gmm: "
                           "two groups, e.g. sex)")
    data.add_argument("--dequantize", metavar="WIDTH[,WIDTH]",
                      help="GMM analyses: add seeded uniform noise of each column's rounding width (one width, or one "
                           "per column used; 0 leaves a column as it is) against heavily tied, rounded data")
    owners = {}
    for name in DEFAULT_ANALYSES + OPT_IN_ANALYSES:
        module = load_analysis(name)
        if hasattr(module, "add_arguments"):
            module.add_arguments(p.add_argument_group(f"{name} options", f"used only when {name} runs"))
            owners |= dict.fromkeys(option_defaults(module), name)
    return p, owners


def _given_options(parser: argparse.ArgumentParser, owners: dict[str, str], argv: list[str] | None) -> set[str]:
    """The analysis options (dests) that ``argv`` sets, whatever their value.

    Read from the tokens themselves (``--name value`` or ``--name=value``; abbreviations are
    off), so an option's ``type`` never sees a placeholder default.
    """
    strings = {s: a.dest for a in parser._actions if a.dest in owners for s in a.option_strings}
    tokens = sys.argv[1:] if argv is None else argv
    return {strings[t.split("=", 1)[0]] for t in tokens if t.split("=", 1)[0] in strings}


def run_analyses(names: list[str], settings: Settings) -> dict:
    """Run analyses into ``settings.out``, one commit each; return the summary of the whole folder.

    Each analysis gets its options from ``settings.options[name]``, with the defaults of those
    not given; its record holds them under ``settings["options"]``. The folder is locked for the
    run (:class:`analyses.results_record.OutputFolderError` when it cannot be used); each analysis
    writes into a staging folder that replaces ``<out>/<name>`` when it finishes, then
    summary.json and report.html are rebuilt from every record on disk
    (:func:`analyses.results_record.rebuild`). An analysis that raises leaves its previous folder
    as it was; a Ctrl-C becomes :class:`analyses.interrupts.RunInterrupted` naming the analysis.
    """
    modules = [load_analysis(n) for n in names]  # unknown names fail before anything runs
    options = {name: option_defaults(module) | settings.options.get(name, {})
               for name, module in zip(names, modules)}
    # --data and its options, read once and checked against every analysis to run: a bad file, column
    # or label fails before anything runs or is written
    prepare_data(settings, dict(zip(names, modules)),
                 {n: load_analysis(n) for n in DEFAULT_ANALYSES + OPT_IN_ANALYSES})
    with results_record.locked_folder(settings.out):
        run = {k: v for k, v in settings.as_dict().items() if k != "out"} | {
            "data_sha256": results_record.data_sha256(settings.data), "versions": versions()}
        summary = {}
        for i, (name, module) in enumerate(zip(names, modules), start=1):
            try:
                interrupts.checkpoint()
                summary = _run_and_commit(name, module, f"({i}/{len(names)})", settings,
                                          run | {"options": options[name]})
            except Exception:
                if not interrupts.interrupted():
                    raise
                # A consequence of the Ctrl-C (pm.sample catches it, then fails on its short trace).
                raise interrupts.RunInterrupted(f"interrupted during {name}; earlier results kept") from None
            except KeyboardInterrupt:
                raise interrupts.RunInterrupted(f"interrupted during {name}; earlier results kept") from None
    return summary


def _run_and_commit(name: str, module, position: str, settings: Settings, record_settings: dict) -> dict:
    """Run one analysis in its staging folder; when it finishes (checks failed or not: a complete
    result records its failures), swap the folder in and rebuild the summary. Returns the summary."""
    print(f"[{name}] {position} {module.TITLE}", flush=True)
    start = time.perf_counter()
    with results_record.staging_folder(settings.out, name) as staging:
        ctx = Context(name=name, settings=settings, options=record_settings["options"], folder=staging)
        with threadpool_limits(limits=1, user_api="blas"):  # see models.fitting.sample_nuts
            module.run(ctx)
        interrupts.checkpoint()  # pm.sample & co. return early, as if finished, when they catch a Ctrl-C
        seconds = round(time.perf_counter() - start, 2)
        n_fail = sum(not c.passed for c in ctx.checks)
        print(f"[{name}] done in {seconds:.1f} s: {len(ctx.checks) - n_fail}/{len(ctx.checks)} checks passed",
              flush=True)
        record = results_record.make_record(name, [c.as_dict() for c in ctx.checks], ctx.extra, record_settings,
                                            seconds)
        with interrupts.deferred():  # a Ctrl-C now waits until the folder, summary and report agree
            results_record.commit(settings.out, name, staging, record)
            summary = results_record.rebuild(settings.out, DEFAULT_ANALYSES + OPT_IN_ANALYSES)
            write_report(summary, settings.out)
            return summary


def print_table(summary: dict, out: Path, names: list[str] | None = None) -> None:
    """One screen: per analysis run (``names``; default: every one in ``summary``) the checks
    passed / failed, the largest |error| / tolerance and the time taken; then every failed check
    with its error and tolerance; then what else the folder's record holds, and where things are."""
    recorded = summary.get("settings", {}).get("analyses") or [r["analysis"] for r in summary["checks"]]
    names = list(dict.fromkeys(names if names is not None else recorded))
    rows = [r for r in summary["checks"] if r["analysis"] in names]
    timings = {n: t for n, t in summary.get("timings_seconds", {}).items() if n in names and t is not None}
    width = max([len("analysis"), len("total")] + [len(n) for n in names])
    print(f"\n{'analysis':<{width}}  {'passed':>9}  {'failed':>6}  {'max err/tol':>11}  {'time':>8}")
    for name in names:
        mine = [r for r in rows if r["analysis"] == name]
        bad = sum(not r["passed"] for r in mine)
        ratios = [r["abs_error"] / r["tolerance"] for r in mine if r["tolerance"] > 0]  # one-sided bounds have none
        ratio = f"{max(ratios):.2f}" if ratios else "-"
        seconds = f"{timings[name]:.1f} s" if name in timings else "-"
        print(f"{name:<{width}}  {f'{len(mine) - bad}/{len(mine)}':>9}  {bad if bad else '':>6}  {ratio:>11}  {seconds:>8}")
    n_fail = sum(not r["passed"] for r in rows)
    total = f"{sum(timings.values()):.1f} s" if timings else "-"
    print(f"{'total':<{width}}  {f'{len(rows) - n_fail}/{len(rows)}':>9}  {n_fail if n_fail else '':>6}  {'':>11}  {total:>8}")
    if n_fail:
        print("\nFAILED checks:")
        shown = [r for r in rows if not r["passed"]]
        for r in shown[:15]:
            if r["reference"].startswith("bound "):
                detail = f"value {r['value']:.4g}, required {r['reference'][len('bound '):]}"
            else:
                detail = f"|error| {r['abs_error']:.3g} > tolerance {r['tolerance']:.3g} ({r['method']} vs {r['reference']})"
            basis = f" [{r['basis']}]" if r.get("basis") else ""
            print(f"  {r['analysis']}: {r['quantity']}: {detail}{basis}")
        if len(shown) > 15:
            print(f"  ... and {len(shown) - 15} more (all in the report)")
    print(f"\n{len(rows) - n_fail}/{len(rows)} checks passed{f', {n_fail} FAILED' if n_fail else ''} "
          "(max err/tol: an analysis' largest |error| / tolerance; a check passes at <= 1)")
    for line in record_notes(summary, names):
        print(line)
    for line in netcdf_lines(summary, names, out):
        print(line)
    print(f"report:  {out / 'report.html'}\nsummary: {out / 'summary.json'}")


def netcdf_lines(summary: dict, names: list[str], out: Path) -> list[str]:
    """The posteriors the analyses in ``names`` saved, one line per analysis (README: Inspect a posterior)."""
    saved = {n: summary.get("analyses", {}).get(n, {}).get("netcdf") or [] for n in names}
    saved = {n: files for n, files in saved.items() if files}
    if not saved:
        return []
    width = max(len(n) for n in saved)
    return (["posteriors (NetCDF; open with arviz.from_netcdf, see README 'Inspect a posterior'):"]
            + [f"  {n:<{width}}  {out / files[0]}" + (f" (+ {', '.join(Path(f).name for f in files[1:])})"
                                                   if files[1:] else "") for n, files in saved.items()])


def record_notes(summary: dict, names: list[str]) -> list[str]:
    """What the folder's record holds besides the analyses just run, and what does not fit."""
    notes = []
    kept = [n for n in summary.get("settings", {}).get("analyses", []) if n not in names]
    if kept:
        notes.append(f"kept from earlier runs: {', '.join(kept)}")
    consistency = summary.get("consistency") or {}
    for name, diff in (consistency.get("settings_differ") or {}).items():
        notes.append(f"settings differ: {name} ran with {describe_differences(diff)}")
    if consistency.get("folders_without_record"):
        notes.append(f"folders without a record (not in the report): {', '.join(consistency['folders_without_record'])}")
    if consistency.get("records_without_folder"):
        notes.append(f"recorded earlier, folder now missing: {', '.join(consistency['records_without_folder'])}")
    return notes


def main(argv: list[str] | None = None, prog: str = "python -m analyses") -> int:
    """The command line; returns the exit status (module docstring). An unusable or busy ``--out``
    and a Ctrl-C end with one line on stderr, no traceback."""
    try:
        with interrupts.handling_interrupts():
            return _command_line(argv, prog)
    except results_record.OutputFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(exc if isinstance(exc, interrupts.RunInterrupted) else
              "interrupted before any analysis started; nothing was changed", file=sys.stderr, flush=True)
        return 130


def _command_line(argv: list[str] | None, prog: str) -> int:
    parser, owners = _parser(prog)
    args = parser.parse_args(argv)  # --help, and a bad option value, exit here (0 / 2)
    if args.list:
        for name in DEFAULT_ANALYSES + OPT_IN_ANALYSES:
            tag = " (opt-in)" if name in OPT_IN_ANALYSES else ""
            print(f"{name:<18} {importlib.import_module(f'analyses.{name}').TITLE}{tag}")
        return 0
    names = args.names or list(DEFAULT_ANALYSES)
    stray = sorted(dest for dest in _given_options(parser, owners, argv) if owners[dest] not in names)
    if stray:
        dest = stray[0]
        print(f"error: --{dest.replace('_', '-')} is an option of {owners[dest]}, which is not being run; "
              f"add {owners[dest]} to the analyses or drop the option.", file=sys.stderr)
        return 2
    options = {}
    for dest, name in owners.items():
        if name in names:
            options.setdefault(name, {})[dest] = getattr(args, dest)
    settings = Settings(seed=args.seed, quick=args.quick, out=args.out, data=args.data, columns=args.columns,
                        dropna=args.dropna, labels=args.labels, dequantize=args.dequantize, options=options,
                        progressbar=sys.stdout.isatty() and not args.quick)
    try:
        summary = run_analyses(names, settings)
    except (DataError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with interrupts.deferred():  # every analysis is committed: a Ctrl-C now changes nothing
        print_table(summary, settings.out, names)
    return 0 if all(c["passed"] for c in summary["checks"] if c["analysis"] in names) else 1


def main_for_script(module_file: str) -> int:
    """Entry point for ``python analyses/<name>.py [options]``."""
    name = Path(module_file).stem
    code = main([name] + sys.argv[1:], prog=f"python analyses/{name}.py")
    if code == 130:
        interrupts.exit_interrupted()  # exactly 130 (see there)
    return code


def summary_checks(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())["checks"]
