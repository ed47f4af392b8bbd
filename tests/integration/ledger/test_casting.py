"""Casting under concurrency, idempotency, secrecy and the live feed."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from ledger.format import merkle
from ledger.format.acceptance import AcceptanceReceipt, event_hash, verify_acceptance
from ledger.format.chain import GENESIS, chain_next
from ledger.format.checkpoint import open_checkpoint
from ledger.format.entry import parse_entry
from ledger.format.keys import Keyring
from ledger.http.app import LEDGER, create_app
from ledger.service.base import Notifier

from ..conftest import (
    AUTH_ADMIN,
    AUTH_FRONTEND,
    DEFINITION,
    SIGNER,
    AppClient,
    close_poll,
    definition,
    paper,
    setup_election,
)
from .test_ledger_flow import feed

KEYRING = Keyring([SIGNER.verifier])
EID = "nec-2026"


def big_roll(n: int) -> str:
    rows = "".join(f"member-{i:05d},{['north', 'south'][i % 2]},30\n" for i in range(n))
    return "voter_id,region,age\n" + rows


async def cast(client: AppClient, body: dict[str, Any], eid: str = EID) -> tuple[int, Any]:
    r = await client.post(f"/v1/elections/{eid}/ballots", json=body, headers=AUTH_FRONTEND)
    return r.status, await r.json()


async def test_two_hundred_concurrent_casts_by_one_voter(client: AppClient) -> None:
    """200 concurrent papers from one voter in one contest: exactly one receipt, 199 conflicts."""
    await setup_election(client)
    bodies = [paper("v001", sub=f"race-{i:04d}-x") for i in range(200)]
    results = await asyncio.gather(*(cast(client, b) for b in bodies))
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 1
    assert statuses.count(409) == 199
    assert {b["type"] for s, b in results if s == 409} == {
        "urn:ballot-ledger:problem:already-voted"
    }
    await close_poll(client)
    entries = await feed(client, EID)
    assert sum(parse_entry(e["entry"].encode()).kind == "ballot_cast" for e in entries) == 1


async def test_two_thousand_voters_from_64_clients(client: AppClient) -> None:
    """2,000 voters over 64 concurrent clients: 2,000 acceptance receipts, each verified; one
    release round (all but K) and the close's round put every promised event in the log exactly
    once, at contiguous indices, and the chain and Merkle root recomputed from the feed match the
    latest checkpoint. Receipts are batch-signed with blinded, shuffled leaves."""
    doc = definition(nomination_threshold=0)
    r = await client.put(f"/v1/elections/{EID}", json=doc, headers=AUTH_ADMIN)
    assert r.status == 201
    r = await client.put(
        f"/v1/elections/{EID}/roll",
        data=big_roll(2000),
        headers={**AUTH_ADMIN, "Content-Type": "text/csv"},
    )
    assert r.status == 200, await r.text()
    r = await client.post(f"/v1/elections/{EID}/poll/open", headers=AUTH_ADMIN)
    assert r.status == 200
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(2000):
        queue.put_nowait(i)
    receipts: list[dict[str, Any]] = []

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            status, body = await cast(client, paper(f"member-{i:05d}"))
            assert status == 201, body
            receipts.append(body["receipts"]["members"])

    await asyncio.gather(*(worker() for _ in range(64)))
    assert len(receipts) == 2000
    for rc in receipts:
        verify_acceptance(AcceptanceReceipt.from_json(rc), KEYRING)
    # Nothing is in the log yet; one round releases all but K = 50, the close the rest.
    assert not [e for e in await feed(client, EID) if '"ballot_cast"' in e["entry"]]
    assert await client.app[LEDGER].release_all() == 1950
    await close_poll(client)
    await client.app[LEDGER].checkpoint(EID, "test")
    entries = await feed(client, EID)
    assert [e["index"] for e in entries] == list(range(len(entries)))
    tree, chain = merkle.MemoryTree(), GENESIS
    for e in entries:
        leaf = merkle.leaf_hash(e["entry"].encode())
        chain = chain_next(chain, leaf)
        tree.append(leaf)
        assert e["chain_hash"] == chain.hex()
    r = await client.get(f"/v1/elections/{EID}/checkpoint")
    cp = open_checkpoint(await r.text(), KEYRING)
    assert cp.size == len(entries) and cp.root == tree.root()
    casts = [parse_entry(e["entry"].encode()) for e in entries]
    released = [event_hash(c.event).hex() for c in casts if c.kind == "ballot_cast"]
    assert sorted(released) == sorted(rc["event_hash"] for rc in receipts)
    times = [c.time for c in casts if c.kind == "ballot_cast"]
    assert [len(list(g)) for _, g in itertools.groupby(times)] == [1950, 50]
    # One signature per batch: its receipts' positions are a permutation of the batch, with
    # one time stamp, each with its own blind; and 64 clients make batches of more than one.
    batches: dict[str, list[dict[str, Any]]] = {}
    for rc in receipts:
        batches.setdefault(rc["signature"], []).append(rc)
    for batch in batches.values():
        assert sorted(rc["batch"]["position"] for rc in batch) == list(range(len(batch)))
        assert {rc["batch"]["size"] for rc in batch} == {len(batch)}
        assert len({rc["time"] for rc in batch}) == 1
    assert len({rc["blind"] for rc in receipts}) == 2000
    assert len(batches) < len(receipts)


async def test_retry_returns_the_same_receipts_and_reuse_conflicts(client: AppClient) -> None:
    """A retried submission returns the original receipts; its id with other content is 409."""
    await setup_election(client)
    body = paper("v003", sub="retry-0001", members=["ann", "bob"], youth=["yan"])
    first = await cast(client, body)
    assert first[0] == 201
    again = await asyncio.gather(*(cast(client, body) for _ in range(5)))
    assert all(s == 200 and b == first[1] for s, b in again)
    # The body is the answer's JSON text as stored (jsonb), which is what json.dumps of the
    # parsed answer gives: byte for byte what a json_response of the answer sent.
    r = await client.post(f"/v1/elections/{EID}/ballots", json=body, headers=AUTH_FRONTEND)
    assert r.status == 200 and r.content_type == "application/json" and r.charset == "utf-8"
    text = await r.text()
    assert text == json.dumps(json.loads(text))
    # A fresh answer is written directly: the same bytes too.
    fresh = paper("v004", sub="fresh-0001", members=["ann"], youth=["yan"])
    r = await client.post(f"/v1/elections/{EID}/ballots", json=fresh, headers=AUTH_FRONTEND)
    assert r.status == 201
    text = await r.text()
    assert text == json.dumps(json.loads(text))
    changed = paper("v003", sub="retry-0001", members=["bob", "ann"], youth=["yan"])
    status, problem = await cast(client, changed)
    assert status == 409 and problem["type"].endswith("submission-conflict")
    await close_poll(client)
    entries = await feed(client, EID)
    assert (
        sum(parse_entry(e["entry"].encode()).kind == "ballot_cast" for e in entries) == 4
    )  # v003 and v004


async def test_one_bad_paper_does_not_fail_its_batch(client: AppClient) -> None:
    """Good and bad papers sent together: the good ones get receipts, each bad one its error."""
    await setup_election(client)
    bodies = [paper(f"v{i:03d}") for i in range(10)] + [paper("nobody-on-roll", sub="bad-0001")]
    bodies.append(paper("v001", sub="dup-00001"))  # second paper of v001
    results = await asyncio.gather(*(cast(client, b) for b in bodies))
    assert [s for s, _ in results[:10]] == [201] * 10
    assert results[10][0] == 403 and results[10][1]["type"].endswith("not-on-roll")
    assert results[11][0] == 409


async def test_sealed_log_reveals_no_selection_before_close(client: AppClient) -> None:
    """Before close, nothing public (feed, turnout, checkpoints, election) carries a selection
    or a ballot (6 is below K: they wait); identical papers get different commitments, released
    at the close in one round. After close every opening is public."""
    await setup_election(client)
    for i in range(6):
        assert (await cast(client, paper(f"v{i:03d}", members=["eve", "dan"])))[0] == 201
    await client.app[LEDGER].checkpoint(EID, "test")
    await client.app[LEDGER].report_turnout(EID)
    public = [
        json.dumps(await (await client.get(f"/v1/elections/{EID}/entries")).json()),
        json.dumps(await (await client.get(f"/v1/elections/{EID}/turnout")).json()),
        await (await client.get(f"/v1/elections/{EID}/checkpoint")).text(),
    ]
    for text in public:
        assert '"selections"' not in text and "ballot_opened" not in text
        assert "ballot_cast" not in text
    r = await client.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    assert (await r.json())["opened"] == 6
    casts = [
        parse_entry(e["entry"].encode())
        for e in await feed(client, EID)
        if parse_entry(e["entry"].encode()).kind == "ballot_cast"
    ]
    assert all(set(c.event) == {"contest", "commitment"} for c in casts)
    assert len({c.event["commitment"] for c in casts}) == 6
    assert len({c.time for c in casts}) == 1
    opened = [
        parse_entry(e["entry"].encode())
        for e in await feed(client, EID)
        if parse_entry(e["entry"].encode()).kind == "ballot_opened"
    ]
    assert [o.event["selections"] for o in opened] == [["eve", "dan"]] * 6


async def test_no_log_entry_contains_a_voter_id(client: AppClient) -> None:
    """No entry of the public log contains any voter id from the roll, and no log line does."""
    await setup_election(client)
    r = await client.put(
        f"/v1/elections/{EID}-b", json=definition(nomination_threshold=0), headers=AUTH_ADMIN
    )
    assert r.status == 201
    with capture_logs() as logs:
        for i in range(40):
            assert (await cast(client, paper(f"v{i:03d}")))[0] == 201
        await client.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    roll_ids = [f"v{i:03d}" for i in range(60)]
    text = "".join(e["entry"] for e in await feed(client, EID))
    assert not [v for v in roll_ids if v in text]
    logged = json.dumps(logs, default=str)
    assert not [v for v in roll_ids if v in logged]
    assert "ann" not in logged


async def test_long_poll_and_sse_feed_wake_on_append(
    client: AppClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-poll and an SSE stream both deliver a new entry as soon as a release round
    commits it (not at acceptance): woken by the append itself (the 1 s polling fallback is
    taken away), whatever the machine's speed."""
    waits: list[asyncio.Event] = []

    async def woken_only_by_an_append(_: Notifier, event: asyncio.Event, seconds: float) -> None:
        waits.append(event)
        await asyncio.wait_for(event.wait(), 60)  # no fallback: 60 s is a hang, not a speed

    monkeypatch.setattr(Notifier, "wait", woken_only_by_an_append)
    await setup_election(client, doc=definition(round_size=1))
    size = (await (await client.get(f"/v1/elections/{EID}")).json())["size"]
    poll = asyncio.create_task(client.get(f"/v1/elections/{EID}/entries?start={size}&wait=20"))
    sse = await client.get(f"/v1/elections/{EID}/feed?start={size}")
    assert sse.headers["Content-Type"].startswith("text/event-stream")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while len(waits) < 2:  # both found nothing from ``size`` on, and wait
        assert loop.time() < deadline, "the long-poll and the feed never waited"
        await asyncio.sleep(0.01)
    assert not poll.done()
    assert (await cast(client, paper("v007")))[0] == 201
    assert (await cast(client, paper("v008")))[0] == 201
    assert not poll.done()  # accepted, not yet released
    assert await client.app[LEDGER].release_all() == 1  # all but K = 1 of 2
    body = await (await asyncio.wait_for(poll, 60)).json()
    assert [e["index"] for e in body["entries"]] == [size]
    line = b""
    while not line.startswith(b"data: "):
        line = await asyncio.wait_for(sse.content.readline(), 60)
    assert json.loads(line[6:])["index"] == size
    sse.close()


