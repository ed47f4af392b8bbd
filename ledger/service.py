"""The ledger's operations: define, roll, nominate, open, cast (group commit), close, declare.

This is the imperative shell around the pure modules. Every append to an election's log holds
the log's head row lock when it commits, so appends are totally ordered. An administrative
event runs in one transaction that first locks the head row; the phase rules of
``ledger.election.apply`` are checked on the state *under that lock*.

Casting goes through a per-election ``Sequencer``: concurrent casts queue up while a batch
commits, and the next batch takes everything queued (up to ``max_batch``). A batch is two round
trips: one read of the head, the state version, the roll rows, earlier submissions and votes;
then, after checking each paper against them and the rest of the batch, shuffling, hashing and
signing all receipts with one signature (docs/log-format.md §8), one statement that moves the
head by compare-and-set and inserts everything, in one transaction with one fsync. Every state
change appends an event and so moves the head: a batch checked against a stale head or state
writes nothing and is checked again, under the head row's lock (so it cannot fail twice).
The sequencer is pipelined: while one batch's write commits, the next is read, checked,
hashed and signed on top of it, and sends its write once the first has committed.
Receipts are answered only after their batch commits. A batch the database refuses for a
value one paper holds (a data exception, such as U+0000 in a voter id) is split until that
paper is found: it alone is refused (422 ``invalid-ballot-data``), the others get their
receipts. Any other database failure refuses the whole batch with 503 (Retry-After).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import hmac
import io
import json
import re
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as encode_string
from typing import Any

import asyncpg
import structlog

from ledger import election as el
from ledger import merkle, metrics, schemas, sql, strict_json
from ledger.canonical import canonical_bytes
from ledger.checkpoint import SignedCheckpoint
from ledger.election import declaration_message
from ledger.encoding import b64_strict
from ledger.entry import EntryTemplate, parse_entry, template
from ledger.errors import DecodeError, LedgerError
from ledger.keys import Keyring, Signer, Verifier
from ledger.problems import (
    AlreadyVoted,
    ElectionExists,
    InvalidBallotData,
    InvalidDeclaration,
    InvalidRoll,
    NotEligible,
    NotFound,
    NotOnRoll,
    PayloadTooLarge,
    ProofUnavailable,
    SubmissionConflict,
    Unavailable,
    UnsupportedMediaType,
)
from ledger.receipts import Receipt, ReceiptSigner, code_prefix, receipt_texts, utc_now
from ledger.settings import Settings
from ledger.store import Appended, Head, LogStore, StoredEntry, data_fault

Q = sql.queries()
log = structlog.get_logger(__name__)
CHANNEL = "ballot_log"
OPEN_BATCH = 2000
_SUBMISSION_ID = re.compile(r"[A-Za-z0-9_.:-]{8,128}")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CAST_MEMBERS = frozenset(("submission_id", "voter_id", "selections"))


def plainly_valid_cast(body: Any) -> bool:
    """A sufficient condition for ``schemas.CAST`` (requests.schema.json ``$defs/cast``),
    checked in a few microseconds instead of the validator's few hundred: exactly the three
    members, a submission id of 8-128 of ``[A-Za-z0-9_.:-]``, a voter id of 1-128 characters
    with no control character, 1-50 contests with ``$defs/id`` names, each a list of at most
    200 ``$defs/id`` strings, every pattern matched whole. A body it refuses goes to the full
    validator, which decides and says what is wrong."""
    if type(body) is not dict or body.keys() != _CAST_MEMBERS:
        return False
    sub, voter, selections = body["submission_id"], body["voter_id"], body["selections"]
    if type(sub) is not str or _SUBMISSION_ID.fullmatch(sub) is None:
        return False
    if type(voter) is not str or not 1 <= len(voter) <= 128 or not el.one_line(voter):
        return False
    if type(selections) is not dict or not 1 <= len(selections) <= 50:
        return False
    for contest, chosen in selections.items():
        if type(contest) is not str or _ID.fullmatch(contest) is None:
            return False
        if type(chosen) is not list or len(chosen) > 200:
            return False
        for candidate in chosen:
            if type(candidate) is not str or _ID.fullmatch(candidate) is None:
                return False
    return True


def _suppress(counts: Mapping[str, int], minimum: int) -> dict[str, int | None]:
    """Small-group suppression: groups under ``minimum`` become None; when exactly one group
    is suppressed, the next smallest is too, so no total minus the rest reveals it."""
    out: dict[str, int | None] = {k: (v if v >= minimum else None) for k, v in counts.items()}
    hidden = [k for k, v in out.items() if v is None]
    if len(hidden) == 1:
        shown = sorted((v, k) for k, v in out.items() if v is not None)
        if shown:
            out[shown[0][1]] = None
    return out


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


BallotItem = tuple[str, EntryTemplate, tuple[str, ...], bytes | None]
"""(contest, entry template, selections, salt of a sealed ballot)."""


@dataclass(slots=True)
class InFlight:
    """A batch whose write is on its way to the database: what the next batch builds on
    while it commits. The next batch is read, checked, hashed and signed meanwhile, and sends
    its write once this one has committed, expecting ``head`` (compare-and-set); if this
    batch failed, the next one writes nothing and is checked again."""

    head: Head | None = None
    """The head after this batch (None until it is prepared)."""
    edge: merkle.CompactRange | None = None
    """The tree's right edge after this batch."""
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
    """Whether the batch's write committed; the next batch sends its own only after."""


