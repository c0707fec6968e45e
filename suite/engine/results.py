"""ResultsStore: one folder per run with config.yaml, trials.jsonl (append-only) and final.json.

Every record carries the schema version, config digest, backend and model names; final.json is
written atomically, so a reader never sees half a file. Also finds a sweep cell's run folders.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from suite.core.errors import ConfigError, DataError, InfeasibleGraphError
from suite.core.graph import CollabGraph
from suite.core.io import read_jsonl_prefix, storage_error, write_atomic

SCHEMA_VERSION = 1
_PACKAGES = ("tts-graph-bench", "numpy", "lm_eval", "hydra-core", "omegaconf")
_MAX_GRAPH_BYTES = 1 << 20  # far above any graph a budget allows
_MAX_GRAPH_NODES = 1000  # likewise; a 10,000-node graph took 40 s to reject
_CHECKPOINT_PARTS = ("searcher", "stream", "meter")
# command-line values under these words are credentials: final.json records them as "***"
_SECRET = re.compile(r"^([^=]*(key|token|secret|password)[^=]*=).*$", re.IGNORECASE)
_ROOT = Path(__file__).resolve().parents[2]


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance() -> dict[str, Any]:
    """The command line (credentials masked) and the git commit of the suite's checkout, if any."""
    args = [
        _SECRET.sub(r"\1***", arg)
        for arg in sys.argv[1:]
        if not arg.lstrip("+").startswith("hydra.job.env_set.")  # added by the sweep, not typed
    ]
    command = shlex.join(["python", "-m", _module_name(), *args])
    try:
        done = subprocess.run(
            ["git", "-C", str(_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        commit = done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):  # no git installed: the commit is unknown
        commit = None
    return {"command": command, "git_commit": commit}


def _module_name() -> str:
    """The ``python -m`` module that is running (``suite.run`` for the shim's path)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


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


def damage(run_dir: Path) -> str | None:
    """Why a run folder cannot be resumed as it is, or None when checkpoint and trials agree.

    Damaged: a ``.lock`` that is not a file, a checkpoint.json that is not a readable UTF-8
    JSON checkpoint, or fewer valid trial lines than the checkpoint counts (truncated, deleted
    or corrupted trials.jsonl).
    """
    path = run_dir / ".lock"
    if path.exists() and not path.is_file():
        return ".lock is not a file"
    try:
        ckpt = json.loads((run_dir / "checkpoint.json").read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        return f"checkpoint.json is unreadable ({type(exc).__name__})"
    n = ckpt.get("trials") if isinstance(ckpt, dict) else None
    if (
        type(n) is not int
        or n < 0
        or not all(isinstance(ckpt.get(k), dict) for k in _CHECKPOINT_PARTS)
    ):
        return "checkpoint.json is not a checkpoint"
    valid = len(_trial_prefix(run_dir / "trials.jsonl", n))
    if valid < n:
        return f"trials.jsonl has {valid} valid lines where the checkpoint counts {n}"
    return None


def set_aside(run_dir: Path, why: str, moved_to: Path) -> None:
    """Retire a damaged run folder: it keeps every file, and is never resumed again.

    checkpoint.json becomes checkpoint.damaged.json (what resumes look for is gone) and a
    readable final.json says ``failed`` and why.
    """
    ckpt = run_dir / "checkpoint.json"
    try:
        ckpt.replace(run_dir / "checkpoint.damaged.json")
    except OSError as exc:
        raise storage_error(ckpt, exc) from exc
    try:
        record = json.loads((run_dir / "final.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return  # an unreadable final.json already keeps the folder out of every resume
    if isinstance(record, dict):
        record.update(status="failed", reason=f"damaged ({why}); restarted in {moved_to}")
        write_atomic(run_dir / "final.json", json.dumps(record, indent=2, sort_keys=True) + "\n")


def _trial_prefix(path: Path, n: int) -> list[dict[str, Any]]:
    """The first valid trial records of trials.jsonl (objects with a numeric reward), at most n."""
    out = []
    for line in read_jsonl_prefix(path, n):
        value = line.value
        if not isinstance(value, dict) or not isinstance(value.get("reward"), int | float):
            break
        out.append(value)
    return out


def load_graph(spec: str) -> CollabGraph:
    """A graph from ``single:<model>``, a graph JSON file or a run's final.json (its ``graph``).

    Raises:
        DataError: the path is missing or not a regular file, too large, not UTF-8 JSON, or a
            final.json that holds no graph.
        InfeasibleGraphError: the JSON is not a collaboration graph (or one far too large).
    """
    if spec.startswith("single:"):
        return CollabGraph.single(spec.removeprefix("single:"))
    path = Path(spec)
    if not path.exists():
        raise DataError(f"graph file {path} does not exist; pass graph=<file> or single:<model>")
    if not path.is_file():  # a folder, /dev/zero, a pipe: reading it would fail or never end
        raise DataError(f"graph {path} is not a regular file; pass graph=<file> or single:<model>")
    if path.stat().st_size > _MAX_GRAPH_BYTES:
        raise DataError(f"graph file {path} is larger than {_MAX_GRAPH_BYTES} bytes")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = (
            "nested too deeply"
            if isinstance(exc, RecursionError)
            else "not UTF-8"
            if isinstance(exc, UnicodeDecodeError)
            else exc
        )
        raise DataError(f"graph file {path} is not valid JSON ({why})") from exc
    if isinstance(data, dict) and "nodes" not in data:  # a run's final.json
        if "graph" not in data:
            raise DataError(f"{path} holds no graph (status: {data.get('status', 'unknown')})")
        data = data["graph"]
    if not isinstance(data, dict):
        raise InfeasibleGraphError(f"{path}: graph JSON must be an object")
    nodes = data.get("nodes")
    if isinstance(nodes, list) and len(nodes) > _MAX_GRAPH_NODES:
        raise InfeasibleGraphError(f"{path}: {len(nodes)} nodes, more than any budget allows")
    try:
        return CollabGraph.from_dict(data)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:  # e.g. node id "n²"
        raise InfeasibleGraphError(f"{path}: not a collaboration graph (bad node id?)") from exc


def lock(run_dir: Path) -> Any:
    """Hold an exclusive lock on a run folder for this process's lifetime (returns the handle)."""
    try:
        handle = (run_dir / ".lock").open("a")
    except OSError as exc:
        raise ConfigError(
            f"cannot lock run folder {run_dir} ({exc.strerror or exc}); remove {run_dir / '.lock'}"
        ) from exc
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
    if not path.is_file():  # missing, or damaged (a folder): nobody can hold it
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
        """The last checkpoint, or None when the run never finished an iteration.

        Call :func:`damage` first: this trusts the file.
        """
        path = self.run_dir / "checkpoint.json"
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def drop_stale_temporaries(self) -> None:
        """Remove half-written ``.*.tmp`` files a killed process left (call with the lock held)."""
        for tmp in self.run_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def keep_trials(self, n: int) -> list[dict[str, Any]]:
        """Cut trials.jsonl to its first ``n`` lines (drops work after the last checkpoint).

        Lines after them (a torn, damaged or non-UTF-8 line among them) are never read.
        """
        if not self.trials_path.exists():
            return []
        kept = read_jsonl_prefix(self.trials_path, n)
        write_atomic(self.trials_path, "".join(line.text + "\n" for line in kept))
        return [line.value for line in kept]

    def finish(self, record: Mapping[str, Any]) -> None:
        """Write final.json atomically (``status`` says whether the run completed)."""
        body = {**self.header, "package_versions": package_versions(), **record}
        write_atomic(self.final_path, json.dumps(body, indent=2, sort_keys=True) + "\n")


def completed_run(parent: Path, seed: int, digest: str) -> Path | None:
    """The newest completed run of this experiment (config digest) in the cell, if any."""
    done = [
        d for d, record in cell_runs(parent, seed, digest) if record.get("status") == "completed"
    ]
    return done[-1] if done else None


def drop_if_empty(run_dir: Path) -> None:
    """Remove a run folder that holds nothing (Hydra's, when another folder is used instead)."""
    if run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()


def drop_if_unused(run_dir: Path) -> None:
    """Remove a run folder that holds nothing but its lock (a run that failed before starting)."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".lock"}:
        (run_dir / ".lock").unlink(missing_ok=True)
        run_dir.rmdir()
