"""The pipelined sequencer's races, made deterministic: another connection holds the election's
head row, so batch N's write waits in PostgreSQL while the next batch is prepared on top of it.
(Found in review; each test failed before its fix.)"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from ledger.http.app import LEDGER, create_app

from ..conftest import AUTH_FRONTEND, SIGNER, AppClient, paper, setup_election

EID = "nec-2026"


async def cast(client: AppClient, body: dict[str, Any]) -> tuple[int, Any]:
    r = await client.post(f"/v1/elections/{EID}/ballots", json=body, headers=AUTH_FRONTEND)
    return r.status, await r.json()


async def hold_head(db_url: str) -> tuple[asyncpg.Connection, Any]:
    conn = await asyncpg.connect(db_url)
    tr = conn.transaction()
    await tr.start()
    await conn.fetchrow("SELECT size FROM logs WHERE election_id = $1 FOR UPDATE", EID)
    return conn, tr


async def kill_the_waiting_write(conn: asyncpg.Connection, tr: Any) -> None:
    """Terminate the backend of the batch whose write waits on the held head row (waiting
    for it to get there), then let the row go."""
    pid = None
    while pid is None:
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        if pid is None:
            await asyncio.sleep(0.05)
    await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    await tr.rollback()
    await conn.close()


@pytest.fixture
async def client(settings: Any, aiohttp_client: Any) -> AppClient:
    c: AppClient = await aiohttp_client(create_app(settings, SIGNER))
    await setup_election(c)
    return c


async def test_a_retry_deferred_behind_a_committing_batch_is_answered_when_idle(
    client: AppClient, db_url: str
) -> None:
    """The retry of a paper whose batch is still committing waits for a later batch; with no
    other cast arriving, it must still be answered (the original receipt, replayed)."""
    conn, tr = await hold_head(db_url)
    first = asyncio.create_task(cast(client, paper("v001")))
    await asyncio.sleep(0.5)  # batch N read, signed, its write waiting on the row lock
    retry = asyncio.create_task(cast(client, paper("v001")))
    await asyncio.sleep(0.5)  # batch N+1, on top of N, defers the retry
    await tr.commit()
    await conn.close()
    status, body = await asyncio.wait_for(first, 5)
    assert status == 201
    again, replayed = await asyncio.wait_for(retry, 5)
    assert again == 200 and replayed == body


async def test_already_voted_waits_for_the_batch_it_rests_on(
    client: AppClient, db_url: str
) -> None:
    """A voter's second paper, refused because the first is in a batch still committing, is not
    answered until that batch commits; if it fails, the second paper is checked again."""
    conn, tr = await hold_head(db_url)
    p1 = asyncio.create_task(cast(client, paper("v001", sub="first-paper-0001")))
    await asyncio.sleep(0.5)
    p2 = asyncio.create_task(cast(client, paper("v001", sub="second-paper-01", members=["bob"])))
    done, _ = await asyncio.wait({p2}, timeout=1.5)
    assert not done, "answered 'already voted' before the first paper was committed"
    await kill_the_waiting_write(conn, tr)  # before the first batch's write commits
    assert (await asyncio.wait_for(p1, 5))[0] == 503
    assert (await asyncio.wait_for(p2, 5))[0] == 201  # checked again: the first never counted


async def test_stopping_answers_every_paper_in_flight(client: AppClient, db_url: str) -> None:
    """Stop the ledger with one batch writing, one prepared on it and one taken: every client
    gets an answer, none hangs."""
    conn, tr = await hold_head(db_url)
    tasks = []
    for voter in ("v001", "v002", "v003"):
        tasks.append(asyncio.create_task(cast(client, paper(voter))))
        await asyncio.sleep(0.5)
    sequencer = client.app[LEDGER]._sequencers[EID]
    await sequencer.stop()
    await tr.rollback()
    await conn.close()
    done, pending = await asyncio.wait(tasks, timeout=5)
    for task in pending:
        task.cancel()
    assert not pending, "a paper was left without an answer"
    assert all(t.result()[0] == 503 for t in done)


async def test_a_database_outage_is_still_503_with_retry_after(
    client: AppClient, db_url: str
) -> None:
    """A batch whose connection is killed while it writes is 503 unavailable with Retry-After
    (a fault of the database, not of its papers: no 422), and the same paper goes through
    afterwards."""
    conn, tr = await hold_head(db_url)
    url = f"/v1/elections/{EID}/ballots"
    casting = asyncio.create_task(client.post(url, json=paper("v001"), headers=AUTH_FRONTEND))
    await kill_the_waiting_write(conn, tr)
    r = await asyncio.wait_for(casting, 10)
    assert r.status == 503, await r.text()
    assert r.headers["Retry-After"] == "1"
    assert (await r.json())["type"] == "urn:ballot-ledger:problem:unavailable"
    assert (await cast(client, paper("v001")))[0] == 201
