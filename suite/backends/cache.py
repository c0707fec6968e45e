"""A SQLite record/replay cache of backend calls, wrapped around any backend.

The same file keeps the scores of the answers a run saw (table ``scores``, written by
``suite.engine.scores``), so a replay needs neither the models nor lm-eval's task.

A call's key is a digest of the backend kind, the model's identity (weights, revision, dtype,
sampling seed), the messages, the sampling parameters and the call's ``sample_index``. Hits are
returned with their recorded token counts and latency, so the meter charges what they cost.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from suite.backends.base import Backend, Completion, NodeCall
from suite.core.errors import BackendError, ConfigError, did_you_mean
from suite.core.io import cache_dir

MODES = ("readwrite", "read", "off")
KEY_VERSION = 1  # bump when the key material changes, so old rows are never misread
_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    score REAL NOT NULL,
    created_s REAL NOT NULL
)
"""


def default_path() -> Path:
    """``<suite cache folder>/calls.sqlite`` (``$TTSGB_CACHE_DIR`` moves it)."""
    return cache_dir() / "calls.sqlite"


def model_identity(backend: Backend, model: str) -> Mapping[str, Any]:
    """What besides the request decides a model's answer: its weights, revision, dtype, seed.

    Backends may define ``cache_identity(model)``; otherwise their :meth:`Backend.describe`
    (which holds no secrets and, for the built-in backends, no endpoints or counters) is used.
    """
    ident = getattr(backend, "cache_identity", None)
    if callable(ident):
        return dict(ident(model))
    return backend.describe()


def request_of(call: NodeCall, structured: bool) -> dict[str, Any]:
    """The parts of a call that decide its answer.

    Real models read the messages; a simulated backend also reads the structured fields
    (question id, call kind, inputs, depth), so those join the key when ``structured``.
    """
    out: dict[str, Any] = {
        "model": call.model,
        "messages": [list(m) for m in call.messages],
        "temperature": call.temperature,
        "max_tokens": call.max_tokens,
        "sample_index": call.sample_index,
    }
    if structured:
        out.update(
            task=call.task,
            doc_id=call.doc_id,
            kind=call.kind.value,
            inputs=list(call.inputs),
            depth=call.depth,
        )
    return out


