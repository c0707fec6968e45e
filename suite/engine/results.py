"""ResultsStore: one folder per run with config.yaml, trials.jsonl (append-only) and final.json.

Every record carries the schema version, config digest, backend and model names; final.json is
written atomically, so a reader never sees half a file. Also finds a sweep cell's run folders.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from suite.core.errors import ConfigError, DataError, InfeasibleGraphError
from suite.core.graph import CollabGraph
from suite.core.io import iter_jsonl, storage_error, write_atomic

SCHEMA_VERSION = 1
_PACKAGES = ("tts-graph-bench", "numpy", "lm_eval", "hydra-core", "omegaconf")


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def check_writable(folder: Path) -> None:
    """Make the folder (and parents) and prove a file can be written there.

    Raises:
        ConfigError: naming the folder and how to choose another.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"results folder {folder} is not writable ({exc.strerror or exc}); "
            "pass results_dir=<a writable folder>"
        ) from exc


def cell_runs(parent: Path, seed: int, config_digest: str) -> list[tuple[Path, dict[str, Any]]]:
    """The run folders of one sweep cell with their final.json records, oldest first.

    A cell is one experiment (config digest) and seed; its runs are the folders
    ``<parent>/<stamp>-s<seed>`` (``parent`` is ``<results_dir>/<task>/<searcher>``) whose
    final.json is readable and carries that digest, whatever its status.
    """
    out: list[tuple[Path, dict[str, Any]]] = []
    for final in sorted(parent.glob(f"*-s{seed}/final.json")):
        try:
            record = json.loads(final.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("config_digest") == config_digest:
            out.append((final.parent, record))
    return out


def resumable_run(parent: Path, config_digest: str, seed: int) -> Path | None:
    """The newest unfinished run folder of the same experiment that holds a checkpoint.

    Folders whose lock is held by a live process are skipped, so two identical commands
    started together never share a folder.
    """
    for run_dir, record in cell_runs(parent, seed, config_digest)[::-1]:  # newest first
        if record.get("status") == "completed" or not (run_dir / "checkpoint.json").exists():
            continue
        if not is_locked(run_dir):
            return run_dir
    return None


def load_graph(spec: str) -> CollabGraph:
    """A graph from ``single:<model>``, a graph JSON file or a run's final.json (its ``graph``).

    Raises:
        DataError: the file is missing or not JSON, or is a final.json that holds no graph.
        InfeasibleGraphError: the JSON is not a collaboration graph.
    """
    if spec.startswith("single:"):
        return CollabGraph.single(spec.removeprefix("single:"))
    path = Path(spec)
    if not path.is_file():
        raise DataError(f"graph file {path} does not exist; pass graph=<file> or single:<model>")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"graph file {path} is not valid JSON ({exc})") from exc
    if isinstance(data, dict) and "nodes" not in data:  # a run's final.json
        if "graph" not in data:
            raise DataError(f"{path} holds no graph (status: {data.get('status', 'unknown')})")
        data = data["graph"]
    if not isinstance(data, dict):
        raise InfeasibleGraphError("graph JSON must be an object")
    return CollabGraph.from_dict(data)


def lock(run_dir: Path) -> Any:
    """Hold an exclusive lock on a run folder for this process's lifetime (returns the handle)."""
    handle = (run_dir / ".lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise ConfigError(f"run folder {run_dir} is in use by another process") from exc
    return handle


def claim_cell(parent: Path, seed: int, config_digest: str) -> Any | None:
    """Claim one sweep cell (experiment digest and seed) for this process, or None if taken.

    Two sweeps over the same results root, started together, split their common cells this
    way: the holder runs the cell, the other process skips it. The claim is an exclusive lock
    on a hidden file beside the cell's run folders, released when the handle is closed or the
    process dies (so a killed sweep's cells can be claimed again).
    """
    parent.mkdir(parents=True, exist_ok=True)
    handle = (parent / f".claim-s{seed}-{config_digest}").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def is_locked(run_dir: Path) -> bool:
    """True while another process holds the run folder's lock."""
    path = run_dir / ".lock"
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


class ResultsStore:
    """The files of one run folder.

    Call order: :meth:`start` (config.yaml and a ``running`` final.json), any number of
    :meth:`append_trial`, then :meth:`finish` (final.json with ``completed`` or ``failed``).

    Args:
        run_dir: The run folder (created if needed).
        header: Fields stamped on every record (schema, config digest, backend, models).
    """

    def __init__(self, run_dir: Path, header: Mapping[str, Any]) -> None:
        check_writable(run_dir)
        self.run_dir = run_dir
        self.header = {"schema_version": SCHEMA_VERSION, **header}
        self.trials_path = run_dir / "trials.jsonl"
        self.final_path = run_dir / "final.json"

    def start(self, config_yaml: str) -> None:
        """Write the resolved config and mark the run as running."""
        write_atomic(self.run_dir / "config.yaml", config_yaml)
        self.finish({"status": "running"})

    def append_trial(self, record: Mapping[str, Any]) -> None:
        """Append one trial line and push it to disk before returning."""
        line = json.dumps({**self.header, **record}, sort_keys=True)
        try:
            with self.trials_path.open("a", encoding="utf-8") as handle:
                start = handle.tell()
                try:
                    handle.write(line + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                except OSError:
                    handle.truncate(start)  # never leave half a line behind
                    raise
        except OSError as exc:
            raise storage_error(self.trials_path, exc) from exc

    def checkpoint(self, state: Mapping[str, Any]) -> None:
        """Save the state a resume needs, atomically; ``state["trials"]`` counts lines kept."""
        write_atomic(self.run_dir / "checkpoint.json", json.dumps(state, sort_keys=True))

    def read_checkpoint(self) -> dict[str, Any] | None:
        """The last checkpoint, or None when the run never finished an iteration."""
        path = self.run_dir / "checkpoint.json"
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def keep_trials(self, n: int) -> list[dict[str, Any]]:
        """Cut trials.jsonl to its first ``n`` lines (drops work after the last checkpoint)."""
        if not self.trials_path.exists():
            return []
        text = self.trials_path.read_text(encoding="utf-8")
        kept = list(itertools.islice(iter_jsonl(text), n))  # a torn line after them is not read
        write_atomic(self.trials_path, "".join(line.text + "\n" for line in kept))
        return [line.value for line in kept]

    def finish(self, record: Mapping[str, Any]) -> None:
        """Write final.json atomically (``status`` says whether the run completed)."""
        body = {**self.header, "package_versions": package_versions(), **record}
        write_atomic(self.final_path, json.dumps(body, indent=2, sort_keys=True) + "\n")
