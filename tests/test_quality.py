"""Static checks run with the tests: ruff, mypy (strict) and the import contracts."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow  # mypy and friends take tens of seconds
BIN = Path(sys.executable).parent


def tool(name):
    path = BIN / name
    return str(path) if path.exists() else shutil.which(name)


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "suite", "searchers", "tests", "benchmarks"],
        ["ruff", "format", "--check", "suite", "searchers"],
        ["mypy"],
        ["lint-imports"],
    ],
    ids=["ruff", "ruff-format", "mypy", "import-linter"],
)
def test_static_check(command):
    exe = tool(command[0])
    assert exe, f"{command[0]} is not installed; pip install -e '.[test]'"
    proc = subprocess.run([exe, *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