def call_key(backend: str, identity: Mapping[str, Any], request: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the key material."""
    material = {"v": KEY_VERSION, "backend": backend, "identity": identity, "request": request}
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class CallCache:
    """The SQLite file: WAL journal, one short transaction per batch, first writer wins.

    Several runs may share one file: readers never block the writer, writers wait up to
    ``busy_timeout_s`` for each other, and ``INSERT OR IGNORE`` keeps the first answer recorded
    for a key, so every later replay of that key is the same.
    """

    def __init__(
        self, path: Path, key: str = "backend.cache", busy_timeout_s: float = 60.0
    ) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"call cache {path} cannot be opened ({exc}); pass {key}.path=<a "
                f"writable file> or {key}.mode=off"
            ) from exc
        self.score_hits = 0
        self.score_misses = 0

    def _select(self, query: str, keys: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``query`` (``... WHERE key IN ({marks})``) for the distinct keys, 500 a time."""
        unique = sorted(set(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            yield from self.db.execute(query.format(marks=",".join("?" * len(chunk))), chunk)

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        """The recorded completions of those keys that are present."""
        query = (
            "SELECT key, text, prompt_tokens, output_tokens, latency_s FROM calls "
            "WHERE key IN ({marks})"
        )
        return {
            str(key): Completion(str(text), int(n_prompt), int(n_out), float(latency))
            for key, text, n_prompt, n_out, latency in self._select(query, keys)
        }

    def put_many(self, rows: Sequence[tuple[str, str, str, str, Completion]]) -> None:
        """Record (key, backend, model, request JSON, completion) rows in one transaction."""
        now = time.time()
        values = [
            (k, b, m, r, c.text, c.prompt_tokens, c.output_tokens, c.latency_s, now)
            for k, b, m, r, c in rows
        ]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR IGNORE INTO calls VALUES (?,?,?,?,?,?,?,?,?)", values)

    def get_scores(self, keys: Sequence[str]) -> dict[str, float]:
        """The recorded scores of those keys that are present (see ``suite.engine.scores``)."""
        query = "SELECT key, score FROM scores WHERE key IN ({marks})"
        found = {str(key): float(score) for key, score in self._select(query, keys)}
        self.score_hits += len(found)
        self.score_misses += len(set(keys)) - len(found)
        return found

    def put_scores(self, rows: Sequence[tuple[str, str, str, float]]) -> None:
        """Record (key, task key, doc id, score) rows in one transaction; first writer wins."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT OR IGNORE INTO scores VALUES (?,?,?,?,?)", [(*r, now) for r in rows]
            )

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        self.db.close()


class CachedBackend(Backend):
    """Answers from the cache where it can and sends only the misses to the wrapped backend.

    Misses of one batch go to the inner backend as one batch; identical calls within it are
    sent once and share the answer, so what is recorded is exactly what the run saw.

    Args:
        inner: The backend that answers misses (closed by :meth:`close`).
        cache: The SQLite file.
        mode: ``readwrite`` (record misses) or ``read`` (replay only; a miss is an error).
    """

    name: ClassVar[str] = "cache"

    def __init__(
        self, inner: Backend, cache: CallCache, mode: str, key: str = "backend.cache"
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.mode = mode
        self.key = key
        self.hits = 0
        self.misses = 0
        self.inner_calls = 0
        self._identity: dict[str, Mapping[str, Any]] = {}
        self._answered: list[tuple[int, Completion]] = []  # hits not yet collected
        self._waiting: dict[str, list[int]] = {}  # key in flight -> the tickets it answers
        self._asked: dict[int, tuple[str, str, str]] = {}  # inner ticket -> key, model, request
        # A wrapper must answer ``simulated`` as what it wraps (a class attribute elsewhere).
        setattr(self, "simulated", inner.simulated)  # noqa: B010
        setattr(self, "streams", inner.streams)  # noqa: B010

    @classmethod
    def create(cls, options: Mapping[str, Any], env: Any) -> Backend:
        """Not built from config directly: :func:`wrap` builds it around a backend."""
        raise ConfigError("the call cache wraps a backend: set backend.cache.mode instead")

    def _key(self, model: str, call: NodeCall) -> tuple[str, str]:
        if model not in self._identity:
            self._identity[model] = model_identity(self.inner, model)
        request = request_of(call, self.inner.simulated)
        key = call_key(self.inner.name, self._identity[model], request)
        return key, json.dumps(request, sort_keys=True)

    def generate(self, model: str, calls: Sequence[NodeCall]) -> list[Completion]:
        """Answer ``calls`` in order: hits from the file, misses from the inner backend."""
        keyed = [self._key(model, c) for c in calls]
        found = self.cache.get_many([k for k, _ in keyed])
        todo: dict[str, int] = {}  # first index of each missing key
        for i, (key, _) in enumerate(keyed):
            if key not in found and key not in todo:
                todo[key] = i
        self.hits += sum(1 for k, _ in keyed if k in found)
        self.misses += len(calls) - sum(1 for k, _ in keyed if k in found)
        if todo and self.mode == "read":
            raise self._read_miss(model, calls[next(iter(todo.values()))])
        if todo:
            fresh = self.inner.generate(model, [calls[i] for i in todo.values()])
            self.inner_calls += len(todo)
            rows = []
            for (key, i), completion in zip(todo.items(), fresh, strict=True):
                found[key] = completion
                rows.append((key, self.inner.name, model, keyed[i][1], completion))
            self.cache.put_many(rows)
        return [found[k] for k, _ in keyed]

    def submit(self, model: str, calls: Sequence[tuple[int, NodeCall]]) -> None:
        """Answer hits at once; send misses to the inner backend, one request per distinct key.

        An identical call already in flight shares that request's answer. Nothing reaches
        the inner backend while every call hits, so a full replay starts no engine or server.
        """
        keyed = [self._key(model, c) for _, c in calls]
        found = self.cache.get_many([k for k, _ in keyed])
        fresh: list[tuple[int, NodeCall]] = []
        for (ticket, call), (key, request) in zip(calls, keyed, strict=True):
            if key in found:
                self.hits += 1
                self._answered.append((ticket, found[key]))
                continue
            self.misses += 1
            if key in self._waiting:
                self._waiting[key].append(ticket)
                continue
            if self.mode == "read":
                raise self._read_miss(model, call)
            inner_ticket = self.inner_calls
            self.inner_calls += 1
            self._waiting[key] = [ticket]
            self._asked[inner_ticket] = (key, model, request)
            fresh.append((inner_ticket, call))
        if fresh:
            self.inner.submit(model, fresh)

    def collect(self) -> list[tuple[int, Completion]]:
        """Hits first; then what the inner backend finished, recorded in one transaction.

        Over a backend that answers whole batches, the hits and the inner batch come back
        together, so its batches hold exactly the misses of one round, as without the cache.
        """
        out, self._answered = self._answered, []
        if not self._asked or (out and self.inner.streams):
            return out
        rows = []
        for inner_ticket, completion in self.inner.collect():
            key, model, request = self._asked.pop(inner_ticket)
            rows.append((key, self.inner.name, model, request, completion))
            out.extend((ticket, completion) for ticket in self._waiting.pop(key))
        if rows:
            self.cache.put_many(rows)
        return out

    def cancel(self) -> None:
        """Forget the calls in flight and cancel the inner backend's."""
        self._answered, self._waiting, self._asked = [], {}, {}
        self.inner.cancel()

    def _read_miss(self, model: str, call: NodeCall) -> BackendError:
        return BackendError(
            f"call cache {self.cache.path} has no answer for model {model} (question "
            f"{call.doc_id}, node {call.node_id}) and {self.key}.mode=read; rerun with "
            f"{self.key}.mode=readwrite to record it"
        )

    def describe(self) -> dict[str, object]:
        """The inner backend's description plus the cache's mode, file and counters."""
        stats = {
            "mode": self.mode,
            "path": str(self.cache.path),
            "hits": self.hits,
            "misses": self.misses,
            "backend_calls": self.inner_calls,
            "scores": {"hits": self.cache.score_hits, "misses": self.cache.score_misses},
        }
        return {**self.inner.describe(), "cache": stats}

    def cache_identity(self, model: str) -> Mapping[str, Any]:
        """The wrapped backend's identity of ``model``."""
        return model_identity(self.inner, model)

    def close(self) -> None:
        """Close the inner backend, then the file."""
        try:
            self.inner.close()
        finally:
            self.cache.close()


def parse_options(options: Any, key: str = "backend.cache") -> tuple[str, Path | None]:
    """Validate ``backend.cache`` (or ``key``): ``{mode: readwrite|read|off, path: null|<file>}``.

    Raises:
        ConfigError: on an unknown key or mode, in one line.
    """
    if options is None:
        return "off", None
    if not isinstance(options, Mapping):
        raise ConfigError(
            f"{key} must be a mapping like {{mode: readwrite, path: null}}, got {options!r}"
        )
    for name in options:
        if name not in ("mode", "path"):
            hint = did_you_mean(str(name), ["mode", "path"])
            raise ConfigError(f"unknown config key '{key}.{name}'; {hint}")
    raw = options.get("mode", "readwrite")
    mode = "off" if raw is False else str(raw)
    if mode not in MODES:
        raise ConfigError(
            f"{key}.mode must be one of {', '.join(MODES)}, got {raw!r}; "
            f"{did_you_mean(mode, list(MODES))}"
        )
    path = options.get("path")
    return mode, (Path(str(path)).expanduser() if path else None)


def wrap(backend: Backend, options: Any, key: str = "backend.cache") -> Backend:
    """Wrap ``backend`` in the call cache that ``backend.cache`` (or ``key``) asks for.

    ``off`` returns the backend unchanged.
    """
    mode, path = parse_options(options, key)
    if mode == "off":
        return backend
    return CachedBackend(backend, CallCache(path or default_path(), key), mode, key)
