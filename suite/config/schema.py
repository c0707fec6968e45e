"""Hydra structured-config schemas: the keys and types of every config group, checked at compose.

Each option validates against a dataclass here: the run's top level, one schema each for task,
pool and budget, and one per searcher, backend and agent option, named like its YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Field order is the YAML files' order: a composed config lists keys in its schema's order, and
# config.yaml (and the config digest) must not change. Fields have no defaults, so the YAML files
# stay the one place that sets values. The schemas are not frozen: Hydra writes overrides into
# them while it composes.
#
# OmegaConf 2.3 has no unions: a field holding an int or a float is ``Number`` (``Any``), since a
# ``float`` field would rewrite ``600`` as ``600.0`` in config.yaml and change the digest.
Number = Any


@dataclass
class TaskSchema:
    """``task/<name>.yaml`` (see :class:`suite.config.TaskConfig` for what each key means)."""

    name: str
    lm_eval_task: str
    data: str
    prompts: str
    input_tokens: int
    output_tokens: int
    split_seed: int
    search_n: int
    include_path: str | None
    test_n: int


@dataclass
class PoolModelSchema:
    """One model of a pool: cost specs, latency profile and ``serve:`` settings.

    ``serve`` stays a mapping: pools set different subsets of its keys, and a schema would add
    the others to every composed config. :func:`suite.backends.serving.serve_specs` checks it.
    """

    name: str
    hf_id: str
    params: float
    layers: int
    hidden: int
    size_rank: int
    units: dict[str, int]
    prefill_tok_s: Number
    decode_tok_s: Number
    serve: dict[str, Any]


@dataclass
class PoolSchema:
    """``pool/<name>.yaml``: the models a graph may use and the ``final`` node's model."""

    name: str
    final_model: str
    models: list[PoolModelSchema]


@dataclass
class BudgetSchema:
    """``budget/<name>.yaml``: units of one smallest-model call, and the search's question budget.

    The search budget in question evaluations is ``n_iterations x batch_size`` plus
    ``pretest_question_evals`` plus ``extra_question_evals`` (the equal-total-budget view).
    """

    units: int
    pretest_question_evals: int
    extra_question_evals: int


@dataclass
class RunSchema:
    """``config.yaml``: the groups (each typed by its option's schema) and the run's own keys."""

    searcher: Any
    task: TaskSchema
    backend: Any
    pool: PoolSchema
    budget: BudgetSchema
    agent: Any
    seed: int
    n_iterations: int
    batch_size: int
    test_n: int
    results_dir: str
    resume: Any  # auto, true or false: YAML and Hydra read the last two as booleans


# ---- searchers (searchers/<name>.py; value ranges are checked by each searcher) -------------
@dataclass
class AgentReinforceSchema:
    """``searcher/agent_reinforce.yaml``."""

    name: str
    recommend: str
    pilot_questions: int
    pretest_variants: int
    max_attempts: int
    history_rounds: int
    objective: str
    latency_weight: float


@dataclass
class LlmProposalSchema:
    """``searcher/llm_proposal.yaml``."""

    name: str
    warmup: int
    top_k: int
    max_attempts: int
    recommend: str


@dataclass
class MaaoSchema:
    """``searcher/maao.yaml``."""

    name: str
    cycles: int
    lr: float
    batch: int | None
    reset_adam: bool
    max_attempts: int
    recommend: str
    mask_threshold: float
    edge_threshold: float
    max_out_edges: int
    link_threshold: float


@dataclass
class OptunaTpeSchema:
    """``searcher/optuna_tpe.yaml``."""

    name: str
    fixed_mix: str
    questions_per_trial: int | None
    storage: str | None
    study_name: str | None
    recommend: str
    n_startup_trials: int


@dataclass
class RandomSchema:
    """``searcher/random.yaml``."""

    name: str
    recommend: str
    link_threshold: float


@dataclass
class ReinforceSchema:
    """``searcher/reinforce.yaml``."""

    name: str
    lr: float
    batch: int | None
    baseline: str
    baseline_decay: float
    recommend: str
    mask_threshold: float
    edge_threshold: float
    max_out_edges: int
    link_threshold: float


@dataclass
class TextgradSchema:
    """``searcher/textgrad.yaml``."""

    name: str
    recommend: str
    max_attempts: int
    history_rounds: int
    objective: str
    latency_weight: float


