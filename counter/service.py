"""The counter service: follow each election's public log, verify, fold, persist, count, declare.

The counter is an auditor with a database. It reads only the ledger's public HTTP API (the
entries long-poll, checkpoints and consistency proofs), exactly what anyone can read, and
trusts nothing it has not checked:

- every entry goes through ``counter.fold.apply``: the index must be the next one (a gap or a
  repeat stops the election's fold with an alert, it is never skipped), the leaf and chain
  hashes are recomputed and compared with the published ones, the event is checked against its
  schema and phase;
- every signed checkpoint is verified with the pinned ledger keys; when the fold reaches a
  checkpoint's size its root must equal the checkpoint's, and a newer checkpoint must be
  consistent (RFC 9162 proof) with the last verified one;
- each batch is committed in one transaction (``CounterStore.commit_batch``): progress by
  compare-and-swap on the old size, the verified entries into the mirror, the projection.

On start a follower rebuilds its fold by refolding its own mirror (local, no network) and
checks it reaches the stored progress (size, chain head, root), then continues over HTTP.
One follower per election holds a PostgreSQL advisory lock; a second instance waits.

Once the poll has closed and every sealed ballot is opened (``FoldState.counted_at``) each
contest is counted by its rule, the result stored with its BLT, and a ``result_declared``
signed by the counter's key is posted to the ledger. A declaration already in the log is
compared with the recount: equal marks the result declared, different raises an alert.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, Protocol

import aiohttp
import asyncpg
import structlog

from counter import blt, metrics
from counter import fold as fl
from counter.errors import CounterError
from counter.store import CounterStore, MirrorEntry, Progress, ProgressMoved, ResultMismatch
from ledger import election as el
from ledger import merkle
from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.encoding import hex_strict
from ledger.errors import DecodeError, LedgerError, VerificationError
from ledger.keys import Keyring, Signer, Verifier
from ledger.store import data_fault

log = structlog.get_logger(__name__)


class LedgerUnreachable(LedgerError):
    """The ledger could not be reached or answered with a server error; retry later."""


class LedgerRefused(LedgerError):
    """The ledger refused the request."""


class Halted(VerificationError):
    """The election's fold stopped: the log did not verify (see the alert's evidence)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEntry:
    index: int
    body: bytes
    leaf_hash: bytes
    chain_hash: bytes


class Source(Protocol):
    """What a follower reads from (and posts to) the ledger: its public API."""

    async def entries(self, eid: str, start: int, limit: int, wait: int) -> list[FeedEntry]: ...

    async def checkpoint_sizes(self, eid: str) -> list[int]: ...

    async def checkpoint_note(self, eid: str, size: int) -> str: ...

    async def consistency(self, eid: str, old: int, new: int) -> list[bytes]: ...

    async def declare(self, eid: str, body: Mapping[str, Any]) -> tuple[int, Any]: ...


# --- the ledger's HTTP API ---------------------------------------------------------------------


def _hex32(value: Any, what: str) -> bytes:
    try:
        return hex_strict(value, 32, what=what)
    except DecodeError as exc:
        raise LedgerRefused(exc.message) from exc


