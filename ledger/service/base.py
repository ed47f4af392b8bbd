"""What every job of the ledger service shares: the pool, the signer, the election states
(rebuilt from the log's state events and cached by version), administrative appends, checkpoints
and the notifier that wakes the feed's long-polls.

Every append to an election's log holds the log's head row lock when it commits, so appends
are totally ordered. An administrative event runs in one transaction that first locks the head
row; the phase rules of ``ledger.domain.election.apply`` are checked on the state *under that
lock*.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from ledger.domain import election as el
from ledger.domain import schemas
from ledger.errors import (
    NotFound,
)
from ledger.format.acceptance import AcceptanceSigner
from ledger.format.checkpoint import SignedCheckpoint
from ledger.format.entry import EntryTemplate, parse_entry, template
from ledger.format.keys import Keyring, Signer, Verifier
from ledger.format.receipts import Receipt, ReceiptSigner
from ledger.runtime import metrics
from ledger.runtime.settings import Settings
from ledger.storage import sql
from ledger.storage.store import Appended, LogStore

if TYPE_CHECKING:
    from ledger.service.sequencer import Sequencer

Q = sql.queries()
log = structlog.get_logger(__name__)
CHANNEL = "ballot_log"


class Notifier:
    """Wakes feed readers when a log grows: LISTEN/NOTIFY, with a polling fallback."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._conn: asyncpg.Connection | None = None

    async def start(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        try:
            self._conn = await connect()
            await self._conn.add_listener(CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("notify_listener_unavailable", error=str(exc))
            self._conn = None

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    def _on_notify(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self.wake(payload)

    def wake(self, election: str) -> None:
        event = self._events.pop(election, None)
        if event is not None:
            event.set()

    def listen(self, election: str) -> asyncio.Event:
        """The event the next growth of ``election``'s log sets. Take it *before* reading the
        log, so that a notification arriving during the read is not lost."""
        return self._events[election]

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        """Return when ``event`` is set, or after ``seconds`` (the polling fallback)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


@dataclass(slots=True)
class Prelude:
    """Entries appended just before an administrative event, in its transaction (the close's
    final release rounds before ``poll_closed``), and what to write once they are placed."""

    templates: list[EntryTemplate] = field(default_factory=list)
    event_hashes: list[bytes | None] = field(default_factory=list)
    finish: Callable[[asyncpg.Connection, list[Appended]], Awaitable[None]] | None = None


class LedgerBase:
    """The state and the administrative append that every job builds on."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, signer: Signer) -> None:
        self.pool = pool
        self.settings = settings
        self.signer = signer
        self.receipts = ReceiptSigner(signer)
        self.acceptances = AcceptanceSigner(signer)
        self.store = LogStore()
        self.notifier = Notifier()
        self.counter_keys = Keyring(Verifier.parse(k) for k in settings.counter_keys)
        self._mac_key = hashlib.sha256(b"ballot-ledger/submission-mac/v1" + signer.seed).digest()
        self._states: dict[str, tuple[int, el.ElectionState]] = {}
        self._sequencers: dict[str, Sequencer] = {}
        self._closing: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._turnout_slot: dict[str, int] = {}
        """Election -> the schedule slot of its last turnout report taken (published or not)."""
        self._roll_groups: dict[str, tuple[object, object, dict[str, Any]]] = {}
        """Election -> (its definition, its eligible counts, contest -> cell of the roll ->
        eligible voters): read from the roll once per definition and roll published."""
        self._final_turnout_checked: set[str] = set()
        """Closed elections whose final turnout report this process has taken or checked."""
        self._released_counts: dict[str, tuple[int, dict[str, int]]] = {}
        """Election -> (the log index counted up to, contest -> its ``ballot_cast`` entries
        before it): what a turnout report shows while the poll is open."""

    # --- state ------------------------------------------------------------------------------

    async def _load_state(self, conn: asyncpg.Connection, eid: str) -> el.ElectionState:
        row = await conn.fetchrow(Q["election_row"], eid)
        if row is None:
            raise NotFound("no such election", election=eid)
        cached = self._states.get(eid)
        if cached is not None and cached[0] == row["version"]:
            return cached[1]
        state = el.ElectionState(election_id=eid)
        for r in await conn.fetch(Q["state_events"], eid):
            entry = parse_entry(bytes(r["body"]))
            state = el.apply(state, entry.kind, entry.event)
        self._states[eid] = (row["version"], state)
        return state

    async def _state_at(self, conn: asyncpg.Connection, eid: str, version: int) -> el.ElectionState:
        """The state at ``version`` (read under the head lock): the cache when it is that
        version, else rebuilt from the log's state events."""
        cached = self._states.get(eid)
        if cached is not None and cached[0] == version:
            return cached[1]
        return await self._load_state(conn, eid)

    async def state(self, eid: str) -> el.ElectionState:
        async with self.pool.acquire() as conn:
            return await self._load_state(conn, eid)

    def receipt(self, eid: str, a: Appended, time: str | None = None) -> Receipt:
        return self.receipts.sign(
            election=eid,
            index=a.index,
            leaf_hash=a.leaf_hash,
            chain_hash=a.chain_hash,
            time=time,
        )

    async def _notify(self, conn: asyncpg.Connection, eid: str) -> None:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, eid)

    async def append_event(
        self,
        eid: str,
        kind: str,
        build: Callable[[el.ElectionState], dict[str, Any]],
        *,
        extra: Callable[[asyncpg.Connection, el.ElectionState], Awaitable[None]] | None = None,
        before: Callable[[asyncpg.Connection, el.ElectionState], Awaitable[Prelude]] | None = None,
    ) -> tuple[Receipt, el.ElectionState]:
        """Append one administrative event, legal in the current phase, in one transaction
        (after the entries ``before`` gives, in the same transaction: the close's rounds)."""

        async def read(conn: asyncpg.Connection, state: el.ElectionState) -> dict[str, Any]:
            return build(state)

        done = await self.append_read(eid, kind, read, extra=extra, before=before)
        assert done is not None
        return done

    async def append_read(
        self,
        eid: str,
        kind: str,
        read: Callable[[asyncpg.Connection, el.ElectionState], Awaitable[dict[str, Any] | None]],
        *,
        extra: Callable[[asyncpg.Connection, el.ElectionState], Awaitable[None]] | None = None,
        before: Callable[[asyncpg.Connection, el.ElectionState], Awaitable[Prelude]] | None = None,
    ) -> tuple[Receipt, el.ElectionState] | None:
        """Append the event ``read`` builds from the database under the head lock, in the same
        transaction; nothing when it returns None."""
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.fetchrow(Q["lock_head"], eid)
                    state = await self._load_state(conn, eid)
                    if state.phase not in el.ALLOWED[kind]:
                        raise el.WrongPhase(
                            f"{kind} is not allowed in phase {state.phase}",
                            phase=state.phase,
                            allowed=list(el.ALLOWED[kind]),
                        )
                    built = await read(conn, state)
                    if built is None:
                        return None
                    event = built
                    schemas.validate_event(kind, event)
                    new = el.apply(state, kind, event)
                    if extra is not None:
                        await extra(conn, new)
                    prelude = Prelude() if before is None else await before(conn, state)
                    *preceding, appended = await self.store.append(
                        conn,
                        eid,
                        [*prelude.templates, template(eid, kind, event)],
                        event_hashes=[*prelude.event_hashes, None],
                    )
                    if prelude.finish is not None:
                        await prelude.finish(conn, preceding)
                    d = new.require_definition()
                    version = await conn.fetchval(
                        Q["update_election"], eid, new.phase, d.sealed, _poll_close(d)
                    )
                    await self._notify(conn, eid)
            except BaseException:
                self.store.forget(eid)
                raise
        self._states[eid] = (version, new)
        metrics.APPENDS.labels(kind).inc()
        log.info("event_appended", election_id=eid, type=kind, seq=appended.index)
        if new.phase != state.phase:
            await self.checkpoint(eid, f"phase:{new.phase}")
        return self.receipt(eid, appended), new

    async def checkpoint(self, eid: str, reason: str) -> SignedCheckpoint:
        async with self.pool.acquire() as conn:
            cp = await self.store.checkpoint(conn, eid, [self.signer], reason)
        metrics.CHECKPOINTS.inc()
        return cp


def _poll_close(d: el.Definition) -> datetime | None:
    text = d.schedule.get("poll_close")
    if not text:
        return None
    moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
