"""Lets lm-eval's own CLI find ``--model collab-graph`` (a one-shot import hook, started by a .pth).

lm-eval 0.4.13 looks a ``--model`` name up before it runs any user code (tasks' ``utils.py``
is imported later) and reads no plugin entry points. So the package ships
``tts_graph_bench_lm_eval.pth`` (see setup.py), which calls :func:`install` at interpreter
start-up. Nothing is imported then: the hook waits until something imports
``lm_eval.api.registry`` and adds a lazy ``collab-graph -> suite.app.lm_eval_model:GraphLM`` entry
(lm-eval's own placeholder mechanism), which imports the suite only if that model is used.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

REGISTRY_MODULE = "lm_eval.api.registry"
MODEL = ("collab-graph", "suite.app.lm_eval_model:GraphLM")


def register(registry: ModuleType) -> None:
    """Add the lazy ``collab-graph`` entry to an imported ``lm_eval.api.registry``."""
    name, target = MODEL
    if name not in registry.model_registry:
        registry.model_registry.register(name, target=target)


class _RegisteringLoader(importlib.abc.Loader):
    """Runs the real loader of ``lm_eval.api.registry``, then registers the model."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        register(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... of the real loader
        return getattr(self.inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the loader of ``lm_eval.api.registry`` the first time it is imported, then leaves."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != REGISTRY_MODULE:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


def install() -> None:
    """Register ``collab-graph`` now if lm-eval's registry is loaded, else when it loads."""
    loaded = sys.modules.get(REGISTRY_MODULE)
    if loaded is not None:
        register(loaded)
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
