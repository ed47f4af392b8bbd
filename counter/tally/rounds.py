"""Release rounds, one use of each event, and acceptance promises: checks of the whole log.

docs/log-format.md §10 ("Release rounds"). Ballots are accepted into a private pending store
and enter the public log in release rounds, so that no one who knows when a member voted can
tell which ballot is theirs. From the log alone:

- a *round* is a maximal run of consecutive ``ballot_cast`` entries with the same contest and
  the same ``time``;
- every round of a contest holds at least K entries (K is the definition's ``round_size``),
  unless it is the contest's only round and is released at the close (in the run of
  ``ballot_cast`` entries directly before ``poll_closed``): a contest with fewer than K
  ballots in all;
- no two ``ballot_cast`` entries have the same *event hash*, SHA-256 of the RFC 8785 bytes of
  the event object (its salt or nonce makes every real ballot unique: a repeat is a replay);
- the last ``roll_published`` flags ``below_round_size`` exactly the contests whose eligible
  count is below K;
- every event hash an acceptance receipt promised is in the log before ``poll_closed`` once the
  log has one (no ``ballot_cast`` can follow ``poll_closed``: the phase fold refuses it).

Pure. :class:`RoundCheck` is fed each entry after ``counter.tally.fold`` verified it (so its
bytes are canonical) and judges at the end, since whether a small round is a contest's only
one is known only then. It keeps 32 bytes and an index per ballot, not a set of objects: a
million-ballot log costs 40 MB here.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ledger.domain import election as el
from ledger.errors import VerificationError
from ledger.format.acceptance import AcceptanceReceipt
from ledger.format.entry import Entry

_INDEX = b',"index":'


class RoundError(VerificationError):
    """The log's ballots were not released in rounds as docs/log-format.md §10 requires."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Round:
    contest: str
    time: str
    first: int
    """Index of its first entry."""
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Promise:
    """What an acceptance receipt promises: the event with ``event_hash`` enters the log of
    ``election`` before ``poll_closed``."""

    election: str
    contest: str
    event_hash: bytes
    source: str = ""
    """Where the receipt came from (a file name), for messages."""
    receipt: AcceptanceReceipt | None = None
    """The signed receipt, which ``counter.tally.audit`` verifies (``None``: the caller did)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundsSummary:
    round_size: int
    rounds: Mapping[str, tuple[Round, ...]]
    below_round_size: tuple[str, ...]
    """Contests the roll flags: their ballots are protected only among themselves."""
    released: tuple[tuple[Promise, int], ...] = ()
    """Promises kept: each with the index of its entry."""
    waiting: tuple[Promise, ...] = ()
    """Accepted, not released yet: fine while the log has no ``poll_closed``."""
    broken: tuple[Promise, ...] = ()
    """Not released before ``poll_closed``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "round_size": self.round_size,
            "below_round_size": list(self.below_round_size),
            "rounds": {
                c: {
                    "rounds": len(rs),
                    "ballots": sum(r.size for r in rs),
                    "smallest": min((r.size for r in rs), default=0),
                }
                for c, rs in self.rounds.items()
            },
        }


