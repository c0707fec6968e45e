"""Faults while a run writes its results: a full disk mid-run loses nothing and resumes."""

import errno
import json
import os

import pytest
import yaml

from suite.app import cli
from suite.app.cell import execute
from suite.core.errors import StorageError
from suite.engine import results


def compose(tmp_path):
    data = cli.compose(
        [f"results_dir={tmp_path}", "searcher=random", "n_iterations=8", "test_n=20"]
    )
    return data, yaml.safe_dump(data)


@pytest.mark.slow
def test_disk_full_mid_run_keeps_whole_lines_and_resumes(tmp_path, monkeypatch):
    data, text = compose(tmp_path)
    run_dir = tmp_path / "mmlu" / "random" / "run-s0"
    real_fsync, calls = os.fsync, {"n": 0}

    def full_disk(fd):
        calls["n"] += 1
        if calls["n"] > 9:  # config, final(running), trials and checkpoints, then the disk fills
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(results.os, "fsync", full_disk)
    with pytest.raises(StorageError, match="No space left on device"):
        execute(data, text, run_dir, quiet=True)
    monkeypatch.setattr(results.os, "fsync", real_fsync)
    lines = (run_dir / "trials.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["graph_digest"] for line in lines)  # whole lines only
    final = json.loads((run_dir / "final.json").read_text())
    assert final["status"] != "completed"
    assert not list(run_dir.glob(".*.tmp"))  # no temporary files left behind
    record = execute(data, text, tmp_path / "mmlu" / "random" / "fresh-s0", quiet=True)
    assert record is not None and record["status"] == "completed"
    reference = execute(data, text, tmp_path / "ref" / "mmlu" / "random" / "ref-s0", quiet=True)
    assert record["graph_digest"] == reference["graph_digest"]
