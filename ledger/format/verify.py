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
:func:`verify_export`, cuts the file into one byte range per process and joins their spans.

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
import os
from binascii import hexlify
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from ledger.errors import DecodeError, LedgerError
from ledger.format.chain import CHAIN_TAG, GENESIS
from ledger.format.checkpoint import open_checkpoint
from ledger.format.encoding import hex_strict
from ledger.format.export import FORMAT
from ledger.format.keys import Keyring, Verifier
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
        if obj["index"] != index:
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


@dataclass(frozen=True, slots=True)
class Verified:
    election: str
    entries: int
    checkpoints: int
    jobs: int


def _lines(path: Path, start: int, end: int) -> Iterator[bytes]:
    """The lines of ``path`` in bytes ``[start, end)`` (both at line starts)."""
    with path.open("rb") as fh:
        fh.seek(start)
        rest = b""
        left = end - start
        while left > 0:
            block = fh.read(min(BLOCK, left))
            if not block:
                break
            left -= len(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield from lines
        if rest:
            yield rest


def _open_notes(notes: list[tuple[int, str]], keys: list[str], origin: str) -> dict[int, bytes]:
    """The roots of checkpoint notes, each verified with the trusted ledger keys."""
    keyring = Keyring(Verifier.parse(t) for t in keys)
    roots: dict[int, bytes] = {}
    for size, note in notes:
        cp = open_checkpoint(note, keyring, origin=origin)
        if cp.size != size:
            raise VerifyError("a checkpoint line's size differs from its note's", size=size)
        roots[size] = cp.root
    return roots


def _check_range(
    path: Path,
    start: int,
    end: int,
    sizes: frozenset[int],
    notes: list[tuple[int, str]],
    keys: list[str],
    origin: str,
) -> tuple[Span | None, dict[int, bytes]]:
    """One process's share: the entry lines in bytes ``[start, end)`` and some notes."""
    roots = _open_notes(notes, keys, origin)
    if start >= end:
        return None, roots
    with path.open("rb") as fh:
        fh.seek(start)
        head = fh.readline(4096)
    try:
        if head.startswith(_PREFIX):
            first = int(head[len(_PREFIX) : head.index(b",", len(_PREFIX))])
        else:
            first = int(json.loads(head)["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise VerifyError(f"malformed entry line: {exc}") from exc
    return check_lines(_lines(path, start, end), first, sizes), roots


def _cuts(path: Path, start: int, end: int, parts: int) -> list[int]:
    """Byte offsets that cut ``[start, end)`` into ``parts`` ranges at line starts."""
    cuts = [start]
    with path.open("rb") as fh:
        for k in range(1, parts):
            fh.seek(start + (end - start) * k // parts)
            fh.readline()
            at = fh.tell()
            if cuts[-1] < at < end:
                cuts.append(at)
    cuts.append(end)
    return cuts


def verify_export(path: Path, keyring: Keyring | None = None, jobs: int | None = None) -> Verified:
    """Verify every hash, link and checkpoint of an export file on ``jobs`` processes.

    ``keyring`` holds the pinned ledger keys; without it, the header's keys are used (the
    caller should say so: they are what the server claims). The entry lines are cut into
    ``jobs`` byte ranges and the checkpoint signatures into ``jobs`` shares, one of each
    per process."""
    notes: list[tuple[int, str]] = []
    with path.open("rb") as fh:
        try:
            header = json.loads(fh.readline())
            if header.get("kind") != "header" or header.get("format") != FORMAT:
                raise VerifyError("not a ballot-ledger export (no header line)")
            size = int(header["size"])
            origin = str(header["origin"])
            keys = (
                [v.text() for v in keyring]
                if keyring is not None
                else [Verifier.parse(t).text() for t in header["keys"]["ledger"]]
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise VerifyError(f"malformed header line: {exc}") from exc
        while True:
            offset = fh.tell()
            line = fh.readline()
            if not line or line.startswith(_PREFIX):
                break
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if obj["kind"] != "checkpoint":
                    raise VerifyError(f"unexpected {obj['kind']} line before the entries")
                notes.append((int(obj["size"]), str(obj["note"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise VerifyError(f"malformed checkpoint line: {exc}") from exc
        end = fh.seek(0, os.SEEK_END)
    sizes = frozenset(n for n, _ in notes)
    if len(sizes) != len(notes):
        raise VerifyError("two checkpoint lines have the same size")
    jobs = max(1, jobs or os.cpu_count() or 1)
    # Several ranges per process, taken in turn, so that a process that drew cheaper lines
    # (ballots are shorter than openings) is not left idle; never ranges under 4 MB.
    parts = 1 if jobs == 1 else min(jobs * CHUNKS_PER_JOB, max(jobs, (end - offset) >> 22))
    ranges = list(pairwise(_cuts(path, offset, end, parts)))
    shares = [notes[k :: len(ranges)] for k in range(len(ranges))]
    work = [
        (path, a, b, sizes, share, keys, origin)
        for (a, b), share in zip(ranges, shares, strict=True)
    ]
    if len(work) == 1:
        results = [_check_range(*work[0])]
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
            futures = [pool.submit(_check_range, *w) for w in work]
            results = [f.result() for f in futures]
    roots: dict[int, bytes] = {}
    for _, part in results:
        roots.update(part)
    join([span for span, _ in results if span is not None], roots, size)
    return Verified(
        election=str(header.get("election", "")),
        entries=size,
        checkpoints=len(roots),
        jobs=min(jobs, len(work)),
    )
