"""The ledger service: one ``Ledger`` made of one class per job.

- ``admin.Administration``: define, the roll (parsed in ``roll``), nominations, withdrawals, phases;
- ``casting.Casting`` and ``sequencer.Sequencer``: ballot papers, accepted in pipelined groups
  into the private pending store;
- ``rounds.Rounds``: release rounds from the pending store into the log;
- ``closing.Closing``: the close of the poll (the final rounds), the openings of sealed ballots,
  declarations;
- ``reads.Reads`` (under ``Closing``): entries, proofs, turnout;
- ``base.LedgerBase``: what they share (states, administrative appends, checkpoints).

This module adds the lifecycle: start, stop, the housekeeping loop (interval checkpoints, turnout
reports on the definition's schedule, scheduled closes) and the release rounds' jittered timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable

import asyncpg

from ledger.domain import turnout
from ledger.domain.election import WrongPhase
from ledger.errors import LedgerError
from ledger.service.admin import Administration
from ledger.service.base import Q, log
from ledger.service.casting import Casting, ballot_items, plainly_valid_cast
from ledger.service.closing import Closing
from ledger.service.sequencer import CastJob, InFlight, Sequencer

__all__ = ["CastJob", "InFlight", "Ledger", "Sequencer", "ballot_items", "plainly_valid_cast"]


class Ledger(Administration, Casting, Closing):
    """The ledger service."""

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        await self.notifier.start(connect)
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self._tasks.append(asyncio.create_task(self._releases(), name="releases"))
        async with self.pool.acquire() as conn:
            unfinished = [r["election_id"] for r in await conn.fetch(Q["closing_unfinished"])]
        for eid in unfinished:
            log.info("closing_resumed", election_id=eid)
            self._closing_task(eid)

    async def stop(self) -> None:
        for seq in self._sequencers.values():
            await seq.stop()
        for task in [*self._tasks, *self._closing.values()]:
            task.cancel()
        for task in [*self._tasks, *self._closing.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.notifier.stop()

    async def _housekeeping(self) -> None:
        """Every ``checkpoint_interval`` seconds: scheduled poll closes, turnout reports on
        their definition's schedule, and checkpoints of the logs that grew."""
        while True:
            await asyncio.sleep(self.settings.checkpoint_interval)
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError, LedgerError) as exc:
                log.warning("housekeeping_failed", error=str(exc))

    async def _releases(self) -> None:
        """Release rounds on a jittered timer: each wait is drawn from 0.5 to 1.5 times
        ``release_every`` with the operating system's random generator, never set off by a
        ballot's arrival."""
        rng = secrets.SystemRandom()
        while True:
            await asyncio.sleep(self.settings.release_every * rng.uniform(0.5, 1.5))
            try:
                await self.release_all()
            except (OSError, asyncpg.PostgresError, LedgerError) as exc:
                log.warning("release_failed", error=str(exc))

    async def release_all(self) -> int:
        """One check of every open election with ballots pending; the number released."""
        async with self.pool.acquire() as conn:
            elections = [r["election_id"] for r in await conn.fetch(Q["polls_with_pending"])]
        released = 0
        for eid in elections:
            if eid not in self._closing:
                released += await self.release_due(eid)
        return released

    async def tick(self, now: float | None = None) -> None:
        """One round of the housekeeping at ``now`` (Unix seconds; the clock by default)."""
        moment = time.time() if now is None else now
        async with self.pool.acquire() as conn:
            due = [r["election_id"] for r in await conn.fetch(Q["due_to_close"])]
            for eid in due:
                log.info("poll_close_scheduled", election_id=eid)
                self._closing_task(eid, scheduled=True)
            polling = [r["election_id"] for r in await conn.fetch(Q["polls_open"])]
            closed = [r["election_id"] for r in await conn.fetch(Q["polls_closed"])]
        for eid in polling:
            if eid not in self._closing:
                await self._scheduled_turnout(eid, moment)
        for eid in closed:
            # A close interrupted between poll_closed and its final turnout report (a crash):
            # checked once per closed election and process, as the close itself would.
            if eid not in self._closing and eid not in self._final_turnout_checked:
                self._final_turnout_checked.add(eid)
                with contextlib.suppress(WrongPhase):  # declared meanwhile
                    await self.report_turnout(eid)
        async with self.pool.acquire() as conn:
            stale = [r["election_id"] for r in await conn.fetch(Q["needs_checkpoint"])]
        for eid in stale:
            if eid not in self._closing:
                await self.checkpoint(eid, "interval")

    async def _scheduled_turnout(self, eid: str, now: float) -> None:
        """Take a turnout report when the clock has entered a new slot of the definition's
        schedule: the times depend on the clock alone, never on the log or the ballots."""
        state = await self.state(eid)
        if state.phase != "poll_open":
            return
        every = state.require_definition().turnout_every
        if not turnout.due(self._turnout_slot.get(eid), now, every):
            return
        self._turnout_slot[eid] = turnout.slot(now, every)
        await self.report_turnout(eid)
