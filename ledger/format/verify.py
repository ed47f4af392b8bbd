"""Hashes and proofs of an export file, verified fast and on every core.

What it proves, with no trust in the server (docs/log-format.md §3-§7):

- every entry line's ``leaf_hash`` is the RFC 9162 leaf hash of the entry's exact bytes;
- every ``chain_hash`` is ``SHA-256(CHAIN_TAG || chain_{i-1} || leaf_i)``, from ``GENESIS``;
- the indices run ``0 … n-1`` and ``n`` is the header's size;
- every checkpoint note is signed by a trusted ledger key and its root is the Merkle root of
  the first ``size`` leaves.

It does not read the events (``ballot audit`` without ``--hashes-only`` does: schemas, phases,
commitments, the recount). The core is pure: :func:`check_lines` folds a run of entry lines
into a :class:`Span` (its first and last links and the right edge of its Merkle subtrees), and
:func:`join` checks the links between spans and every checkpoint root. The shell,
``ballot.verify.verify_export``, cuts the file into one byte range per process and joins
their spans.

Why spans can be checked apart: a chain link needs only the published chain value of the
line before, and every link is checked once, so the published values are the computed ones by
induction; the first link of a span is checked by :func:`join`. The Merkle tree of a span
``[a, b)`` is kept as its aligned perfect subtrees; pushing them after the subtrees of
``[0, a)``, merging equal-sized aligned siblings, gives the subtrees of ``[0, b)``, whose
right-to-left fold is the RFC 9162 root.

Speed: an entry line written by ``ledger.format.export.entry_line`` whose entry text has no escape
but ``\\"`` is sliced, not parsed, and unescaped with one ``replace``; any other line is
parsed with ``json`` (same result, slower).
"""

from __future__ import annotations

import hashlib
import json
from binascii import hexlify
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ledger.errors import DecodeError, LedgerError
from ledger.format.chain import CHAIN_TAG, GENESIS
from ledger.format.encoding import hex_strict
from ledger.format.merkle import EMPTY_ROOT, node_hash

_PREFIX = b'{"kind":"entry","index":'
_ENTRY = b',"entry":"'
_LEAF = b'","leaf_hash":"'
_CHAIN = b'","chain_hash":"'
_TAIL = len(_LEAF) + 64 + len(_CHAIN) + 64 + len(b'"}')
_DROP = bytes(range(32)) + b"\\"  # control bytes, and the backslash of each \"
BLOCK = 256 << 10  # bytes read at a time: its lines stay in the CPU cache while checked
CHUNKS_PER_JOB = 4


class VerifyError(LedgerError):
    """The export does not verify: which line or size, and what differs."""


@dataclass(slots=True)
class Span:
    """What a run of consecutive entry lines proved, and what it leaves to :func:`join`."""

    first: int  # index of the first entry
    size: int = 0  # entries in the span
    first_leaf: bytes = b""
    first_chain: bytes = b""  # published chain value of the first entry (its link unchecked)
    last_chain: bytes = b""
    edge: list[tuple[int, bytes]] = field(default_factory=list)  # (level, hash), left to right
    at: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)  # size -> edge then


def _parsed_entry(line: bytes, index: int) -> tuple[bytes, bytes, bytes]:
    """``(entry bytes, leaf hex, chain hex)`` of an entry line that is not in the plain form
    ``check_lines`` slices (any other escape, spacing or member order), which must have
    ``index``."""
    try:
        obj = json.loads(line)
        if obj["kind"] != "entry":
            raise VerifyError(f"a {obj['kind']} line among the entries", index=index)
        if type(obj["index"]) is not int or obj["index"] != index:
            raise VerifyError("entries out of order", expected=index, found=obj["index"])
        return obj["entry"].encode(), obj["leaf_hash"].encode(), obj["chain_hash"].encode()
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VerifyError(f"malformed entry line: {exc}", index=index) from exc


