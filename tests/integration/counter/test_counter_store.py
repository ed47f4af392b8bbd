"""The counter's follower on real PostgreSQL: crash-safe persistence, alerts, CAS, declaring.

The ledger is simulated by an in-memory source over a synthetic log (the same pure code the
ledger uses), so these tests exercise the follower and its store without HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ballot.bench import synthetic
from counter.ballots import blt
from counter.service import Counter, FeedEntry, Follower, Halted, LedgerClient
from counter.service.follower import projection
from counter.storage.store import CounterStore, ProgressMoved, migrate
from counter.tally import fold as fl
from ledger.domain import election as el
from ledger.format.checkpoint import open_checkpoint
from ledger.format.keys import Keyring

from ...conftest import run_sync

KEYRING = Keyring([synthetic.SYNTH_SIGNER.verifier])


class Killed(Exception):
    """A simulated crash of the follower process."""


class LogSource:
    """The ledger's public API over a synthetic log; faults are injected by the tests."""

    def __init__(self, log: synthetic.SyntheticLog) -> None:
        self.log = log
        self.notes = {
            open_checkpoint(n, KEYRING, origin=log.origin).size: n for n in log.checkpoints
        }
        self.entries_override: dict[int, FeedEntry] = {}
        self.skip: int | None = None
        self.declared: list[dict[str, Any]] = []

    def entry(self, i: int) -> FeedEntry:
        if i in self.entries_override:
            return self.entries_override[i]
        log = self.log
        return FeedEntry(
            index=i, body=log.entries[i], leaf_hash=log.leaves[i], chain_hash=log.chains[i]
        )

    async def entries(self, eid: str, start: int, limit: int, wait: int) -> list[FeedEntry]:
        indices = [i for i in range(start, len(self.log.entries)) if i != self.skip]
        return [self.entry(i) for i in indices[:limit]]

    async def checkpoint_sizes(self, eid: str) -> list[int]:
        return sorted(self.notes)

    async def checkpoint_note(self, eid: str, size: int) -> str:
        return self.notes[size]

    async def consistency(self, eid: str, old: int, new: int) -> list[bytes]:
        return self.log.tree.consistency_proof(old, new)

    async def declare(self, eid: str, body: Any) -> tuple[int, Any]:
        self.declared.append(dict(body))
        return 201, {}


class CrashingStore(CounterStore):
    """A store whose batch transaction fails (rolls back) when ``crash`` is set."""

    crash = False

    async def write_projection(self, conn: Any, progress: Any, running: Any) -> None:
        await super().write_projection(conn, progress, running)
        if self.crash:
            raise Killed


@cache
def _log(sealed: bool, election: str) -> synthetic.SyntheticLog:
    return synthetic.build(voters=40, seed=11, sealed=sealed, election=election)


