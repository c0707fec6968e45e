"""The ``sim`` backend: answers from the simulated world, written as task-format text.

It reads a call's structured fields, never its prompt; input texts map back to answer ids
because the backend wrote them itself (anything else counts as unparseable).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from string import Template
from typing import Any, ClassVar

import numpy as np

from suite.backends.base import AnswerKey, Backend, BackendEnv, Completion, NodeCall
from suite.core.cost import ModelSpec, call_latency_s
from suite.core.errors import ConfigError
from suite.sim.world import (
    GARBLED,
    KIND_CODE,
    PAD,
    Calls,
    SimWorld,
    TaskProfile,
    load_profiles,
    text_key,
)


class SimBackend(Backend):
    """Simulated LLM calls for one task (labelled ``sim`` in every output).

    Args:
        task: Task name.
        profile: The task's simulated-world profile.
        specs: Pool specs, for the throughput-based latency.
        answer_key: Gold and distractors of a question, by doc id and the number of
            distractors the profile wants (from the task adapter).
        render: Task text settings: ``answer_template`` (with ``$answer``) and ``unparseable``.
        world_seed: Seed of the simulated world (fixed across search seeds by default, so
            every seed faces the same world).
    """

    name: ClassVar[str] = "sim"
    simulated: ClassVar[bool] = True

    def __init__(
        self,
        task: str,
        profile: TaskProfile,
        specs: Mapping[str, ModelSpec],
        answer_key: Callable[[str, int], AnswerKey],
        render: Mapping[str, Any],
        world_seed: int = 0,
    ) -> None:
        self.world = SimWorld(task, profile, world_seed)
        self.world_seed = world_seed
        self.specs = specs
        self.answer_key = answer_key
        self.template = Template(str(render["answer_template"]))
        self.unparseable = str(render["unparseable"])
        self._texts: dict[str, list[str]] = {}
        self._ids: dict[str, dict[str, int]] = {}
        missing = sorted(set(specs) - set(profile.models))
        if missing:
            raise ConfigError(f"the sim profile has no models {missing}; refit with suite.sim.fit")

    @classmethod
    def create(cls, options: Mapping[str, Any], env: BackendEnv) -> SimBackend:
        """Build from ``backend/sim.yaml``: ``world_seed`` and ``profile`` (default: the pool).

        Its schema checked the keys and types while the config composed.
        """
        profiles = load_profiles(str(options.get("profile") or env.pool))
        if env.task not in profiles:
            raise ConfigError(
                f"the sim profile has no task '{env.task}' (it has {sorted(profiles)})"
            )
        seed = int(options.get("world_seed", 0))
        return cls(
            env.task, profiles[env.task], env.space.specs, env.answer_key, env.prompts.sim, seed
        )

    def _texts_of(self, doc_id: str) -> list[str]:
        """Texts of answer ids -1 (unparseable), 0 (gold), 1..K (distractors) for a question."""
        if doc_id not in self._texts:
            k = self.world.profile.n_distractors
            key = self.answer_key(doc_id, k)
            if len(key.distractors) != k:
                raise ConfigError(
                    f"question {doc_id} has {len(key.distractors)} distractors; the sim "
                    f"profile of task '{self.world.task}' expects {k}"
                )
            answers = [key.gold, *key.distractors]
            texts = [self.template.substitute(answer=a) for a in answers]
            self._texts[doc_id] = [self.unparseable, *texts]
        return self._texts[doc_id]

    def _input_ids(self, call: NodeCall) -> list[int]:
        lookup = self._ids.get(call.doc_id)
        if lookup is None:
            lookup = {t: i - 1 for i, t in enumerate(self._texts_of(call.doc_id))}
            self._ids[call.doc_id] = lookup
        return [lookup.get(t, GARBLED) for t in call.inputs]

    def generate(self, model: str, calls: Sequence[NodeCall]) -> list[Completion]:
        """Answer every call of the batch at once (vectorised over calls)."""
        if not calls:
            return []
        width = max(len(c.inputs) for c in calls)
        inputs = np.full((len(calls), width), PAD, dtype=np.int64)
        for row, call in enumerate(calls):
            ids = self._input_ids(call)
            inputs[row, : len(ids)] = ids
        batch = Calls(
            doc_keys=np.array([text_key(c.doc_id) for c in calls], dtype=np.uint64),
            kinds=np.array([KIND_CODE[c.kind] for c in calls]),
            inputs=inputs,
            sample_index=np.array([c.sample_index for c in calls]),
            depth=np.array([c.depth for c in calls]),
        )
        answers = self.world.answer(model, batch)
        profile, spec = self.world.profile, self.specs[model]
        out = []
        for call, answer in zip(calls, answers, strict=True):
            n_prompt = profile.input_tokens + len(call.inputs) * profile.output_tokens
            n_out = profile.output_tokens
            text = self._texts_of(call.doc_id)[int(answer) + 1]
            out.append(Completion(text, n_prompt, n_out, call_latency_s(spec, n_prompt, n_out)))
        return out

    def describe(self) -> dict[str, object]:
        """Backend name, the simulated flag and the world seed."""
        return {"name": self.name, "simulated": True, "world_seed": self.world_seed}
