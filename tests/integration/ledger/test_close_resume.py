"""Closing is resumable: a ledger killed midway through the openings finishes them after a
restart, each sealed ballot opened exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg

from ledger.format.entry import parse_entry

from ..procs import AUTH, LedgerProcess, Load, open_election, public_log

EID = "resume-2026"
VOTERS = 5000


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
        async with aiohttp.ClientSession(headers=AUTH) as s:
            closing = asyncio.create_task(s.post(f"{ledger.url}/v1/elections/{EID}/poll/close"))
            conn = await asyncpg.connect(db_url)
            try:
                opened = 0
                for _ in range(2000):
                    opened = await conn.fetchval("SELECT count(*) FROM openings")
                    if opened > 0:
                        break
                    await asyncio.sleep(0.005)
                ledger.kill()  # between opening batches (2,000 per transaction)
                partial = await conn.fetchval("SELECT count(*) FROM openings")
            finally:
                await conn.close()
            closing.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await closing
        assert 0 < partial < VOTERS, "the kill should land midway through the openings"
        await ledger.start()  # resumes the unfinished closing by itself
        state: dict[str, object] = {}
        async with aiohttp.ClientSession() as s:
            for _ in range(400):
                async with s.get(f"{ledger.url}/v1/elections/{EID}") as r:
                    state = await r.json()
                if state["phase"] == "poll_closed" and state["unopened"] == 0:
                    break
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
