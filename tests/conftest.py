"""Every test runs offline. The helpers the test files share are plain functions in
tests/helpers (imported as ``helpers``: pyproject puts tests/ on the path), not copies."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
