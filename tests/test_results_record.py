"""analyses.results_record through the runner: the output folder is one consistent record.

Interrupted, failed, partial, concurrent and killed runs, with the fake analyses of
``tests/fake_analyses.py`` (cheap; the real runner). A Ctrl-C is what a terminal sends: SIGINT to
the run's whole process group (worker processes included), once the run's own output shows the
analysis is in progress — never after a sleep. "Byte for byte" compares every file under the
folder (hidden ones included) and the set of folders, the lock file aside.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import fake_analyses  # tests/ is on sys.path (pytest's rootdir-less import)
from analyses import results_record, runner

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fake_analyses.py"
INTERRUPTED = "interrupted during {}; earlier results kept"


@pytest.fixture
def fakes(monkeypatch):
    """The fake analyses as the runner's only ones, in this process."""
    for module_name, module in fake_analyses.make_modules().items():
        monkeypatch.setitem(sys.modules, module_name, module)
    monkeypatch.setattr(runner, "DEFAULT_ANALYSES", list(fake_analyses.FAKES))
    monkeypatch.setattr(runner, "OPT_IN_ANALYSES", [])


def snapshot(out: Path) -> dict[str, bytes | None]:
    """{relative path: bytes (None for a folder)} of everything under ``out`` but its lock."""
    return {str(p.relative_to(out)): (None if p.is_dir() else p.read_bytes())
            for p in sorted(out.rglob("*")) if p.name != results_record.LOCK_NAME}


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def record_of(out: Path, name: str) -> dict:
    return json.loads((out / name / results_record.RECORD_NAME).read_text())