async def test_poll_closes_itself_at_the_scheduled_time(client: AppClient) -> None:
    """An election whose poll_close time has passed is closed and opened by the ledger."""
    soon = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await setup_election(client, doc=definition(schedule={"poll_close": soon}))
    assert (await cast(client, paper("v001")))[0] == 201
    await asyncio.sleep(1.5)
    await client.app[LEDGER].tick()
    await asyncio.wait_for(client.app[LEDGER].close(EID), 60)  # a hang guard
    state = await (await client.get(f"/v1/elections/{EID}")).json()
    assert state["phase"] == "poll_closed" and state["unopened"] == 0
    kinds = [parse_entry(e["entry"].encode()) for e in await feed(client, EID)]
    closing = [k for k in kinds if k.kind == "poll_closed"]
    assert closing and closing[0].event == {"scheduled": True}
    assert (await cast(client, paper("v002")))[0] == 409


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
async def test_roll_of_100k_rows_streams_in(client: AppClient, fmt: str) -> None:
    """A 100,000-row roll uploads (CSV or NDJSON) and publishes counts and hashes only."""
    r = await client.put(f"/v1/elections/{EID}", json=DEFINITION, headers=AUTH_ADMIN)
    assert r.status == 201
    if fmt == "csv":
        data, ctype = big_roll(100_000), "text/csv"
    else:
        data = "".join(
            json.dumps({"voter_id": f"member-{i:05d}", "attributes": {"age": 20 + i % 50}}) + "\n"
            for i in range(100_000)
        )
        ctype = "application/x-ndjson"
    r = await client.put(
        f"/v1/elections/{EID}/roll",
        data=io.BytesIO(data.encode()),
        headers={**AUTH_ADMIN, "Content-Type": ctype},
    )
    assert r.status == 200, await r.text()
    summary = (await r.json())["summary"]
    assert summary["voters"] == 100_000
    expected_youth = 0 if fmt == "csv" else sum(1 for i in range(100_000) if 20 + i % 50 < 27)
    assert summary["contests"]["youth"]["eligible"] == expected_youth
    entries = await feed(client, EID)
    assert "member-0" not in "".join(e["entry"] for e in entries)


