"""Every check of every analysis can fail: each recorded check of a --quick run of all the default
analyses, moved 10 tolerances away from its reference (a one-sided bound: past the bound by 10
times its margin), fails when re-judged by the runner's own rule (``Check.rejudge``, i.e.
``analyses.runner.judge``, the function ``Context.check`` records with).

A check whose tolerance or bound is infinite or NaN has no such value; nor does a bound on a
quantity in [0, 1] that every value in [0, 1] meets. The last tests show the sweep catches those.
"""

from __future__ import annotations

import numpy as np
import pytest

from analyses.runner import DEFAULT_ANALYSES, Check

#: How far a value is moved: this many tolerances (two-sided) or bound margins (one-sided).
FACTOR = 10.0


def _minimal_shift(scale: float) -> float:
    """A shift that changes a value of this size (for tolerance 0 and for a value on its bound)."""
    return FACTOR * float(np.spacing(abs(scale) + 1.0))


def failing_value(check: Check):
    """A value the check must refuse, or None when there is none (infinite or NaN tolerance/bound).

    Two-sided: every element moved ``FACTOR`` tolerances further from its reference (a minimal
    shift for tolerance 0). One-sided: ``FACTOR`` times the margin past the bound. A probability
    stays in [0, 1]; when moving away from the reference would leave [0, 1], the value goes to the
    other side of the reference instead; the result may still pass (then the check cannot fail).
    """
    if check.kind == "two-sided":
        tol = float(check.tolerance)
        v = np.asarray(check.value, dtype=float)
        r = np.asarray(check.reference_value, dtype=float)
        if not np.isfinite(tol) or not np.all(np.isfinite(r)):
            return None
        away = np.where(v >= r, 1.0, -1.0)
        shift = FACTOR * tol if tol > 0 else _minimal_shift(float(np.max(np.abs(r))))
        distance = np.abs(np.nan_to_num(v - r)) + shift
        moved = r + away * distance
        if check.probability:
            inside = (moved >= 0) & (moved <= 1)
            moved = np.clip(np.where(inside, moved, r - away * distance), 0.0, 1.0)
        return moved
    bound = float(check.reference_value)
    if not np.isfinite(bound):
        return None
    sign = 1.0 if check.kind == "<=" else -1.0  # past a "<=" bound is above it
    margin = abs(bound - float(check.value)) if np.isfinite(check.value) else 0.0
    moved = bound + sign * max(FACTOR * margin, _minimal_shift(bound))
    return float(np.clip(moved, 0.0, 1.0)) if check.probability else moved


def cannot_fail(check: Check) -> str | None:
    """Why the check could not have failed, or None when a perturbed value fails it."""
    value = failing_value(check)
    if value is None:
        return f"no finite value fails it (tolerance {check.tolerance}, reference {check.reference_value})"
    if check.rejudge(value):
        return f"it still passes at {value!r}"
    return None


@pytest.fixture(scope="module")
def checks(quick_run) -> list[Check]:
    return [Check.from_dict(row) for row in quick_run.summary["checks"]]


def test_every_analysis_recorded_checks(checks):
    counts = {name: sum(c.analysis == name for c in checks) for name in DEFAULT_ANALYSES}
    assert all(counts.values()), counts


@pytest.mark.parametrize("name", DEFAULT_ANALYSES)
def test_every_check_fails_when_its_value_is_moved_ten_tolerances(checks, name):
    mine = [c for c in checks if c.analysis == name]
    stuck = {c.quantity: why for c in mine if (why := cannot_fail(c))}
    assert not stuck, stuck
    # The recorded verdict is the rule's verdict on the recorded value (one code path), and every
    # check says what its tolerance rests on.
    assert [c.passed for c in mine] == [c.rejudge(c.value) for c in mine]
    assert not [c.quantity for c in mine if not c.basis.strip()]


def _check(**fields) -> Check:
    base = {"analysis": "a", "dataset": "d", "quantity": "q", "method": "m", "reference": "r", "value": 0.5,
            "reference_value": 0.5, "abs_error": 0.0, "tolerance": 0.01, "passed": True, "basis": "b"}
    return Check(**(base | fields))


@pytest.mark.parametrize("check", [
    _check(value=1.0, reference_value=1.0, tolerance=float("inf")),                       # infinite tolerance
    _check(value=1.0, reference_value=1.0, tolerance=float("nan")),                       # NaN tolerance
    _check(kind="<=", value=1.003, reference_value=float("inf"), tolerance=0.0),          # bound at infinity
    _check(kind="<=", value=0.1, reference_value=1.15, tolerance=0.0, probability=True),  # Berry–Esseen at N = 1
    _check(kind=">=", value=0.3, reference_value=0.0, tolerance=0.0, probability=True),   # p-value >= 0
    _check(value=0.5, reference_value=0.5, tolerance=0.6, probability=True),              # ± 0.6 around ½
], ids=["inf tolerance", "nan tolerance", "inf bound", "distance <= 1.15", "p-value >= 0", "probability ± 0.6"])
def test_the_sweep_catches_a_check_that_cannot_fail(check):
    assert cannot_fail(check)


@pytest.mark.parametrize("check", [
    _check(value=[1.0, 2.0], reference_value=[1.0, 2.0], tolerance=0.0),                  # exact equality
    _check(value=9, reference_value=9, tolerance=0),                                      # a count
    _check(kind="<=", value=1.01, reference_value=1.01, tolerance=0.0),                   # on the bound
    _check(kind=">=", value=812.0, reference_value=400.0, tolerance=0.0),                 # ESS
    _check(value=0.97, reference_value=0.95, tolerance=0.02, probability=True),           # away would leave [0, 1]
    _check(kind="<=", value=0.02, reference_value=0.99, tolerance=0.0, probability=True),
], ids=["exact", "count", "on the bound", "ESS", "probability near 1", "distance <= 0.99"])
def test_the_sweep_moves_checks_that_can_fail_into_failure(check):
    assert cannot_fail(check) is None
