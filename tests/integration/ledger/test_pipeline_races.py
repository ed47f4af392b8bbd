"""The pipelined sequencer's races, made deterministic: another connection holds the election's
head row, so batch N's write waits in PostgreSQL while the next batch is prepared on top of it.
Each step waits for what it needs to have happened (a write waiting on the lock, a batch
taken or a paper checked, seen from inside the sequencer), never for a fixed time. (Found in
review; each test failed before its fix.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from ledger.errors import AlreadyVoted
from ledger.http.app import LEDGER, create_app
from ledger.service.casting import Casting
from ledger.service.sequencer import CastJob, Sequencer

from ..conftest import AUTH_FRONTEND, SIGNER, AppClient, paper, setup_election

EID = "nec-2026"


async def cast(client: AppClient, body: dict[str, Any]) -> tuple[int, Any]:
    r = await client.post(f"/v1/elections/{EID}/ballots", json=body, headers=AUTH_FRONTEND)
    return r.status, await r.json()


SECONDS = 60.0
"""Bound on every wait for an observable condition: reached only if the ledger hangs."""


async def until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Wait until ``check()`` holds, however fast or slow the machine; fail after
    ``SECONDS``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SECONDS
    while True:
        held = check()
        if not isinstance(held, bool):
            held = await held
        if held:
            return
        assert loop.time() < deadline, f"still waiting for {what} after {SECONDS} s"
        await asyncio.sleep(0.01)


class Watch:
    """What the sequencer did, seen from inside: the submission ids of every batch it took,
    and those a batch deferred (a retry of a submission still committing)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken: list[set[str]] = []
        self.deferred: set[str] = set()
        self.checked: dict[str, object] = {}
        """Submission id: its outcome in the last check (a refusal, or absent if accepted)."""
        take, check = Sequencer._take, Casting._check_batch

        async def _take(seq: Sequencer) -> list[CastJob]:
            batch = await take(seq)
            self.taken.append({job.submission_id for job in batch})
            return batch

        async def _check_batch(
            casting: Casting,
            conn: Any,
            eid: str,
            jobs: list[CastJob],
            results: Any,
            base: Any = None,
            deferred: Any = None,
        ) -> Any:
            out = await check(casting, conn, eid, jobs, results, base, deferred)
            self.deferred.update(jobs[i].submission_id for i in deferred or ())
            self.checked.update((jobs[i].submission_id, r) for i, r in results.items())
            return out

        monkeypatch.setattr(Sequencer, "_take", _take)
        monkeypatch.setattr(Casting, "_check_batch", _check_batch)

    def batch_of(self, submission_id: str) -> int | None:
        """The number of the batch that took ``submission_id`` (last taken), if any."""
        found = [n for n, ids in enumerate(self.taken) if submission_id in ids]
        return found[-1] if found else None


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    return Watch(monkeypatch)


async def hold_head(db_url: str) -> tuple[asyncpg.Connection, Any]:
    conn = await asyncpg.connect(db_url)
    tr = conn.transaction()
    await tr.start()
    await conn.fetchrow("SELECT size FROM logs WHERE election_id = $1 FOR UPDATE", EID)
    return conn, tr


async def waiting_write(conn: asyncpg.Connection) -> int:
    """The backend of the batch whose write waits on the held head row, once it is there."""
    pid: int | None = None

    async def waits() -> bool:
        nonlocal pid
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        return pid is not None

    await until(waits, "a batch's write to wait on the head row's lock")
    assert pid is not None
    return pid


async def kill_the_waiting_write(conn: asyncpg.Connection, tr: Any) -> None:
    """Terminate the backend of the batch whose write waits on the held head row (waiting
    for it to get there), then let the row go."""
    pid = await waiting_write(conn)
    await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    await tr.rollback()
    await conn.close()


@pytest.fixture
async def client(settings: Any, aiohttp_client: Any) -> AppClient:
    c: AppClient = await aiohttp_client(create_app(settings, SIGNER))
    await setup_election(c)
    return c


async def test_a_retry_deferred_behind_a_committing_batch_is_answered_when_idle(
    client: AppClient, db_url: str, watch: Watch
) -> None:
    """The retry of a paper whose batch is still committing waits for a later batch; with no
    other cast arriving, it must still be answered (the original receipt, replayed)."""
    conn, tr = await hold_head(db_url)
    first = asyncio.create_task(cast(client, paper("v001")))
    await waiting_write(conn)  # batch N read, signed, its write waiting on the row lock
    retry = asyncio.create_task(cast(client, paper("v001")))
    await until(lambda: "sub-v001-0001" in watch.deferred, "batch N+1 to defer the retry")
    await tr.commit()
    await conn.close()
    status, body = await asyncio.wait_for(first, SECONDS)
    assert status == 201
    again, replayed = await asyncio.wait_for(retry, SECONDS)
    assert again == 200 and replayed == body


async def test_already_voted_waits_for_the_batch_it_rests_on(
    client: AppClient, db_url: str, watch: Watch
) -> None:
    """A voter's second paper, refused because the first is in a batch still committing, is not
    answered until that batch commits; if it fails, the second paper is checked again."""
    conn, tr = await hold_head(db_url)
    p1 = asyncio.create_task(cast(client, paper("v001", sub="first-paper-0001")))
    await waiting_write(conn)  # the first paper's batch is committing
    p2 = asyncio.create_task(cast(client, paper("v001", sub="second-paper-01", members=["bob"])))
    await until(
        lambda: isinstance(watch.checked.get("second-paper-01"), AlreadyVoted),
        "the second paper to be checked against the first paper's batch",
    )
    done, _ = await asyncio.wait({p2}, timeout=1.5)
    assert not done, "answered 'already voted' before the first paper was committed"
    await kill_the_waiting_write(conn, tr)  # before the first batch's write commits
    assert (await asyncio.wait_for(p1, SECONDS))[0] == 503
    assert (await asyncio.wait_for(p2, SECONDS))[0] == 201  # checked again: the first never counted


async def test_stopping_answers_every_paper_in_flight(
    client: AppClient, db_url: str, watch: Watch
) -> None:
    """Stop the ledger with one batch writing, one prepared on it and one taken: every client
    gets an answer, none hangs."""
    conn, tr = await hold_head(db_url)
    tasks = [asyncio.create_task(cast(client, paper("v001")))]
    await waiting_write(conn)  # batch N writing
    # The sequencer takes a batch only once the one before is prepared (its write sent, or
    # waiting for the batch it builds on): v002 taken, then v003 taken, means batch N+1 is
    # prepared on N and batch N+2 is taken.
    for voter in ("v002", "v003"):
        tasks.append(asyncio.create_task(cast(client, paper(voter))))
        await until(
            lambda voter=voter: watch.batch_of(f"sub-{voter}-0001") is not None,
            f"the sequencer to take {voter}'s paper",
        )
    assert [watch.batch_of(f"sub-{v}-0001") for v in ("v001", "v002", "v003")] == [0, 1, 2]
    sequencer = client.app[LEDGER]._sequencers[EID]
    await sequencer.stop()
    await tr.rollback()
    await conn.close()
    done, pending = await asyncio.wait(tasks, timeout=SECONDS)
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
