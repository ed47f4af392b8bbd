"""``ballot audit --hashes-only``: an export file's hashes and proofs, verified on every core.

The checks are ``ledger.format.verify``'s (pure): this module reads the file, cuts it into one
byte range per process, runs :func:`ledger.format.verify.check_lines` on each and joins their
spans with :func:`ledger.format.verify.join`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from ledger.format.checkpoint import names_election, open_checkpoint
from ledger.format.export import FORMAT
from ledger.format.keys import Keyring, Verifier
from ledger.format.verify import (
    _PREFIX,
    BLOCK,
    CHUNKS_PER_JOB,
    Span,
    VerifyError,
    check_lines,
    join,
)


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
            first = json.loads(head)["index"]
            if type(first) is not int:
                raise VerifyError("malformed entry line: its index is not an integer")
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
            size = header["size"]
            if type(size) is not int or size < 0:
                raise TypeError("the header's size must be an integer from 0")
            origin = str(header["origin"])
            election = str(header["election"])
            if not names_election(origin, election):
                raise VerifyError(
                    "the export's origin is not this election's log",
                    election=election,
                    origin=origin,
                )
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
                n, note = obj["size"], obj["note"]
                if type(n) is not int or not isinstance(note, str):
                    raise TypeError("size must be an integer and note a string")
                notes.append((n, note))
            except (ValueError, KeyError, TypeError) as exc:
                raise VerifyError(f"malformed checkpoint line: {exc}") from exc
        end = fh.seek(0, os.SEEK_END)
    sizes = frozenset(n for n, _ in notes)
    if len(sizes) != len(notes):
        raise VerifyError("two checkpoint lines have the same size")
    # §12: increasing sizes, the last at the header's size, so that a signature covers every
    # entry (the chain and the hashes alone prove nothing about who wrote them).
    if any(b <= a for (a, _), (b, _) in pairwise(notes)):
        raise VerifyError("checkpoint sizes do not increase", sizes=[n for n, _ in notes])
    if size > 0 and (not notes or notes[-1][0] != size):
        raise VerifyError(
            "no checkpoint covers the log's last entry",
            size=size,
            last_checkpoint=notes[-1][0] if notes else None,
        )
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
