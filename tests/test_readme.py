"""The README opens with the two commands, and CI runs the README's test command verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_opens_with_run_and_test_commands():
    commands = _readme_commands()[:2]
    assert commands[0].endswith("python -m analyses") and "pip install -e ." in commands[0]
    assert commands[1].endswith("python -m pytest") and 'pip install -e ".[test]"' in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci_lines


# --------------------------------------------------------------------------- the README's Python blocks run


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def _run(block: str) -> dict:
    namespace = {"__name__": "__readme__"}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    return namespace


def test_every_python_block_is_run_by_one_of_the_tests_below():
    blocks = _python_blocks()
    on_files = [b for b in blocks if "results/" in b]
    assert len(blocks) >= 2 and len(on_files) == 1, "one block reads a run's files, the others stand alone"


def test_use_it_from_python_runs_and_prints_what_it_says(capsys):
    """Every block that needs no run: it must run, and the Gaussian lines print what the comments
    say (the MLE of the waiting times; the flat-prior MAP's σ equal to it)."""
    import matplotlib

    matplotlib.use("Agg")
    for block in [b for b in _python_blocks() if "results/" not in b]:
        ns = _run(block)
    printed = capsys.readouterr().out.splitlines()
    mean, sd = (float(v) for v in printed[0].split())
    assert (round(mean, 3), round(sd, 3)) == (70.897, 13.570)
    assert abs(float(printed[1]) - sd) < 1e-6 * sd
    assert ns["fit"].converged and set(ns["idata"].posterior["means"].coords["feature"].values) == {"eruptions",
                                                                                                   "waiting"}


def test_inspect_a_posterior_runs_on_a_real_runs_files(quick_run, tmp_path, monkeypatch, capsys):
    """The "Inspect a posterior" block, in a folder whose ``results`` is the session's --quick run."""
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    (tmp_path / "results").symlink_to(quick_run.out, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    _run(next(b for b in _python_blocks() if "results/" in b))
    plt.close("all")
    printed = capsys.readouterr().out
    assert "posterior_predictive" in printed and "means[0, waiting_min]" in printed and "sds[1, eruptions_min]" in printed
    assert "mu[height]" in printed and "Sigma[height, weight]" in printed
