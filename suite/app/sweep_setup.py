"""What a command line may say about sweeps and run folders, checked before Hydra starts.

``results_dir`` alone places runs (Hydra's run and sweep folders follow it), and a ``-m`` sweep
runs on the suite's sweeper and warm launcher unless its command or presets choose others.
"""

from __future__ import annotations

from collections.abc import Sequence

from suite.config import CONF_DIR, schema
from suite.core.errors import ConfigError

# What a -m sweep runs on unless its command or presets choose otherwise: the suite's sweeper
# (one compose per swept value, the plan for "cell k/N") and warm launcher (suite.app.warm).
SWEEP_DEFAULTS = {"hydra/sweeper": "suite", "hydra/launcher": "warm"}


def sweep_defaults(overrides: Sequence[str]) -> list[str]:
    """The ``hydra/sweeper=`` and ``hydra/launcher=`` overrides a sweep adds (see SWEEP_DEFAULTS).

    A group counts as chosen when the command line names it (``hydra/launcher=basic``,
    ``+experiment/launcher=joblib``) or an ``+experiment=`` preset overrides it. config.yaml
    cannot name these defaults: Hydra lets the primary config's override win over a preset's,
    so ``+experiment/launcher=joblib`` would stop working; and single runs never need them.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    chosen = {k for k in keys if k in SWEEP_DEFAULTS}
    if "experiment/launcher" in keys:
        chosen.add("hydra/launcher")
    presets = [
        f"+experiment={name}"
        for o, k in zip(overrides, keys, strict=True)
        if k == "experiment"
        for name in o.split("=", 1)[1].split(",")
    ]
    schema.register()
    for preset in presets:
        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfg = hydra_compose("config", [preset], return_hydra_config=True)
        except (HydraException, OmegaConfBaseException):
            return []  # the preflight's check names the bad preset in one line
        choices = cfg.hydra.runtime.choices
        chosen |= {g for g in SWEEP_DEFAULTS if str(choices.get(g)) != "basic"}
    return [f"{g}={name}" for g, name in SWEEP_DEFAULTS.items() if g not in chosen]


# results_dir alone decides where runs go; Hydra's folder settings follow it (conf/config.yaml)
_PLACED_BY_RESULTS_DIR = ("hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir")


def check_run_folders(overrides: Sequence[str]) -> None:
    """Refuse command-line settings of Hydra's run folders: ``results_dir`` places every run.

    Runs go to ``<results_dir>/<task>/<searcher>/<stamp>-s<seed>`` in single runs and sweeps
    alike, which is where skip-completed, ``suite.missing`` and the leaderboard look.

    Raises:
        ConfigError: naming the override and the ``results_dir=`` to pass instead.
    """
    for ov in overrides:
        key, _, value = ov.partition("=")
        key = key.lstrip("+~")
        if key in _PLACED_BY_RESULTS_DIR:
            folder = value if key != "hydra.sweep.subdir" and value else "<folder>"
            raise ConfigError(
                f"{key}={value} is refused: results_dir alone decides where runs go "
                f"(<results_dir>/<task>/<searcher>/<stamp>-s<seed>); pass results_dir={folder}"
            )
