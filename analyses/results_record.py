"""The output folder as one consistent record of results.

What ``<out>`` holds::

    <out>/<analysis>/              one folder per analysis: figures, posteriors, and
    <out>/<analysis>/record.json   its record: checks, settings, finish time, seconds, extra
    <out>/summary.json             every record gathered (:func:`build_summary`)
    <out>/report.html              built from summary.json and the figures (by the runner)
    <out>/.lock                    while a run writes: its pid, host and start time
    <out>/.staging-<analysis>-<pid>/   an analysis in progress (:func:`staging_folder`)

**One analysis, one commit.** An analysis writes into its staging folder; when it finishes, its
``record.json`` is written there and the folder replaces ``<out>/<analysis>`` by renames
(:func:`models.io.replace_dir`), so the figures and the record that describes them arrive
together. An analysis that raises, or is interrupted, never replaces anything: its staging
folder is deleted and the previous folder stays as it was. An analysis that ran to the end but
failed some checks *is* committed: it is a complete result, and its failures are in its record.

**The summary is derived.** ``summary.json`` is rebuilt after every commit from the
``record.json`` files on disk, so a run of some analyses updates theirs and keeps every other
analysis' record (each with its own settings). It lists what does not fit: analyses whose
settings (seed, quick, data file and its SHA-256, versions) differ from those most analyses ran
with, folders without a record (a stray folder, or one left by a version of this program that
wrote no records), and records whose folder has gone.

**One writer at a time.** :func:`locked_folder` takes ``<out>/.lock`` with an ``flock`` (POSIX):
the kernel releases it when the process ends however it ends, so a crashed run cannot leave
the folder locked; the pid, host and start time in the file name the holder to a second run,
which stops with :class:`OutputFolderError`. A lock file left by a run that was killed is taken
over with a note, and what that run left half-done (a staging folder, a folder moved aside in
the middle of a swap) is cleaned up or put back.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import socket
from collections import Counter
from pathlib import Path
from collections.abc import Callable, Iterator

from analyses.interrupts import deferred
from models.data import DATA_DIR, SHIPPED
from models.io import replace_dir, restore_retired, sha256_file, to_jsonable, write_json

__all__ = ["OutputFolderError", "RECORD_NAME", "LOCK_NAME", "STAGING_PREFIX", "locked_folder", "staging_folder",
           "commit", "make_record", "data_sha256", "read_records", "reference_settings", "settings_differences",
           "build_summary", "rebuild"]

#: An analysis' record, inside its folder.
RECORD_NAME = "record.json"
#: The lock file of a run writing into the folder.
LOCK_NAME = ".lock"
#: Name prefix of an analysis' folder while it runs: ``.staging-<analysis>-<pid>``.
STAGING_PREFIX = ".staging-"
#: Record settings that are per analysis by nature, so never compared across analyses.
NOT_COMPARED = ("options",)


class OutputFolderError(Exception):
    """``--out`` cannot be used: a file, not creatable, not writable, or in use by another run."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- the folder and its lock


def _make_folder(out: Path) -> list[Path]:
    """Create ``out`` and missing parents; return the folders created (deepest first)."""
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out} is a file, not a folder; give a folder (it is created if missing).")
    missing = []
    folder = out
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"cannot create --out {out}: {folder} is a file, not a folder; "
                                "give a folder you can create and write to.")
    created = []
    try:
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                if not path.is_dir():
                    raise
                continue  # another run made it a moment ago: not ours to remove
            created.insert(0, path)
    except OSError as exc:
        _remove_if_empty(created)
        raise OutputFolderError(f"cannot create --out {out}: {exc.strerror} ({exc.filename}); "
                                "give a folder you can create and write to.") from None
    return created


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            return


def _read_holder(fd: int) -> dict:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "a process that is starting up"
    here = "" if holder.get("host") in (None, socket.gethostname()) else f" on host {holder['host']}"
    return f"pid {holder['pid']}{here}, started {holder.get('started', '?')}"


