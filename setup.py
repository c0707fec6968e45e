"""Build glue for one file, ``tts_graph_bench_lm_eval.pth`` (everything else is pyproject.toml).

The .pth lets lm-eval's own CLI find ``--model collab-graph``.

lm-eval 0.4.13 resolves ``--model`` before any user code runs and has no plugin entry points,
so the suite registers the name at interpreter start-up through this .pth, which only installs
a one-shot import hook (suite/lm_eval_plugin.py). Regular wheels get the file from build_py;
editable installs from editable_wheel, whose namespace step writes the wheel's top-level files.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "tts_graph_bench_lm_eval.pth"
LINE = "import suite.app.lm_eval_plugin as _tgb_plugin; _tgb_plugin.install()\n"


class BuildPy(build_py):
    """build_py that also writes the .pth at the top of the built library."""

    def run(self) -> None:
        """Build as usual, then write the .pth."""
        super().run()
        Path(self.build_lib, PTH).write_text(LINE, encoding="utf-8")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """The usual outputs plus the .pth (so install_lib records it)."""
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib, PTH))]


class EditableWheel(editable_wheel):
    """editable_wheel that also puts the .pth into the editable wheel."""

    def _install_namespaces(self, installation_dir: str, pth_prefix: str) -> None:
        super()._install_namespaces(installation_dir, pth_prefix)
        Path(installation_dir, PTH).write_text(LINE, encoding="utf-8")


setup(cmdclass={"build_py": BuildPy, "editable_wheel": EditableWheel})
