"""Scores recorded in the call cache: a replay scores nothing with lm-eval, and recorded scores
are read only under the same task key."""

from suite.backends.base import Doc
from suite.backends.cache import CallCache
from suite.engine.scores import RecordedScores

DOCS = [Doc(f"q{i}", f"question {i}", {}) for i in range(3)]


class Scorer:
    """The task's scorer: 1.0 for an answer naming the question's number, counting its calls."""

    def __init__(self):
        self.seen = []

    def __call__(self, items):
        self.seen.extend(items)
        return [float(doc.doc_id[1:] in text) for doc, text in items]


def items():
    return [(DOCS[0], "0"), (DOCS[1], "7"), (DOCS[0], "0"), (DOCS[2], "2")]


def test_a_second_scorer_on_the_same_file_reads_every_score(tmp_path):
    path = tmp_path / "calls.sqlite"
    task = Scorer()
    first = RecordedScores(CallCache(path), "task-a", task, record=True)
    assert first(items()) == [1.0, 0.0, 1.0, 1.0]
    assert len(task.seen) == 3  # the repeated (question, text) is scored once
    again_task = Scorer()
    store = CallCache(path)
    again = RecordedScores(store, "task-a", again_task, record=True)
    assert again(items()) == [1.0, 0.0, 1.0, 1.0]
    assert again_task.seen == []
    assert (store.score_hits, store.score_misses) == (3, 0)


def test_scores_of_another_task_key_are_not_read(tmp_path):
    path = tmp_path / "calls.sqlite"
    RecordedScores(CallCache(path), "task-a", Scorer(), record=True)(items())
    other = Scorer()
    RecordedScores(CallCache(path), "task-b", other, record=True)(items())
    assert len(other.seen) == 3


def test_read_mode_scores_misses_and_records_nothing(tmp_path):
    path = tmp_path / "calls.sqlite"
    task = Scorer()
    reader = RecordedScores(CallCache(path), "task-a", task, record=False)
    assert reader(items()) == [1.0, 0.0, 1.0, 1.0]
    later = Scorer()
    RecordedScores(CallCache(path), "task-a", later, record=False)(items())
    assert len(later.seen) == 3  # nothing was written for it to read
