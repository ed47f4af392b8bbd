"""Release rounds (issue 14, DESIGN §6): accepted ballots wait in the private pending store and
enter the log in shuffled rounds of at least K per contest; the close appends every contest's
final round and ``poll_closed`` in one transaction; a receipt's code finds its ballot at either
stage."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import asyncpg
import pytest

from ledger.format.acceptance import AcceptanceReceipt, event_hash, verify_acceptance
from ledger.format.entry import Entry, parse_entry
from ledger.format.keys import Keyring
from ledger.http.app import LEDGER, create_app
from ledger.runtime.settings import Settings

from ..conftest import (
    AUTH_ADMIN,
    AUTH_FRONTEND,
    SIGNER,
    AppClient,
    close_poll,
    definition,
    paper,
    setup_election,
)
from .test_ledger_flow import feed

EID = "nec-2026"
KEYRING = Keyring([SIGNER.verifier])


async def cast(client: AppClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/v1/elections/{EID}/ballots", json=body, headers=AUTH_FRONTEND)
    assert r.status == 201, await r.text()
    answer: dict[str, Any] = await r.json()
    return answer


def release_runs(entries: list[dict[str, Any]]) -> list[tuple[str, str, list[Entry]]]:
    """(contest, time, entries) of each run of consecutive ballot entries of one contest and
    time, in log order: the release rounds as the public log shows them."""
    casts = [parse_entry(e["entry"].encode()) for e in entries]
    runs = itertools.groupby(
        (c for c in casts if c.kind == "ballot_cast"), key=lambda c: (c.event["contest"], c.time)
    )
    return [(contest, time, list(group)) for (contest, time), group in runs]


async def withhold(db_url: str, eid: str, event_hash: str) -> str:
    """Delete one accepted ballot's pending row as the database owner (a ledger breaking its
    promise); the statement's status."""
    conn = await asyncpg.connect(db_url)
    try:
        status: str = await conn.execute(
            "DELETE FROM pending WHERE election_id = $1 AND event_hash = $2",
            eid,
            bytes.fromhex(event_hash),
        )
    finally:
        await conn.close()
    return status