def _acquire_lock(out: Path, log: Callable[[str], None]) -> int:
    """Lock ``<out>/.lock``; return its descriptor (released by :func:`_release_lock`)."""
    path = out / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputFolderError(f"cannot write to --out {out}: {exc.strerror}; "
                                    "give a folder you can write to.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise OutputFolderError(f"--out {out} is in use by another run ({_describe(holder)}); wait for it "
                                    "to finish, or give another --out.") from None
        # The holder before us may have removed the file while we opened it: lock the file that is there.
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    stale = _read_holder(fd)
    if stale:
        log(f"note: taking over the lock {path} left by {_describe(stale)}, which is no longer running")
    mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}).encode()
    os.pwrite(fd, mine, 0)
    os.ftruncate(fd, len(mine))
    os.fsync(fd)
    return fd


def _release_lock(out: Path, fd: int) -> None:
    path = out / LOCK_NAME
    try:
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            path.unlink()
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def _clean_leftovers(out: Path, log: Callable[[str], None]) -> None:
    """Undo what a killed run left: staging folders are deleted, a folder moved aside mid-swap is put back."""
    leftovers = sorted(out.glob(f"{STAGING_PREFIX}*"))
    for path in leftovers:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if leftovers:
        log(f"note: removed {', '.join(p.name for p in leftovers)}: unfinished work of a run that was killed")
    restored = restore_retired(out)
    if restored:
        log(f"note: put back {', '.join(restored)}: a run was killed while replacing them")


@contextlib.contextmanager
def locked_folder(out: Path, log: Callable[[str], None] = print) -> Iterator[Path]:
    """Create ``out`` if needed, hold its lock for the block, clean up after a killed run.

    Raises :class:`OutputFolderError` (nothing created) when ``out`` is a file, cannot be
    created or written, or another run holds the lock. On leaving, the lock file is removed,
    and folders this call created are removed again if nothing was committed into them.
    """
    out = Path(out)
    created = _make_folder(out)
    try:
        fd = _acquire_lock(out, log)
    except BaseException:
        _remove_if_empty(created)
        raise
    try:
        _clean_leftovers(out, log)
        yield out
    finally:
        with deferred():
            _release_lock(out, fd)
            _remove_if_empty(created)


# --------------------------------------------------------------------------- one analysis, one commit


@contextlib.contextmanager
def staging_folder(out: Path, name: str) -> Iterator[Path]:
    """An empty folder beside ``<out>/<name>`` for the analysis to write into; deleted when the
    block ends unless :func:`commit` moved it into place (a Ctrl-C does not cut the deletion short)."""
    staging = Path(out) / f"{STAGING_PREFIX}{name}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        yield staging
    finally:
        with deferred():
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def data_sha256(data: str | None) -> str | None:
    """SHA-256 of the ``--data`` file (a shipped name is resolved as :func:`models.data.load_dataset`
    does); None for the shipped defaults or a path that is not a file."""
    if not data:
        return None
    path = DATA_DIR / SHIPPED[data] if data in SHIPPED else Path(data).expanduser()
    return sha256_file(path) if path.is_file() else None


def make_record(name: str, checks: list[dict], extra: dict, settings: dict, seconds: float) -> dict:
    """An analysis' record.json: ``settings`` (seed, quick, data, data_sha256, options, versions,
    and any other run setting), ``finish_time`` (ISO 8601, UTC), ``seconds``, ``checks`` (rows as in
    summary.json) and ``extra`` (what the analysis recorded beyond its checks)."""
    return to_jsonable({"analysis": name, "finish_time": _now(), "seconds": seconds, "settings": settings,
                        "checks": checks, "extra": extra})


def commit(out: Path, name: str, staging: Path, record: dict) -> Path:
    """Write ``record`` into the finished ``staging`` folder and swap it in as ``<out>/<name>``."""
    write_json(staging / RECORD_NAME, record)
    return replace_dir(staging, Path(out) / name)


# --------------------------------------------------------------------------- the summary, from disk


