"""The counter service: follow each election's public log, verify, fold, persist, count, declare.

The counter is an auditor with a database. It reads only the ledger's public HTTP API (the
entries long-poll, checkpoints and consistency proofs), exactly what anyone can read, and
trusts nothing it has not checked:

- every entry goes through ``counter.tally.fold.apply``: the index must be the next one (a gap or a
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
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog

from counter.runtime import metrics
from counter.service.client import FeedEntry, LedgerClient, LedgerRefused, LedgerUnreachable, Source
from counter.service.follower import Follower, Halted, sign_declaration
from counter.storage.store import CounterStore, ProgressMoved
from ledger.errors import LedgerError
from ledger.format.keys import Keyring, Signer, Verifier
from ledger.storage.store import data_fault

log = structlog.get_logger(__name__)


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
