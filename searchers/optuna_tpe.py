"""Optuna's TPE sampler through ask/tell, the paper's ``BOSwarm`` baseline (PAPER.md §8).

Each trial sets a mix, every kept slot's role and every candidate edge between kept slots;
``space.repair`` makes the graph feasible. An optional Optuna storage persists and resumes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from suite.core.edges import EdgeWalk
from suite.core.errors import ConfigError
from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.core.space import Mix
from suite.search.searcher import (
    RECOMMEND,
    Observation,
    Proposal,
    SearchContext,
    Searcher,
    check_choice,
    pick,
    repair_report,
)

if TYPE_CHECKING:
    import optuna

ROLE_CHOICES = (Role.ASSISTANT.value, Role.FUSER.value)
EDGE_CHOICES = (0, 1)
_STORAGE_SCHEMES = ("sqlite:///", "journal:///")


class OptunaTpeSearcher(Searcher):
    """TPE over a mix, binary role and binary edge variables; returns the best (or last) trial.

    Per trial (PAPER.md §8, ``BOSwarm``): the mix is fixed (``fixed_mix=random``, the paper:
    one random feasible mix drawn once) or a categorical over ``space.feasible_mixes()``
    (``search``). The first ``sum(mix)`` slots are kept and take the mix's models in pool
    order, smallest first. Each kept slot has a role variable (``role_n3``) and each
    candidate edge between kept slots or into ``final`` a 0/1 variable (``edge_n3_n7``,
    ``edge_n3_final``). Edges are added in candidate order, skipping those that would close
    a cycle; then ``space.repair`` demotes fusers that break the role rules and deletes
    smallest-class nodes while the FLOPs cap is exceeded, so infeasible settings are
    repaired rather than rejected (what changed is recorded in the trial's info). Nodes
    with no path to ``final`` stay unused (not run, not charged), as in the official
    ``realize_bayes``. The trial's value is the observed reward.

    With ``storage`` the study persists (optuna-dashboard can open it) and a rerun resumes:
    Optuna's sampler reads the stored trials, trial numbering continues after them, trials
    left running by a dead process are marked failed, and the study's questions count
    toward this run's budget, so rerunning a finished command proposes nothing more (raise
    ``n_iterations`` to extend a study).

    Args:
        fixed_mix: ``random`` (the paper) or ``search``.
        questions_per_trial: Questions per trial; None means the run's ``batch_size``.
        storage: None (in memory), ``sqlite:///path.db`` or ``journal:///path.log``.
        study_name: The study's name; None derives it from task, budget, ``fixed_mix`` and
            the run seed, so the same command finds the same study.
        recommend: ``best`` (the paper's choice) or ``last``.
        n_startup_trials: Random trials before TPE models the results (Optuna's default 10;
            the paper's 3 trials are therefore all random draws).
    """

    name: ClassVar[str] = "optuna_tpe"

    def __init__(
        self,
        fixed_mix: str = "random",
        questions_per_trial: int | None = None,
        storage: str | None = None,
        study_name: str | None = None,
        recommend: str = "best",
        n_startup_trials: int = 10,
        **unknown: Any,
    ) -> None:
        super().__init__(**unknown)
        # Types were checked by the schema (suite/config/schema.py OptunaTpeSchema); values here.
        check_choice("fixed_mix", fixed_mix, ("random", "search"))
        if questions_per_trial is not None and questions_per_trial < 1:
            raise ConfigError(
                f"searcher.questions_per_trial must be null or an integer >= 1, "
                f"got {questions_per_trial!r}"
            )
        if storage is not None and not str(storage).startswith(_STORAGE_SCHEMES):
            raise ConfigError(
                f"searcher.storage must be null, sqlite:///path.db or journal:///path.log, "
                f"got '{storage}'"
            )
        if study_name is not None and not str(study_name).strip():
            raise ConfigError("searcher.study_name must be null or a non-empty name")
        check_choice("recommend", recommend, RECOMMEND)
        if n_startup_trials < 0:
            raise ConfigError(
                f"searcher.n_startup_trials must be an integer >= 0, got {n_startup_trials!r}"
            )
        self.fixed_mix, self.questions_per_trial = fixed_mix, questions_per_trial
        self.storage = None if storage is None else str(storage)
        self.study_name_option = None if study_name is None else str(study_name)
        self.recommend_mode, self.n_startup_trials = recommend, n_startup_trials

    def setup(self, ctx: SearchContext) -> None:
        """Create or load the study, draw the sampler seed and (for ``random``) the mix."""
        super().setup(ctx)
        api = _optuna()
        space = ctx.space
        self._mixes = space.feasible_mixes()
        self._labels = tuple(",".join(str(c) for c in mix) for mix in self._mixes)
        self._sampler_seed = int(ctx.rng.integers(2**31 - 1))
        self._mix: Mix | None = None
        if self.fixed_mix == "random":  # PAPER.md §8: one random feasible mix, drawn once
            self._mix = pick(ctx.rng, self._mixes)
        self.study_name = self.study_name_option or _default_name(
            ctx, self.fixed_mix, self._sampler_seed
        )
        self._sampler = api.samplers.TPESampler(
            seed=self._sampler_seed, n_startup_trials=self.n_startup_trials
        )
        self._study: optuna.Study = api.create_study(
            storage=_storage(api, self.storage),
            sampler=self._sampler,
            study_name=self.study_name,
            direction="maximize",
            load_if_exists=True,
        )
        self._trials: dict[int, optuna.trial.Trial] = {}
        self._resumed = self._resume(api)
        self._asked = len(self._study.trials)  # proposal numbers continue the study's
        self._n_docs = self.questions_per_trial or ctx.batch_size

    def _resume(self, api: Any) -> dict[str, Any]:
        """Adopt a stored study: its mix, fail its orphaned running trials; notes for info."""
        study = self._study
        stored = study.user_attrs.get("mix")
        if self._mix is not None and stored is not None:
            self._mix = tuple(int(c) for c in stored)
        elif self._mix is not None:
            study.set_user_attr("mix", list(self._mix))
        running = api.trial.TrialState.RUNNING
        orphans = [t.number for t in study.trials if t.state == running]
        for number in orphans:
            study.tell(number, state=api.trial.TrialState.FAIL)
        if not study.trials:
            return {}
        return {"study_trials_before": len(study.trials), "orphans_failed": orphans}

    # ---- ask/tell ----------------------------------------------------------------------------
    def _questions_spent(self) -> int:
        """Questions the study's trials were (or, if running, will be) evaluated on."""
        trials = self._study.get_trials(deepcopy=False)  # read only: no copies
        return sum(
            int(t.user_attrs.get("n_questions", 0)) for t in trials if t.state.name != "FAIL"
        )

    def _propose(self, number: int) -> Proposal | None:
        if self._questions_spent() >= self.ctx.eval_budget:
            return None  # a resumed study already holds this run's budget
        trial = self._study.ask()
        mix, graph, notes = self._suggest(trial)
        trial.set_user_attr("graph", graph.to_dict())
        trial.set_user_attr("n_questions", self._n_docs)  # corrected to the count on tell
        self._trials[number] = trial
        info: dict[str, Any] = {"trial": trial.number, "mix": list(mix), **notes}
        if self._resumed:
            info["resumed"], self._resumed = self._resumed, {}
        return Proposal(graph, number, self._n_docs, info)

    def _suggest(self, trial: optuna.trial.Trial) -> tuple[Mix, CollabGraph, dict[str, Any]]:
        """Read the trial's variables into a graph and repair it (PAPER.md §8, §3)."""
        space = self.ctx.space
        mix = self._mix
        if mix is None:
            mix = self._mixes[self._labels.index(trial.suggest_categorical("mix", self._labels))]
        names = space.mix_names(mix)
        ids = space.node_ids[: len(names)]
        roles = {i: Role(trial.suggest_categorical(f"role_{i}", ROLE_CHOICES)) for i in ids}
        walk, skipped = EdgeWalk(space, ids), 0
        for src, dst in walk.candidates():  # every edge variable is suggested, cycle-closers too
            wanted = trial.suggest_categorical(f"edge_{src}_{dst}", EDGE_CHOICES)
            if wanted and not walk.try_add(src, dst):
                skipped += 1  # would close a cycle: refused, as at insertion in §1
        nodes = [Node(i, m, roles[i]) for i, m in zip(ids, names, strict=True)]
        built = CollabGraph.build(nodes, walk.edges, space.final_model)
        graph, deleted = space.repair(built, self.ctx.rng)
        notes = {
            "cycle_edges_skipped": skipped,
            **repair_report(built, graph, deleted),
            "unused": list(graph.unused()),
        }
        return mix, graph, notes

    def _observe(self, proposal: Proposal, observation: Observation) -> None:
        trial = self._trials.pop(proposal.number)
        trial.set_user_attr("n_questions", len(observation.scores))
        self._study.tell(trial, observation.reward)

    # ---- the result --------------------------------------------------------------------------
    @property
    def study(self) -> optuna.Study:
        """The Optuna study (read it; the searcher asks and tells)."""
        return self._study

    def recommend(self) -> CollabGraph:
        """The best trial's graph (the first of equals), or the last finished one."""
        done = [
            t
            for t in self._study.get_trials(deepcopy=False)
            if t.value is not None and "graph" in t.user_attrs
        ]
        if not done:
            return self._all_into_final()
        if self.recommend_mode == "last":
            chosen = done[-1]
        else:
            chosen = max(done, key=lambda t: (t.value, -t.number))
        return CollabGraph.from_dict(chosen.user_attrs["graph"])

    def _all_into_final(self) -> CollabGraph:
        """Before any trial: the mix's nodes as assistants, each straight into ``final``."""
        space = self.ctx.space
        mix = self._mix or self._mixes[0]
        names = space.mix_names(mix)
        nodes = [Node(i, m) for i, m in zip(space.node_ids, names, strict=False)]
        graph = CollabGraph.build(nodes, [(n.id, FINAL) for n in nodes], space.final_model)
        return space.repair(graph, np.random.default_rng(0))[0]

    # ---- state -------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        api = _optuna()
        sampler = self._sampler
        return {
            "sampler_seed": self._sampler_seed,
            "tpe_rng": _random_state(sampler._rng.rng),
            "startup_rng": _random_state(sampler._random_sampler._rng.rng),
            "mix": None if self._mix is None else list(self._mix),
            "study_name": self.study_name,
            "trials": [
                _trial_record(api, t)
                for t in self._study.get_trials(deepcopy=False)
                if t.state.is_finished()
            ],
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore generators and trials; trials missing from the study are added to it.

        Without storage that rebuilds the in-memory study, so TPE continues exactly. With
        storage the stored trials are kept and only those it lacks are added.
        """
        api = _optuna()
        self._sampler_seed = int(state["sampler_seed"])
        self._mix = None if state["mix"] is None else tuple(int(c) for c in state["mix"])
        have = len(self._study.trials)
        for record in state["trials"][have:]:
            self._study.add_trial(_frozen_trial(api, record))
        sampler = self._sampler
        sampler._rng.rng.set_state(_as_random_state(state["tpe_rng"]))
        sampler._random_sampler._rng.rng.set_state(_as_random_state(state["startup_rng"]))
        self._resumed = {}


def _optuna() -> Any:
    """Import Optuna lazily (it is slow to import) and quiet its per-trial INFO logs."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _default_name(ctx: SearchContext, fixed_mix: str, sampler_seed: int) -> str:
    """``optuna_tpe-mmlu-u12-random-s0``, where ``s0`` is the run seed.

    The context carries no seed, but ``suite.app.run`` spawns the searcher's generator from
    ``SeedSequence(seed)``, whose entropy is the seed; a generator without one falls back to
    the sampler seed drawn from it (``r<seed>``), which is just as reproducible.
    """
    entropy = getattr(ctx.rng.bit_generator.seed_seq, "entropy", None)
    seed = f"s{entropy}" if isinstance(entropy, int) and entropy < 2**32 else f"r{sampler_seed}"
    return f"optuna_tpe-{ctx.space.task}-u{ctx.space.budget_units}-{fixed_mix}-{seed}"


def _storage(api: Any, url: str | None) -> Any:
    """None, an RDB storage for ``sqlite:///``, or a journal file for ``journal:///``."""
    if url is None:
        return None
    path = Path(url.split(":///", 1)[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("journal:///"):
        from optuna.storages.journal import JournalFileBackend  # lazy, as _optuna() is

        return api.storages.JournalStorage(JournalFileBackend(str(path)))
    return api.storages.RDBStorage(url)


def _random_state(rs: np.random.RandomState) -> list[Any]:
    """A legacy RandomState's state (Optuna's samplers use one) as JSON-able data."""
    name, keys, pos, has_gauss, gauss = rs.get_state(legacy=True)
    return [name, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(gauss)]


def _as_random_state(data: list[Any]) -> tuple[Any, ...]:
    return (data[0], np.array(data[1], dtype=np.uint32), *data[2:])


def _trial_record(api: Any, trial: Any) -> dict[str, Any]:
    dist = api.distributions.distribution_to_json
    return {
        "state": trial.state.name,
        "value": trial.value,
        "params": trial.params,
        "distributions": {k: dist(d) for k, d in trial.distributions.items()},
        "user_attrs": trial.user_attrs,
    }


def _frozen_trial(api: Any, record: Mapping[str, Any]) -> Any:
    dist = api.distributions.json_to_distribution
    return api.trial.create_trial(
        state=api.trial.TrialState[record["state"]],
        value=record["value"],
        params=dict(record["params"]),
        distributions={k: dist(d) for k, d in record["distributions"].items()},
        user_attrs=dict(record["user_attrs"]),
    )
