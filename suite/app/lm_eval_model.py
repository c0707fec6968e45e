"""``collab-graph``: a saved collaboration graph as an lm-eval ``LM`` (``register_model``).

lm-eval's ``simple_evaluate`` and CLI then evaluate the graph on the suite's generate-until
task entries with any backend, through the same session (task adapter, executor, backend)
that ``python -m suite.evaluate`` builds, so the two agree question for question. One of the
two modules that import lm_eval (with :mod:`suite.data.tasks`): an ``LM`` must subclass lm-eval's.
"""

from __future__ import annotations

import json
from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from suite import config
from suite.app import cli
from suite.core.errors import ConfigError, DataError
from suite.engine import session
from suite.engine.results import load_graph

MODEL_NAME = "collab-graph"
# lm-eval passes these to every model; a graph has no use for them
_INFRA_ARGS = frozenset({"batch_size", "max_batch_size", "device"})


def suite_task_of(lm_eval_task: str) -> str:
    """The suite task (``suite/conf/task/<name>.yaml``) of an entry named ``<name>_graph[...]``.

    Raises:
        ConfigError: for an entry outside the naming scheme.
    """
    name, found, _ = lm_eval_task.partition("_graph")
    if not found or not name:
        raise ConfigError(
            f"collab-graph runs the suite's task entries (<task>_graph, e.g. mmlu_graph); "
            f"got {lm_eval_task!r}"
        )
    return name


@register_model(MODEL_NAME)
class GraphLM(LM):  # type: ignore[misc]
    """Answers lm-eval's requests by running a collaboration graph on each question.

    Args:
        graph: ``single:<model>``, a graph JSON file or a run's ``final.json``.
        backend: Who answers node calls (a ``suite/conf/backend`` option, e.g. ``sim``).
        pool: Model pool option (default: the suite's default pool).
        budget: Budget option the graph must fit (default: the suite's default, ``u12``).
        world_seed: The sim backend's world seed (default: the backend config's).
        **infra: lm-eval's ``batch_size``, ``max_batch_size`` and ``device`` (ignored).

    Raises:
        ConfigError: an unknown argument (this model takes the five above).
    """

    def __init__(
        self,
        graph: str,
        backend: str = "sim",
        pool: str | None = None,
        budget: str | None = None,
        world_seed: int | None = None,
        **infra: Any,
    ) -> None:
        super().__init__()
        unknown = sorted(set(infra) - _INFRA_ARGS)
        if unknown:
            raise ConfigError(
                f"{MODEL_NAME} has no model_args {unknown}; it takes graph, backend, pool, "
                "budget, world_seed"
            )
        self.graph = load_graph(str(graph))
        self.overrides = [f"backend={backend}"]
        self.overrides += [f"pool={pool}"] if pool else []
        self.overrides += [f"budget={budget}"] if budget else []
        self.overrides += (
            [f"backend.world_seed={int(world_seed)}"] if world_seed is not None else []
        )
        self._sessions: dict[str, Any] = {}
        self._by_content: dict[int, dict[str, Any]] = {}

    def _session(self, lm_eval_task: str) -> Any:
        """The suite session of one task entry (built once; the graph checked against it)."""
        if lm_eval_task not in self._sessions:
            task = suite_task_of(lm_eval_task)
            overrides = [f"task={task}", f"task.lm_eval_task={lm_eval_task}", *self.overrides]
            cli.check_overrides(overrides)
            sess = session.build(config.load(cli.compose(overrides)))
            sess.space.check(self.graph, allow_single=True)
            self._sessions[lm_eval_task] = sess
        return self._sessions[lm_eval_task]

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        """Run the graph on every requested question, batched per task; texts cut at ``until``.

        Questions are the suite's own documents (same ids, so the sim answers as in
        ``suite.evaluate``); the graph's nodes get the suite's node prompts, not lm-eval's
        context string.
        """
        out: list[str] = [""] * len(requests)
        by_task: dict[str, list[int]] = {}
        for k, req in enumerate(requests):
            by_task.setdefault(str(req.task_name), []).append(k)
        for task_name, indices in by_task.items():
            sess = self._session(task_name)
            docs = [self._doc(sess, requests[k]) for k in indices]
            runs = sess.executor.run([(self.graph, d) for d in docs], "test")
            for k, run in zip(indices, runs, strict=True):
                out[k] = _cut(run.final_text, requests[k].args[1].get("until"))
        return out

    def _doc(self, sess: Any, req: Any) -> Any:
        """The suite's question behind a request.

        ``req.doc_id`` is the position in the entry's eval docs with ``--limit``, but the
        position among the chosen ones with ``--samples``; so a request whose document is not
        the one at ``doc_id`` is found by content (the first of identical questions).
        """
        key = _content_key(req.doc)
        index = int(req.doc_id)
        if index < len(sess.task.all_docs) and _content_key(sess.task.all_docs[index].raw) == key:
            return sess.task.all_docs[index]
        by_content = self._by_content.setdefault(
            id(sess), {_content_key(d.raw): d for d in reversed(sess.task.all_docs)}
        )
        if key not in by_content:
            raise DataError(
                f"lm-eval's question {req.doc_id} of {req.task_name} is not among the suite's "
                "questions: lm-eval and the suite read different data"
            )
        return by_content[key]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        """Refused: a graph writes text and has no token log-probabilities."""
        raise _no_loglikelihood(requests)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
        """Refused: a graph writes text and has no token log-probabilities."""
        raise _no_loglikelihood(requests)

    def close(self) -> None:
        """Release the backends of every session."""
        for sess in self._sessions.values():
            sess.close()
        self._sessions.clear()


def _content_key(doc: Any) -> str:
    return json.dumps(dict(doc), sort_keys=True, default=str)


def _cut(text: str, until: str | list[str] | None) -> str:
    """Cut a completion at the first stop string, as lm-eval's own models do."""
    stops = [until] if isinstance(until, str) else list(until or [])
    for stop in stops:
        text = text.split(stop, 1)[0]
    return text


def _no_loglikelihood(requests: list[Any]) -> ConfigError:
    tasks = sorted({str(r.task_name) for r in requests}) or ["?"]
    return ConfigError(
        f"{MODEL_NAME} writes text and has no log-likelihoods; task {', '.join(tasks)} asks "
        "for them (multiple_choice or loglikelihood). Use a generate_until entry such as "
        "mmlu_graph, gsm8k_synthetic_graph, math_synthetic_graph or humaneval_graph"
    )
