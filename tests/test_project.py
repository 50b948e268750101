import re
import subprocess
import sys
from pathlib import Path

from readerapp.config import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command():
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.strip().splitlines()[-1]
    assert command.startswith("python3 -m venv .venv")
    assert f"\n{command}\n" in README


def test_quick_start_is_two_commands():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```(?:sh|bash)\n(.*?)```", quick_start, re.S)
    lines = [line for block in commands for line in block.strip().splitlines()]
    assert len(lines) == 2, lines
    assert "reader serve --demo" in lines[0] and "pytest" in lines[1]


def test_code_is_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [ruff, "check", "--no-cache", str(PROJECT_ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_reuters_is_never_shipped():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True
    ).stdout
    assert "reuters" not in tracked.lower()
    for path in (PROJECT_ROOT / "demo").glob("*"):
        assert "reuters" not in path.name.lower()
