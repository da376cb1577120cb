"""``python tests/fake_analyses.py NAME ... [runner options]``: the real runner (``runner.main``)
with small fake analyses in place of the real ones, for tests that need a separate process
(Ctrl-C, a second run, a killed run) without the cost of real analyses.

* ``fake_a``, ``fake_b``, ``fake_c``: write ``value.json`` (a seeded normal draw) and a file
  ``note.txt``, record one check on the draw;
* ``fake_wait``: the same, then with ``--wait`` logs ``ready`` and waits up to two minutes for an
  interrupt (it has written a file into its staging folder by then);
* ``fake_pymc``: NUTS in PyMC with 2 chains in 2 worker processes; prints ``sampling`` at the first
  draw, and ``sampler returned`` if ``pm.sample`` returns (it catches a Ctrl-C and returns early);
* ``fake_numba``: logs ``compiling``, compiles a numba loop, logs ``spinning`` and runs it for up to
  two minutes in compiled code;
* ``fake_swallow``: writes a file; with ``--swallow return`` or ``--swallow carry-on`` logs ``ready``
  and waits, catching the ``KeyboardInterrupt`` as ``pm.sample`` does, then returns as if
  finished, or goes on to log ``carried on``;
* ``fake_bad``: one check that fails;
* ``fake_raise``: writes a file, then raises ``RuntimeError``.
"""

from __future__ import annotations

import sys
import time
import types

from analyses import interrupts, runner

WAIT_SECONDS = 120


def _write_and_check(ctx) -> None:
    value = float(ctx.rng().normal())
    ctx.write_json("value.json", {"value": value, "seed": ctx.settings.seed})
    (ctx.out_dir / "note.txt").write_text(f"{ctx.name} seed {ctx.settings.seed}\n")
    ctx.check("a standard normal draw", value, 0.0, method="numpy", reference="its mean", atol=10.0,
              basis="10 sd: fails with probability 1e-23")


def _wait(ctx) -> None:
    _write_and_check(ctx)
    if ctx.options.get("wait"):
        ctx.log("ready")
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.02)


def _wait_arguments(parser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait to be interrupted")


def _pymc(ctx) -> None:
    import pymc as pm

    announced = []

    def callback(trace, draw):
        if not announced:
            announced.append(True)
            print("  sampling", flush=True)

    with pm.Model():
        pm.Normal("x")
        pm.sample(draws=200_000, tune=100, chains=2, cores=2, random_seed=1, progressbar=False, callback=callback,
                  compute_convergence_checks=False)
    print("  sampler returned", flush=True)
    _write_and_check(ctx)


def _numba(ctx) -> None:
    import numba

    @numba.njit(cache=False)
    def spin(n):
        total = 0.0
        for i in range(n):
            total += (i % 7) * 1e-9
        return total

    ctx.log("compiling")
    spin(10)
    ctx.log("spinning")
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        spin(50_000_000)
    _write_and_check(ctx)


def _swallow(ctx) -> None:
    (ctx.out_dir / "partial.txt").write_text(f"seed {ctx.settings.seed}\n")
    if ctx.options.get("swallow") is None:
        return
    try:  # from the moment "ready" is printed, the interrupt is swallowed
        ctx.log("ready")
        time.sleep(WAIT_SECONDS)
    except KeyboardInterrupt:
        pass
    if ctx.options["swallow"] == "carry-on":
        ctx.log("carried on")


def _swallow_arguments(parser) -> None:
    parser.add_argument("--swallow", choices=["return", "carry-on"], help="wait, and swallow the interrupt")


def _bad(ctx) -> None:
    ctx.check("one", 1.0, 2.0, method="m", reference="r", atol=0.1, basis="fails by design")


def _raise(ctx) -> None:
    ctx.write_json("partial.json", {"half": True})
    raise RuntimeError("fake_raise fails half-way")


FAKES = {"fake_a": (_write_and_check, None), "fake_b": (_write_and_check, None), "fake_c": (_write_and_check, None),
         "fake_wait": (_wait, _wait_arguments), "fake_pymc": (_pymc, None), "fake_numba": (_numba, None),
         "fake_swallow": (_swallow, _swallow_arguments), "fake_bad": (_bad, None), "fake_raise": (_raise, None)}


def make_modules() -> dict[str, types.ModuleType]:
    """{``analyses.<name>``: a module the runner can load} for every fake."""
    modules = {}
    for name, (run, add_arguments) in FAKES.items():
        module = types.ModuleType(f"analyses.{name}")
        module.TITLE = f"fake analysis {name}"
        module.run = run
        if add_arguments is not None:
            module.add_arguments = add_arguments
        modules[module.__name__] = module
    return modules


if __name__ == "__main__":  # the fakes become the runner's only analyses in this process
    sys.modules.update(make_modules())
    runner.DEFAULT_ANALYSES[:] = list(FAKES)
    runner.OPT_IN_ANALYSES[:] = []
    code = runner.main(sys.argv[1:], prog="python tests/fake_analyses.py")
    if code == 130:  # as python -m analyses ends
        interrupts.exit_interrupted()
    sys.exit(code)