def check_lines(lines: Iterable[bytes], first: int, sizes: frozenset[int] = frozenset()) -> Span:
    """Check the entry lines that start at index ``first``: leaf hashes, every chain link
    but the first, and the Merkle subtrees; keep the right edge at every size in ``sizes``.
    Hashes are compared as lower-case hex, as the export writes them."""
    span = Span(first=first)
    sha = hashlib.sha256
    levels: list[int] = []
    hashes: list[bytes] = []
    index = first
    chain = b""
    tail_at, leaf_end, chain_end = -_TAIL, len(_LEAF) + 64, len(_LEAF) + 64 + len(_CHAIN)
    for line in lines:
        if not line:
            continue
        # Plain iff the line is as ``entry_line`` writes it, with no raw control byte, every
        # backslash the start of a \" and every quote so escaped: then the dropped bytes are
        # exactly the escapes and ``body`` is the JSON string's value. Inline: it is most of
        # the time per entry. Anything else is parsed.
        head = b"%s%d%s" % (_PREFIX, index, _ENTRY)
        text = line[len(head) : tail_at]
        tail = line[tail_at:]
        body = text.translate(None, _DROP)
        if (
            line.startswith(head)
            and text.count(b'\\"') == len(text) - len(body) == text.count(b'"')
            and tail.startswith(_LEAF)
            and tail.endswith(b'"}')
            and tail[leaf_end:chain_end] == _CHAIN
        ):
            leaf_hex, chain_hex = tail[len(_LEAF) : leaf_end], tail[-66:-2]
        else:
            body, leaf_hex, chain_hex = _parsed_entry(line, index)
        leaf = sha(b"\x00" + body).digest()
        if hexlify(leaf) != leaf_hex:
            raise VerifyError("leaf hash differs", index=index, computed=leaf.hex())
        if index == first:
            try:
                chain = hex_strict(chain_hex.decode("ascii", "replace"), 32)
            except DecodeError:
                raise VerifyError("malformed chain value", index=index) from None
            span.first_leaf = leaf
            span.first_chain = chain
        else:
            chain = sha(CHAIN_TAG + chain + leaf).digest()
            if hexlify(chain) != chain_hex:
                raise VerifyError("chain value differs", index=index, computed=chain.hex())
        value, level, pos = leaf, 0, index
        while pos & 1 and levels and levels[-1] == level:
            value = sha(b"\x01" + hashes.pop() + value).digest()
            levels.pop()
            level += 1
            pos >>= 1
        levels.append(level)
        hashes.append(value)
        index += 1
        if index in sizes:
            span.at[index] = list(zip(levels, hashes, strict=True))
    span.size = index - first
    span.last_chain = chain
    span.edge = list(zip(levels, hashes, strict=True))
    return span


def _push(stack: list[tuple[int, int, bytes]], start: int, edge: list[tuple[int, bytes]]) -> None:
    """Push a span's subtrees (from leaf ``start``) onto the subtrees of ``[0, start)``."""
    for level, value in edge:
        pos = start >> level
        start += 1 << level
        while pos & 1 and stack and stack[-1][0] == level:
            value = node_hash(stack.pop()[2], value)
            level += 1
            pos >>= 1
        stack.append((level, pos, value))


def _root(stack: list[tuple[int, int, bytes]]) -> bytes:
    if not stack:
        return EMPTY_ROOT
    value = stack[-1][2]
    for _, _, left in reversed(stack[:-1]):
        value = node_hash(left, value)
    return value


def join(spans: list[Span], roots: Mapping[int, bytes], size: int) -> None:
    """Check the links between consecutive spans, the total ``size`` and every root."""
    stack: list[tuple[int, int, bytes]] = []
    chain = GENESIS
    at = 0
    for span in spans:
        if span.size == 0:
            continue
        if span.first != at:
            raise VerifyError("entries missing or repeated", expected=at, found=span.first)
        if hashlib.sha256(CHAIN_TAG + chain + span.first_leaf).digest() != span.first_chain:
            raise VerifyError("chain value differs", index=span.first)
        for n, edge in span.at.items():
            probe = list(stack)
            _push(probe, at, edge)
            if _root(probe) != roots[n]:
                raise VerifyError("checkpoint root differs", size=n, computed=_root(probe).hex())
        _push(stack, at, span.edge)
        chain = span.last_chain
        at += span.size
    if at != size:
        raise VerifyError("the export's entries do not match its size", size=size, entries=at)
    if 0 in roots and roots[0] != EMPTY_ROOT:
        raise VerifyError("checkpoint root differs", size=0)
    beyond = [n for n in roots if n > size]
    if beyond:
        raise VerifyError("a checkpoint is beyond the log", size=min(beyond), log_size=size)
