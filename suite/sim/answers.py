"""Deterministic, plausible wrong answers for the sim backend, one generator per answer kind.

The sim world picks answer ids (0 gold, 1..K distractors); these generators give each
question its K distractor answers as the task would state them: off-by-a-little numbers for
GSM8K, perturbed LaTeX for MATH, broken function bodies for HumanEval. Every generator is
endless and seeded by the question id, so the same question always gets the same answers.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

# Bodies that raise on every call, so both HumanEval scorers (full check and single assert)
# fail them; a numbered comment keeps the k-th and (k+4)-th variants distinct texts.
BROKEN_BODIES = (
    "    raise NotImplementedError\n",
    "    result = None\n    return result[0]\n",
    "    return helper(*locals().values())\n",
    "    assert False, 'this approach does not work'\n",
)
_FRACTION = re.compile(r"(-?)\\[dt]?frac\{(-?\d+)\}\{(\d+)\}")


def seed_of(doc_id: str) -> int:
    """A 64-bit seed from a question id."""
    return int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big")


def numbers(gold: str, seed: int) -> Iterator[str]:
    """Wrong numbers near ``gold``: small slips and factor errors first, then gold + k.

    Raises:
        ValueError: if ``gold`` is not a number.
    """
    value = _decimal(gold)
    if value is None:
        raise ValueError(f"not a number: {gold!r}")
    slips = [value + d for d in (1, -1, 2, -2, 3, -3, 5, -5, 10, -10)]
    factors = [value * 2, value / 2, value * 10, value / 10, -value]
    pool = slips + factors
    random.Random(seed).shuffle(pool)
    endless = (value + k for k in itertools.count(4))
    seen = {_format(value)}
    for candidate in itertools.chain(pool, endless):
        text = _format(candidate)
        if text not in seen and not (value >= 0 > candidate):
            seen.add(text)
            yield text


def latex(gold: str, seed: int) -> Iterator[str]:
    """Wrong answers in the shape of ``gold``: numbers, fractions, else digit and sign edits."""
    if _decimal(gold) is not None:
        yield from numbers(gold, seed)
        return
    fraction = _FRACTION.fullmatch(gold.replace(" ", ""))
    seen = {gold}
    if fraction:
        sign, top, bottom = fraction.groups()
        a, b = int(top), int(bottom)
        variants = [(a + 1, b), (a, b + 1), (b, a), (a - 1, b), (a, b - 1), (2 * a, b), (a, 2 * b)]
        for p, q in variants:
            text = f"{sign}\\frac{{{p}}}{{{q}}}"
            if q > 0 and text not in seen:
                seen.add(text)
                yield text
    edits = list(_digit_edits(gold))
    random.Random(seed).shuffle(edits)
    flipped = gold[1:] if gold.startswith("-") else f"-{gold}"
    for text in itertools.chain([flipped], edits, (f"{gold}+{k}" for k in itertools.count(1))):
        if text not in seen:
            seen.add(text)
            yield text


def code(prompt: str) -> Iterator[str]:
    """Broken completions of a HumanEval prompt (signature and docstring kept)."""
    for k in itertools.count():
        body = BROKEN_BODIES[k % len(BROKEN_BODIES)]
        note = f"    # attempt {k // len(BROKEN_BODIES) + 1}\n" if k >= len(BROKEN_BODIES) else ""
        yield prompt + note + body


def _digit_edits(text: str) -> Iterator[str]:
    for index, char in enumerate(text):
        if char.isdigit():
            for step in (1, 9):  # +1 and -1, modulo 10
                digit = str((int(char) + step) % 10)
                yield text[:index] + digit + text[index + 1 :]


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _format(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")
