"""One line for a preset the command line contradicts, a preset naming an unknown option, and
no traceback when a reader stops reading ``--help`` early (``| head``)."""

import os
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT, offline_env, run_cli

from suite.app import cli
from suite.config import CONF_DIR
from suite.core.errors import ConfigError


def test_paper_tpe_with_another_searcher_says_what_the_preset_selects(tmp_path):
    with pytest.raises(ConfigError) as caught:
        cli.compose(["+experiment=paper_tpe", "searcher=random"])
    assert str(caught.value) == (
        "+experiment=paper_tpe selects searcher=optuna_tpe and sets its options, which "
        "searcher=random does not take; drop searcher=random or the preset"
    )
    assert cli.compose(["+experiment=paper_tpe", "searcher=optuna_tpe"])["n_iterations"] == 3
    # another choice a preset's own settings do not depend on is still the command line's
    assert cli.compose(["+experiment=leaderboard_sim", "pool=llama3_gemma"])["pool"]["name"] == (
        "llama3_gemma"
    )
    proc = run_cli(
        "suite.run", "+experiment=paper_tpe", "searcher=random", f"results_dir={tmp_path}"
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: +experiment=paper_tpe selects searcher=optuna_tpe")


@pytest.fixture()
def user_preset(tmp_path, monkeypatch):
    """Write a preset into a copy of the config tree the CLI composes from."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    monkeypatch.setattr(cli, "CONF_DIR", conf)

    def write(name, override):
        text = f"# @package _global_\ndefaults:\n  - override {override}\n"
        (conf / "experiment" / f"{name}.yaml").write_text(text)
        return f"+experiment={name}"

    return write


def test_a_preset_naming_a_renamed_or_unknown_option_is_one_line(user_preset):
    with pytest.raises(ConfigError) as caught:
        cli.compose([user_preset("mine", "/budget: paper")])
    assert str(caught.value) == (
        "a preset's defaults list names budget 'paper', which is now 'u12' (the paper's 12 "
        "units); write override /budget: u12"
    )
    with pytest.raises(ConfigError) as caught:
        cli.compose([user_preset("typo", "/task: mmlx")])
    assert str(caught.value) == (
        "in a preset's defaults list: unknown task 'mmlx'; did you mean 'mmlu'?"
    )
    assert cli.compose([user_preset("fine", "/budget: u24")])["budget"]["units"] == 24


@pytest.mark.parametrize("module", ["suite.pilot", "suite.evaluate", "suite.missing"])
def test_help_into_a_closed_pipe_ends_quietly(module):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes: every write fails (EPIPE)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=offline_env(None),
            timeout=120,
        )
    finally:
        os.close(write)
    assert proc.returncode == 0 and proc.stderr == ""


def test_a_closed_stdout_while_running_is_no_error(capsys):
    def body():
        raise BrokenPipeError(32, "Broken pipe")

    assert cli.guarded(body) == 141  # as a shell reports SIGPIPE
    assert capsys.readouterr().err == ""
