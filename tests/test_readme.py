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