class Run:
    """A run of ``tests/fake_analyses.py`` (or of ``command``) in its own process group, as a shell
    starts a job."""

    def __init__(self, *args: str, command: tuple[str, ...] = (sys.executable, str(FAKE))):
        self.proc = subprocess.Popen([*command, *args], cwd=ROOT, text=True, start_new_session=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True).start()

    def _pump(self, stream, into):
        for line in stream:
            into.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, marker: str, timeout: float = 300) -> None:
        """Block until a line of stdout or stderr contains ``marker`` (fails if the run ends first)."""
        deadline, closed = time.monotonic() + timeout, 0
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            closed += line is None
            assert closed < 2, f"the run ended before printing {marker!r}:\n{self.output()}"
            if line is not None and marker in line:
                return

    def signal(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + 10
        while sum(line is None for line in list(self.lines.queue)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # until both pumps have read to the end
        return code

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True


def interrupt(args: list[str], marker: str, **kwargs) -> tuple[int, Run]:
    """Start a run, send Ctrl-C once ``marker`` is printed, return (exit status, run)."""
    run = Run(*args, **kwargs)
    run.wait_for(marker)
    run.signal(signal.SIGINT)
    return run.finish(), run


def assert_one_line_interrupt(run: Run, name: str | None) -> None:
    """No traceback; the run's last line says where it was interrupted (``name``; None: before
    any analysis started)."""
    text = run.output()
    assert "Traceback" not in text and "Exception ignored" not in text, text
    line = INTERRUPTED.format(name) if name else "interrupted before any analysis started; nothing was changed"
    assert "".join(run.stderr).splitlines()[-1] == line, text
    assert text.count("interrupted") == 1, text


# --------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_leaves_the_folder_byte_for_byte_as_it_was(fakes, tmp_path):
    """The interrupted analysis had written into its staging folder: all of it goes, nothing
    is replaced, summary.json and report.html are not touched, the next analysis never starts."""
    out = tmp_path / "R"
    assert runner.main(["fake_wait", "fake_a", "--seed", "1", "--out", str(out)]) == 0
    before = snapshot(out)
    code, run = interrupt(["fake_wait", "fake_a", "--wait", "--seed", "2", "--out", str(out)], "[fake_wait] ready")
    assert code == 130
    assert_one_line_interrupt(run, "fake_wait")
    assert "[fake_a]" not in run.output()
    assert snapshot(out) == before
    assert not (out / results_record.LOCK_NAME).exists()


def test_ctrl_c_after_an_analysis_finished_keeps_it_and_the_record_agrees_with_the_folders(fakes, tmp_path):
    """The issue's mixed record: the first analysis of the second run is committed with its own
    record, the interrupted one keeps its folder and record from the first run, and summary.json
    says exactly that."""
    out = tmp_path / "R"
    assert runner.main(["fake_a", "fake_wait", "--seed", "1", "--out", str(out)]) == 0
    waiting_before = {k: v for k, v in snapshot(out).items() if k.startswith("fake_wait")}
    code, run = interrupt(["fake_a", "fake_wait", "--wait", "--seed", "2", "--out", str(out)], "[fake_wait] ready")
    assert code == 130
    assert_one_line_interrupt(run, "fake_wait")
    assert {k: v for k, v in snapshot(out).items() if k.startswith("fake_wait")} == waiting_before
    assert json.loads((out / "fake_a" / "value.json").read_text())["seed"] == 2
    summary = summary_of(out)
    for name, seed in (("fake_a", 2), ("fake_wait", 1)):
        record = record_of(out, name)
        assert record["settings"]["seed"] == seed
        assert summary["records"][name]["settings"] == record["settings"]
        assert summary["records"][name]["finish_time"] == record["finish_time"]
        assert [c for c in summary["checks"] if c["analysis"] == name] == record["checks"]
    assert summary["consistency"]["settings_differ"]  # one ran with seed 2, the other with seed 1
    assert sorted(p.name for p in out.iterdir()) == ["fake_a", "fake_wait", "report.html", "summary.json"]


def test_ctrl_c_inside_a_pymc_sampler_with_worker_processes(fakes, tmp_path):
    """pm.sample (2 chains in 2 forked workers) catches the Ctrl-C and fails on its short trace:
    still one line, exit 130, nothing committed, and no worker left running."""
    out = tmp_path / "R"
    assert runner.main(["fake_a", "--out", str(out)]) == 0
    before = snapshot(out)
    code, run = interrupt(["fake_pymc", "--out", str(out)], "  sampling")
    assert code == 130
    assert_one_line_interrupt(run, "fake_pymc")
    assert snapshot(out) == before
    assert not run.group_alive()


@pytest.mark.parametrize("marker", ["[fake_numba] compiling", "[fake_numba] spinning"])
def test_ctrl_c_inside_numba_compilation_or_compiled_code(fakes, tmp_path, marker):
    out = tmp_path / "R"
    assert runner.main(["fake_a", "--out", str(out)]) == 0
    before = snapshot(out)
    code, run = interrupt(["fake_numba", "--out", str(out)], marker)
    assert code == 130
    assert_one_line_interrupt(run, "fake_numba")
    assert snapshot(out) == before


@pytest.mark.parametrize("then", ["return", "carry-on"])
def test_a_ctrl_c_that_the_analysis_swallowed_still_stops_it_and_commits_nothing(fakes, tmp_path, then):
    """As pm.sample does: the KeyboardInterrupt is caught and the analysis returns as if finished
    (not committed), or carries on (stopped at its next use of the context)."""
    out = tmp_path / "R"
    assert runner.main(["fake_swallow", "--out", str(out)]) == 0
    before = snapshot(out)
    code, run = interrupt(["fake_swallow", "--swallow", then, "--seed", "2", "--out", str(out)], "[fake_swallow] ready")
    assert code == 130
    assert_one_line_interrupt(run, "fake_swallow")
    assert "carried on" not in run.output() and "done in" not in run.output()
    assert snapshot(out) == before


def test_ctrl_c_while_the_libraries_load(tmp_path):
    """``python -X importtime`` prints each import as it completes: Ctrl-C once ``analyses.common``
    has loaded, while the runner's other imports (and the analyses', PyMC's) go on."""
    out = tmp_path / "R"
    code, run = interrupt(["-X", "importtime", "-m", "analyses", "closed_forms", "--quick", "--out", str(out)],
                          " analyses.common\n", command=(sys.executable,))
    assert code == 130
    assert_one_line_interrupt(run, None)
    assert "[closed_forms]" not in run.output() and not out.exists()


def test_ctrl_c_in_a_new_folder_leaves_no_folder(tmp_path):
    out = tmp_path / "new" / "R"
    code, run = interrupt(["fake_wait", "--wait", "--out", str(out)], "[fake_wait] ready")
    assert code == 130
    assert_one_line_interrupt(run, "fake_wait")
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------- one writer at a time


def test_a_second_run_into_a_folder_in_use_exits_two_at_once_naming_the_first(tmp_path):
    out = tmp_path / "R"
    first = Run("fake_wait", "--wait", "--out", str(out))
    first.wait_for("[fake_wait] ready")
    second = subprocess.run([sys.executable, str(FAKE), "fake_a", "--out", str(out)], cwd=ROOT, text=True,
                            capture_output=True, timeout=120)
    assert first.proc.poll() is None, "the second run did not wait for the first to end"
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr, second.stderr
    assert second.stderr.startswith(f"error: --out {out} is in use by another run (pid {first.proc.pid}, started ")
    assert "[fake_a]" not in second.stdout
    first.signal(signal.SIGINT)
    assert first.finish() == 130
    assert not out.exists()  # the first run made the folder and committed nothing


def test_a_lock_left_by_a_killed_run_is_taken_over_and_its_leftovers_cleaned(fakes, tmp_path, capsys):
    out = tmp_path / "R"
    assert runner.main(["fake_wait", "--seed", "1", "--out", str(out)]) == 0
    before = snapshot(out)
    killed = Run("fake_wait", "--wait", "--seed", "2", "--out", str(out))
    killed.wait_for("[fake_wait] ready")
    killed.signal(signal.SIGKILL)
    assert killed.finish() == -signal.SIGKILL
    staging = f"{results_record.STAGING_PREFIX}fake_wait-{killed.proc.pid}"
    assert (out / results_record.LOCK_NAME).exists() and (out / staging).is_dir()
    capsys.readouterr()

    assert runner.main(["fake_a", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (f"note: taking over the lock {out / results_record.LOCK_NAME} left by pid {killed.proc.pid}, started "
            in printed) and "which is no longer running" in printed
    assert f"note: removed {staging}: unfinished work of a run that was killed" in printed
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k.startswith("fake_wait")} == {
        k: v for k, v in before.items() if k.startswith("fake_wait")}
    assert not (out / results_record.LOCK_NAME).exists() and not (out / staging).exists()
    assert summary_of(out)["settings"]["analyses"] == ["fake_a", "fake_wait"]


# --------------------------------------------------------------------------- bad --out


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: a read-only one, or, for root (who ignores
    modes), /sys."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys")):
        try:
            (candidate / "probe").mkdir()
        except OSError:
            return candidate
        (candidate / "probe").rmdir()
    pytest.skip("no folder here refuses writing (root, and /sys writable)")


@pytest.mark.parametrize("case", ["a file", "under a file", "under a missing root folder", "not writable"])
def test_bad_out_exits_two_with_one_line_before_any_analysis(fakes, tmp_path, capsys, case):
    existing = tmp_path / "results.txt"
    existing.write_text("my notes\n")
    out, words = {
        "a file": (existing, f"error: --out {existing} is a file, not a folder"),
        "under a file": (existing / "R", f"error: cannot create --out {existing / 'R'}: {existing} is a file"),
        "under a missing root folder": (Path("/proc/no_such_folder/R"),
                                        "error: cannot create --out /proc/no_such_folder/R: No such file or directory"),
        "not writable": (None, "error: cannot write to --out "),
    }[case]
    if out is None:
        out = _unwritable_folder(tmp_path)
    assert runner.main(["fake_a", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(words), captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert "[fake_a]" not in captured.out
    assert existing.read_text() == "my notes\n"
    assert not (tmp_path / "results.txt" / "R").exists() and not Path("/proc/no_such_folder").exists()


def test_out_as_a_file_in_the_real_command_exits_two(tmp_path):
    existing = tmp_path / "results"
    existing.write_text("not a folder\n")
    proc = subprocess.run([sys.executable, "-m", "analyses", "closed_forms", "--quick", "--out", str(existing)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr == (f"error: --out {existing} is a file, not a folder; give a folder (it is created if "
                           "missing).\n")
    assert "[closed_forms]" not in proc.stdout


# --------------------------------------------------------------------------- what the record holds


def test_a_run_of_some_analyses_keeps_every_other_record_and_the_report_lists_all(fakes, tmp_path, capsys):
    out = tmp_path / "R"
    assert runner.main(["fake_a", "fake_b", "fake_c", "--seed", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert runner.main(["fake_b", "--seed", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = summary_of(out)
    names = ["fake_a", "fake_b", "fake_c"]
    assert summary["settings"]["analyses"] == names
    assert {n: r["settings"]["seed"] for n, r in summary["records"].items()} == {"fake_a": 1, "fake_b": 5, "fake_c": 1}
    assert [c["analysis"] for c in summary["checks"]] == names
    for name in names:
        assert summary["records"][name]["finish_time"] == record_of(out, name)["finish_time"]
        assert json.loads((out / name / "value.json").read_text())["seed"] == summary["records"][name]["settings"]["seed"]
    assert summary["consistency"]["settings_differ"] == {"fake_b": {"seed": {"value": 5, "others": 1}}}
    assert summary["seed"] == 1  # the settings most analyses ran with
    page = (out / "report.html").read_text()
    for name in names:
        seed = summary["records"][name]["settings"]["seed"]
        assert f'id="{name}"' in page
        assert f"ran {summary['records'][name]['finish_time'][:16].replace('T', ' ')} UTC · seed {seed} · full run" in page
    assert page.count("settings differ: seed 5 (the rest: seed 1)") == 1
    assert "kept from earlier runs: fake_a, fake_c" in printed
    assert "settings differ: fake_b ran with seed 5 (the rest: seed 1)" in printed
    from analyses import report

    (out / "report.html").unlink()
    assert report.main(["--out", str(out)]) == 0  # the rebuild from summary.json gives the same page
    assert (out / "report.html").read_text() == page


def test_the_record_holds_seed_quick_data_and_its_sha256_options_versions_and_time(fakes, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,2\n3,5\n4,4\n")
    out = tmp_path / "R"
    assert runner.main(["fake_wait", "--quick", "--seed", "3", "--data", str(data), "--out", str(out)]) == 0
    record = record_of(out, "fake_wait")
    settings = record["settings"]
    assert (settings["seed"], settings["quick"], settings["data"]) == (3, True, str(data))
    import hashlib

    assert settings["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert settings["options"] == {"wait": False}
    assert settings["versions"]["pymc"].startswith("5.")
    assert record["finish_time"].endswith("+00:00") and record["seconds"] >= 0
    page = (out / "report.html").read_text()
    assert f"data <code>{data}</code> (SHA-256 <code>{settings['data_sha256'][:12]}</code>…)" in page


def test_an_analysis_that_fails_checks_is_committed_and_the_run_exits_one(fakes, tmp_path):
    out = tmp_path / "R"
    assert runner.main(["fake_bad", "--out", str(out)]) == 1
    assert [c["passed"] for c in record_of(out, "fake_bad")["checks"]] == [False]
    assert summary_of(out)["records"]["fake_bad"]["n_failed"] == 1


def test_an_analysis_that_raises_leaves_its_previous_folder(fakes, tmp_path):
    """fake_b is committed before fake_raise fails; fake_raise's earlier folder stays as it was."""
    out = tmp_path / "R"
    raising = sys.modules["analyses.fake_raise"]
    good, failing = fake_analyses.FAKES["fake_a"][0], raising.run
    raising.run = good
    assert runner.main(["fake_raise", "--seed", "1", "--out", str(out)]) == 0
    before = snapshot(out)
    raising.run = failing
    with pytest.raises(RuntimeError, match="fails half-way"):
        runner.main(["fake_b", "fake_raise", "--seed", "2", "--out", str(out)])
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k.startswith("fake_raise")} == {
        k: v for k, v in before.items() if k.startswith("fake_raise")}
    assert sorted(p.name for p in out.iterdir()) == ["fake_b", "fake_raise", "report.html", "summary.json"]
    assert summary_of(out)["settings"]["analyses"] == ["fake_b", "fake_raise"]


def test_folders_without_a_record_and_records_without_a_folder_are_reported(fakes, tmp_path, capsys):
    out = tmp_path / "R"
    assert runner.main(["fake_a", "fake_b", "--out", str(out)]) == 0
    stray = out / "old_analysis"
    stray.mkdir()
    shutil.copy(out / "fake_a" / "value.json", stray / "value.json")
    shutil.copy(ROOT / "analyses" / "report_screenshot.png", stray / "figure.png")
    shutil.rmtree(out / "fake_b")
    capsys.readouterr()
    assert runner.main(["fake_a", "--out", str(out)]) == 0
    consistency = summary_of(out)["consistency"]
    assert consistency["folders_without_record"] == ["old_analysis"]
    assert list(consistency["records_without_folder"]) == ["fake_b"]
    assert summary_of(out)["settings"]["analyses"] == ["fake_a"]
    page = (out / "report.html").read_text()
    assert "Not in the record" in page and "<code>old_analysis/</code>: a folder with no record" in page
    assert "<code>fake_b</code>: recorded earlier, ran " in page and "but its folder is missing" in page
    assert "figure.png" not in page  # the stray folder's figure is not shown as if it were a result
    printed = capsys.readouterr().out
    assert "folders without a record (not in the report): old_analysis" in printed
    assert "recorded earlier, folder now missing: fake_b" in printed
    # still reported by the next run, until fake_b runs again
    assert runner.main(["fake_a", "--out", str(out)]) == 0
    assert list(summary_of(out)["consistency"]["records_without_folder"]) == ["fake_b"]
    assert runner.main(["fake_b", "--out", str(out)]) == 0
    assert summary_of(out)["consistency"]["records_without_folder"] == {}


def test_a_folder_from_before_records_existed_is_reported_not_shown(fakes, tmp_path):
    """An output folder written by the earlier runner: its summary listed the analysis, its
    folder has no record.json; a new run does not present those files as part of the record."""
    out = tmp_path / "R"
    (out / "fake_c").mkdir(parents=True)
    (out / "fake_c" / "old.png").write_bytes((ROOT / "analyses" / "report_screenshot.png").read_bytes())
    (out / "summary.json").write_text(json.dumps({"checks": [], "seed": 9, "settings": {"analyses": ["fake_c"]}}))
    assert runner.main(["fake_a", "--out", str(out)]) == 0
    summary = summary_of(out)
    assert summary["settings"]["analyses"] == ["fake_a"]
    assert summary["consistency"]["folders_without_record"] == ["fake_c"]
    assert "old.png" not in (out / "report.html").read_text()


# --------------------------------------------------------------------------- settings compared


def test_reference_settings_are_the_most_common_and_differences_name_the_packages():
    versions = {"pymc": "5.28", "numpy": "2.3"}
    records = {
        "a": {"settings": {"seed": 1, "quick": True, "versions": versions, "options": {"k": 1}}, "finish_time": "1"},
        "b": {"settings": {"seed": 1, "quick": True, "versions": versions, "options": {}}, "finish_time": "2"},
        "c": {"settings": {"seed": 1, "quick": True, "versions": versions | {"pymc": "5.27"}, "options": {}},
              "finish_time": "3"},
    }
    reference = results_record.reference_settings(records)
    assert reference == {"seed": 1, "quick": True, "versions": versions}  # options are per analysis: not compared
    assert results_record.settings_differences(records["c"]["settings"], reference) == {
        "versions": {"value": {"pymc": "5.27"}, "others": {"pymc": "5.28"}}}
    assert results_record.settings_differences(records["a"]["settings"], reference) == {}
    # a tie goes to the analysis that ran last
    tie = {"a": records["a"], "c": records["c"]}
    assert results_record.reference_settings(tie)["versions"]["pymc"] == "5.27"


# --------------------------------------------------------------------------- the issue's case, real analyses


@pytest.mark.slow(seconds=45)
def test_the_issue_case_with_real_analyses(tmp_path):
    """closed_forms and gmm_sampling --quick into R; the same with --seed 5, Ctrl-C during
    gmm_sampling; then closed_forms alone with --seed 7. Every folder matches its record, the
    record keeps both analyses, and the report flags the one whose seed differs (about a minute)."""
    out = tmp_path / "R"
    command = (sys.executable, "-m", "analyses")
    first = subprocess.run([*command, "closed_forms", "gmm_sampling", "--quick", "--out", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    sampling_before = {k: v for k, v in snapshot(out).items() if k.startswith("gmm_sampling")}
    code, run = interrupt(["closed_forms", "gmm_sampling", "--quick", "--seed", "5", "--out", str(out)],
                          "[gmm_sampling] (2/2)", command=command)
    assert code == 130
    assert_one_line_interrupt(run, "gmm_sampling")
    assert {k: v for k, v in snapshot(out).items() if k.startswith("gmm_sampling")} == sampling_before
    summary = summary_of(out)
    assert {n: r["settings"]["seed"] for n, r in summary["records"].items()} == {
        "closed_forms": 5, "gmm_sampling": 20261124}
    for name in ("closed_forms", "gmm_sampling"):
        assert summary["records"][name]["finish_time"] == record_of(out, name)["finish_time"]

    third = subprocess.run([*command, "closed_forms", "--quick", "--seed", "7", "--out", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert third.returncode == 0, third.stdout[-2000:] + third.stderr[-2000:]
    summary = summary_of(out)
    assert summary["settings"]["analyses"] == ["closed_forms", "gmm_sampling"]
    assert {n: r["settings"]["seed"] for n, r in summary["records"].items()} == {
        "closed_forms": 7, "gmm_sampling": 20261124}
    assert "kept from earlier runs: gmm_sampling" in third.stdout
    page = (out / "report.html").read_text()
    assert "· seed 7 · quick run · shipped data" in page and "· seed 20261124 · quick run · shipped data" in page
    assert page.count('<span class="badge warn">settings differ</span>') == 1