def ballot_items(
    eid: str, selections: Mapping[str, tuple[str, ...]], sealed: bool
) -> list[BallotItem]:
    """The ``ballot_cast`` entries of one paper: a commitment with a fresh 32-byte salt when
    the election is sealed, the selections themselves otherwise."""
    items: list[BallotItem] = []
    for contest_id, chosen in selections.items():
        if sealed:
            salt = secrets.token_bytes(32)
            event: dict[str, Any] = {
                "contest": contest_id,
                "commitment": el.commitment(eid, contest_id, chosen, salt),
            }
            items.append((contest_id, template(eid, "ballot_cast", event), chosen, salt))
        else:
            event = {"contest": contest_id, "selections": list(chosen)}
            items.append((contest_id, template(eid, "ballot_cast", event), chosen, None))
    return items


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


class Ledger:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, signer: Signer) -> None:
        self.pool = pool
        self.settings = settings
        self.signer = signer
        self.receipts = ReceiptSigner(signer)
        self.store = LogStore()
        self.notifier = Notifier()
        self.counter_keys = Keyring(Verifier.parse(k) for k in settings.counter_keys)
        self._mac_key = hashlib.sha256(b"ballot-ledger/submission-mac/v1" + signer.seed).digest()
        self._states: dict[str, tuple[int, el.ElectionState]] = {}
        self._sequencers: dict[str, Sequencer] = {}
        self._closing: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._last_turnout: dict[str, bytes] = {}

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        await self.notifier.start(connect)
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
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
        """Checkpoints and turnout reports on an interval; scheduled poll closes."""
        while True:
            await asyncio.sleep(self.settings.checkpoint_interval)
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError, LedgerError) as exc:
                log.warning("housekeeping_failed", error=str(exc))

    async def tick(self) -> None:
        async with self.pool.acquire() as conn:
            due = [r["election_id"] for r in await conn.fetch(Q["due_to_close"])]
            for eid in due:
                log.info("poll_close_scheduled", election_id=eid)
                self._closing_task(eid, scheduled=True)
            stale = [r["election_id"] for r in await conn.fetch(Q["needs_checkpoint"])]
        for eid in stale:
            if eid in self._closing:
                continue
            state = await self.state(eid)
            if state.phase == "poll_open":
                await self.report_turnout(eid)
            await self.checkpoint(eid, "interval")

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
    ) -> tuple[Receipt, el.ElectionState]:
        """Append one administrative event, legal in the current phase, in one transaction."""
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
                    event = build(state)
                    schemas.validate_event(kind, event)
                    new = el.apply(state, kind, event)
                    if extra is not None:
                        await extra(conn, new)
                    (appended,) = await self.store.append(conn, eid, [template(eid, kind, event)])
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

    # --- definition, roll, nominations, phases ----------------------------------------------

    async def define(self, eid: str, document: Any) -> tuple[Receipt, bool]:
        """Define (or, during setup, redefine) an election. Returns (receipt, created)."""
        definition = el.parse_definition(document)
        event = {
            "definition": definition.document,
            "keys": {"ledger": [self.signer.verifier.text()]},
        }
        schemas.validate_event("election_defined", event)
        async with self.pool.acquire() as conn:
            exists = await conn.fetchrow(Q["election_row"], eid)
        if exists is not None:
            receipt, _ = await self.append_event(eid, "election_defined", lambda s: event)
            return receipt, False
        origin = f"{self.settings.origin_prefix}/elections/{eid}"
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await self.store.create_log(conn, eid, origin)
                    state = el.apply(el.ElectionState(election_id=eid), "election_defined", event)
                    await conn.execute(
                        Q["insert_election"],
                        eid,
                        state.phase,
                        definition.sealed,
                        _poll_close(definition),
                    )
                    (appended,) = await self.store.append(
                        conn, eid, [template(eid, "election_defined", event)]
                    )
                    await self._notify(conn, eid)
            except asyncpg.UniqueViolationError as exc:
                self.store.forget(eid)
                raise ElectionExists(election=eid) from exc
            except BaseException:
                self.store.forget(eid)
                raise
        self._states[eid] = (1, state)
        log.info("election_defined", election_id=eid, seq=appended.index)
        await self.checkpoint(eid, "phase:setup")
        return self.receipt(eid, appended), True

    async def upload_roll(
        self, eid: str, content_type: str, chunks: AsyncIterator[bytes]
    ) -> tuple[Receipt, dict[str, Any]]:
        """Stream a roll (CSV with a ``voter_id`` column, or NDJSON rows), replace the private
        roll, and publish each contest's eligible count and roll hash."""
        rows = await _parse_roll(content_type, chunks, self.settings.max_roll_bytes)
        salt = secrets.token_bytes(32)
        summary: dict[str, Any] = {}

        def build(state: el.ElectionState) -> dict[str, Any]:
            d = state.require_definition()
            contests = {}
            for c in d.contests:
                ids = [vid for vid, attrs in rows if el.eligible(c.eligibility, attrs)]
                contests[c.id] = {"eligible": len(ids), "roll_hash": el.roll_hash(salt, ids)}
            summary.update(voters=len(rows), contests=contests)
            return {"voters": len(rows), "contests": contests}

        async def store_roll(conn: asyncpg.Connection, state: el.ElectionState) -> None:
            await conn.execute(Q["delete_roll"], eid)
            await conn.copy_records_to_table(
                "roll",
                records=[(eid, vid, json.dumps(attrs)) for vid, attrs in rows],
                columns=["election_id", "voter_id", "attributes"],
            )
            await conn.execute(Q["set_roll_salt"], eid, salt)

        receipt, _ = await self.append_event(eid, "roll_published", build, extra=store_roll)
        return receipt, summary

    async def nominate(self, eid: str, body: Mapping[str, Any]) -> Receipt:
        schemas.validate(schemas.NOMINATION, body)
        event = {"contest": body["contest"], "candidate": body["candidate"], "body": body["body"]}
        receipt, _ = await self.append_event(eid, "nomination_recorded", lambda s: event)
        return receipt

    async def withdraw(self, eid: str, contest: str, candidate: str, body: Any) -> Receipt:
        schemas.validate(schemas.WITHDRAWAL, body)
        event = {"contest": contest, "candidate": candidate, **body}
        receipt, _ = await self.append_event(eid, "candidate_withdrawn", lambda s: event)
        return receipt

    async def phase_event(self, eid: str, kind: str) -> Receipt:
        def build(state: el.ElectionState) -> dict[str, Any]:
            if kind == "nominations_closed" and state.phase == "nominations":
                return el.standing_event(state)
            return {}

        receipt, _ = await self.append_event(eid, kind, build)
        return receipt

    # --- casting ----------------------------------------------------------------------------

    async def cast(self, eid: str, body: Any) -> tuple[str, bool]:
        """Validate one voter's ballot paper and queue it for the next batch.

        Returns (response, replayed): the JSON text of the response (``submission_id`` and
        the receipts by contest), the very text kept for retries, which is the HTTP body; and
        whether this is an idempotent replay.
        """
        if not plainly_valid_cast(body):
            schemas.validate(schemas.CAST, body)
        # The early checks use the cached state when there is one (it is refreshed by every
        # batch and every event this process appends); the batch checks again under the lock.
        cached = self._states.get(eid)
        state = cached[1] if cached is not None else await self.state(eid)
        selections: dict[str, tuple[str, ...]] = {}
        for contest_id, chosen in body["selections"].items():
            contest = state.require_definition().contest(contest_id)
            selections[contest_id] = el.validate_selections(
                contest, chosen, state.not_standing(contest_id)
            )
        mac = hmac.new(self._mac_key, canonical_bytes(body), hashlib.sha256).digest()
        job = CastJob(
            election=eid,
            submission_id=body["submission_id"],
            voter_id=body["voter_id"],
            selections=selections,
            mac=mac,
        )
        if state.definition is not None:
            sealed = state.definition.sealed
            job.prepared = (sealed, ballot_items(eid, selections, sealed))
        return await self.sequencer(eid).submit(job)

    def sequencer(self, eid: str) -> Sequencer:
        """The election's sequencer, started on first use."""
        seq = self._sequencers.get(eid)
        if seq is None:
            seq = self._sequencers[eid] = Sequencer(self, eid)
        return seq

    async def commit_batch(
        self,
        eid: str,
        jobs: list[CastJob],
        base: InFlight | None = None,
        mine: InFlight | None = None,
    ) -> list[CastJob]:
        """One group commit in two round trips: read the head and everything the batch is
        checked against; check, shuffle, hash and sign; then one statement that moves the head
        by compare-and-set and inserts everything (one transaction, one fsync). If another
        writer moved the head in between, nothing was written and the batch is checked again,
        under the head row's lock. Every job is answered only once its batch has committed.

        With ``base``, the batch builds on a batch still committing (the ``Sequencer`` keeps
        one in flight while it prepares the next); ``mine`` is filled for the batch after.
        Returns the jobs deferred to a later batch (retries of a submission in ``base``)."""
        results: dict[int, tuple[str, bool] | LedgerError] = {}
        deferred: list[int] = []
        mine = mine if mine is not None else InFlight()
        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn:
                for locked in (False, True):
                    results.clear()
                    deferred.clear()
                    try:
                        if locked:
                            # Checked again after the head moved: this time under the head
                            # row's lock (and on what is committed), so the compare-and-set
                            # cannot fail twice.
                            async with conn.transaction():
                                await conn.fetchrow(Q["lock_head"], eid)
                                done, pending = await self._try_batch(
                                    conn, eid, jobs, results, None, mine, deferred
                                )
                        else:
                            done, pending = await self._try_batch(
                                conn, eid, jobs, results, base, mine, deferred
                            )
                    except asyncpg.UniqueViolationError:
                        # Another ledger process wrote the same voter or submission first:
                        # the statement wrote nothing; the locked check sees what it wrote.
                        self.store.forget(eid)
                        if locked:
                            raise
                        continue
                    except BaseException:
                        self.store.forget(eid)
                        raise
                    if done:
                        break
                    self.store.forget(eid)
                    log.info("batch_head_moved", election_id=eid, locked=locked)
                else:
                    raise Unavailable("the log's head moved under a locked batch")
                # Committed (the statement, or the locked transaction, has returned): the
                # batch built on this one may send its write.
                mine.committed.set_result(True)
        finally:
            mine.sent.set()
            if not mine.committed.done():
                mine.committed.set_result(False)
        # The batch has committed: answer every job in it.
        for i, job in enumerate(jobs):
            if i in deferred:
                continue
            first = pending.get(i)
            outcome = results[first] if first is not None else results[i]
            if first is not None and isinstance(outcome, tuple):
                outcome = (outcome[0], True)
            if not job.future.done():
                if isinstance(outcome, LedgerError):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)
        metrics.BATCH_SIZE.observe(len(jobs) - len(deferred))
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        return [jobs[i] for i in deferred]

    async def _try_batch(
        self,
        conn: asyncpg.Connection,
        eid: str,
        jobs: list[CastJob],
        results: dict[int, tuple[str, bool] | LedgerError],
        base: InFlight | None,
        mine: InFlight,
        deferred: list[int],
    ) -> tuple[bool, dict[int, int]]:
        """Check the batch and append what it accepts: (False if the head moved meanwhile, and
        nothing was written; duplicates in the batch mapped to the job they share)."""
        accepted, pending, head, edge, state = await self._check_batch(
            conn, eid, jobs, results, base, deferred
        )
        built_on = base if edge is not None else None  # the batch still committing, if any
        if not accepted:
            # Nothing to write. Refusals may rest on ``built_on`` (its voters), so they wait
            # until it has committed; if it did not, the batch is checked again.
            if built_on is not None and not await asyncio.shield(built_on.committed):
                return False, pending
            mine.head, mine.edge = head, edge
            mine.voted, mine.submissions = set(), set()
            mine.sent.set()
            return True, pending
        appended = await self._append_ballots(
            conn, head, state, jobs, accepted, results, mine, edge, built_on
        )
        return appended, pending

    async def _check_batch(
        self,
        conn: asyncpg.Connection,
        eid: str,
        jobs: list[CastJob],
        results: dict[int, tuple[str, bool] | LedgerError],
        base: InFlight | None = None,
        deferred: list[int] | None = None,
    ) -> tuple[list[int], dict[int, int], Head, merkle.CompactRange | None, el.ElectionState]:
        """Decide each job against one read of the head and the database, and ``base``, a
        batch still committing (its head, its voters; a retry of one of its submissions is
        put in ``deferred``). Returns the accepted job numbers, duplicates in the batch mapped
        to the job whose answer they share, the head to append after (with its tree edge if
        it is ``base``'s, not yet committed) and the state."""
        sub_ids = list({j.submission_id for j in jobs})
        voter_ids = list({j.voter_id for j in jobs})
        contest_ids = list({c for j in jobs for c in j.selections})
        existing: dict[str, Any] = {}
        roll: dict[str, Any] = {}
        voted: set[tuple[str, str]] = set()
        rows = await conn.fetch(Q["batch_reads"], eid, sub_ids, voter_ids, contest_ids)
        row = next((r for r in rows if r["kind"] == "h"), None)
        if row is None:
            raise NotFound("no such election", election=eid)
        head = Head(
            election_id=eid,
            origin=row["a"],
            size=row["size"],
            chain_head=bytes(row["mac"]),
            root=bytes(row["root"]),
        )
        state = await self._state_at(conn, eid, row["version"])
        in_flight: set[str] = set()
        edge: merkle.CompactRange | None = None
        if (
            base is not None
            and base.head is not None
            and base.edge is not None
            and base.head.size > head.size
        ):
            # Still committing: build on it. Its head and edge are taken here, once, and
            # returned: a base checked again under the lock replaces them.
            head, edge = base.head, base.edge
            voted.update(base.voted)
            in_flight = set(base.submissions)
        for r in rows:
            if r["kind"] == "h":
                continue
            if r["kind"] == "s":
                existing[r["a"]] = r
            elif r["kind"] == "r":
                roll[r["a"]] = json.loads(r["doc"])
            else:
                voted.add((r["a"], r["b"]))
        accepted: list[int] = []
        pending: dict[int, int] = {}
        first_of: dict[str, int] = {}
        for i, job in enumerate(jobs):
            prior = existing.get(job.submission_id)
            if prior is not None:
                if hmac.compare_digest(bytes(prior["mac"]), job.mac):
                    results[i] = (prior["doc"], True)
                else:
                    results[i] = SubmissionConflict(submission_id=job.submission_id)
                continue
            if job.submission_id in in_flight and deferred is not None:
                deferred.append(i)  # answered by the batch still committing: ask again after
                continue
            if job.submission_id in first_of:
                j = first_of[job.submission_id]
                if hmac.compare_digest(jobs[j].mac, job.mac):
                    pending[i] = j
                else:
                    results[i] = SubmissionConflict(submission_id=job.submission_id)
                continue
            try:
                if state.phase != "poll_open":
                    raise el.WrongPhase(
                        f"ballots are not accepted in phase {state.phase}", phase=state.phase
                    )
                d = state.require_definition()
                attrs = roll.get(job.voter_id)
                if attrs is None:
                    raise NotOnRoll()
                for contest_id, chosen in job.selections.items():
                    contest = d.contest(contest_id)
                    if not el.eligible(contest.eligibility, attrs):
                        raise NotEligible(contest=contest_id)
                    if (contest_id, job.voter_id) in voted:
                        raise AlreadyVoted(contest=contest_id)
                    el.validate_selections(contest, chosen, state.not_standing(contest_id))
            except LedgerError as exc:
                results[i] = exc
                continue
            voted.update((c, job.voter_id) for c in job.selections)
            first_of[job.submission_id] = i
            accepted.append(i)
        return accepted, pending, head, edge, state

    async def _append_ballots(
        self,
        conn: asyncpg.Connection,
        head: Head,
        state: el.ElectionState,
        jobs: list[CastJob],
        accepted: list[int],
        jobs_results: dict[int, tuple[str, bool] | LedgerError],
        mine: InFlight | None = None,
        base_edge: merkle.CompactRange | None = None,
        after: InFlight | None = None,
    ) -> bool:
        """Append the accepted papers after ``head``; False (nothing written) if the head has
        moved since it was read. ``mine`` learns the new head, voters and submissions just
        before the write is sent, for the batch after to build on."""
        eid = head.election_id
        sealed = state.require_definition().sealed
        items: list[tuple[int, str, EntryTemplate, tuple[str, ...], bytes | None]] = []
        for i in accepted:
            job = jobs[i]
            prepared = job.prepared
            if prepared is None or prepared[0] != sealed:
                prepared = (sealed, ballot_items(eid, job.selections, sealed))
            items.extend((i, *item) for item in prepared[1])
        # DESIGN §6: entries carry no voter id and their order within a batch is shuffled.
        secrets.SystemRandom().shuffle(items)
        placed = await self.store.prepare(
            conn, head, [t for _, _, t, _, _ in items], edge=base_edge
        )
        receipts: dict[int, list[str]] = defaultdict(list)
        sealed_rows: list[tuple[int, str, str, bytes]] = []
        # One signature for the whole batch (docs/log-format.md §8): every receipt carries it
        # and its path to the batch's root; all share the batch's time stamp.
        signed = self.receipts.sign_batch(
            eid, [(a.index, a.leaf_hash, a.chain_hash) for a in placed.appended], utc_now()
        )
        texts = receipt_texts(signed)
        for (i, contest_id, _, chosen, secret), a, text in zip(
            items, placed.appended, texts, strict=True
        ):
            receipts[i].append(f"{encode_string(contest_id)}: {text}")
            if secret is not None:
                sealed_rows.append((a.index, contest_id, json.dumps(list(chosen)), secret))
        voted = [(c, jobs[i].voter_id) for i in accepted for c in jobs[i].selections]
        answers: list[tuple[str, bytes, str]] = []
        for i in accepted:
            # Written once, as json.dumps would (a test pins it): the stored answer for
            # retries is also the HTTP body.
            text = (
                f'{{"submission_id": {encode_string(jobs[i].submission_id)}, "receipts": '
                f"{{{', '.join(receipts[i])}}}}}"
            )
            jobs_results[i] = (text, False)
            answers.append((jobs[i].submission_id, jobs[i].mac, text))
        columns = [
            *zip(*placed.entry_rows, strict=True),
            *zip(*placed.node_rows, strict=True),
            *(zip(*voted, strict=True) if voted else ((), ())),
            *(zip(*sealed_rows, strict=True) if sealed_rows else ((), (), (), ())),
            *zip(*answers, strict=True),
        ]
        # The next batch may build on this one from here: remember the new edge now (it is
        # forgotten if the write fails), and say what the write adds.
        self.store.written(eid, placed)
        if mine is not None:
            mine.head = Head(
                election_id=eid,
                origin=head.origin,
                size=placed.size,
                chain_head=placed.chain_head,
                root=placed.root,
            )
            mine.edge = placed.edge
            mine.voted = set(voted)
            mine.submissions = {jobs[i].submission_id for i in accepted}
            mine.sent.set()
        if after is not None and not await asyncio.shield(after.committed):
            return False  # the batch this one built on did not commit: nothing is sent
        moved = await conn.fetchrow(
            Q["append_ballots"],
            eid,
            *(list(c) for c in columns),
            placed.size,
            placed.chain_head,
            placed.root,
            head.size,
            head.chain_head,
        )
        if moved is None:
            return False  # another writer moved the head: nothing was written
        metrics.APPENDS.labels("ballot_cast").inc(len(placed.appended))
        metrics.RECEIPTS.inc(len(placed.appended))
        return True

    # --- closing ----------------------------------------------------------------------------

    def _closing_task(self, eid: str, scheduled: bool = False) -> asyncio.Task[dict[str, Any]]:
        task = self._closing.get(eid)
        if task is None or task.done():
            task = asyncio.create_task(self._close(eid, scheduled), name=f"close:{eid}")
            self._closing[eid] = task
        return task

    async def close(self, eid: str) -> dict[str, Any]:
        """Close the poll and open every sealed ballot; resumable and idempotent."""
        return await asyncio.shield(self._closing_task(eid))

    async def _close(self, eid: str, scheduled: bool) -> dict[str, Any]:
        try:
            state = await self.state(eid)
            if state.phase == "poll_open":
                closing: dict[str, Any] = {"scheduled": True} if scheduled else {}
                await self.report_turnout(eid)
                await self.append_event(eid, "poll_closed", lambda s: closing)
            elif state.phase not in ("poll_closed", "declared"):
                raise el.WrongPhase(
                    f"the poll cannot close in phase {state.phase}", phase=state.phase
                )
        except BaseException:
            # Refused, or failed before the poll closed: the election is not closing, and
            # the housekeeping's checkpoints and turnout reports go on for it.
            if self._closing.get(eid) is asyncio.current_task():
                del self._closing[eid]
            raise
        opened = 0
        while True:
            async with self.pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        await conn.fetchrow(Q["lock_head"], eid)
                        state = await self._load_state(conn, eid)
                        rows = await conn.fetch(Q["unopened_ballots"], eid, OPEN_BATCH)
                        if not rows:
                            break
                        templates = []
                        for r in rows:
                            event = {
                                "contest": r["contest_id"],
                                "cast_index": r["cast_index"],
                                "selections": json.loads(r["selections"]),
                                "salt": bytes(r["salt"]).hex(),
                            }
                            el.apply(state, "ballot_opened", event)
                            templates.append(template(eid, "ballot_opened", event))
                        appended = await self.store.append(conn, eid, templates)
                        await conn.copy_records_to_table(
                            "openings",
                            records=[
                                (eid, r["cast_index"], a.index)
                                for r, a in zip(rows, appended, strict=True)
                            ],
                            columns=["election_id", "cast_index", "opened_index"],
                        )
                        await self._notify(conn, eid)
                except BaseException:
                    self.store.forget(eid)
                    raise
            opened += len(rows)
            metrics.APPENDS.labels("ballot_opened").inc(len(rows))
            log.info("ballots_opened", election_id=eid, count=len(rows), total=opened)
        cp = await self.checkpoint(eid, "openings-complete")
        log.info("poll_closed", election_id=eid, opened=opened, size=cp.checkpoint.size)
        return {"phase": "poll_closed", "opened": opened, "size": cp.checkpoint.size}

    async def unopened(self, eid: str) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval(Q["count_unopened"], eid))

    # --- results ----------------------------------------------------------------------------

    async def declare(self, eid: str, body: Any) -> Receipt:
        """Append a counter-signed result declaration (DESIGN §3 ``result_declared``)."""
        schemas.validate(schemas.DECLARATION, body)
        try:
            key = Verifier.parse(body["key"])
        except LedgerError as exc:
            raise InvalidDeclaration("the declaring key is not a verifier key") from exc
        if self.counter_keys.get(key.name, key.key_id) is None and key != self.signer.verifier:
            raise InvalidDeclaration("the declaring key is not trusted", key=key.text())
        try:
            key.verify(declaration_message(body), _b64(body["signature"]))
        except LedgerError as exc:
            raise InvalidDeclaration("the declaration signature does not verify") from exc
        if await self.unopened(eid):
            raise el.WrongPhase("sealed ballots are still being opened")
        contest = (await self.state(eid)).require_definition().contest(body["contest"])
        elected = body.get("elected", [])
        if len(elected) > contest.seats or any(contest.candidate(c) is None for c in elected):
            raise InvalidDeclaration(
                "the elected must be at most the seats, all candidates of the contest",
                contest=contest.id,
            )
        async with self.pool.acquire() as conn:
            head = await self.store.head(conn, eid)
            if body["counted_size"] > head.size:
                raise InvalidDeclaration("counted size is beyond the log", size=head.size)
            root = await self.store.root_at(conn, eid, body["counted_size"])
        if root.hex() != body["counted_root"]:
            raise InvalidDeclaration("counted root is not the log's root at that size")
        receipt, _ = await self.append_event(eid, "result_declared", lambda s: dict(body))
        return receipt

    # --- turnout and checkpoints ------------------------------------------------------------

    async def turnout(self, eid: str) -> dict[str, Any]:
        """Turnout by contest and by declared reporting dimension, small groups suppressed."""
        state = await self.state(eid)
        d = state.require_definition()
        async with self.pool.acquire() as conn:
            totals = {
                r["contest_id"]: r["n"] for r in await conn.fetch(Q["turnout_by_contest"], eid)
            }
            by: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
            for dim in d.reporting_dimensions:
                for r in await conn.fetch(Q["turnout_by_dimension"], eid, dim):
                    by[r["contest_id"]][dim][r["value"] or "(none)"] = r["n"]
        contests = {}
        for c in d.contests:
            contests[c.id] = {
                "cast": int(totals.get(c.id, 0)),
                "eligible": int(state.eligible.get(c.id, 0)),
                "by": {
                    dim: _suppress(by[c.id][dim], d.min_group_size)
                    for dim in d.reporting_dimensions
                },
            }
        return {"contests": contests}

    async def report_turnout(self, eid: str) -> None:
        """Append a ``turnout_reported`` event when turnout changed since the last one."""
        report = await self.turnout(eid)
        digest = hashlib.sha256(canonical_bytes(report)).digest()
        if self._last_turnout.get(eid) == digest:
            return
        await self.append_event(eid, "turnout_reported", lambda s: report)
        self._last_turnout[eid] = digest

    async def checkpoint(self, eid: str, reason: str) -> SignedCheckpoint:
        async with self.pool.acquire() as conn:
            cp = await self.store.checkpoint(conn, eid, [self.signer], reason)
        metrics.CHECKPOINTS.inc()
        return cp

    # --- reads ------------------------------------------------------------------------------

    async def entries(self, eid: str, start: int, limit: int) -> list[StoredEntry]:
        async with self.pool.acquire() as conn:
            await self.store.head(conn, eid)
            return await self.store.entries(conn, eid, start, limit)

    async def index_of_code(self, eid: str, code: str) -> int:
        prefix = code_prefix(code)
        upper = (int.from_bytes(prefix, "big") + 1).to_bytes(len(prefix) + 1, "big")[-len(prefix) :]
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(Q["entry_by_leaf_prefix"], eid, prefix, upper)
        if not rows:
            raise NotFound("no entry has that receipt code", code=code)
        return int(rows[0]["idx"])

    async def inclusion(self, eid: str, index: int, size: int | None) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            head = await self.store.head(conn, eid)
            if size is None:
                latest = await self.store.latest_checkpoint(conn, eid)
                size = latest.checkpoint.size if latest else head.size
            if not 0 <= index < size <= head.size:
                raise ProofUnavailable(index=index, size=size, log_size=head.size)
            proof = await self.store.inclusion_proof(conn, eid, index, size)
            (entry,) = await self.store.entries(conn, eid, index, 1)
        return {
            "index": index,
            "size": size,
            "leaf_hash": entry.leaf_hash.hex(),
            "proof": [p.hex() for p in proof],
        }

    async def consistency(self, eid: str, old: int, new: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            head = await self.store.head(conn, eid)
            if not 0 <= old <= new <= head.size:
                raise ProofUnavailable(old=old, new=new, log_size=head.size)
            proof = await self.store.consistency_proof(conn, eid, old, new)
        return {"old": old, "new": new, "proof": [p.hex() for p in proof]}


class Sequencer:
    """Group commit for one election, pipelined: while one batch's write commits, the next
    batch is read, checked, hashed and signed on top of it, and its write waits in PostgreSQL
    behind the first (the head row's lock), so the database and the ledger's CPU work at the
    same time. At most two batches are in flight; the one after waits for the older."""

    def __init__(self, ledger: Ledger, election: str) -> None:
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


def _b64(text: str) -> bytes:
    try:
        return b64_strict(text, 64, what="signature")
    except DecodeError as exc:
        raise InvalidDeclaration(f"{exc.message}") from exc


def _poll_close(d: el.Definition) -> datetime | None:
    text = d.schedule.get("poll_close")
    if not text:
        return None
    moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _parse_roll(
    content_type: str, chunks: AsyncIterator[bytes], limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """Parse a streamed roll into (voter id, attributes), checking every row."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        if len(buf) > limit:
            raise PayloadTooLarge("the roll is larger than allowed", limit=limit)
    try:
        text = buf.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRoll("the roll is not UTF-8") from exc
    rows: list[tuple[str, dict[str, Any]]] = []
    if content_type in ("text/csv", "application/csv"):
        rows = _parse_csv_roll(text)
    elif content_type in ("application/x-ndjson", "application/jsonl"):
        for line, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = strict_json.loads(raw)
            except strict_json.JsonRefused as exc:
                raise InvalidRoll(f"a line is refused: {exc}", line=line) from exc
            if not el.valid_roll_row(row):
                raise _roll_row_refused(row, line)
            try:
                json.dumps(row, ensure_ascii=False).encode()
            except UnicodeEncodeError as exc:
                raise InvalidRoll("a row holds text that is not valid Unicode", line=line) from exc
            rows.append((row["voter_id"], row.get("attributes", {})))
    else:
        raise UnsupportedMediaType(
            "a roll is text/csv or application/x-ndjson", content_type=content_type
        )
    seen: set[str] = set()
    for number, (vid, _) in enumerate(rows, start=1):
        if vid in seen:
            raise InvalidRoll("a voter id appears twice", row=number)
        seen.add(vid)
    return rows


def _parse_csv_roll(text: str) -> list[tuple[str, dict[str, Any]]]:
    """A CSV roll: a header with ``voter_id`` and attribute names, then one voter a record.
    A refusal names the physical line (1 is the header) and the column (the header name, and
    its 1-based number)."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    rows: list[tuple[str, dict[str, Any]]] = []
    header: list[str] = []
    start = 0
    try:
        for record in reader:
            line, start = start + 1, reader.line_num
            if not record:  # a blank line
                continue
            if not header:
                header = record
                _check_csv_header(header)
            else:
                rows.append(_csv_row(header, record, line))
    except csv.Error as exc:
        raw = "".join(lines[start : reader.line_num])
        number = _csv_column_over(raw, csv.field_size_limit())
        where: dict[str, Any] = {"line": start + 1}
        if number is not None:
            where.update(column_number=number)
            if number <= len(header):
                where.update(column=header[number - 1])
        raise InvalidRoll(f"the CSV cannot be read: {exc}", **where) from exc
    if not header:
        raise InvalidRoll("the CSV header must have a voter_id column")
    return rows


def _check_csv_header(header: list[str]) -> None:
    if "voter_id" not in header:
        raise InvalidRoll("the CSV header must have a voter_id column", line=1)
    for number, name in enumerate(header, start=1):
        if name != "voter_id" and not el.attribute_name(name):
            raise InvalidRoll(
                "an attribute name is 1-32 of a-z, 0-9 and _, starting with a letter",
                line=1,
                column=name,
                column_number=number,
            )
    if len(set(header)) != len(header):
        raise InvalidRoll("a column name appears twice in the CSV header", line=1)


def _csv_row(header: list[str], record: list[str], line: int) -> tuple[str, dict[str, Any]]:
    """One voter of a CSV roll whose header passed ``_check_csv_header``: every cell one line
    of text, attributes typed by ``parse_attribute``, then the rest of ``$defs/roll_row``."""
    if len(record) > len(header):
        raise InvalidRoll("a row has more cells than the header", line=line)
    clean = el.one_line("".join(record))
    voter = ""
    attributes: dict[str, Any] = {}
    for number, (name, cell) in enumerate(zip(header, record, strict=False), start=1):
        if not clean and not el.one_line(cell):
            raise InvalidRoll(
                "a cell holds a control character (or a line break)",
                line=line,
                column=name,
                column_number=number,
            )
        if name == "voter_id":
            voter = cell.strip()
        elif cell:
            try:
                attributes[name] = el.parse_attribute(cell)
            except ValueError as exc:
                raise InvalidRoll(
                    f"a cell is {exc}", line=line, column=name, column_number=number
                ) from exc
    if not 1 <= len(voter) <= 128 or len(attributes) > 32:  # the rest of $defs/roll_row
        raise _roll_row_refused({"voter_id": voter, "attributes": attributes}, line)
    return voter, attributes


def _roll_row_refused(row: Any, line: int) -> InvalidRoll:
    """The refusal of a roll row the fast check refused, with the schema's own words for
    what is wrong (``errors``: path and message, as a schema violation has)."""
    message = "a row does not match the roll row schema"
    try:
        schemas.validate(schemas.ROLL_ROW, row)
    except schemas.SchemaViolation as exc:
        return InvalidRoll(message, line=line, **exc.evidence)
    return InvalidRoll(message, line=line)


def _csv_column_over(raw: str, limit: int) -> int | None:
    """The 1-based column of the first field of the CSV record ``raw`` longer than ``limit``
    (what the csv module refuses), read as the module does: commas, double quotes, ``""``."""
    number, size, quoted, i = 1, 0, False, 0
    while i < len(raw):
        ch = raw[i]
        i += 1
        if quoted:
            if ch != '"':
                size += 1
            elif raw[i : i + 1] == '"':  # "" is one quote
                size, i = size + 1, i + 1
            else:
                quoted = False
        elif ch == '"' and size == 0:
            quoted = True
        elif ch == ",":
            number, size = number + 1, 0
        elif ch in "\r\n":
            break
        else:
            size += 1
        if size > limit:
            return number
    return None
