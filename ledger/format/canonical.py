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


_SAFE_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    """True when ``json.dumps`` writes exactly RFC 8785 for this value: ASCII keys (so code
    point order is UTF-16 order), no fractional numbers, integers within ±(2**53 - 1)."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


def canonical_bytes(value: Any, *, limit: int | None = MAX_ENTRY_BYTES) -> bytes:
    """Return the RFC 8785 canonical encoding of ``value``, enforcing the size limit.

    Plain values (see ``_plain``) are written by ``json.dumps``, whose output is then exactly
    RFC 8785 (same escapes, same member order, same integers) at a sixth of the cost; anything
    else goes through the ``rfc8785`` package. A property test pins the two together.
    """
    data: bytes | None = None
    if _plain(value):
        try:
            data = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
        except UnicodeEncodeError:
            data = None  # lone surrogates: let rfc8785 say what is wrong
    if data is None:
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
