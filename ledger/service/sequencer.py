"""The per-election sequencer: concurrent casts queue up while a batch commits, and the next
batch takes everything queued (up to ``max_batch``).

It is pipelined: while one batch's write commits, the next is read, checked and signed beside it
(``InFlight``). Acceptance writes only the private pending store, not the log, so the two
writes do not wait for each other. A batch the
database refuses for a value one paper holds (a data exception) is split until that paper is
found: it alone is refused (422 ``invalid-ballot-data``), the others get their receipts.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
import structlog

from ledger.errors import (
    InvalidBallotData,
    Unavailable,
)
from ledger.storage.store import data_fault

if TYPE_CHECKING:
    from ledger.service.casting import Casting

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class CastJob:
    election: str
    submission_id: str
    voter_id: str
    selections: dict[str, tuple[str, ...]]
    mac: bytes
    prepared: tuple[bool, list[BallotItem]] | None = None
    """(sealed, entries) built before the job is queued, while the batch in flight waits on
    the database; rebuilt under the lock if the election's ``sealed`` differs."""
    future: asyncio.Future[tuple[str, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


BallotItem = tuple[str, bytes, bytes, tuple[str, ...], bytes | None, str]
"""(contest, the event's canonical bytes, its event hash, selections, salt of a sealed ballot,
the event's JSON text as the answer shows it)."""


@dataclass(slots=True)
class InFlight:
    """A batch whose write is on its way to the database: what the next batch is checked
    against while it commits (its voters and submissions). A refusal that rests on this
    batch's voters waits until it has committed; if it did not, the next batch is checked
    again."""

    voted: set[tuple[str, str]] = field(default_factory=set)
    """(contest, voter) appended by this batch (the batch before it is over by the time the
    batch after is checked, so the database shows the rest)."""
    submissions: set[str] = field(default_factory=set)
    """Submission ids answered by this batch: a retry of one waits for the next batch."""
    sent: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the batch is prepared (or over): the next batch may start."""
    committed: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """Whether the batch's write committed."""


class Sequencer:
    """Group commit for one election, pipelined: while one batch's write commits, the next
    batch is read, checked and signed beside it, so the database and the ledger's CPU work at
    the same time. At most two batches are in flight; the one after waits for the older."""

    def __init__(self, ledger: Casting, election: str) -> None:
        self.ledger = ledger
        self.election = election
        self.queue: asyncio.Queue[CastJob] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(), name=f"sequencer:{election}")

    async def submit(self, job: CastJob) -> tuple[str, bool]:
        if self.task.done():
            raise Unavailable("the sequencer has stopped")
        await self.queue.put(job)
        return await asyncio.shield(job.future)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        while not self.queue.empty():
            _refuse(self.queue.get_nowait(), Unavailable("the ledger is shutting down"))

    async def _take(self) -> list[CastJob]:
        batch = [await self.queue.get()]
        while len(batch) < self.ledger.settings.max_batch and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    async def _run(self) -> None:
        flying: list[tuple[asyncio.Task[None], InFlight]] = []
        batch: list[CastJob] = []  # taken, and not yet given to a task
        try:
            while True:
                batch = await self._take()
                while flying and (len(flying) >= 2 or flying[0][0].done()):
                    await flying[0][0]  # stays tracked until it is over
                    flying.pop(0)
                base = flying[-1][1] if flying else None
                mine = InFlight()
                task = asyncio.create_task(self._commit(batch, base, mine))
                flying.append((task, mine))
                batch = []
                sent = asyncio.create_task(mine.sent.wait())
                try:
                    await asyncio.wait({task, sent}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sent.cancel()
        except asyncio.CancelledError:
            for job in batch:
                _refuse(job, Unavailable("the ledger is shutting down"))
            for task, _ in flying:
                task.cancel()
            await asyncio.gather(*(task for task, _ in flying), return_exceptions=True)
            raise

    async def _commit(self, batch: list[CastJob], base: InFlight | None, mine: InFlight) -> None:
        """One batch, with every failure answered to its jobs. Jobs it defers (retries of a
        submission still committing) go back to the queue, which wakes the next batch."""
        try:
            await self._write(batch, base, mine)
        except asyncio.CancelledError:
            for job in batch:
                _refuse(job, Unavailable("the ledger is shutting down"))
            raise
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("batch_failed", election_id=self.election, error=str(exc), size=len(batch))
            for job in batch:
                _refuse(job, Unavailable("the database is unavailable"))
            await asyncio.sleep(0.2)
        except Exception as exc:
            log.exception("batch_crashed", election_id=self.election, size=len(batch))
            for job in batch:
                _refuse(job, exc)
        finally:
            mine.sent.set()

    async def _write(self, batch: list[CastJob], base: InFlight | None, mine: InFlight) -> None:
        """Commit ``batch``; if the database refuses it for a value one of its papers holds
        (``store.data_fault``), split it and commit the halves in turn, down to the paper at fault,
        which alone is refused (422): the others get their receipts, with no pause."""
        try:
            deferred = await self.ledger.commit_batch(self.election, batch, base=base, mine=mine)
        except asyncpg.DataError as exc:
            reason = data_fault(exc)
            if reason is None:
                raise
            # Nothing of the batch was written. No voter data in the log line.
            log.info(
                "batch_data_refused",
                election_id=self.election,
                size=len(batch),
                sqlstate=exc.sqlstate,
                error=type(exc).__name__,
            )
            if len(batch) == 1:
                _refuse(batch[0], InvalidBallotData(reason=reason))
                return
            if base is not None:
                # The halves are checked against what is committed: let ``base`` finish.
                await asyncio.shield(base.committed)
            half = len(batch) // 2
            for part in (batch[:half], batch[half:]):
                await self._write(part, None, InFlight())
            return
        for job in deferred:
            self.queue.put_nowait(job)


def _refuse(job: CastJob, exc: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(exc)
