"""Canonical entry bytes: RFC 8785 JSON Canonicalization Scheme (JCS).

The bytes that are hashed into the log are exactly ``rfc8785.dumps(value)``: UTF-8, object
members sorted by their UTF-16 code units, no insignificant white space, numbers in the
ECMAScript shortest form. Entries are limited to ``MAX_ENTRY_BYTES``. Entries carry only
integers (no fractional numbers), so every language's JCS implementation agrees on them.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from ledger.errors import EncodingError, EntryTooLarge

MAX_ENTRY_BYTES = 64 * 1024
"""An entry's canonical encoding may be at most 65,536 bytes."""


def canonical_bytes(value: Any, *, limit: int | None = MAX_ENTRY_BYTES) -> bytes:
    """Return the RFC 8785 canonical encoding of ``value``, enforcing the size limit."""
    try:
        data = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EncodingError(f"not canonicalisable JSON: {exc}") from exc
    if limit is not None and len(data) > limit:
        raise EntryTooLarge(size=len(data), limit=limit)
    return data


def _no_float(text: str) -> float:
    raise _HasFloat


class _HasFloat(Exception):
    pass


def parse_canonical(data: bytes) -> Any:
    """Parse entry bytes and check that they are exactly the canonical form of their value.

    Fast path: for ASCII entries without fractional numbers, RFC 8785 output is exactly what
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` writes (keys are
    ASCII, so code-point order is UTF-16 order; the escapes are the same; integers print the
    same). Anything else is re-encoded with the ``rfc8785`` package and compared.
    """
    if data.isascii():
        try:
            value = json.loads(data, parse_float=_no_float, parse_constant=_no_float)
        except _HasFloat:
            value = None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EncodingError(f"entry is not UTF-8 JSON: {exc}") from exc
        else:
            fast = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            if fast.encode() == data:
                return value
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EncodingError(f"entry is not UTF-8 JSON: {exc}") from exc
    again = canonical_bytes(value, limit=None)
    if again != data:
        raise EncodingError("entry bytes are not in RFC 8785 canonical form")
    return value
