"""Where the data files are: a checkout reads the folders git keeps; a non-editable install
carries them all in its wheel and runs from any folder.

The wheel test builds offline from a copy of the sources, installs with ``--no-deps`` into a
fresh venv that borrows this venv's third-party packages through a .pth, and runs the quick
start from a folder outside the repository.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import OFFLINE, ROOT

# What a build reads; a copy keeps the checkout free of build/ and *.egg-info.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "suite", "searchers",
           "hydra_plugins", "tasks", "leaderboard/baselines")  # fmt: skip
# setuptools builds wheels itself from 70.1 on (the test extra pins it); before, `wheel` did.
CAN_BUILD = any(
    importlib.util.find_spec(m) is not None for m in ("setuptools.command.bdist_wheel", "wheel")
)


def run(*cmd, cwd):
    # No PYTHONPATH: a checkout on it would be the suite (or, to pip, this project installed).
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **OFFLINE}
    done = subprocess.run(list(map(str, cmd)), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, f"{cmd}: {done.stderr[-2000:]}"
    return done.stdout


def copy_sources(dest):
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        source, target = ROOT / name, dest / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=junk)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def test_a_checkout_reads_the_data_folders_where_git_keeps_them():
    from suite.app import realgate, regress
    from suite.config import CONF_DIR
    from suite.data.tasks import TASKS_DIR
    from suite.leaderboard.reference import REFERENCE_FILE

    assert TASKS_DIR == ROOT / "tasks" and (TASKS_DIR / "mmlu.yaml").is_file()
    assert regress.BASELINE == ROOT / "leaderboard" / "baselines" / "ci.json"
    assert realgate.BASELINE == ROOT / "leaderboard" / "baselines" / "real_tiny_cpu.json"
    assert CONF_DIR.resolve() == ROOT / "suite" / "conf"
    assert REFERENCE_FILE.resolve() == ROOT / "suite" / "leaderboard" / "sim_reference.json"


@pytest.mark.slow
@pytest.mark.skipif(not CAN_BUILD, reason="an offline wheel build needs setuptools>=70.1 or wheel")
def test_a_wheel_in_a_fresh_venv_runs_the_quick_start_from_another_folder(tmp_path):
    copy_sources(tmp_path / "src")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", tmp_path / "dist", ".", cwd=tmp_path / "src")  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("tts_graph_bench-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                       cwd=tmp_path).strip())  # fmt: skip
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel,
        cwd=tmp_path)  # fmt: skip
    # Only now the dependencies, from this interpreter's site folders: pip saw an empty venv, so
    # it installed the wheel rather than find this project already there. A path line in a .pth
    # adds the folder, not the .pth files in it (an editable install's finder stays out).
    sites = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    (purelib / "00_tgb_deps.pth").write_text("".join(f"{p}\n" for p in sites))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run(python, "-m", "suite.run", "test_n=5", cwd=elsewhere)
    run_dir = Path(out.strip().splitlines()[-1])
    assert run_dir.is_relative_to(elsewhere / "results" / "mmlu")
    assert (run_dir / "final.json").is_file()
    where = run(python, "-c", "import suite, suite.data.tasks as t, suite.app.regress as r; "
                "print(suite.__file__, t.TASKS_DIR, r.BASELINE, sep='\\n')",
                cwd=elsewhere).split()  # fmt: skip
    assert all(Path(p).is_relative_to(purelib / "suite") for p in where), where
    assert (Path(where[1]) / "mmlu.yaml").is_file() and Path(where[2]).is_file()
    # the wheel carries the suite's Hydra plugins: a sweep on the warm launcher runs
    out = run(python, "-m", "suite.run", "-m", "+experiment/launcher=warm",
              "hydra.launcher.n_jobs=1", "searcher=random", "seed=0,1", "n_iterations=1",
              "test_n=5", cwd=elsewhere)  # fmt: skip
    assert "2 completed" in out
    assert len(list(elsewhere.glob("results/mmlu/random/*/final.json"))) == 2
