"""JSON documents from outside, read strictly: one meaning for every text, or a refusal.

``json.loads`` alone lets the last of two equal keys win (a proxy that keeps the first would
read another document), raises ``RecursionError`` on deep nesting and ``ValueError`` on integers
longer than Python's digit limit, and accepts ``NaN`` and U+0000, which PostgreSQL cannot store.
``loads`` refuses all of these with ``JsonRefused``, whose message says why. (Lone surrogates
are left to the canonical encoding, which refuses them: ``ledger.format.canonical``.)
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64
"""Most nested arrays and objects in a document."""
MAX_INT_DIGITS = 64
"""Most digits of an integer read at all (Python's own limit is 4,300 and converting is
quadratic). Integers beyond 2**53 that are read are refused later, by the canonical encoding."""


class JsonRefused(ValueError):
    """The text is not a JSON document the ledger accepts."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonRefused(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("a number is out of range")
    return value


def _constant(text: str) -> Any:
    raise JsonRefused(f"{text} is not JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonRefused(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return value


def check(value: Any) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and U+0000 in any key or string. Iterative: no
    recursion to blow up."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise JsonRefused("a string holds U+0000 (NUL), which cannot be stored")
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise JsonRefused(f"the document is nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((k, depth) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text`` (bytes must be UTF-8), or ``JsonRefused`` (also for text that
    is not JSON)."""
    try:
        value = json.loads(
            text.decode() if isinstance(text, bytes) else text,
            object_pairs_hook=_object,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except RecursionError as exc:
        raise JsonRefused(f"the document is nested deeper than {MAX_DEPTH} levels") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonRefused(f"not JSON: {exc}") from exc
    check(value)
    return value
