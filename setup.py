"""Build glue (everything else is pyproject.toml): the lm-eval .pth and two top-level data folders.

The .pth lets lm-eval's own CLI find ``--model collab-graph``. The top-level ``tasks/`` (lm-eval
task entries) and ``leaderboard/baselines/`` (regression baselines) stay where they are in git; a
wheel carries them as ``suite/_tasks`` and ``suite/_baselines``, which
:func:`suite.core.resources.shipped` finds (a checkout reads the git folders directly).

lm-eval 0.4.13 resolves ``--model`` before any user code runs and has no plugin entry points,
so the suite registers the name at interpreter start-up through this .pth, which only installs
a one-shot import hook (suite/lm_eval_plugin.py). Regular wheels get the file from build_py;
editable installs from editable_wheel, whose namespace step writes the wheel's top-level files.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "tts_graph_bench_lm_eval.pth"
LINE = "import suite.app.lm_eval_plugin as _tgb_plugin; _tgb_plugin.install()\n"
# (folder in git, pattern, folder inside the built suite package); MANIFEST.in puts them in sdists
SHIPPED = (
    ("tasks", "*.yaml", "_tasks"),
    ("tasks", "*.py", "_tasks"),
    ("leaderboard/baselines", "*.json", "_baselines"),
)


class BuildPy(build_py):
    """build_py that also writes the .pth and copies the shipped folders into the library."""

    def run(self) -> None:
        """Build as usual, then write the .pth and (not for editable installs) the copies."""
        super().run()
        Path(self.build_lib, PTH).write_text(LINE, encoding="utf-8")
        for source, target in self._shipped():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """The usual outputs plus the .pth and the copies (so install_lib records them)."""
        extra = [Path(self.build_lib, PTH), *(target for _, target in self._shipped())]
        return [*super().get_outputs(include_bytecode), *map(str, extra)]

    def _shipped(self) -> list[tuple[Path, Path]]:
        # An editable install reads the git folders in place, so it gets no copies.
        if getattr(self, "editable_mode", False):
            return []
        return [
            (path, Path(self.build_lib, "suite", inside, path.name))
            for folder, pattern, inside in SHIPPED
            for path in sorted(Path(folder).glob(pattern))
        ]


class EditableWheel(editable_wheel):
    """editable_wheel that also puts the .pth into the editable wheel."""

    def _install_namespaces(self, installation_dir: str, pth_prefix: str) -> None:
        super()._install_namespaces(installation_dir, pth_prefix)
        Path(installation_dir, PTH).write_text(LINE, encoding="utf-8")


setup(cmdclass={"build_py": BuildPy, "editable_wheel": EditableWheel})