@dataclass(slots=True)
class RoundCheck:
    """Fed every entry of one election's log in order (:meth:`add`), then :meth:`finish`."""

    election: str
    promises: Iterable[Promise] = ()
    rounds: dict[str, list[Round]] = field(default_factory=dict)
    closed_at: int | None = None
    close_from: int | None = None
    """First index of the run of ``ballot_cast`` entries directly before ``poll_closed``."""
    eligible: dict[str, int] = field(default_factory=dict)
    flagged: frozenset[str] = frozenset()
    _head: int = 0
    _run: tuple[str, str, int] | None = None  # contest, time, first index
    _size: int = 0
    _block: int | None = None  # first index of the current run of ballot_cast entries
    _hashes: bytearray = field(default_factory=bytearray)
    _indices: array[int] = field(default_factory=lambda: array("q"))
    _promised: dict[bytes, list[Promise]] = field(default_factory=dict)
    _found: dict[bytes, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._head = len(b'{"election":' + json.dumps(self.election).encode() + b',"event":')
        for p in self.promises:
            self._promised.setdefault(p.event_hash, []).append(p)

    def add(self, index: int, entry: Entry, body: bytes) -> None:
        """One verified entry: ``body`` its canonical bytes, ``entry`` them parsed."""
        if entry.kind == "ballot_cast":
            contest = entry.event["contest"]
            run = self._run
            if run is None or run[0] != contest or run[1] != entry.time:
                self._end_run()
                self._run = (contest, entry.time, index)
            self._size += 1
            if self._block is None:
                self._block = index
            # The entry is canonical, so its event's RFC 8785 bytes lie between the envelope's
            # head and its last ``,"index":`` (the members after the event hold no other).
            digest = hashlib.sha256(body[self._head : body.rindex(_INDEX)]).digest()
            self._hashes += digest
            self._indices.append(index)
            if digest in self._promised and digest not in self._found:
                self._found[digest] = index
            return
        self._end_run()
        if entry.kind == "poll_closed":
            self.closed_at, self.close_from = index, self._block
        elif entry.kind == "roll_published":
            contests = entry.event["contests"]
            self.eligible = {c: v["eligible"] for c, v in contests.items()}
            self.flagged = frozenset(c for c, v in contests.items() if v.get("below_round_size"))
        self._block = None

    def _end_run(self) -> None:
        if self._run is not None:
            contest, time, first = self._run
            self.rounds.setdefault(contest, []).append(
                Round(contest=contest, time=time, first=first, size=self._size)
            )
        self._run, self._size = None, 0

    def finish(self, definition: el.Definition) -> RoundsSummary:
        """Judge the whole log. Raises :class:`RoundError` with the evidence."""
        self._end_run()
        self._check_repeats()
        k = definition.round_size
        for c in definition.contests:
            rounds = self.rounds.get(c.id, [])
            for r in rounds:
                if r.size >= k:
                    continue
                at_close = self.close_from is not None and r.first >= self.close_from
                if len(rounds) == 1 and at_close:
                    continue  # a contest with fewer than K ballots in all: one round, at the close
                raise RoundError(
                    "a release round holds fewer than round_size ballots",
                    contest=c.id,
                    index=r.first,
                    size=r.size,
                    round_size=k,
                    time=r.time,
                    rounds=len(rounds),
                    at_close=at_close,
                )
        if self.eligible:
            for c in definition.contests:
                below = self.eligible.get(c.id, 0) < k
                if below != (c.id in self.flagged):
                    raise RoundError(
                        "roll_published flags below_round_size wrongly",
                        contest=c.id,
                        eligible=self.eligible.get(c.id, 0),
                        round_size=k,
                        flagged=c.id in self.flagged,
                    )
        released: list[tuple[Promise, int]] = []
        waiting: list[Promise] = []
        broken: list[Promise] = []
        for digest, promises in self._promised.items():
            for p in promises:
                if digest in self._found:
                    released.append((p, self._found[digest]))
                elif self.closed_at is None:
                    waiting.append(p)
                else:
                    broken.append(p)
        return RoundsSummary(
            round_size=k,
            rounds={c.id: tuple(self.rounds.get(c.id, ())) for c in definition.contests},
            below_round_size=tuple(c.id for c in definition.contests if c.id in self.flagged),
            released=tuple(released),
            waiting=tuple(waiting),
            broken=tuple(broken),
        )

    def _check_repeats(self) -> None:
        """Refuse two ``ballot_cast`` entries with one event hash, naming every index of the
        first repeated event (by its first index) and how many events repeat."""
        n = len(self._indices)
        if n < 2:
            return
        words = np.frombuffer(bytes(self._hashes), dtype=">u8").reshape(n, 4)
        order = np.lexsort(words.T[::-1])  # by the whole 32 bytes, first word first
        ranked = words[order]
        same = np.all(ranked[1:] == ranked[:-1], axis=1)
        if not same.any():
            return
        indices = np.frombuffer(self._indices, dtype=np.int64)[order]
        groups: dict[bytes, list[int]] = {}
        for at in np.flatnonzero(same):
            digest = ranked[at].tobytes()
            groups.setdefault(digest, [int(indices[at])]).append(int(indices[at + 1]))
        digest, where = min(groups.items(), key=lambda g: min(g[1]))
        raise RoundError(
            "an event appears twice among the ballots",
            event_hash=digest.hex(),
            indices=sorted(where),
            repeated_events=len(groups),
        )
