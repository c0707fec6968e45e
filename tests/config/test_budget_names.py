"""One budget naming (issue 14, item 14): options, presets, errors and digests say ``u<units>``."""

import pytest
import yaml
from helpers import run_cli

from suite import config
from suite.app import cli
from suite.config import CONF_DIR, RENAMED_OPTIONS, group_options
from suite.core.errors import ConfigError


def test_every_budget_option_is_named_by_its_units():
    assert group_options("budget") == ["u6", "u12", "u24", "u48"]  # numbers sort as numbers
    for name in group_options("budget"):
        units = yaml.safe_load((CONF_DIR / "budget" / f"{name}.yaml").read_text())["units"]
        assert name == f"u{units}"


def test_the_default_and_the_presets_use_u12():
    assert config.load(cli.compose([])).budget_units == 12
    assert config.load(cli.compose(["+experiment=ci_regression"])).budget_units == 12
    for preset in ("ci_regression", "leaderboard_sim", "paper_tpe"):
        text = (CONF_DIR / "experiment" / f"{preset}.yaml").read_text()
        assert "paper," not in text and "budget: paper" not in text, preset
    sweep = yaml.safe_load((CONF_DIR / "experiment" / "leaderboard_sim.yaml").read_text())
    assert sweep["hydra"]["sweeper"]["params"]["budget"] == "u6,u12,u24,u48"


def test_u12_composes_and_paper_names_its_new_name_in_one_line():
    assert config.load(cli.compose(["budget=u12"])).budget_units == 12
    cli.check_overrides(["budget=u12"])
    with pytest.raises(ConfigError, match=r"budget 'paper' is now 'u12' \(the paper's 12 units\)"):
        cli.check_overrides(["budget=paper"])
    with pytest.raises(ConfigError, match="is now 'u12'"):
        cli.check_overrides(["budget=u6,paper"])  # a sweep value too
    with pytest.raises(ConfigError, match=r"did you mean 'u12' \(formerly 'paper'\)"):
        cli.check_overrides(["budget=paperr"])
    with pytest.raises(ConfigError, match="choose one of: u6, u12, u24, u48"):
        cli.check_overrides(["budget=big"])
    assert all(old not in group_options(group) for group, old in RENAMED_OPTIONS)


def test_the_digest_depends_on_the_budget_values_not_the_option_name():
    """Runs made as ``budget=paper`` keep their digest: the composed config holds no name."""
    data = cli.compose(["budget=u12"])
    assert data["budget"] == {"units": 12, "pretest_question_evals": 10, "extra_question_evals": 0}
    renamed = config.load(cli.compose(["budget=u6", "budget.units=12"]))
    assert renamed.digest == config.load(data).digest == config.load(cli.compose([])).digest


def test_budget_paper_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    proc = run_cli("suite.run", "budget=paper", f"results_dir={tmp_path}", timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip() == (
        "error: budget 'paper' is now 'u12' (the paper's 12 units); write budget=u12"
    )
    assert not any(tmp_path.iterdir())
