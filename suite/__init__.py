"""tts-graph-bench: a benchmark suite for test-time-compute collaboration-graph searchers."""

__version__ = "0.1.0"
