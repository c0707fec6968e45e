"""The suite's error family: every user-facing failure is a SuiteError with a one-line message.

The CLI prints ``str(error)`` on one line and exits with code 2; nothing else reaches the user.
"""

from __future__ import annotations

import difflib


class SuiteError(Exception):
    """Root of every error the suite reports to a user (one line, says what to do next)."""

    exit_code = 2


class ConfigError(SuiteError):
    """A config name, value or override is wrong; the message lists the closest valid choices."""


class InfeasibleGraphError(SuiteError):
    """A graph breaks a structural rule (cycle, no path to ``final``, role rules) or the budget."""


class BudgetExceeded(SuiteError):
    """A metered budget (evaluations, FLOPs) would be exceeded; the loop stops cleanly."""


class BackendError(SuiteError):
    """A backend call failed after its retries; the message names the model and endpoint."""


class ProposalParseError(SuiteError):
    """An LLM proposal is not a valid graph (retried, then a recorded fallback)."""


class ForeignScriptError(ProposalParseError):
    """An LLM reply is written (partly) in a non-Latin script; the paper then drops the history."""


class StorageError(SuiteError):
    """Results cannot be written (disk full, permissions); what was written stays valid."""


class DataError(SuiteError):
    """A data file is missing or corrupt; the message names the file and how to rebuild it."""


def did_you_mean(name: str, choices: list[str]) -> str:
    """``did you mean 'x'?`` text listing the closest choices, or all of them (for ConfigError)."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return "choose one of: " + ", ".join(choices)


def one_line(error: BaseException) -> str:
    """Return an error's message folded onto one line, prefixed with ``error:``."""
    text = " ".join(str(error).split()) or type(error).__name__
    return f"error: {text}"
