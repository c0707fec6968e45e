"""Checks on what a run folder says before it reaches a published page (pages, CSV, LaTeX, SVG).

Fields must have the right type and be finite; names must be plain; free text is made markup-free.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# Names a run folder gives (task, backend, pool, searcher, models) are published in markdown,
# HTML, CSV, LaTeX and SVG; a run folder can arrive in a pull request, so only plain names are
# read: letters and digits first (no CSV formula), then no markup, quote, dollar or newline.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+/-]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:;=()+/%-]")
_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def plain(text: str) -> str:
    """Text safe in every output format: characters that are markup anywhere become ``?``."""
    out = _UNSAFE.sub("?", text)
    return "'" + out if out[:1] in ("=", "+", "-", "@") else out


def display(text: str) -> str:
    """A free-form label as written, for the writers to escape, minus what escaping misses.

    Line breaks (they end a table row) become spaces, a leading ``= + - @`` (a CSV formula)
    gets a quote, and ``](`` (a markdown link's target, e.g. ``javascript:``) a space.
    """
    out = _BREAKS.sub(" ", text).replace("](", "] (")
    return "'" + out if out[:1] in ("=", "+", "-", "@") else out


def finite(value: Any, name: str) -> float:
    """A float that is a real number (a NaN accuracy would turn its whole group's rank NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} is {value!r}, not a finite number")
    return number


def whole(value: Any, name: str) -> int:
    """An integer field; its name, not its value, goes into the reason."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not an integer") from None


def check_names(record: Mapping[str, Any], keys: tuple[str, ...], pattern: re.Pattern[str]) -> None:
    """Refuse a record whose names could carry markup into a published page.

    Raises:
        ValueError: naming the field (never its value, which is not safe to print).
    """
    for key in keys:
        value = record.get(key)
        if value is not None and (not isinstance(value, str) or not pattern.fullmatch(value)):
            raise ValueError(f"{key} is not a plain name (letters, digits, _ . : + / -)")


def check_graph_models(graph: Any) -> None:
    """Refuse a graph whose model names are not plain (they are drawn and listed)."""
    if not isinstance(graph, Mapping):
        raise TypeError("graph is not an object")
    nodes = graph.get("nodes") or []
    models = [graph.get("final_model"), *(n.get("model") for n in nodes if isinstance(n, Mapping))]
    for model in models:
        if not isinstance(model, str) or not NAME.fullmatch(model):
            raise ValueError("a model name in the graph is not a plain name")
    for node in nodes:
        if not isinstance(node, Mapping) or not NAME.fullmatch(str(node.get("id", ""))):
            raise ValueError("a node id in the graph is not a plain name")
