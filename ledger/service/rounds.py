"""Release rounds (DESIGN §6, docs/log-format.md §7): accepted ballots enter the public log in
shuffled rounds of at least K per contest, never one at a time.

A jittered timer (``Ledger._releases``), not a ballot's arrival, checks each open election. For
each contest it re-reads the pending ballots ``FOR UPDATE`` under the head row's lock and, when
there are at least 2K, releases exactly ``pending - K`` of them, chosen uniformly with the
operating system's random generator and appended in that random order with one time stamp, and
deletes their pending rows, all in one transaction. At the close, one transaction holding the
election row ``FOR UPDATE`` appends every contest's final round (everything still pending) and
then ``poll_closed``. So every round holds at least K ballots, unless a contest had fewer than K
in all, which then is one round at the close.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import asyncpg

from ledger.domain import election as el
from ledger.format.entry import EntryTemplate, templates_of
from ledger.runtime import metrics
from ledger.service.base import LedgerBase, Prelude, Q, log
from ledger.storage.store import Appended


def draw(rows: Sequence[Any], count: int) -> list[Any]:
    """``count`` of ``rows`` chosen uniformly, in a uniformly random order, with the operating
    system's random generator (never a seed anyone could learn later)."""
    return secrets.SystemRandom().sample(list(rows), count)


def _entries(eid: str, rows: Sequence[Any]) -> tuple[list[EntryTemplate], list[bytes | None]]:
    """A round's ``ballot_cast`` entries, from its pending rows in the order drawn: each event
    in the very bytes it was accepted as, and its event hash."""
    templates = templates_of(eid, "ballot_cast", [bytes(r["event"]) for r in rows])
    return templates, [bytes(r["event_hash"]) for r in rows]


def _counted(rounds: int, ballots: int) -> None:
    """The metrics of ``rounds`` release rounds of ``ballots`` ballots in all."""
    metrics.ROUNDS.inc(rounds)
    metrics.RELEASED.inc(ballots)
    metrics.APPENDS.labels("ballot_cast").inc(ballots)


class Rounds(LedgerBase):
    """Release rounds from the pending store into the log."""

    async def pending_counts(self, eid: str) -> dict[str, Any]:
        """The ballots waiting, by contest, and K (private: the officer's status)."""
        state = await self.state(eid)
        async with self.pool.acquire() as conn:
            counts = {r["contest_id"]: r["n"] for r in await conn.fetch(Q["pending_counts"], eid)}
        d = state.require_definition()
        return {
            "round_size": d.round_size,
            "pending": {c.id: counts.get(c.id, 0) for c in d.contests},
        }

    async def release_due(self, eid: str) -> int:
        """Release a round in every contest of ``eid`` with at least 2K ballots pending; the
        number of ballots released."""
        async with self.pool.acquire() as conn:
            counts = {r["contest_id"]: r["n"] for r in await conn.fetch(Q["pending_counts"], eid)}
        if not counts:
            return 0
        state = await self.state(eid)
        if state.phase != "poll_open":
            return 0
        k = state.require_definition().round_size
        released = 0
        for contest, n in sorted(counts.items()):
            if n >= 2 * k:
                released += await self.release_round(eid, contest)
        return released

    async def release_round(self, eid: str, contest: str) -> int:
        """One round of ``contest``, if it still has at least 2K pending once they are locked:
        all but K of them, at random; the number released."""
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.fetchrow(Q["lock_head"], eid)
                    state = await self._load_state(conn, eid)
                    if state.phase != "poll_open":
                        return 0
                    k = state.require_definition().round_size
                    rows = await conn.fetch(Q["pending_of_contest"], eid, contest)
                    if len(rows) < 2 * k:
                        return 0
                    chosen = draw(rows, len(rows) - k)
                    templates, hashes = _entries(eid, chosen)
                    appended = await self.store.append(conn, eid, templates, event_hashes=hashes)
                    await self._released(conn, eid, chosen, appended)
                    await self._notify(conn, eid)
            except BaseException:
                self.store.forget(eid)
                raise
        _counted(1, len(chosen))
        log.info("round_released", election_id=eid, contest=contest, size=len(chosen))
        return len(chosen)

    async def final_rounds(self, conn: asyncpg.Connection, state: el.ElectionState) -> Prelude:
        """The close's rounds, in its transaction (under the head lock): hold the election row
        ``FOR UPDATE`` (so every acceptance still writing has committed, and none commits
        after), then every contest's pending ballots, in the definition's order of contests,
        each contest's in a random order; written with ``poll_closed`` after them."""
        eid = state.election_id
        await conn.fetchrow(Q["lock_election"], eid)
        rows = await conn.fetch(Q["pending_all"], eid)
        by_contest: dict[str, list[Any]] = {}
        for r in rows:
            by_contest.setdefault(r["contest_id"], []).append(r)
        order = [c.id for c in state.require_definition().contests]
        ordered: list[Any] = []
        for cid in [*order, *sorted(set(by_contest) - set(order))]:
            group = by_contest.get(cid, [])
            ordered.extend(draw(group, len(group)))

        async def finish(conn: asyncpg.Connection, appended: list[Appended]) -> None:
            await self._released(conn, eid, ordered, appended)
            if ordered:
                _counted(len(by_contest), len(ordered))
                log.info("final_rounds_released", election_id=eid, size=len(ordered))

        templates, hashes = _entries(eid, ordered)
        return Prelude(templates=templates, event_hashes=hashes, finish=finish)

    async def _released(
        self,
        conn: asyncpg.Connection,
        eid: str,
        rows: Sequence[Any],
        appended: Sequence[Appended],
    ) -> None:
        """What a round's entries leave behind: each sealed ballot's selections and salt under
        its log index (opened at the close), and no pending rows."""
        sealed = [
            (eid, a.index, r["contest_id"], r["selections"], bytes(r["salt"]))
            for r, a in zip(rows, appended, strict=True)
            if r["salt"] is not None
        ]
        if sealed:
            await conn.copy_records_to_table(
                "sealed_ballots",
                records=sealed,
                columns=["election_id", "cast_index", "contest_id", "selections", "salt"],
            )
        if rows:
            await conn.execute(Q["delete_pending"], eid, [bytes(r["event_hash"]) for r in rows])
