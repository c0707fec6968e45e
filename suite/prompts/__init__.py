"""Prompts as data: node templates (``nodes.yaml``) and per-task text (``tasks/<name>.yaml``).

:func:`load` reads both once; :meth:`PromptSet.messages` renders one node's chat messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from string import Template
from typing import Any

import yaml

from suite.core.errors import ConfigError
from suite.core.resources import package_path

HERE = package_path("suite.prompts")
Message = tuple[str, str]
"""A chat message as (role, content)."""


@dataclass(frozen=True)
class PromptSet:
    """The node templates and one task's text; renders messages for each call kind."""

    task: str
    nodes: Mapping[str, Mapping[str, str]]
    text: Mapping[str, Any]

    def messages(
        self, kind: str, question: str, responses: Sequence[str]
    ) -> tuple[Message, Message]:
        """System and user messages of one call (``kind`` is a ``CallKind`` value)."""
        numbered = "\n\n".join(
            Template(str(self.nodes["response"])).substitute(number=k + 1, text=t)
            for k, t in enumerate(responses)
        )
        fields = {
            "role": self.text["role"],
            "constraint": self.text["constraint"],
            "synthesis_constraint": self.text["synthesis_constraint"],
            "fuser_guidelines": self.text["fuser_guidelines"],
            "question": question,
            "responses": numbered,
            "n_responses": len(responses),
        }
        tpl = self.nodes[kind]
        system = Template(tpl["system"]).substitute(fields)
        user = Template(tpl["user"]).substitute(fields)
        return (("system", system), ("user", user))

    @property
    def sim(self) -> Mapping[str, Any]:
        """How the sim backend writes answers for this task."""
        return dict(self.text["sim"])


@cache
def load(task: str) -> PromptSet:
    """Read the node templates and ``tasks/<task>.yaml``.

    Raises:
        ConfigError: if the task has no prompt file.
    """
    path = HERE / "tasks" / f"{task}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (HERE / "tasks").glob("*.yaml"))
        raise ConfigError(f"no prompts for task '{task}' (known: {known}); add {path}")
    nodes = yaml.safe_load((HERE / "nodes.yaml").read_text())
    return PromptSet(task, nodes, yaml.safe_load(path.read_text()))