def rounds(entries: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(contest, time, size) of each run of consecutive ballot entries of one contest and time."""
    return [(contest, time, len(group)) for contest, time, group in release_runs(entries)]


async def test_a_round_releases_all_but_k_at_random_with_one_time_stamp(
    client: AppClient,
) -> None:
    """K = 3: 10 pending release 7 in one round (one time stamp, an order that is not the
    order of acceptance); 5 pending (< 2K) release nothing; the close appends the last 5
    before poll_closed; every promised event is in the log once."""
    await setup_election(client, doc=definition(round_size=3, sealed=False))
    ledger = client.app[LEDGER]
    answers = [await cast(client, paper(f"v{i:03d}")) for i in range(10)]
    assert await ledger.release_all() == 7
    entries = await feed(client, EID)
    assert rounds(entries) == [("members", rounds(entries)[0][1], 7)]
    answers += [await cast(client, paper(f"v{i:03d}")) for i in range(10, 12)]
    assert await ledger.release_all() == 0  # 5 pending: fewer than 2K
    await close_poll(client)
    entries = await feed(client, EID)
    sizes = [size for _, _, size in rounds(entries)]
    assert sizes == [7, 5]
    kinds = [parse_entry(e["entry"].encode()).kind for e in entries]
    assert (
        kinds.index("poll_closed") == max(i for i, k in enumerate(kinds) if k == "ballot_cast") + 1
    )
    released = [
        event_hash(parse_entry(e["entry"].encode()).event).hex()
        for e in entries
        if parse_entry(e["entry"].encode()).kind == "ballot_cast"
    ]
    promised = [a["receipts"]["members"]["event_hash"] for a in answers]
    assert sorted(released) == sorted(promised) and len(set(released)) == 12


async def test_a_contest_below_k_is_one_round_at_the_close(client: AppClient) -> None:
    """A contest with fewer than K ballots in all is released only at the close, in one round;
    its small roll is flagged in roll_published."""
    await setup_election(client, doc=definition(round_size=30))
    for i in range(0, 40, 2):  # 20 members ballots, youth ballots from the young
        sel = {"members": ["ann"], "youth": ["yan"]} if 20 + i % 40 < 27 else {"members": ["ann"]}
        await cast(client, paper(f"v{i:03d}", **sel))
    assert await client.app[LEDGER].release_all() == 0
    await close_poll(client)
    entries = await feed(client, EID)
    by_contest = {c: s for c, _, s in rounds(entries)}
    assert by_contest == {"members": 20, "youth": 4}
    assert len({t for _, t, _ in rounds(entries)}) == 1  # the close's one time stamp
    roll = next(
        parse_entry(e["entry"].encode())
        for e in entries
        if parse_entry(e["entry"].encode()).kind == "roll_published"
    )
    assert roll.event["contests"]["youth"].get("below_round_size") is True
    assert "below_round_size" not in roll.event["contests"]["members"] or (
        roll.event["contests"]["members"]["eligible"] < 30
    )


async def test_a_receipt_code_finds_its_ballot_at_either_stage(client: AppClient) -> None:
    """The code of an acceptance receipt says "accepted" while the ballot waits and gives the
    entry once it is released; an unknown code is 404 no-such-receipt, a malformed one 400."""
    await setup_election(client, doc=definition(round_size=1, sealed=False))
    first = (await cast(client, paper("v001")))["receipts"]["members"]
    verify_acceptance(AcceptanceReceipt.from_json(first), KEYRING)
    r = await client.get(f"/v1/elections/{EID}/receipts/{first['code']}")
    assert r.status == 200 and await r.json() == {"status": "accepted"}
    await cast(client, paper("v002"))
    await cast(client, paper("v003"))
    await close_poll(client)
    for code in (first["code"], first["event_hash"]):
        r = await client.get(f"/v1/elections/{EID}/receipts/{code}")
        found = await r.json()
        assert found["status"] == "released", found
        entry = parse_entry(found["entry"].encode())
        assert event_hash(entry.event).hex() == first["event_hash"] == found["event_hash"]
        assert entry.event == first["event"] and entry.index == found["index"]
    r = await client.get(f"/v1/elections/{EID}/receipts/AAAA-AAAA-AAAA-AAAA")
    assert r.status == 404 and (await r.json())["type"].endswith("no-such-receipt")
    r = await client.get(f"/v1/elections/{EID}/receipts/not-a-code")
    assert r.status == 400 and (await r.json())["type"].endswith("bad-request")


async def test_the_pending_counts_are_for_the_officer_only(client: AppClient) -> None:
    """GET /pending needs the admin token (a live count of acceptances is not public)."""
    await setup_election(client, doc=definition(round_size=5))
    await cast(client, paper("v001"))
    r = await client.get(f"/v1/elections/{EID}/pending")
    assert r.status == 401
    r = await client.get(f"/v1/elections/{EID}/pending", headers=AUTH_FRONTEND)
    assert r.status == 403
    r = await client.get(f"/v1/elections/{EID}/pending", headers=AUTH_ADMIN)
    assert await r.json() == {"round_size": 5, "pending": {"members": 1, "youth": 0}}


async def test_a_ballot_accepted_before_a_withdrawal_is_released_after_it(
    client: AppClient,
) -> None:
    """A ballot naming a candidate who withdraws while it waits is still released (valid
    against the candidates standing at poll_opened); new ballots naming them are refused."""
    await setup_election(client, doc=definition(round_size=1, sealed=False))
    before = await cast(client, paper("v001", members=["dan", "ann"]))
    r = await client.post(
        f"/v1/elections/{EID}/contests/members/candidates/dan/withdraw",
        json={"reason": "withdrawn"},
        headers=AUTH_ADMIN,
    )
    assert r.status == 201, await r.text()
    r = await client.post(
        f"/v1/elections/{EID}/ballots",
        json=paper("v002", members=["dan"]),
        headers=AUTH_FRONTEND,
    )
    assert r.status == 422
    await cast(client, paper("v003", members=["ann"]))
    await close_poll(client)
    released = [
        parse_entry(e["entry"].encode()).event
        for e in await feed(client, EID)
        if parse_entry(e["entry"].encode()).kind == "ballot_cast"
    ]
    assert before["receipts"]["members"]["event"] in released


async def test_a_retry_after_a_withdrawal_replays_the_receipt(client: AppClient) -> None:
    """A client that resends (same submission id, same paper) a ballot accepted before its
    candidate withdrew, its first answer lost, gets that answer again, not a refusal."""
    await setup_election(client, doc=definition(round_size=2))
    body = paper("v001", members=["dan", "ann"])
    first = await cast(client, body)
    r = await client.post(
        f"/v1/elections/{EID}/contests/members/candidates/dan/withdraw",
        json={"reason": "withdrawn"},
        headers=AUTH_ADMIN,
    )
    assert r.status == 201, await r.text()
    r = await client.post(f"/v1/elections/{EID}/ballots", json=body, headers=AUTH_FRONTEND)
    assert r.status == 200 and r.headers["Idempotent-Replayed"] == "true", await r.text()
    assert await r.json() == first


async def test_no_ballot_is_accepted_once_the_poll_has_closed(client: AppClient) -> None:
    """Casts racing the close: every one accepted is in the log before poll_closed; every one
    after it is refused (409 wrong-phase); none is lost or appended twice."""
    await setup_election(client, doc=definition(round_size=2, sealed=False))
    bodies = [paper(f"v{i:03d}") for i in range(60)]

    async def send(body: dict[str, Any]) -> tuple[int, Any]:
        r = await client.post(f"/v1/elections/{EID}/ballots", json=body, headers=AUTH_FRONTEND)
        return r.status, await r.json()

    tasks = [asyncio.create_task(send(b)) for b in bodies]
    await asyncio.sleep(0)
    closed = asyncio.create_task(close_poll(client))
    results = await asyncio.gather(*tasks)
    await closed
    accepted = [b["receipts"]["members"]["event_hash"] for s, b in results if s == 201]
    assert {s for s, _ in results} <= {201, 409}
    assert all(b["type"].endswith("wrong-phase") for s, b in results if s == 409)
    entries = await feed(client, EID)
    kinds = [parse_entry(e["entry"].encode()) for e in entries]
    closing = next(i for i, k in enumerate(kinds) if k.kind == "poll_closed")
    released = [event_hash(k.event).hex() for k in kinds if k.kind == "ballot_cast"]
    assert all(k.kind != "ballot_cast" for k in kinds[closing:])
    assert sorted(released) == sorted(accepted)


async def test_two_ledgers_never_release_one_ballot_twice(settings: Settings) -> None:
    """Two ledger services on one database, releasing at once while casts go on: every
    accepted ballot is in the log exactly once (the pool is read FOR UPDATE under the head
    lock; event hashes are unique in the log)."""
    from aiohttp.test_utils import TestClient, TestServer

    apps = [create_app(settings, SIGNER), create_app(settings, SIGNER)]
    clients = [TestClient(TestServer(app)) for app in apps]
    for c in clients:
        await c.start_server()
    try:
        await setup_election(clients[0], doc=definition(round_size=2, sealed=True))
        accepted: list[str] = []
        for i in range(60):
            answer = await cast(clients[i % 2], paper(f"v{i:03d}"))
            accepted.append(answer["receipts"]["members"]["event_hash"])
            if i % 7 == 6:
                await asyncio.gather(*(c.app[LEDGER].release_all() for c in clients))
        await close_poll(clients[1])
        entries = await feed(clients[0], EID)
        released = [
            event_hash(parse_entry(e["entry"].encode()).event).hex()
            for e in entries
            if parse_entry(e["entry"].encode()).kind == "ballot_cast"
        ]
        assert sorted(released) == sorted(accepted)
        assert all(size >= 2 for _, _, size in rounds(entries))
    finally:
        for c in clients:
            await c.close()


async def test_pending_rows_are_never_changed(db_url: str, client: AppClient) -> None:
    """The pending store takes inserts and deletes (its release), never an UPDATE."""
    await setup_election(client, doc=definition(round_size=5))
    await cast(client, paper("v001"))
    conn = await asyncpg.connect(db_url)
    try:
        with pytest.raises(asyncpg.PostgresError) as err:
            await conn.execute("UPDATE pending SET contest_id = 'youth'")
        assert err.value.sqlstate == "BL001"
    finally:
        await conn.close()