@pytest.fixture(scope="module")
def counter_url(pg_admin_url: str) -> Iterator[str]:
    """One counter database for the module (each test uses its own election ids)."""
    from ...conftest import _execute, with_database

    name = f"ballot_counter_{uuid.uuid4().hex[:8]}"
    run_sync(_execute(pg_admin_url, f'CREATE DATABASE "{name}"'))
    url = with_database(pg_admin_url, name)

    async def setup() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    run_sync(setup())
    yield url
    run_sync(_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def follower(
    pool: asyncpg.Pool,
    log: synthetic.SyntheticLog,
    source: LogSource,
    store: CounterStore | None = None,
    **kw: Any,
) -> Follower:
    return Follower(
        election=log.election,
        origin=log.origin,
        pool=pool,
        store=store or CounterStore(),
        source=source,
        keyring=KEYRING,
        signer=kw.pop("signer", None),
        **kw,
    )


async def _stored(pool: asyncpg.Pool, eid: str) -> tuple[Any, Any, Any, Any]:
    store = CounterStore()
    async with pool.acquire() as conn:
        progress = await store.progress(conn, eid)
        running = await store.projection(conn, eid)
        results = {r.contest_id: r for r in await store.results(conn, eid)}
        mirror = [e.body async for e in store.mirror(conn, eid)]
    return progress, running, results, mirror


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_kill_and_restart_anywhere_gives_the_recount(counter_url: str, data: st.DataObject) -> None:
    """Random batch sizes, crashes inside a batch's transaction and restarts between batches
    leave the stored mirror, progress, projection and results equal to a recount from scratch."""
    sealed = data.draw(st.booleans(), label="sealed")
    eid = f"prop-{uuid.uuid4().hex[:10]}"
    log = synthetic.build(voters=40, seed=data.draw(st.integers(0, 5)), sealed=sealed, election=eid)
    plan = data.draw(
        st.lists(
            st.tuples(st.integers(1, 60), st.sampled_from(["ok", "ok", "crash", "restart"])),
            min_size=1,
            max_size=30,
        ),
        label="plan",
    )

    async def run() -> None:
        pool = await asyncpg.create_pool(counter_url, min_size=1, max_size=2)
        try:
            source = LogSource(log)
            store = CrashingStore()
            f = follower(pool, log, source, store)
            await f.restore()
            steps = [*plan, *([(50, "ok")] * (len(log.entries) // 50 + 2))]
            for size, action in steps:
                f.batch = size
                store.crash = action == "crash"
                try:
                    if await f.step(wait=0):
                        await f.reconcile()
                except Killed:
                    f = follower(pool, log, source, store)  # the process died; a new one
                    store.crash = False
                    await f.restore()
                    await f.reconcile()
                if action == "restart":
                    f = follower(pool, log, source, store)
                    await f.restore()
                    await f.reconcile()
            scratch = fl.fold(fl.initial(eid), enumerate(log.entries))
            progress, running, results, mirror = await _stored(pool, eid)
            assert mirror == log.entries
            assert (progress.size, progress.chain_head, progress.root) == (
                scratch.size,
                scratch.chain_head,
                scratch.root,
            )
            assert running == projection(scratch)
            for contest in ("members", "youth"):
                _, document = fl.count_contest(scratch, contest)
                assert results[contest].document == document
                assert results[contest].result_hash == fl.result_hash(document)
                assert results[contest].declared
        finally:
            await pool.close()

    run_sync(run())


async def test_a_gap_in_the_feed_stops_the_fold_with_an_alert(counter_url: str) -> None:
    """An entry missing from the feed is never skipped: the fold stops before it, alerted."""
    log = _log(True, "gap-election")
    source = LogSource(log)
    source.skip = 5
    pool = await asyncpg.create_pool(counter_url, min_size=1, max_size=2)
    try:
        f = follower(pool, log, source)
        await f.restore()
        with pytest.raises(Halted, match="index is not the next one"):
            await f.step(wait=0)
        store = CounterStore()
        async with pool.acquire() as conn:
            progress = await store.progress(conn, log.election)
            found = await store.alerts(conn, log.election)
        assert progress is not None and progress.size == 5
        assert progress.stopped == "entry 6: index is not the next one"
        assert found[0]["evidence"]["expected"] == 5 and found[0]["evidence"]["found"] == 6
        with pytest.raises(Halted):
            await follower(pool, log, source).restore()  # stays stopped across restarts
    finally:
        await pool.close()


async def test_a_tampered_hash_or_checkpoint_stops_the_fold(counter_url: str) -> None:
    """A published leaf hash that does not recompute, or a checkpoint root that differs from
    the folded root, stops the fold with the evidence."""
    for kind in ("leaf", "checkpoint"):
        eid = f"tamper-{kind}"
        log = synthetic.build(voters=20, seed=2, election=eid)
        source = LogSource(log)
        if kind == "leaf":
            e = source.entry(3)
            source.entries_override[3] = FeedEntry(
                index=3, body=e.body, leaf_hash=bytes(32), chain_hash=e.chain_hash
            )
        else:
            size = sorted(source.notes)[1]
            forged = synthetic.SyntheticLog(election=eid, origin=log.origin)
            forged.tree.extend([bytes(32)] * size)
            forged.entries = [b""] * size
            source.notes[size] = forged.checkpoint()
        pool = await asyncpg.create_pool(counter_url, min_size=1, max_size=2)
        try:
            f = follower(pool, log, source, batch=1000)
            await f.restore()
            with pytest.raises(Halted) as caught:
                await f.step(wait=0)
            async with pool.acquire() as conn:
                found = await CounterStore().alerts(conn, eid)
            assert len(found) == 1
            if kind == "leaf":
                assert "leaf hash" in found[0]["message"]
                assert found[0]["evidence"]["found"] == "00" * 32
            else:
                assert "differs from the signed checkpoint" in str(caught.value)
                assert (
                    found[0]["evidence"]["checkpoint_root"] != found[0]["evidence"]["folded_root"]
                )
        finally:
            await pool.close()


async def test_compare_and_swap_stops_a_second_writer(counter_url: str) -> None:
    """Two followers of one election: once one commits, the other's stale batch is refused."""
    log = _log(False, "cas-election")
    pool = await asyncpg.create_pool(counter_url, min_size=1, max_size=3)
    try:
        a, b = follower(pool, log, LogSource(log)), follower(pool, log, LogSource(log))
        await a.restore()
        await b.restore()
        a.batch = b.batch = 10
        assert await a.step(wait=0) == 10
        with pytest.raises(ProgressMoved):
            await b.step(wait=0)
        await b.restore()  # reload: b now continues where a left off
        assert b.state.size == 10 and await b.step(wait=0) == 10
    finally:
        await pool.close()


async def test_advisory_lock_admits_one_follower(counter_url: str) -> None:
    """The election's advisory lock is held by one session at a time."""
    store = CounterStore()
    one, two = await asyncpg.connect(counter_url), await asyncpg.connect(counter_url)
    try:
        assert await store.try_lock(one, "locked-election")
        assert not await store.try_lock(two, "locked-election")
        await store.unlock(one, "locked-election")
        assert await store.try_lock(two, "locked-election")
    finally:
        await one.close()
        await two.close()


async def test_results_are_declared_signed_and_a_different_declaration_alerts(
    counter_url: str,
) -> None:
    """With a signing key the follower posts a signed declaration per contest; a declaration
    in the log whose hash differs from the recount raises an alert and stops the fold."""
    log = synthetic.build(voters=30, seed=5, election="declare-election", declare=False)
    source = LogSource(log)
    pool = await asyncpg.create_pool(counter_url, min_size=1, max_size=2)
    try:
        f = follower(pool, log, source, signer=synthetic.COUNTER_SIGNER)
        await f.restore()
        await f.step(wait=0)
        await f.reconcile()
        assert sorted(d["contest"] for d in source.declared) == ["members", "youth"]
        state = fl.fold(fl.initial(log.election), enumerate(log.entries))
        for body in source.declared:
            synthetic.COUNTER_SIGNER.verifier.verify(
                el.declaration_message(body), base64.b64decode(body["signature"])
            )
            _, document = fl.count_contest(state, body["contest"])
            assert body["result_hash"] == fl.result_hash(document)
        async with pool.acquire() as conn:
            members = await CounterStore().blt(conn, log.election, "members")
        assert members == blt.dump(fl.profile_of(state, "members"), 3)
        # A declaration that disagrees with the recount.
        wrong = {**source.declared[0], "result_hash": "ab" * 32}
        wrong = synthetic.sign_declaration(
            {k: v for k, v in wrong.items() if k not in ("key", "signature")}
        )
        log.append("result_declared", wrong)
        await f.step(wait=0)
        with pytest.raises(Halted, match="differs from the recount"):
            await f.reconcile()
    finally:
        await pool.close()


def test_restart_refolds_only_the_local_mirror(counter_url: str) -> None:
    """A restarted follower rebuilds its state from its own mirror, without the network."""
    log = _log(True, "offline-election")

    class Offline(LogSource):
        async def entries(self, eid: str, start: int, limit: int, wait: int) -> list[FeedEntry]:
            raise AssertionError("restore must not read the feed")

    async def run() -> None:
        pool = await asyncpg.create_pool(counter_url, min_size=1, max_size=2)
        try:
            f = follower(pool, log, LogSource(log), batch=37)
            await f.restore()
            await f.step(wait=0)
            await f.step(wait=0)
            g = follower(pool, log, Offline(log))
            await g.restore()
            assert (g.state.size, g.state.root) == (74, f.state.root)
            assert fl.running(g.state) == fl.running(f.state)
        finally:
            await pool.close()

    run_sync(asyncio.wait_for(run(), 120))  # a hang guard


class UnstorableStore(CounterStore):
    """A store whose projection holds ``\\u0000``, which jsonb refuses (as a definition's
    title with U+0000 would, were it let through): the same write fails on every retry."""

    async def write_projection(self, conn: Any, progress: Any, running: Any) -> None:
        await super().write_projection(conn, progress, {**running, "title": "a\x00b"})


async def test_data_the_store_refuses_fails_the_election_once(counter_url: str) -> None:
    """A permanent data error in the fold's store: one alert, the follow stops with status
    `failed` and the reason (no retry loop adding alerts), and nothing is persisted as stopped."""
    log = _log(False, "unstorable-election")
    pool = await asyncpg.create_pool(counter_url, min_size=1, max_size=3)
    store = UnstorableStore()
    counter = Counter(
        pool=pool,
        connect=lambda: asyncpg.connect(counter_url),
        client=LedgerClient(None, "http://ledger.invalid", None),  # type: ignore[arg-type]
        signer=None,
        retry=0.01,
    )
    counter.store = store
    f = follower(pool, log, LogSource(log), store, retry=0.01)
    counter.followers[log.election] = f
    try:
        run = asyncio.create_task(counter._run(f))
        done, _ = await asyncio.wait({run}, timeout=60)  # a hang guard: it ends at once
        assert done, f"still {f.status} after a minute: the follow retries forever"
        run.result()
        status = counter.status()[log.election]
        assert status["status"] == "failed"
        assert "Unicode escape sequence" in status["reason"]
        async with pool.acquire() as conn:
            alerts = await store.alerts(conn, log.election)
            progress = await store.progress(conn, log.election)
        assert len(alerts) == 1 and "cannot store" in alerts[0]["message"]
        assert alerts[0]["evidence"]["sqlstate"] == "22P05"
        assert progress is not None and progress.stopped is None and progress.size == 0
    finally:
        await pool.close()
