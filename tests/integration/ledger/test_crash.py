"""A ledger process killed with SIGKILL under concurrent load loses no receipt it issued."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ledger.format.keys import Signer

from ..conftest import ADMIN, FRONTEND, definition
from ..procs import (
    LedgerProcess,
    close_election,
    public_log,
    until_receipts,
    verify_log,
    wait_for_checkpoint,
)

AUTH = {"Authorization": f"Bearer {ADMIN}"}
FRONT = {"Authorization": f"Bearer {FRONTEND}"}
EID = "crash-2026"
VOTERS = 4000


def _paper(i: int) -> dict[str, Any]:
    return {
        "submission_id": f"crash-sub-{i:06d}",
        "voter_id": f"member-{i:05d}",
        "selections": {"members": ["ann", "cat", "bob"][: 1 + i % 3]},
    }


async def _load(
    url: str, todo: asyncio.Queue[int], receipts: dict[int, dict[str, Any]], unknown: set[int]
) -> None:
    """Cast until the queue is empty or the server dies; remember in-flight papers."""
    async with aiohttp.ClientSession() as session:
        while not todo.empty():
            i = todo.get_nowait()
            try:
                async with session.post(
                    f"{url}/v1/elections/{EID}/ballots", json=_paper(i), headers=FRONT
                ) as r:
                    body = await r.json()
                    if r.status in (200, 201):
                        receipts[i] = body["receipts"]["members"]
                    else:
                        unknown.add(i)
            except (aiohttp.ClientError, TimeoutError):
                unknown.add(i)
                return


async def test_sigkill_under_load_loses_no_receipt(db_url: str, tmp_path: Path) -> None:
    """Two SIGKILLs at random points of a 64-way load: every receipt any client received
    is in the log, verifiable to a signed checkpoint; no ballot is in the log twice."""
    ledger = LedgerProcess(db_url, tmp_path)
    rng = random.Random(20261123)
    receipts: dict[int, dict[str, Any]] = {}
    try:
        await ledger.start()
        async with aiohttp.ClientSession(headers=AUTH) as s:
            roll = "voter_id,age\n" + "".join(f"member-{i:05d},30\n" for i in range(VOTERS))
            doc = definition(nomination_threshold=0)
            assert (await s.put(f"{ledger.url}/v1/elections/{EID}", json=doc)).status == 201
            r = await s.put(
                f"{ledger.url}/v1/elections/{EID}/roll",
                data=roll.encode(),
                headers={"Content-Type": "text/csv"},
            )
            assert r.status == 200
            assert (await s.post(f"{ledger.url}/v1/elections/{EID}/poll/open")).status == 200
        todo: asyncio.Queue[int] = asyncio.Queue()
        for i in range(VOTERS):
            todo.put_nowait(i)
        for _round in range(2):
            unknown: set[int] = set()
            workers = [
                asyncio.create_task(_load(ledger.url, todo, receipts, unknown)) for _ in range(64)
            ]
            # Killed at a random point of the casting, reached by progress, not by time: once
            # 200 to 1,200 more receipts were issued (the load of 4,000 is far from over).
            await until_receipts(receipts, len(receipts) + rng.randint(200, 1200))
            ledger.kill()
            await asyncio.gather(*workers)
            assert receipts, "no receipt was issued before the kill"
            await ledger.start()
            # Clients retry what they sent without an answer: same submission id, same paper.
            retry: asyncio.Queue[int] = asyncio.Queue()
            for i in sorted(unknown):
                retry.put_nowait(i)
            still: set[int] = set()
            await asyncio.gather(*(_load(ledger.url, retry, receipts, still) for _ in range(8)))
            assert not still
        # Let the ledger sign a checkpoint over everything, then verify from the public feed.
        await close_election(ledger.url, EID)
        await wait_for_checkpoint(ledger.url, EID)
        entries, note = await public_log(ledger.url, EID)
        verify_log(entries, note, Signer.parse((tmp_path / "ledger.key").read_text()), receipts)
    finally:
        ledger.stop()


pytestmark = pytest.mark.slow