# ---- backends (suite/backends/<name>.py; the pool's models come from the session) -----------
@dataclass
class CacheSchema:
    """``backend.cache``: the SQLite record/replay of calls (:mod:`suite.backends.cache`)."""

    mode: Any  # readwrite | read | off: YAML reads an unquoted off as false
    path: str | None


@dataclass
class OpenaiBackendSchema:
    """``backend/openai.yaml``."""

    name: str
    # {model: text} or null. Any, not dict | None: OmegaConf 2.3 fails to merge an override's
    # mapping into an optional mapping that is null.
    endpoints: Any
    remote_names: Any
    api_key_env: Any  # a variable name, or one per model
    concurrency: int
    timeout_s: Number
    retries: int
    backoff_s: float
    seed: int
    launch: bool
    launch_args: list[str]
    startup_timeout_s: Number
    device: str
    cpu_dtype: str
    cpu_kv_cache_gib: int
    cache: CacheSchema


@dataclass
class SimBackendSchema:
    """``backend/sim.yaml``."""

    name: str
    world_seed: int
    profile: str | None


@dataclass
class VllmBackendSchema:
    """``backend/vllm.yaml``."""

    name: str
    device: str
    seed: int
    per_call_seed: bool
    top_p: float
    enforce_eager: bool | None
    cpu_dtype: str
    cpu_kv_cache_gib: int
    prefix_caching: bool | None
    engine_process: bool | None
    cache: CacheSchema


# ---- agents (suite/search/agents.py, suite/search/vllm_agent.py) ---------------------------
@dataclass
class HeuristicAgentSchema:
    """``agent/heuristic.yaml``."""

    name: str


@dataclass
class OpenaiAgentSchema:
    """``agent/openai.yaml``: any OpenAI-compatible chat endpoint."""

    name: str
    model: str
    base_url: str
    api_key_env: str
    max_tokens: int
    temperature: float
    timeout_s: Number
    retries: int


@dataclass
class VllmAgentSchema(OpenaiAgentSchema):
    """``agent/vllm.yaml``: the same client, pointed at a vLLM server."""


@dataclass
class VllmEngineAgentSchema:
    """``agent/vllm_engine.yaml``: serving keys as in a pool model's ``serve:``."""

    name: str
    model: str
    weights: str | None
    revision: str | None
    dtype: str
    gpu_memory_utilization: float
    tensor_parallel_size: int
    max_model_len: int
    max_tokens: int
    base_model: bool
    temperature: float
    device: str
    seed: int
    cpu_dtype: str
    cpu_kv_cache_gib: int
    cache: CacheSchema


# Options whose YAML names its schema in its defaults list (``/<group>_<option>_schema``); task,
# pool and budget are typed by RunSchema instead.
OPTION_SCHEMAS: dict[str, dict[str, type]] = {
    "searcher": {
        "agent_reinforce": AgentReinforceSchema,
        "llm_proposal": LlmProposalSchema,
        "maao": MaaoSchema,
        "optuna_tpe": OptunaTpeSchema,
        "random": RandomSchema,
        "reinforce": ReinforceSchema,
        "textgrad": TextgradSchema,
    },
    "backend": {
        "openai": OpenaiBackendSchema,
        "sim": SimBackendSchema,
        "vllm": VllmBackendSchema,
    },
    "agent": {
        "heuristic": HeuristicAgentSchema,
        "openai": OpenaiAgentSchema,
        "vllm": VllmAgentSchema,
        "vllm_engine": VllmEngineAgentSchema,
    },
}
RUN_SCHEMA = "run_schema"


def schema_name(group: str, option: str) -> str:
    """The name an option's YAML uses for its schema: ``searcher_random_schema``."""
    return f"{group}_{option}_schema"


def register() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent); call before composing.

    They are stored at the top level, not in a group, so ``--help`` lists only the YAML options.
    """
    from hydra.core.config_store import ConfigStore  # Hydra is slow to import; only to compose

    store = ConfigStore.instance()
    if f"{RUN_SCHEMA}.yaml" in store.list(""):  # stored already (each store costs a few ms)
        return
    store.store(name=RUN_SCHEMA, node=RunSchema)
    for group, options in OPTION_SCHEMAS.items():
        for option, node in options.items():
            store.store(name=schema_name(group, option), node=node)
