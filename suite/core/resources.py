"""Where the suite's data files are: package data found through :mod:`importlib.resources`.

One lookup for an installed wheel and a checkout (editable install or ``PYTHONPATH``), so the
suite runs from any folder, not only from the repository root.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from suite.core.errors import DataError


def package_path(package: str) -> Path:
    """The folder of an imported package (its data files lie beside its modules).

    Raises:
        DataError: the package is not installed as plain files (a zip import), which the
            suite does not support: Hydra and lm-eval read their configs from a folder.
    """
    root = resources.files(package)
    if not isinstance(root, Path):
        raise DataError(f"package {package} is not installed as files: reinstall with pip")
    return root


def shipped(packaged: str, checkout: str) -> Path:
    """A top-level folder of the repository that a wheel carries inside ``suite``.

    The lm-eval entries (``tasks/``) and the regression baselines (``leaderboard/baselines/``)
    stay where they are in git; setup.py's ``build_py`` copies them to ``suite/<packaged>`` in
    a wheel. A checkout has no such copy, so the folder is read beside ``suite/``.

    Args:
        packaged: the folder's name inside the installed ``suite`` package (``_tasks``).
        checkout: its path relative to the repository root (``leaderboard/baselines``).
    """
    # resolve(): these paths were always absolute and free of symlinks; keep them so.
    suite_dir = package_path("suite").resolve()
    inside = suite_dir / packaged
    return inside if inside.is_dir() else suite_dir.parent / checkout