class LedgerClient:
    """The ledger's public API over HTTP (and the counter-token results endpoint)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.token = token

    async def _get(self, path: str, *, seconds: float = 30.0, text: bool = False) -> Any:
        try:
            async with self.session.get(
                self.base + path, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as r:
                if r.status >= 500:
                    raise LedgerUnreachable(status=r.status, path=path)
                if r.status != 200:
                    raise LedgerRefused(status=r.status, path=path, body=(await r.text())[:300])
                return await r.text() if text else await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LedgerUnreachable(error=str(exc) or type(exc).__name__, path=path) from exc

    async def elections(self) -> list[dict[str, Any]]:
        body = await self._get("/v1/elections")
        return list(body["elections"])

    async def election(self, eid: str) -> dict[str, Any]:
        body: dict[str, Any] = await self._get(f"/v1/elections/{eid}")
        return body

    async def keys(self) -> dict[str, Any]:
        body: dict[str, Any] = await self._get("/v1/keys")
        return body

    async def entries(self, eid: str, start: int, limit: int, wait: int) -> list[FeedEntry]:
        body = await self._get(
            f"/v1/elections/{eid}/entries?start={start}&limit={limit}&wait={wait}",
            seconds=wait + 30.0,
        )
        try:
            return [
                FeedEntry(
                    index=int(e["index"]),
                    body=str(e["entry"]).encode(),
                    leaf_hash=_hex32(e["leaf_hash"], "leaf_hash"),
                    chain_hash=_hex32(e["chain_hash"], "chain_hash"),
                )
                for e in body["entries"]
            ]
        except (KeyError, TypeError) as exc:
            raise LedgerRefused("the entries page is malformed", start=start) from exc

    async def checkpoint_sizes(self, eid: str) -> list[int]:
        body = await self._get(f"/v1/elections/{eid}/checkpoints")
        return [int(s) for s in body["sizes"]]

    async def checkpoint_note(self, eid: str, size: int) -> str:
        note: str = await self._get(f"/v1/elections/{eid}/checkpoints/{size}", text=True)
        return note

    async def consistency(self, eid: str, old: int, new: int) -> list[bytes]:
        body = await self._get(f"/v1/elections/{eid}/proofs/consistency?old={old}&new={new}")
        return [_hex32(p, "proof element") for p in body["proof"]]

    async def declare(self, eid: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with self.session.post(
                f"{self.base}/v1/elections/{eid}/results", json=dict(body), headers=headers
            ) as r:
                return r.status, await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LedgerUnreachable(error=str(exc) or type(exc).__name__) from exc


# --- pure helpers ------------------------------------------------------------------------------


def sign_declaration(document: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """The ``result_declared`` request body of a counted result, signed by ``signer``."""
    body = {**fl.declaration_for(document), "key": signer.verifier.text()}
    body["signature"] = base64.b64encode(signer.sign(el.declaration_message(body))).decode()
    return body


def progress_of(
    state: fl.FoldState, origin: str, checkpoint: tuple[int, bytes, str | None]
) -> Progress:
    size, root, note = checkpoint
    return Progress(
        election_id=state.election,
        origin=origin,
        size=state.size,
        chain_head=state.chain_head,
        root=state.root,
        checkpoint_size=size,
        checkpoint_root=root,
        checkpoint_note=note,
        stopped=None,
    )


def projection(state: fl.FoldState) -> dict[str, Any]:
    """The stored projection: the fold's running tallies, plus the definition's titles."""
    out = fl.running(state)
    d = state.phase.definition
    if d is not None:
        out["definition"] = {
            "title": d.title,
            "sealed": d.sealed,
            "contests": {
                c.id: {"title": c.title, "seats": c.seats, "method": c.method, "rule": c.rule}
                for c in d.contests
            },
        }
    return out


def _age(entry_time: str) -> float:
    try:
        then = datetime.fromisoformat(entry_time).timestamp()
    except ValueError:
        return 0.0
    return max(0.0, time.time() - then)


# --- one election ------------------------------------------------------------------------------


class Follower:
    """Follows one election: restore from the mirror, then verify-fold-commit batch by batch."""

    def __init__(
        self,
        *,
        election: str,
        origin: str,
        pool: asyncpg.Pool,
        store: CounterStore,
        source: Source,
        keyring: Keyring,
        signer: Signer | None,
        batch: int = 1000,
        wait: int = 25,
        retry: float = 1.0,
    ) -> None:
        self.election = election
        self.retry = retry
        self.origin = origin
        self.pool = pool
        self.store = store
        self.source = source
        self.keyring = keyring
        self.signer = signer
        self.batch = batch
        self.wait = wait
        self.state = fl.initial(election)
        self.progress: Progress | None = None
        self.declared_at: dict[str, int] = {}
        self.posted: set[str] = set()
        self.uncountable: set[str] = set()  # contests whose count failed: alerted once
        self.status = "starting"
        self.reason: str | None = None
        """Why the follow failed (status ``failed``)."""
        self.ledger_size = 0
        self.caught_up = False
        self.log = log.bind(election_id=election)

    # --- state ----------------------------------------------------------------------------

    def _apply(self, state: fl.FoldState, e: FeedEntry | MirrorEntry) -> fl.FoldState:
        new = fl.apply(state, e.index, e.body, leaf_hash=e.leaf_hash, chain_hash=e.chain_hash)
        if len(new.declarations) != len(state.declarations):
            for contest in set(new.declarations) - set(state.declarations):
                self.declared_at[contest] = e.index
        return new

    async def restore(self) -> None:
        """Rebuild the fold from the local mirror and check it reaches the stored progress."""
        async with self.pool.acquire() as conn:
            progress = await self.store.ensure_progress(conn, self.election, self.origin)
            state = fl.initial(self.election)
            self.declared_at = {}
            try:
                async for e in self.store.mirror(conn, self.election):
                    state = self._apply(state, e)
            except fl.FoldError as exc:
                await self._halt(conn, "the local mirror does not refold", exc.evidence)
        self.state = state
        self.progress = progress
        if progress.origin != self.origin:
            await self._halt_new(
                "the ledger's origin changed", {"stored": progress.origin, "now": self.origin}
            )
        if (state.size, state.chain_head, state.root) != (
            progress.size,
            progress.chain_head,
            progress.root,
        ):
            await self._halt_new(
                "the local mirror disagrees with the stored progress",
                {
                    "mirror_size": state.size,
                    "progress_size": progress.size,
                    "mirror_chain_head": state.chain_head.hex(),
                    "progress_chain_head": progress.chain_head.hex(),
                },
            )
        if progress.stopped:
            self.status = "stopped"
            raise Halted(progress.stopped, election=self.election)
        self.ledger_size = max(self.ledger_size, state.size)
        metrics.SIZE.labels(self.election).set(state.size)
        self.log.info("fold_restored", size=state.size)

    async def _halt(
        self, conn: asyncpg.Connection, message: str, evidence: Mapping[str, Any]
    ) -> NoReturn:
        await self.store.alert(conn, self.election, message, dict(evidence))
        await self.store.stop(conn, self.election, message)
        metrics.ALERTS.labels(self.election).inc()
        self.status = "stopped"
        self.log.error("fold_stopped", reason=message, **{k: str(v) for k, v in evidence.items()})
        raise Halted(message, election=self.election, **evidence)

    async def _halt_new(self, message: str, evidence: Mapping[str, Any]) -> NoReturn:
        async with self.pool.acquire() as conn:
            await self._halt(conn, message, evidence)

    async def fail(self, reason: str, exc: asyncpg.DataError) -> None:
        """Stop following after the store refused the election's data (``data_fault``): one
        alert, status ``failed`` with the reason. The log is not judged (progress is not
        marked stopped): a counter restarted after a fix tries again."""
        self.status, self.reason = "failed", reason
        metrics.ERRORS.labels("data").inc()
        self.log.error("follow_failed", reason=reason, sqlstate=exc.sqlstate)
        evidence = {"sqlstate": exc.sqlstate, "error": type(exc).__name__, "size": self.state.size}
        try:
            async with self.pool.acquire() as conn:
                await self.store.alert(
                    conn,
                    self.election,
                    f"the counter cannot store this election: {reason}",
                    evidence,
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            self.log.error("alert_failed", error=str(err))
            return
        metrics.ALERTS.labels(self.election).inc()

    # --- one batch ------------------------------------------------------------------------

    async def step(self, wait: int | None = None) -> int:
        """Read, verify, fold and commit one batch; return how many entries it held."""
        assert self.progress is not None, "restore() first"
        old = self.progress
        start = self.state.size
        got = await self.source.entries(
            self.election, start, self.batch, self.wait if wait is None else wait
        )
        if not got:
            self.caught_up = True
            self.ledger_size = max(self.ledger_size, start)
            self._lag()
            return 0
        began = time.perf_counter()
        sizes = await self.source.checkpoint_sizes(self.election)
        state = self.state
        folded: list[MirrorEntry] = []
        roots: dict[int, bytes] = {}
        wanted = {s for s in sizes if start < s <= start + len(got)}
        failure: tuple[str, dict[str, Any]] | None = None
        for e in got:
            try:
                state = self._apply(state, e)
            except fl.FoldError as exc:
                failure = (exc.message, dict(exc.evidence))
                break
            folded.append(
                MirrorEntry(
                    index=e.index, body=e.body, leaf_hash=e.leaf_hash, chain_hash=e.chain_hash
                )
            )
            if state.size in wanted:
                roots[state.size] = state.root
        checkpoint = (old.checkpoint_size, old.checkpoint_root, old.checkpoint_note)
        try:
            checkpoint = await self._check_checkpoints(checkpoint, roots, sizes)
        except VerificationError as exc:
            failure = failure or (exc.message, dict(exc.evidence))
            folded, state = [], self.state  # nothing of a batch that fails a checkpoint
        new = progress_of(state, self.origin, checkpoint)
        running = projection(state)
        async with self.pool.acquire() as conn:
            if folded or new != old:
                await self.store.commit_batch(
                    conn, old=old, new=new, entries=folded, running=running
                )
            self.state, self.progress = state, new
            metrics.FOLDED.labels(self.election).inc(len(folded))
            metrics.BATCHES.labels(self.election).inc()
            metrics.SIZE.labels(self.election).set(state.size)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - began)
            if failure is not None:
                await self._halt(conn, failure[0], failure[1])
        self.caught_up = len(got) < self.batch
        self.ledger_size = max(self.ledger_size, state.size, max(sizes, default=0))
        self._lag()
        self.log.debug("batch_folded", size=state.size, entries=len(folded))
        return len(folded)

    async def _check_checkpoints(
        self,
        last: tuple[int, bytes, str | None],
        roots: Mapping[int, bytes],
        sizes: Sequence[int],
    ) -> tuple[int, bytes, str | None]:
        """Verify the checkpoints this batch reached (roots must match) and the newest one
        (consistent with the last verified); return the new last verified checkpoint."""
        for size in sorted(roots):
            cp, note = await self._open(size)
            if cp.root != roots[size]:
                raise VerificationError(
                    "the log's root differs from the signed checkpoint",
                    size=size,
                    checkpoint_root=cp.root.hex(),
                    folded_root=roots[size].hex(),
                )
            last = (size, cp.root, note)
        newest = max(sizes, default=0)
        if newest > last[0]:
            cp, note = await self._open(newest)
            proof = await self.source.consistency(self.election, last[0], newest)
            try:
                merkle.verify_consistency(last[0], newest, last[1], cp.root, proof)
            except VerificationError as exc:
                raise VerificationError(
                    "a newer checkpoint is not consistent with the last verified one",
                    old=last[0],
                    old_root=last[1].hex(),
                    new=newest,
                    new_root=cp.root.hex(),
                    proof=[p.hex() for p in proof],
                ) from exc
            last = (newest, cp.root, note)
        return last

    async def _open(self, size: int) -> tuple[Checkpoint, str]:
        note = await self.source.checkpoint_note(self.election, size)
        cp = open_checkpoint(note, self.keyring, origin=self.origin)
        if cp.size != size:
            raise VerificationError("checkpoint of another size", asked=size, found=cp.size)
        return cp, note

    def _lag(self) -> None:
        behind = 0 if self.caught_up else max(0, self.ledger_size - self.state.size)
        metrics.LAG_ENTRIES.labels(self.election).set(behind)
        seconds = 0.0 if self.caught_up else _age(self.state.last_time)
        metrics.LAG_SECONDS.labels(self.election).set(seconds)
        self.status = "caught_up" if self.caught_up else "following"

    # --- results --------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Count, store and declare the final results once the log allows it."""
        state = self.state
        if state.counted_at is None:
            return
        d = state.phase.require_definition()
        async with self.pool.acquire() as conn:
            stored = {r.contest_id: r for r in await self.store.results(conn, self.election)}
            for c in d.contests:
                if c.id not in stored and c.id not in self.uncountable:
                    try:
                        _, document = fl.count_contest(state, c.id)
                    except CounterError as exc:
                        # The count cannot run (e.g. no valid rule input): say so loudly, keep
                        # following, count the other contests, and take in their declarations.
                        # One alert per contest, not one per pass.
                        self.uncountable.add(c.id)
                        metrics.ERRORS.labels("count").inc()
                        self.log.error("contest_count_failed", contest=c.id, error=str(exc))
                        await self.store.alert(
                            conn,
                            self.election,
                            f"contest {c.id} cannot be counted: {exc}",
                            {"contest": c.id},
                        )
                        continue
                    text = blt.dump(fl.profile_of(state, c.id), c.seats)
                    try:
                        await self.store.save_result(
                            conn, self.election, document, fl.result_hash(document), text
                        )
                    except ResultMismatch as exc:
                        await self._halt(conn, exc.message, exc.evidence)
                    self.log.info("contest_counted", contest=c.id, size=document["counted_size"])
            stored = {r.contest_id: r for r in await self.store.results(conn, self.election)}
            for c in d.contests:
                mine = stored.get(c.id)
                if mine is None:
                    continue  # not countable (alerted above): nothing to declare or compare
                declared = state.declarations.get(c.id)
                if declared is not None:
                    if declared.get("result_hash") != mine.result_hash:
                        await self._halt(
                            conn,
                            "the declared result differs from the recount",
                            {
                                "contest": c.id,
                                "declared_hash": declared.get("result_hash"),
                                "recounted_hash": mine.result_hash,
                                "declared_index": self.declared_at.get(c.id),
                            },
                        )
                    if not mine.declared:
                        await self.store.mark_declared(
                            conn, self.election, c.id, self.declared_at.get(c.id)
                        )
                        self.log.info("result_declaration_verified", contest=c.id)
                elif self.signer is not None and c.id not in self.posted:
                    await self._declare(conn, c.id, mine.document)

    async def _declare(self, conn: asyncpg.Connection, contest: str, document: Any) -> None:
        assert self.signer is not None
        body = sign_declaration(document, self.signer)
        status, answer = await self.source.declare(self.election, body)
        if status in (200, 201):
            self.posted.add(contest)
            self.log.info("result_declared", contest=contest, result_hash=body["result_hash"])
        elif status == 409:
            self.posted.add(contest)  # declared already: the feed will bring it, then compare
            self.log.info("result_already_declared", contest=contest)
        elif status >= 500:
            metrics.ERRORS.labels("declare").inc()
            self.log.warning("declaration_failed", contest=contest, status=status)
        else:
            self.posted.add(contest)
            metrics.ERRORS.labels("declare").inc()
            await self.store.alert(
                conn,
                self.election,
                "the ledger refused the result declaration",
                {"contest": contest, "status": status, "problem": answer},
            )
            self.log.error("declaration_refused", contest=contest, status=status)

    # --- the loop -------------------------------------------------------------------------

    async def follow(self) -> None:
        """Restore, then verify-fold-commit forever (until halted or cancelled)."""
        await self.restore()
        await self.reconcile()
        while True:
            try:
                n = await self.step(wait=self.wait if self.caught_up else 0)
                if n or self.state.counted_at is not None:
                    await self.reconcile()
            except LedgerUnreachable as exc:
                # The polling fallback: the long-poll failed; try again shortly.
                metrics.ERRORS.labels("ledger_unreachable").inc()
                self.status = "retrying"
                self.log.warning("ledger_unreachable", error=str(exc))
                await asyncio.sleep(self.retry)


