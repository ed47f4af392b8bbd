"""PostgreSQL faults under load, each on a private cluster with fsync on: an immediate restart
(crash recovery) and the loss of a primary with a synchronous standby promoted in its place."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from ..procs import (
    DURABLE,
    SECONDS,
    Cluster,
    LedgerProcess,
    Load,
    close_election,
    create_database,
    open_election,
    private_root,
    public_log,
    remove,
    retry_until_answered,
    until_receipts,
    verify_log,
    wait_for_checkpoint,
)

pytestmark = pytest.mark.slow


async def test_immediate_restart_under_load(tmp_path: Path) -> None:
    """`pg_ctl restart -m immediate` under 64-way load: the ledger recovers by itself, every
    refusal meanwhile is a 503 with Retry-After, and every receipt issued is in the log."""
    eid = "restart-2026"
    root = private_root()
    cluster = Cluster(data_dir=root / "data", settings=dict(DURABLE))
    cluster.start()
    ledger: LedgerProcess | None = None
    try:
        url = await create_database(cluster.admin_url)
        ledger = LedgerProcess(url, tmp_path)
        await ledger.start()
        await open_election(ledger.url, eid, 4000)
        load = Load(ledger.url, eid, range(4000))
        workers = asyncio.create_task(load.run(64, stop_on_error=False))
        await until_receipts(load, 200)  # under load: restart once ballots are flowing
        await asyncio.to_thread(cluster.restart_immediate)
        await workers
        assert load.receipts, "no receipt before the restart"
        assert {status for status, _ in load.refusals} <= {503}
        assert all(retry == "1" for _, retry in load.refusals)
        await retry_until_answered(load)
        assert len(load.receipts) == 4000
        await close_election(ledger.url, eid)
        await wait_for_checkpoint(ledger.url, eid)
        entries, note = await public_log(ledger.url, eid)
        verify_log(entries, note, ledger.key, load.receipts)
    finally:
        if ledger is not None:
            ledger.stop()
        cluster.stop(mode="immediate")
        remove(root)


async def test_primary_lost_with_synchronous_standby_loses_nothing(tmp_path: Path) -> None:
    """With a synchronous standby, a primary stopped in immediate mode under load and the
    standby promoted: every ballot whose receipt a client received is on the new primary."""
    eid = "failover-2026"
    root = private_root()
    primary = Cluster(
        data_dir=root / "primary",
        settings={**DURABLE, "synchronous_standby_names": "'*'", "wal_level": "replica"},
    )
    standby = Cluster(data_dir=root / "standby", settings=dict(DURABLE))
    ledger: LedgerProcess | None = None
    try:
        primary.start()
        await asyncio.to_thread(primary.base_backup_to, standby)
        standby.start()
        conn = await asyncpg.connect(primary.admin_url)
        try:
            deadline = time.monotonic() + SECONDS  # a hang guard, not a speed test
            while True:
                state = await conn.fetchval("SELECT sync_state FROM pg_stat_replication")
                if state == "sync" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert state == "sync"
        finally:
            await conn.close()
        url = await create_database(primary.admin_url)
        ledger = LedgerProcess(url, tmp_path)
        await ledger.start()
        await open_election(ledger.url, eid, 3000)
        load = Load(ledger.url, eid, range(3000))
        workers = asyncio.create_task(load.run(64, stop_on_error=False))
        await until_receipts(load, 200)  # under load: stop the primary once ballots flow
        await asyncio.to_thread(primary.stop, "immediate")
        await asyncio.sleep(0.5)
        ledger.kill()
        await workers
        assert len(load.receipts) > 100, "too few receipts before the failover"
        await asyncio.to_thread(standby.pg_ctl, "-w", "promote")
        conn = await asyncpg.connect(standby.url("ballot_ledger"))
        try:
            rows = await conn.fetch(
                "SELECT event_hash FROM pending WHERE election_id = $1"
                " UNION ALL SELECT event_hash FROM entries"
                " WHERE election_id = $1 AND event_hash IS NOT NULL",
                eid,
            )
            idx = [
                r["idx"]
                for r in await conn.fetch("SELECT idx FROM entries WHERE election_id = $1", eid)
            ]
        finally:
            await conn.close()
        # Every acceptance receipt's ballot survived on the standby: waiting in the pending
        # store or released into the log, once.
        kept = [bytes(r["event_hash"]).hex() for r in rows]
        assert len(kept) == len(set(kept))
        assert {rc["event_hash"] for rc in load.receipts.values()} <= set(kept)
        assert sorted(idx) == list(range(len(idx)))
    finally:
        if ledger is not None:
            ledger.stop()
        for cluster in (standby, primary):
            if cluster.started_here:
                cluster.stop(mode="immediate")
        remove(root)
