"""Strict decoding of the byte strings the log format publishes as text (docs/log-format.md).

Keys, signatures, roots and hashes are parsed here and nowhere else. Each byte string has
exactly one accepted spelling, the one the ledger writes, so that two different texts never
verify as the same checkpoint, key or receipt:

- base64 (RFC 4648 §4, standard alphabet, with padding) is *canonical*: only the alphabet and
  the padding, no white space, and the unused low bits of the last character zero (RFC 4648
  §3.5). ``base64.b64decode(validate=True)`` accepts non-zero padding bits, so the decoded
  bytes are re-encoded and compared with the text;
- hex is lower case, two digits a byte, nothing else (``bytes.fromhex`` also takes upper
  case and white space);
- when the caller knows the length (32 bytes for a hash or root or public key, 64 for a
  signature), any other length is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ledger.errors import DecodeError

_HEX = re.compile(r"[0-9a-f]*")


def _check_length(raw: bytes, length: int | None, what: str) -> bytes:
    if length is not None and len(raw) != length:
        raise DecodeError(f"{what} is not {length} bytes", length=len(raw))
    return raw


def b64_strict(text: Any, length: int | None = None, *, what: str = "value") -> bytes:
    """The bytes of canonical standard base64 ``text``, of ``length`` bytes if given.

    Raises ``DecodeError`` for anything but the exact text ``base64.b64encode`` writes for
    those bytes (missing or extra padding, white space, another alphabet, non-zero padding
    bits, a non-string)."""
    if not isinstance(text, str) or not text.isascii():
        raise DecodeError(f"{what} is not base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise DecodeError(f"{what} is not base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise DecodeError(f"{what} is not canonical base64 (non-zero padding bits)")
    return _check_length(raw, length, what)


def hex_strict(text: Any, length: int | None = None, *, what: str = "value") -> bytes:
    """The bytes of lower-case hex ``text`` (two digits a byte), of ``length`` bytes if given.

    Raises ``DecodeError`` for upper case, white space, an odd number of digits or a
    non-string."""
    if not isinstance(text, str) or len(text) % 2 or not _HEX.fullmatch(text):
        raise DecodeError(f"{what} is not lower-case hex")
    return _check_length(bytes.fromhex(text), length, what)
