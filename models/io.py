"""Atomic result writing: nothing the user had is lost.

Every result file is written to a temporary file in the destination folder and renamed
into place with :func:`os.replace`, which is atomic on POSIX and Windows. If writing fails
half-way, the temporary file is removed and the previous file (if any) keeps its bytes.

A whole folder is replaced the same way by :func:`replace_dir`: it is written complete beside
its destination, then swapped in by renames (see there for why two, and
:func:`restore_retired` for a swap a crash cut in half).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "write_bytes", "write_text", "write_json", "save_figure", "save_netcdf", "to_jsonable",
           "replace_dir", "restore_retired", "RETIRED_PREFIX", "sha256_file"]


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    Usage::

        with atomic_path("results/x.nc") as tmp:
            idata.to_netcdf(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    # mkstemp creates the file 0600; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def to_jsonable(value):
    """Convert numpy scalars/arrays (nested in dicts/lists) to plain JSON types."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def write_json(path: str | Path, obj) -> Path:
    return write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def save_figure(fig, path: str | Path, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the suffix of ``path``)."""
    path = Path(path)
    kwargs.setdefault("dpi", 110)
    kwargs.setdefault("bbox_inches", "tight")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **kwargs)
    return path


def save_netcdf(idata, path: str | Path) -> Path:
    """Save ArviZ InferenceData atomically (``to_netcdf`` alone is not atomic)."""
    with atomic_path(path) as tmp:
        idata.to_netcdf(str(tmp))
    return Path(path)


#: Name prefix of a folder that :func:`replace_dir` has moved aside: ``.retired-<name>-<pid>``.
RETIRED_PREFIX = ".retired-"


def _fsync_dir(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_dir(source: str | Path, dest: str | Path) -> Path:
    """Put the finished folder ``source`` at ``dest`` (a sibling), replacing what ``dest`` held.

    POSIX renames a folder only onto an empty one, so the swap takes two renames: ``dest`` is
    moved aside to ``.retired-<name>-<pid>`` beside it, then ``source`` is renamed to ``dest``,
    then the retired folder is deleted. At every moment a complete folder is on disk: if the
    second rename fails the first is undone, and if the process dies between the two,
    :func:`restore_retired` puts the previous folder back. ``source`` and ``dest`` must be on one
    file system (siblings are). Returns ``dest``.
    """
    source, dest = Path(source), Path(dest)
    retired = dest.with_name(f"{RETIRED_PREFIX}{dest.name}-{os.getpid()}")
    had_dest = os.path.lexists(dest)
    if had_dest:
        os.rename(dest, retired)
    try:
        os.rename(source, dest)
    except BaseException:
        if had_dest:
            os.rename(retired, dest)
        raise
    _fsync_dir(dest.parent)
    if had_dest:
        if retired.is_dir() and not retired.is_symlink():
            shutil.rmtree(retired, ignore_errors=True)
        else:
            retired.unlink(missing_ok=True)
    return dest


def restore_retired(folder: str | Path) -> list[str]:
    """Finish what a crash left of :func:`replace_dir` swaps in ``folder``.

    A retired folder whose name is free again (the crash fell between the two renames) is
    renamed back; one whose name is taken (the crash fell after the swap) is deleted. Call it
    only while no other process can be swapping in ``folder``. Returns the names put back.
    """
    restored = []
    for retired in sorted(Path(folder).glob(f"{RETIRED_PREFIX}*")):
        name = retired.name[len(RETIRED_PREFIX):].rsplit("-", 1)[0]
        dest = retired.with_name(name)
        if name and not os.path.lexists(dest):
            os.rename(retired, dest)
            restored.append(name)
        elif retired.is_dir() and not retired.is_symlink():
            shutil.rmtree(retired, ignore_errors=True)
        else:
            retired.unlink(missing_ok=True)
    if restored:
        _fsync_dir(Path(folder))
    return restored


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