def read_records(out: Path) -> tuple[dict[str, dict], list[str]]:
    """({analysis: record} of every folder with a readable record of its own name, [folders without one])."""
    records, orphans = {}, []
    for folder in sorted(p for p in Path(out).iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            record = json.loads((folder / RECORD_NAME).read_text())
        except (OSError, ValueError):
            record = None
        if isinstance(record, dict) and record.get("analysis") == folder.name:
            records[folder.name] = record
        else:
            orphans.append(folder.name)
    return records, orphans


def _compared(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in NOT_COMPARED}


def reference_settings(records: dict[str, dict]) -> dict:
    """The settings (options aside) that most analyses ran with; a tie goes to the latest run."""
    if not records:
        return {}
    keys = {n: json.dumps(_compared(r["settings"]), sort_keys=True) for n, r in records.items()}
    counts = Counter(keys.values())
    latest = {}
    for name, key in keys.items():
        latest[key] = max(latest.get(key, ""), records[name].get("finish_time", ""))
    best = max(counts, key=lambda key: (counts[key], latest[key]))
    return json.loads(best)


def settings_differences(settings: dict, reference: dict) -> dict:
    """{setting: {"value": this analysis', "others": the reference's}} where they differ; for
    ``versions``, only the packages that differ."""
    out = {}
    for key in sorted(set(_compared(settings)) | set(reference)):
        mine, theirs = settings.get(key), reference.get(key)
        if mine == theirs:
            continue
        if key == "versions" and isinstance(mine, dict) and isinstance(theirs, dict):
            packages = sorted(p for p in set(mine) | set(theirs) if mine.get(p) != theirs.get(p))
            mine, theirs = {p: mine.get(p) for p in packages}, {p: theirs.get(p) for p in packages}
        out[key] = {"value": mine, "others": theirs}
    return out


def _recorded_before(previous: dict) -> dict[str, dict]:
    """{analysis: {finish_time, seed}} that a previous summary.json recorded (any version of it)."""
    if not isinstance(previous, dict):
        return {}
    consistency = previous.get("consistency") or {}
    before = {n: dict(v) for n, v in (consistency.get("records_without_folder") or {}).items()}
    for name, record in (previous.get("records") or {}).items():
        before[name] = {"finish_time": record.get("finish_time"), "seed": record.get("settings", {}).get("seed")}
    if "records" not in previous:  # written before records existed: the analyses it listed
        settings = previous.get("settings") or {}
        for name in settings.get("analyses") or []:
            before.setdefault(name, {"finish_time": None, "seed": settings.get("seed")})
    return before


def build_summary(out: Path, order: list[str], previous: dict | None = None) -> dict:
    """summary.json from the records on disk (``previous``: the summary.json being replaced,
    which alone knows of records whose folder has since gone).

    Keys: ``checks`` (every record's rows, analyses in ``order``; each row names its analysis),
    ``records`` {analysis: {settings, finish_time, seconds, n_checks, n_failed}}, ``consistency``
    {reference_settings, settings_differ, folders_without_record, records_without_folder}, and,
    as earlier versions wrote them, ``analyses`` {analysis: extra}, ``timings_seconds``, and
    ``seed``, ``versions`` and ``settings``: the reference settings, with ``analyses`` (every
    recorded analysis) and ``options`` {analysis: options}. (The rows are not repeated under
    ``records``: they are most of the file.)
    """
    out = Path(out)
    records, orphans = read_records(out)
    rank = {name: i for i, name in enumerate(order)}
    names = sorted(records, key=lambda n: (rank.get(n, len(rank)), n))
    reference = reference_settings(records)
    differ = {n: d for n in names if (d := settings_differences(records[n]["settings"], reference))}
    gone = {n: info for n, info in _recorded_before(previous or {}).items()
            if n not in records and not (out / n).exists()}
    return {
        "checks": [row for n in names for row in records[n].get("checks", [])],
        "seed": reference.get("seed"),
        "versions": reference.get("versions", {}),
        "settings": {k: v for k, v in reference.items() if k != "versions"} | {
            "out": str(out), "analyses": names,
            "options": {n: records[n]["settings"]["options"] for n in names if records[n]["settings"].get("options")}},
        "analyses": {n: records[n]["extra"] for n in names if records[n].get("extra")},
        "timings_seconds": {n: records[n].get("seconds") for n in names},
        "records": {n: {"settings": records[n]["settings"], "finish_time": records[n].get("finish_time"),
                        "seconds": records[n].get("seconds"), "n_checks": len(records[n].get("checks", [])),
                        "n_failed": sum(not c.get("passed") for c in records[n].get("checks", []))} for n in names},
        "consistency": {"reference_settings": reference, "settings_differ": differ,
                        "folders_without_record": orphans, "records_without_folder": gone},
    }


def rebuild(out: Path, order: list[str]) -> dict:
    """Rewrite ``<out>/summary.json`` from the records on disk; return it."""
    out = Path(out)
    try:
        previous = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        previous = None
    summary = build_summary(out, order, previous)
    write_json(out / "summary.json", summary)
    return summary