# --- the service -------------------------------------------------------------------------------


class Counter:
    """Every followed election's follower, key trust, discovery and status."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        client: LedgerClient,
        signer: Signer | None,
        ledger_keys: Sequence[str] = (),
        elections: Sequence[str] = (),
        batch: int = 1000,
        wait: int = 25,
        retry: float = 1.0,
        discover_interval: float = 10.0,
    ) -> None:
        self.pool = pool
        self.connect = connect
        self.client = client
        self.signer = signer
        self.pinned = tuple(ledger_keys)
        self.configured = tuple(elections)
        self.batch, self.wait, self.retry = batch, wait, retry
        self.discover_interval = discover_interval
        self.store = CounterStore()
        self.keyring: Keyring | None = None
        self.followers: dict[str, Follower] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._discovery: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._discovery = asyncio.create_task(self._discover_loop(), name="counter:discover")

    async def stop(self) -> None:
        tasks = [t for t in [self._discovery, *self._tasks.values()] if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def trust(self) -> Keyring:
        """The ledger keys: pinned by configuration, or trusted on first use and stored."""
        if self.keyring is not None:
            return self.keyring
        texts = list(self.pinned)
        if not texts:
            async with self.pool.acquire() as conn:
                texts = await self.store.trusted_keys(conn)
            if not texts:
                keys = await self.client.keys()
                texts = [str(k) for k in keys.get("ledger", [])]
                for text in texts:
                    Verifier.parse(text)
                async with self.pool.acquire() as conn:
                    for text in texts:
                        await self.store.trust_key(conn, text, self.client.base + "/v1/keys")
                log.warning(
                    "ledger_key_trusted_on_first_use",
                    keys=texts,
                    ledger=self.client.base,
                    advice="pin BALLOT_COUNTER_LEDGER_KEYS to verify the ledger independently",
                )
        self.keyring = Keyring(Verifier.parse(t) for t in texts)
        return self.keyring

    async def _discover_loop(self) -> None:
        while True:
            try:
                await self.discover()
            except LedgerError as exc:
                metrics.ERRORS.labels("discover").inc()
                log.warning("discovery_failed", error=str(exc))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                metrics.ERRORS.labels("database").inc()
                log.warning("discovery_failed", error=str(exc))
            await asyncio.sleep(self.discover_interval if self.keyring else self.retry)

    async def discover(self) -> None:
        """Start a follower for every election to follow that has none yet."""
        keyring = await self.trust()
        listed = {e["election"]: e for e in await self.client.elections()}
        wanted = self.configured or tuple(sorted(listed))
        for eid in wanted:
            if eid in listed and eid in self.followers:
                f = self.followers[eid]
                f.ledger_size = max(f.ledger_size, int(listed[eid].get("size", 0)))
            if eid in self._tasks or eid not in listed:
                continue
            follower = Follower(
                election=eid,
                origin=str(listed[eid]["origin"]),
                pool=self.pool,
                store=self.store,
                source=self.client,
                keyring=keyring,
                signer=self.signer,
                batch=self.batch,
                wait=self.wait,
                retry=self.retry,
            )
            follower.ledger_size = int(listed[eid].get("size", 0))
            self.followers[eid] = follower
            self._tasks[eid] = asyncio.create_task(self._run(follower), name=f"follow:{eid}")
            log.info("election_followed", election_id=eid)

    async def _run(self, follower: Follower) -> None:
        """Hold the election's advisory lock and follow; wait while another instance holds it."""
        eid = follower.election
        while True:
            try:
                conn = await self.connect()
                try:
                    if not await self.store.try_lock(conn, eid):
                        follower.status = "standby"
                        await asyncio.sleep(self.retry)
                        continue
                    log.info("follower_active", election_id=eid)
                    await follower.follow()
                finally:
                    with contextlib.suppress(Exception):
                        await conn.close()
            except Halted:
                return
            except ProgressMoved:
                metrics.ERRORS.labels("progress_moved").inc()
                log.warning("progress_moved", election_id=eid)
            except LedgerError as exc:
                metrics.ERRORS.labels("ledger").inc()
                follower.status = "retrying"
                log.warning("follow_retry", election_id=eid, error=str(exc))
                await asyncio.sleep(self.retry)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                reason = data_fault(exc) if isinstance(exc, asyncpg.DataError) else None
                if reason is not None:
                    # The same data fails the same way on every retry: say so once and stop.
                    await follower.fail(reason, exc)
                    return
                metrics.ERRORS.labels("database").inc()
                follower.status = "retrying"
                log.warning("follow_retry", election_id=eid, error=str(exc))
                await asyncio.sleep(self.retry)
            except Exception:
                # Never die silently: log the traceback, count it, and try again.
                metrics.ERRORS.labels("unexpected").inc()
                follower.status = "retrying"
                log.exception("follow_crashed", election_id=eid)
                await asyncio.sleep(self.retry)

    def status(self) -> dict[str, Any]:
        return {
            eid: {
                "status": f.status,
                "size": f.state.size,
                "ledger_size": f.ledger_size,
                "lag_entries": 0 if f.caught_up else max(0, f.ledger_size - f.state.size),
                **({"reason": f.reason} if f.reason is not None else {}),
            }
            for eid, f in sorted(self.followers.items())
        }


__all__ = [
    "Counter",
    "FeedEntry",
    "Follower",
    "Halted",
    "LedgerClient",
    "LedgerRefused",
    "LedgerUnreachable",
    "Source",
    "sign_declaration",
]