async def test_pipelined_small_batches_keep_every_answer_and_refuse_every_double_vote(
    settings: Any, aiohttp_client: Any
) -> None:
    """Batches of 4, so that most are prepared while the one before commits: each paper sent
    three times at once gets one receipt (the retries, in the same or a later batch, replay
    it); of two papers by one voter exactly one is appended; the log has nothing else."""
    client = await aiohttp_client(create_app(dataclasses.replace(settings, max_batch=4), SIGNER))
    await setup_election(client)
    voters = [f"v{i:03d}" for i in range(60)]
    bodies = [paper(v) for v in voters for _ in range(3)]
    bodies += [paper(v, sub=f"other-{v}-0001", members=["bob"]) for v in voters[::3]]
    random.Random(7).shuffle(bodies)
    results = await asyncio.gather(*(cast(client, b) for b in bodies))
    answers: dict[str, list[tuple[int, Any]]] = {}
    for body, result in zip(bodies, results, strict=True):
        answers.setdefault(body["submission_id"], []).append(result)
    won: dict[str, int] = {}
    for sub, got in answers.items():
        statuses = sorted(s for s, _ in got)
        if statuses[0] == 409:
            assert set(statuses) == {409}, (sub, statuses)
            continue
        assert statuses == [200] * (len(got) - 1) + [201], (sub, statuses)
        assert all(b == got[0][1] for _, b in got), sub
        voter = next(b["voter_id"] for b in bodies if b["submission_id"] == sub)
        won[voter] = won.get(voter, 0) + 1
    assert won == {v: 1 for v in voters}
    await close_poll(client)
    entries = await feed(client, EID)
    casts = [parse_entry(e["entry"].encode()) for e in entries]
    assert sum(c.kind == "ballot_cast" for c in casts) == sum(
        len(next(b for b in bodies if b["submission_id"] == sub)["selections"])
        for sub, got in answers.items()
        if got[0][0] != 409
    )
