"""Closing is resumable: a ledger killed midway through the openings finishes them after a
restart, each sealed ballot opened exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg

from ledger.format.entry import parse_entry

from ..procs import AUTH, SECONDS, LedgerProcess, Load, open_election, public_log

EID = "resume-2026"
VOTERS = 5000
LOCK = 20261201
HOLD_SECOND_BATCH = f"""
CREATE FUNCTION hold_second_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM openings) THEN
        PERFORM pg_advisory_xact_lock({LOCK});
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER hold_second_batch BEFORE INSERT ON openings
    FOR EACH STATEMENT EXECUTE FUNCTION hold_second_batch();
"""
"""Test-only: an opening batch that finds openings committed waits for the test's lock."""


async def test_openings_resume_after_a_crash(db_url: str, tmp_path: Path) -> None:
    """SIGKILL the ledger after some but not all opening batches committed: after a restart it
    opens the rest by itself, and every ballot_cast has exactly one ballot_opened."""
    ledger = LedgerProcess(db_url, tmp_path)
    try:
        await ledger.start()
        await open_election(ledger.url, EID, VOTERS)
        load = Load(ledger.url, EID, range(VOTERS))
        await load.run(32, stop_on_error=False)
        assert len(load.receipts) == VOTERS
        conn = await asyncpg.connect(db_url)
        try:
            # The kill falls between opening batches on any machine: a batch that finds
            # openings already committed waits (mid-transaction) on a lock the test holds.
            await conn.execute(HOLD_SECOND_BATCH)
            await conn.execute("SELECT pg_advisory_lock($1)", LOCK)
            async with aiohttp.ClientSession(headers=AUTH) as s:
                closing = asyncio.create_task(s.post(f"{ledger.url}/v1/elections/{EID}/poll/close"))
                waiting = None
                deadline = time.monotonic() + SECONDS
                while waiting is None:
                    assert time.monotonic() < deadline, "no second opening batch in sight"
                    await asyncio.sleep(0.01)
                    waiting = await conn.fetchval(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                ledger.kill()  # between opening batches (2,000 per transaction)
                await conn.fetchval("SELECT pg_terminate_backend($1)", waiting)
                partial = await conn.fetchval("SELECT count(*) FROM openings")
                closing.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                    await closing
            await conn.execute(
                "DROP TRIGGER hold_second_batch ON openings; DROP FUNCTION hold_second_batch()"
            )
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK)
        finally:
            await conn.close()
        assert 0 < partial < VOTERS, "the kill should land midway through the openings"
        await ledger.start()  # resumes the unfinished closing by itself
        state: dict[str, object] = {}
        deadline = time.monotonic() + SECONDS
        async with aiohttp.ClientSession() as s:
            while True:
                async with s.get(f"{ledger.url}/v1/elections/{EID}") as r:
                    state = await r.json()
                if state["phase"] == "poll_closed" and state["unopened"] == 0:
                    break
                assert time.monotonic() < deadline, f"the openings did not finish: {state}"
                await asyncio.sleep(0.05)
        assert state["unopened"] == 0
        entries, _ = await public_log(ledger.url, EID)
        parsed = [parse_entry(e["entry"].encode()) for e in entries]
        casts = {i for i, p in enumerate(parsed) if p.kind == "ballot_cast"}
        openings = Counter(p.event["cast_index"] for p in parsed if p.kind == "ballot_opened")
        assert set(openings) == casts and set(openings.values()) == {1}
        assert sum(p.kind == "poll_closed" for p in parsed) == 1
    finally:
        ledger.stop()
