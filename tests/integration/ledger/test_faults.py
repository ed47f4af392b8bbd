"""Fault injection against the ledger as a real process on real PostgreSQL: repeated SIGKILL
under load, a batch that times out in the database, slow and oversized clients."""

from __future__ import annotations

import asyncio
import io
import json
import random
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from ledger.format.acceptance import event_hash

from ..procs import (
    FRONT,
    SECONDS,
    LedgerProcess,
    Load,
    close_election,
    open_election,
    paper,
    public_log,
    retry_until_answered,
    until_receipts,
    verify_log,
    wait_for_checkpoint,
)


@pytest.mark.slow
async def test_repeated_sigkill_under_load_loses_no_receipt(db_url: str, tmp_path: Path) -> None:
    """Four SIGKILLs at random points of a 64-way load: every receipt any client received
    is in the log, the chain, root and checkpoint verify, and no paper is in it twice."""
    eid = "kill-2026"
    rng = random.Random(20261124)
    ledger = LedgerProcess(db_url, tmp_path)
    load = Load(ledger.url, eid, range(6000))
    try:
        await ledger.start()
        await open_election(ledger.url, eid, 6000)
        for _ in range(4):
            workers = asyncio.create_task(load.run(64))
            # A random point of the casting, reached by progress, not by time: once 150 to
            # 1,000 more receipts were issued (at most 4,000 of the 6,000: the load goes on).
            await until_receipts(load, len(load.receipts) + rng.randint(150, 1000))
            ledger.kill()
            await workers
            await ledger.start()
            await retry_until_answered(load)
        assert len(load.receipts) > 500, "too few receipts before the kills to mean anything"
        await close_election(ledger.url, eid)
        await wait_for_checkpoint(ledger.url, eid)
        entries, note = await public_log(ledger.url, eid)
        verify_log(entries, note, ledger.key, load.receipts)
    finally:
        ledger.stop()


async def test_batch_that_times_out_fails_whole(db_url: str, tmp_path: Path) -> None:
    """A batch whose insert hits statement_timeout (another session holds a lock) fails as a
    whole: every client in it gets 503 with Retry-After, neither the pending store nor the log
    has anything of it, and the same papers go through once the lock is gone."""
    eid = "timeout-2026"
    admin = await asyncpg.connect(db_url)
    try:
        ledger = LedgerProcess(db_url, tmp_path)
        try:
            await ledger.start()
            await open_election(ledger.url, eid, 300)
            # The timeout only once the election is set up (a slow machine's roll upload must
            # not hit it), for the sessions of the ledger started again.
            await admin.execute(
                f"ALTER DATABASE {db_url.rsplit('/', 1)[1]} SET statement_timeout = 700"
            )
            ledger.stop()
            await ledger.start()
            before = await admin.fetchval("SELECT size FROM logs WHERE election_id = $1", eid)
            load = Load(ledger.url, eid, range(200))
            async with admin.transaction():
                # SHARE blocks INSERT, not SELECT: the batch checks, holds the election row,
                # then waits on the pending store until statement_timeout cancels it.
                await admin.execute("LOCK TABLE pending IN SHARE MODE")
                await load.run(16, stop_on_error=False)
            assert not load.receipts
            assert load.statuses == {503: 200}
            assert all(retry == "1" for _, retry in load.refusals)
            size = await admin.fetchval("SELECT size FROM logs WHERE election_id = $1", eid)
            rows = await admin.fetchval(
                "SELECT (SELECT count(*) FROM pending WHERE election_id = $1)"
                " + (SELECT count(*) FROM participation WHERE election_id = $1)",
                eid,
            )
            assert (size, rows) == (before, 0)
            await retry_until_answered(load)
            await close_election(ledger.url, eid)
            await wait_for_checkpoint(ledger.url, eid)
            entries, note = await public_log(ledger.url, eid)
            verify_log(entries, note, ledger.key, load.receipts)
            assert len(load.receipts) == 200
        finally:
            ledger.stop()
    finally:
        await admin.close()


async def _stall(
    url: str, eid: str, n: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """``n`` connections that send headers announcing a body and then never send it."""
    host, port = url.removeprefix("http://").split(":")
    stalled = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            (
                f"POST /v1/elections/{eid}/ballots HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: {FRONT['Authorization']}\r\n"
                "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"
            ).encode()
        )
        await writer.drain()
        stalled.append((reader, writer))
    return stalled


async def test_slow_and_oversized_clients_do_not_stall_others(db_url: str, tmp_path: Path) -> None:
    """With 200 connections stalled mid-body and clients sending 2 MB bodies, 32 ordinary
    clients still cast 1,000 papers while every stalled connection stays open (they are not
    served after them, nor once the stalled ones are dropped); every oversized body is refused
    with 413."""
    eid = "slow-2026"
    ledger = LedgerProcess(db_url, tmp_path)
    try:
        await ledger.start()
        await open_election(ledger.url, eid, 1000)
        stalled = await _stall(ledger.url, eid, 200)
        huge = b'{"submission_id": "' + b"x" * (2 << 20) + b'"}'
        big_statuses: list[int] = []

        async def oversized() -> None:
            async with aiohttp.ClientSession() as s:
                for _ in range(5):
                    async with s.post(
                        f"{ledger.url}/v1/elections/{eid}/ballots",
                        data=io.BytesIO(huge),
                        headers={**FRONT, "Content-Type": "application/json"},
                    ) as r:
                        big_statuses.append(r.status)

        load = Load(ledger.url, eid, range(1000))
        # Not a speed test: the bound is only reached if the ordinary clients hang.
        await asyncio.wait_for(
            asyncio.gather(load.run(32), *(oversized() for _ in range(4))), SECONDS
        )
        assert len(load.receipts) == 1000 and not load.unknown
        assert big_statuses == [413] * 20
        # The stalled connections are still open and still not answered; the server is fine.
        assert not [reader for reader, _ in stalled if reader.at_eof()]
        async with aiohttp.ClientSession() as s, s.get(f"{ledger.url}/readyz") as r:
            assert r.status == 200
        for _, w in stalled:
            w.close()
    finally:
        ledger.stop()


async def test_paper_after_faults_gets_a_receipt_once(db_url: str, tmp_path: Path) -> None:
    """A client that retries a paper after a restart gets the original receipt back
    (idempotent replay), not a second ballot: the log has it once after the close."""
    eid = "replay-2026"
    ledger = LedgerProcess(db_url, tmp_path)
    try:
        await ledger.start()
        await open_election(ledger.url, eid, 10)
        async with aiohttp.ClientSession() as s:
            url = f"{ledger.url}/v1/elections/{eid}/ballots"
            async with s.post(url, json=paper(3), headers=FRONT) as r:
                assert r.status == 201
                first = await r.json()
        ledger.kill()
        await ledger.start()
        async with (
            aiohttp.ClientSession() as s,
            s.post(url, json=paper(3), headers=FRONT) as r,
        ):
            assert r.status == 200 and r.headers["Idempotent-Replayed"] == "true"
            assert await r.json() == first
        await close_election(ledger.url, eid)
        entries, _ = await public_log(ledger.url, eid)
        casts = [e["entry"] for e in entries if '"type":"ballot_cast"' in e["entry"]]
        assert len(casts) == 1
        assert first["receipts"]["members"]["event_hash"] in {
            event_hash(json.loads(c)["event"]).hex() for c in casts
        }
    finally:
        ledger.stop()
