"""The hash chain over a log's leaves.

``chain_0 = SHA-256(CHAIN_TAG || GENESIS || leaf_0)``, and in general
``chain_i = SHA-256(CHAIN_TAG || chain_{i-1} || leaf_i)`` with ``chain_{-1} = GENESIS``
(32 zero bytes). ``leaf_i`` is the RFC 9162 leaf hash of entry ``i``. A receipt's chain
value therefore commits to every entry of the log up to and including its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

CHAIN_TAG = b"ballot-ledger/chain/v1\x00"
"""Domain separation tag: the 22 ASCII bytes ``ballot-ledger/chain/v1`` and one zero byte."""

GENESIS = bytes(32)
"""The chain value before the first entry: 32 zero bytes."""


def chain_next(previous: bytes, leaf: bytes) -> bytes:
    """The chain value after appending the leaf hash ``leaf`` to a chain at ``previous``."""
    return hashlib.sha256(CHAIN_TAG + previous + leaf).digest()


def chain_fold(leaves: Iterable[bytes], start: bytes = GENESIS) -> bytes:
    """The chain value after appending every leaf hash in ``leaves`` to ``start``."""
    value = start
    for leaf in leaves:
        value = hashlib.sha256(CHAIN_TAG + value + leaf).digest()
    return value
