"""Ctrl-C during a run: stop soon, commit nothing half-done, say one line.

Python's own SIGINT handling raises :class:`KeyboardInterrupt` wherever the main thread happens
to be. That is not enough here, for three reasons:

* libraries swallow it — ``pm.sample`` (sequential and multiprocess), ``pm.find_MAP`` and
  ADVI catch :class:`KeyboardInterrupt` and return what they have, so an analysis would carry
  on with a truncated trace and could be committed as if complete;
* raised inside a finalizer or a callback from compiled code (numba, llvmlite), it is not
  raised at all but printed as an "Exception ignored in ..." traceback;
* a second Ctrl-C during the clean-up (deleting a staging folder, swapping a finished one in)
  would abort that clean-up half-way.

:func:`handling_interrupts` installs a handler that *remembers* the interrupt (the flag
:func:`interrupted`) and raises :class:`KeyboardInterrupt` to stop the work at once — except
inside :func:`deferred` blocks, where it only remembers. :func:`checkpoint` raises
:class:`Interrupted` when an interrupt was remembered, so code that runs on after a library
swallowed the first one stops at its next checkpoint (the runner's :class:`~analyses.runner.Context`
methods are checkpoints, and the runner checks before committing an analysis). "Exception
ignored" reports of a :class:`KeyboardInterrupt` are silenced once an interrupt is remembered.

Worker processes forked by a sampler (PyMC forks its chains on Linux) inherit the handler, and
there it does nothing: the Ctrl-C of a terminal reaches them too, and a worker interrupted at a
random point of its start-up prints a traceback. The parent stops its workers instead (PyMC sends
each an abort message when its sampling loop is interrupted).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading

__all__ = ["Interrupted", "RunInterrupted", "handling_interrupts", "deferred", "interrupted", "checkpoint",
           "exit_interrupted"]


class Interrupted(KeyboardInterrupt):
    """Raised at a :func:`checkpoint` after a Ctrl-C that a library caught and ignored."""


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C; ``str()`` is the one line to show (which analysis, what was kept)."""


class _State:
    flag = False
    deferring = 0
    owner = 0  # the process that installed the handler (not its forked workers)


def _handler(signum, frame) -> None:
    if os.getpid() != _State.owner:
        return
    _State.flag = True
    if not _State.deferring:
        raise KeyboardInterrupt


def _quiet_unraisable(previous):
    def hook(unraisable) -> None:
        if _State.flag and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return  # remembered: the run stops at its next checkpoint
        previous(unraisable)

    return hook


@contextlib.contextmanager
def handling_interrupts():
    """Install the handler for the block (main thread only; elsewhere a no-op), then restore
    the previous SIGINT handler and unraisable hook. The flag is cleared on entry and on exit
    (a later run in the same process starts afresh). Inside such a block, another is a no-op."""
    nested = signal.getsignal(signal.SIGINT) is _handler and _State.owner == os.getpid()
    if nested or threading.current_thread() is not threading.main_thread():
        yield
        return
    _State.flag, _State.deferring, _State.owner = False, 0, os.getpid()
    previous_handler = signal.signal(signal.SIGINT, _handler)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable(previous_hook)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        sys.unraisablehook = previous_hook
        _State.flag, _State.deferring = False, 0


@contextlib.contextmanager
def deferred():
    """A block that a Ctrl-C does not cut short: the interrupt is remembered, and the code after
    the block decides (with :func:`checkpoint` or :func:`interrupted`)."""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1


def interrupted() -> bool:
    """Whether a Ctrl-C arrived since :func:`handling_interrupts` was entered."""
    return _State.flag


def checkpoint() -> None:
    """Raise :class:`Interrupted` if a Ctrl-C arrived (and was perhaps swallowed since)."""
    if _State.flag:
        raise Interrupted


def exit_interrupted() -> None:
    """End the process now with exit status 130, stdio and logging flushed.

    ``sys.exit(130)`` is not enough: when a Ctrl-C escaped from code that a compiled extension
    ran through the C API while being imported (a Cython module's set-up code, say), CPython
    remembers it and, however the exception was caught later, ends the process by SIGINT rather
    than with the exit status given. Everything the run wrote is complete or removed by then.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(130)
