r"""Answer extraction for the MATH entries: lm-eval's own ``\boxed{}`` parser, and the paper's.

Imports lm_eval and the stdlib only (data, not a package).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# lm-eval's hendrycks_math helpers (brace-matching \boxed parser); a namespace-package import
_HENDRYCKS = importlib.import_module("lm_eval.tasks.hendrycks_math.utils")
PAPER_BOXED = re.compile(r"\\boxed{([^}]*)}")  # PAPER.md §2: stops at the first "}"
INVALID = "[invalid]"


def last_boxed(resps: list[list[str]], docs: list[dict[str, Any]]) -> list[list[str]]:
    r"""Custom filter: the content of the last ``\boxed{...}``, else ``[invalid]``.

    Nested braces are kept (lm-eval's brace-matching parser); the built-in ``hendrycks_math``
    ``process_results`` then compares it with the reference after its string normalisation.
    """
    return [[_last_boxed(text) for text in group] for group in resps]


def _last_boxed(text: str) -> str:
    boxed = _HENDRYCKS.last_boxed_only_string(text)
    if boxed is None:
        return INVALID
    try:
        return str(_HENDRYCKS.remove_boxed(boxed))
    except AssertionError:  # an unclosed \boxed{ at the end of the text
        return INVALID


def paper_target(doc: dict[str, Any]) -> str:
    r"""The paper's gold answer: the first ``\boxed{...}`` of the reference, cut at its first ``}``.

    PAPER.md §2; compared with the prediction by plain string equality.
    """
    found = PAPER_BOXED.findall(doc["solution"])
    return str(found[0]) if found else INVALID
