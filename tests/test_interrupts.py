"""analyses.interrupts: a Ctrl-C stops the work, is remembered when swallowed, waits out a
deferred block, and leaves forked workers alone. Signals are real (``os.kill`` of this process)."""

import os
import signal
import sys
import types

import pytest

from analyses import interrupts


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_raises_keyboard_interrupt_and_is_remembered():
    with interrupts.handling_interrupts():
        assert not interrupts.interrupted()
        with pytest.raises(KeyboardInterrupt):
            _ctrl_c()
        assert interrupts.interrupted()
        with pytest.raises(interrupts.Interrupted):  # a library swallowed it: the next checkpoint stops
            interrupts.checkpoint()
    assert not interrupts.interrupted()  # cleared on leaving
    interrupts.checkpoint()


def test_a_deferred_block_is_not_cut_short():
    done = []
    with interrupts.handling_interrupts():
        with interrupts.deferred():
            _ctrl_c()
            done.append("rest of the block")
        assert done == ["rest of the block"] and interrupts.interrupted()
        with pytest.raises(interrupts.Interrupted):
            interrupts.checkpoint()


def test_the_previous_handler_and_unraisable_hook_are_restored():
    handler, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
    with interrupts.handling_interrupts():
        assert signal.getsignal(signal.SIGINT) is not handler and sys.unraisablehook is not hook
    assert signal.getsignal(signal.SIGINT) is handler and sys.unraisablehook is hook


def test_an_ignored_keyboard_interrupt_is_not_reported_once_remembered(monkeypatch):
    """"Exception ignored in ..." tracebacks of a KeyboardInterrupt (raised in a finalizer or a
    callback from compiled code) are silenced after a Ctrl-C; other exceptions still reach the hook."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def unraisable(exc):
        return types.SimpleNamespace(exc_type=type(exc), exc_value=exc, exc_traceback=None, err_msg=None, object=None)

    with interrupts.handling_interrupts():
        sys.unraisablehook(unraisable(KeyboardInterrupt()))  # before any Ctrl-C: reported
        with interrupts.deferred():
            _ctrl_c()
        sys.unraisablehook(unraisable(KeyboardInterrupt()))
        sys.unraisablehook(unraisable(ValueError("other")))
    assert [type(u.exc_value).__name__ for u in seen] == ["KeyboardInterrupt", "ValueError"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_ignores_the_ctrl_c():
    """The terminal's Ctrl-C reaches a sampler's forked workers too; there the inherited handler
    does nothing (exit 0), where Python's own would raise (exit 1, with a traceback)."""
    with interrupts.handling_interrupts():
        pid = os.fork()
        if pid == 0:  # the worker
            try:
                _ctrl_c()
                code = 3 if interrupts.interrupted() else 0
            except BaseException:
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert not interrupts.interrupted()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_nested_block_keeps_the_outer_state():
    """``python -m analyses`` takes Ctrl-C before the runner's imports, and ``runner.main`` again:
    the inner block must neither clear a remembered interrupt nor restore Python's handler."""
    with interrupts.handling_interrupts():
        with interrupts.deferred():
            _ctrl_c()
        with interrupts.handling_interrupts():
            assert interrupts.interrupted()
        assert interrupts.interrupted()
        with pytest.raises(KeyboardInterrupt):  # still ours: raises, not the default's kill
            _ctrl_c()
