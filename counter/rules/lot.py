"""Ties broken by lot, drawn deterministically from a seed so anyone can redo the draw.

For a tie of kind ``kind`` at round ``r`` among candidates with BLT names
``n1 .. nk``, each candidate's ticket is::

    SHA-256(seed || b"\\x00" || f"{kind}/{r}".encode() || b"\\x00" || name.encode())

and the candidate with the smallest ticket (as a big-endian number) is drawn.  The
seed is the log's final checkpoint root in the service and ``--seed HEX`` on the
command line; by default it is SHA-256 of the canonical profile
(:func:`counter.ballots.profile.default_seed`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

from counter.rules.model import Profile, Ranking


def canonical_bytes(profile: Profile) -> bytes:
    """The profile as canonical JSON: candidates in order, identical rankings grouped.

    ``{"ballots":[[[r1,r2,...],w],...],"candidates":[[name,withdrawn],...]}``: keys
    sorted, no spaces, UTF-8, rankings as 0-based candidate indices sorted
    ascending, zero weights dropped.  Ballot order therefore never changes it.
    """
    totals: dict[Ranking, int] = {}
    for ranking, weight in profile.ballots:
        totals[tuple(ranking)] = totals.get(tuple(ranking), 0) + weight
    doc = {
        "candidates": [[c.name, c.withdrawn] for c in profile.candidates],
        "ballots": [[list(r), w] for r, w in sorted(totals.items()) if w],
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def default_seed(profile: Profile) -> bytes:
    """The documented default lot seed: SHA-256 of :func:`canonical_bytes`."""
    return hashlib.sha256(canonical_bytes(profile)).digest()


class Lot:
    """A seeded lot: :meth:`draw` picks one candidate of a tie, reproducibly.

    With no seed given, the default seed is derived from ``profile`` the first
    time a lot is drawn (hashing a large profile is not free, and most counts
    never draw).  ``profile`` may be a function that builds it (a count on packed
    arrays builds the tuples only if a lot is drawn).
    """

    __slots__ = ("_profile", "_seed", "names")

    def __init__(
        self,
        *,
        seed: bytes | None,
        names: tuple[str, ...],
        profile: Profile | Callable[[], Profile] | None = None,
    ) -> None:
        if seed is None and profile is None:
            raise ValueError("a lot needs a seed or a profile to derive one from")
        self._seed = seed
        self._profile = profile
        self.names = names

    @property
    def seed(self) -> bytes:
        if self._seed is None:
            assert self._profile is not None
            profile = self._profile if isinstance(self._profile, Profile) else self._profile()
            self._seed = default_seed(profile)
        return self._seed

    def known_seed(self) -> str:
        """The seed in hex if one was given or drawn from; empty if nothing needed it."""
        return "" if self._seed is None else self._seed.hex()

    def ticket(self, kind: str, round_number: int, candidate: int) -> bytes:
        context = f"{kind}/{round_number}".encode()
        name = self.names[candidate].encode()
        return hashlib.sha256(self.seed + b"\x00" + context + b"\x00" + name).digest()

    def draw(self, kind: str, round_number: int, candidates: Sequence[int]) -> int:
        """The candidate drawn: the one with the smallest ticket."""
        return min(candidates, key=lambda c: (self.ticket(kind, round_number, c), c))

    def order(self, kind: str, round_number: int, candidates: Sequence[int]) -> list[int]:
        """All the tied candidates in the order they are drawn."""
        return sorted(candidates, key=lambda c: (self.ticket(kind, round_number, c), c))
