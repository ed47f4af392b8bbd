"""Phase transitions over real HTTP: every legal path, every event type, read back from the feed.

After each step, ``GET /v1/elections/{id}`` must report the phase the step leads to; at the
end the public SSE feed must hold every event type, each one valid against its JSON Schema,
with a signed checkpoint at every phase change.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections import Counter
from typing import Any

from ledger.domain.election import ALLOWED, commitment
from ledger.domain.schemas import EVENT_TYPES, validate_event
from ledger.format import merkle
from ledger.format.canonical import canonical_bytes
from ledger.format.checkpoint import open_checkpoint
from ledger.format.entry import Entry, parse_entry
from ledger.format.keys import Keyring
from ledger.http.app import LEDGER

from ..conftest import (
    AUTH_ADMIN,
    AUTH_COUNTER,
    AUTH_FRONTEND,
    COUNTER_SIGNER,
    DEFINITION,
    ROLL_CSV,
    SIGNER,
    AppClient,
    definition,
    paper,
)

KEYRING = Keyring([SIGNER.verifier])
CSV = {**AUTH_ADMIN, "Content-Type": "text/csv"}
PHASE_CHANGES = ("nominations_opened", "nominations_closed", "poll_opened", "poll_closed")


async def phase(client: AppClient, eid: str) -> str:
    r = await client.get(f"/v1/elections/{eid}")
    assert r.status == 200, await r.text()
    body = await r.json()
    return str(body["phase"])


async def ok(r: Any, status: int = 200) -> dict[str, Any]:
    text = await r.text()
    assert r.status == status, text
    body: dict[str, Any] = json.loads(text)
    return body


async def read_feed(client: AppClient, eid: str) -> list[tuple[dict[str, Any], Entry]]:
    """Every entry so far, read from the public SSE feed, each checked against its leaf hash."""
    r = await client.get(f"/v1/elections/{eid}")
    size = (await r.json())["size"]
    r = await client.get(f"/v1/elections/{eid}/feed")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    out: list[tuple[dict[str, Any], Entry]] = []
    event_id = None
    try:
        while len(out) < size:
            line = (await r.content.readline()).decode().rstrip("\n")
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["index"] == event_id == len(out)
                body = data["entry"].encode()
                assert merkle.leaf_hash(body).hex() == data["leaf_hash"]
                out.append((data, parse_entry(body)))
    finally:
        r.close()
    return out


def check_events(entries: list[tuple[dict[str, Any], Entry]], eid: str) -> list[str]:
    """Every event validates against its schema and belongs to this election; the kinds."""
    for (_, entry), index in zip(entries, range(len(entries)), strict=True):
        assert entry.election == eid and entry.index == index
        assert entry.kind in EVENT_TYPES
        validate_event(entry.kind, entry.event)
    return [entry.kind for _, entry in entries]


async def declare(
    client: AppClient, eid: str, contest: str, elected: list[str], status: int = 201
) -> None:
    """Declare a result over the latest checkpoint, signed by the counter key (202: held for
    the returning officer's approval)."""
    r = await client.get(f"/v1/elections/{eid}/checkpoint")
    cp = open_checkpoint(await r.text(), KEYRING, origin=f"ballot-ledger.test/elections/{eid}")
    body: dict[str, Any] = {
        "contest": contest,
        "result_hash": hashlib.sha256(f"{eid}/{contest}".encode()).hexdigest(),
        "counted_size": cp.size,
        "counted_root": cp.root.hex(),
        "elected": elected,
        "key": COUNTER_SIGNER.verifier.text(),
    }
    message = b"ballot-ledger/result/v1\n" + canonical_bytes(body)
    body["signature"] = base64.b64encode(COUNTER_SIGNER.sign(message)).decode()
    await ok(
        await client.post(f"/v1/elections/{eid}/results", json=body, headers=AUTH_COUNTER), status
    )


async def checkpoint_sizes(client: AppClient, eid: str) -> set[int]:
    r = await client.get(f"/v1/elections/{eid}/checkpoints")
    return set((await r.json())["sizes"])


async def test_every_phase_and_every_event_type_sealed(client: AppClient) -> None:
    """setup→nominations→ready→poll_open→poll_closed→declared appends every event type; the
    results are declared on the returning officer's approval."""
    eid = "nec-2026"
    base = f"/v1/elections/{eid}"
    seen: list[str] = []

    async def step(expected: str) -> None:
        assert await phase(client, eid) == expected
        seen.append(expected)

    doc = {**DEFINITION, "declare": "on_approval"}
    await ok(await client.put(base, json=doc, headers=AUTH_ADMIN), 201)
    await step("setup")
    await ok(await client.put(f"{base}/roll", data=ROLL_CSV, headers=CSV))
    await step("setup")
    await ok(await client.post(f"{base}/nominations/open", headers=AUTH_ADMIN))
    await step("nominations")
    for contest in DEFINITION["contests"]:
        for cand in contest["candidates"]:
            bodies = ["branch-a"] if cand["id"] == "dan" else ["branch-a", "branch-b"]
            for nominator in bodies:
                nomination = {"contest": contest["id"], "candidate": cand["id"], "body": nominator}
                r = await client.post(f"{base}/nominations", json=nomination, headers=AUTH_ADMIN)
                await ok(r, 201)
    await step("nominations")
    await ok(await client.post(f"{base}/nominations/close", headers=AUTH_ADMIN))
    await step("ready")
    r = await client.get(base)
    state = await r.json()
    assert state["standing"]["members"] == ["ann", "bob", "cat", "eve"]  # dan: one nomination
    await ok(await client.post(f"{base}/poll/open", headers=AUTH_ADMIN))
    await step("poll_open")
    # Withdrawn after the close (before it, three would stand for three seats: returned
    # unopposed, with no poll).
    r = await client.post(
        f"{base}/contests/members/candidates/eve/withdraw",
        json={"reason": "withdrawn", "note": "moved abroad"},
        headers=AUTH_ADMIN,
    )
    await ok(r, 201)
    await step("poll_open")
    assert (await (await client.get(base)).json())["withdrawn"] == {"members": ["eve"]}
    papers = [
        paper("v000", members=["ann", "cat"], youth=["yvo"]),
        paper("v001", members=["bob"], youth=["yan"]),
        paper("v030", members=["cat", "ann", "bob"]),
    ]
    for p in papers:
        await ok(await client.post(f"{base}/ballots", json=p, headers=AUTH_FRONTEND), 201)
    await step("poll_open")
    await client.app[LEDGER].report_turnout(eid)
    await step("poll_open")
    closed = await ok(await client.post(f"{base}/poll/close", headers=AUTH_ADMIN))
    assert closed["opened"] == 5
    await step("poll_closed")
    await declare(client, eid, "members", ["ann", "bob", "cat"], 202)
    await step("poll_closed")
    await ok(await client.post(f"{base}/contests/members/declare", headers=AUTH_ADMIN))
    await step("poll_closed")
    await declare(client, eid, "youth", ["yvo"], 202)
    await ok(await client.post(f"{base}/contests/youth/declare", headers=AUTH_ADMIN))
    await step("declared")
    assert list(dict.fromkeys(seen)) == [
        "setup",
        "nominations",
        "ready",
        "poll_open",
        "poll_closed",
        "declared",
    ]

    entries = await read_feed(client, eid)
    kinds = check_events(entries, eid)
    assert set(kinds) == set(EVENT_TYPES)
    counts = Counter(kinds)
    assert counts["ballot_cast"] == counts["ballot_opened"] == 5
    assert counts["nomination_recorded"] == 13
    assert counts["result_declared"] == counts["result_approved"] == 2
    assert kinds[:3] == ["election_defined", "roll_published", "nominations_opened"]
    # every event was legal in the phase it was appended in (ledger.domain.election.ALLOWED)
    current = "setup"
    after = {
        "nominations_opened": "nominations",
        "nominations_closed": "ready",
        "poll_opened": "poll_open",
        "poll_closed": "poll_closed",
    }
    for kind in kinds:
        assert current in ALLOWED[kind], (kind, current)
        current = after.get(kind, current)
    # sealed: ballot_cast holds only a commitment, which its ballot_opened opens
    casts = {e.index: e.event for _, e in entries if e.kind == "ballot_cast"}
    assert all(set(event) == {"contest", "commitment"} for event in casts.values())
    for _, e in entries:
        if e.kind == "ballot_opened":
            cast = casts[e.event["cast_index"]]
            salt = bytes.fromhex(e.event["salt"])
            expected = commitment(eid, cast["contest"], e.event["selections"], salt)
            assert expected == cast["commitment"]
    turnout = next(e.event for _, e in entries if e.kind == "turnout_reported")
    assert turnout["contests"]["members"]["cast"] == 3
    assert turnout["contests"]["youth"]["cast"] == 2
    # a signed checkpoint at every phase change, and after the last declaration
    sizes = await checkpoint_sizes(client, eid)
    for _, e in entries:
        if e.kind in (*PHASE_CHANGES, "election_defined"):
            assert e.index + 1 in sizes, e.kind
    assert len(entries) in sizes


async def test_unsealed_election_opens_from_setup_without_nominations(client: AppClient) -> None:
    """Threshold 0: setup→poll_open directly; unsealed ballots carry selections (released at
    the close: 3 and 2 are below K), no openings."""
    eid = "open-vote"
    base = f"/v1/elections/{eid}"
    doc = definition(nomination_threshold=0, sealed=False)
    await ok(await client.put(base, json=doc, headers=AUTH_ADMIN), 201)
    assert await phase(client, eid) == "setup"
    await ok(await client.put(f"{base}/roll", data=ROLL_CSV, headers=CSV))
    assert await phase(client, eid) == "setup"
    await ok(await client.post(f"{base}/poll/open", headers=AUTH_ADMIN))
    assert await phase(client, eid) == "poll_open"
    state = await ok(await client.get(base))
    assert state["standing"] is None and state["definition"]["sealed"] is False
    papers = [
        paper("v000", members=["eve", "ann"], youth=["yvo"]),
        paper("v001", members=["dan"], youth=["yvo"]),
        paper("v002", members=["ann", "bob", "cat", "dan", "eve"]),
    ]
    for p in papers:
        await ok(await client.post(f"{base}/ballots", json=p, headers=AUTH_FRONTEND), 201)
    # fewer than K ballots per contest: nothing is released during the poll
    live = await read_feed(client, eid)
    assert not [e for _, e in live if e.kind == "ballot_cast"]
    closed = await ok(await client.post(f"{base}/poll/close", headers=AUTH_ADMIN))
    assert closed["opened"] == 0
    live = await read_feed(client, eid)
    cast = [e.event for _, e in live if e.kind == "ballot_cast"]
    assert sorted((c["contest"], tuple(c["selections"])) for c in cast) == sorted(
        [
            ("members", ("eve", "ann")),
            ("members", ("dan",)),
            ("members", ("ann", "bob", "cat", "dan", "eve")),
            ("youth", ("yvo",)),
            ("youth", ("yvo",)),
        ]
    )
    assert all("commitment" not in c for c in cast)
    assert await phase(client, eid) == "poll_closed"
    state = await ok(await client.get(base))
    assert state["unopened"] == 0
    await declare(client, eid, "youth", ["yvo"])
    assert await phase(client, eid) == "poll_closed"
    await declare(client, eid, "members", ["ann", "dan", "eve"])
    assert await phase(client, eid) == "declared"

    entries = await read_feed(client, eid)
    kinds = check_events(entries, eid)
    assert "ballot_opened" not in kinds
    assert "nominations_opened" not in kinds and "nominations_closed" not in kinds
    assert kinds[:3] == ["election_defined", "roll_published", "poll_opened"]
    assert kinds[-9:] == [
        *["ballot_cast"] * 5,  # the close's final rounds
        "poll_closed",
        "turnout_reported",  # the final report, after the close
        "result_declared",
        "result_declared",
    ]


async def test_redefinition_and_roll_replacement_during_setup(client: AppClient) -> None:
    """In setup an election may be redefined (200) and its roll replaced; both are logged."""
    eid = "draft"
    base = f"/v1/elections/{eid}"
    doc = definition(nomination_threshold=0)
    await ok(await client.put(base, json=doc, headers=AUTH_ADMIN), 201)
    await ok(await client.put(f"{base}/roll", data=ROLL_CSV, headers=CSV))
    changed = copy.deepcopy(doc)
    changed["title"] = "National Executive Committee 2026 (corrected)"
    await ok(await client.put(base, json=changed, headers=AUTH_ADMIN), 200)
    fewer = "".join(ROLL_CSV.splitlines(keepends=True)[:11])
    summary = await ok(await client.put(f"{base}/roll", data=fewer, headers=CSV))
    assert summary["summary"]["voters"] == 10
    assert await phase(client, eid) == "setup"
    state = await ok(await client.get(base))
    assert state["definition"]["title"].endswith("(corrected)")
    turnout = await ok(await client.get(f"{base}/turnout"))
    assert turnout["contests"]["members"]["eligible"] == 10
    kinds = check_events(await read_feed(client, eid), eid)
    assert kinds == ["election_defined", "roll_published", "election_defined", "roll_published"]
    await ok(await client.post(f"{base}/poll/open", headers=AUTH_ADMIN))
    r = await client.post(f"{base}/ballots", json=paper("v030"), headers=AUTH_FRONTEND)
    assert r.status == 403  # v030 was on the replaced roll only
    await ok(await client.post(f"{base}/ballots", json=paper("v009"), headers=AUTH_FRONTEND), 201)


async def test_every_illegal_transition_is_refused_in_every_phase(client: AppClient) -> None:
    """In each phase, each request whose event ALLOWED forbids is 409 wrong-phase, log intact."""
    eid = "matrix"
    base = f"/v1/elections/{eid}"
    nomination = {"contest": "members", "candidate": "ann", "body": "branch-z"}

    async def snapshot() -> tuple[Any, Any]:
        state = await ok(await client.get(base))
        page = await ok(await client.get(f"{base}/entries?limit=10000"))
        return state, page["entries"]

    async def declaration() -> dict[str, Any]:
        r = await client.get(f"{base}/checkpoint")
        cp = open_checkpoint(await r.text(), KEYRING)
        body: dict[str, Any] = {
            "contest": "members",
            "result_hash": "ab" * 32,
            "counted_size": cp.size,
            "counted_root": cp.root.hex(),
            "key": COUNTER_SIGNER.verifier.text(),
        }
        message = b"ballot-ledger/result/v1\n" + canonical_bytes(body)
        return {**body, "signature": base64.b64encode(COUNTER_SIGNER.sign(message)).decode()}

    async def attempt(kind: str) -> Any:
        if kind == "election_defined":
            return await client.put(base, json=DEFINITION, headers=AUTH_ADMIN)
        if kind == "roll_published":
            return await client.put(f"{base}/roll", data=ROLL_CSV, headers=CSV)
        if kind == "nominations_opened":
            return await client.post(f"{base}/nominations/open", headers=AUTH_ADMIN)
        if kind == "nomination_recorded":
            return await client.post(f"{base}/nominations", json=nomination, headers=AUTH_ADMIN)
        if kind == "nominations_closed":
            return await client.post(f"{base}/nominations/close", headers=AUTH_ADMIN)
        if kind == "candidate_withdrawn":
            path = f"{base}/contests/members/candidates/bob/withdraw"
            return await client.post(path, json={"reason": "withdrawn"}, headers=AUTH_ADMIN)
        if kind == "poll_opened":
            return await client.post(f"{base}/poll/open", headers=AUTH_ADMIN)
        if kind == "ballot_cast":
            return await client.post(f"{base}/ballots", json=paper("v050"), headers=AUTH_FRONTEND)
        if kind == "poll_closed":
            return await client.post(f"{base}/poll/close", headers=AUTH_ADMIN)
        if kind == "result_approved":
            return await client.post(f"{base}/contests/members/declare", headers=AUTH_ADMIN)
        assert kind == "result_declared"
        return await client.post(f"{base}/results", json=await declaration(), headers=AUTH_COUNTER)

    # turnout_reported and ballot_opened have no request of their own; a repeated poll/close
    # after the poll closed is idempotent by design.
    untested = {"turnout_reported", "ballot_opened"}
    refused: Counter[str] = Counter()

    async def refuse_all(current: str) -> None:
        assert await phase(client, eid) == current
        for kind in EVENT_TYPES:
            if kind in untested or current in ALLOWED[kind]:
                continue
            if kind == "poll_closed" and current in ("poll_closed", "declared"):
                continue
            before = await snapshot()
            r = await attempt(kind)
            text = await r.text()
            assert r.status == 409, (current, kind, text)
            assert json.loads(text)["type"] == "urn:ballot-ledger:problem:wrong-phase"
            assert await snapshot() == before, (current, kind)
            refused[current] += 1

    await ok(await client.put(base, json=DEFINITION, headers=AUTH_ADMIN), 201)
    await ok(await client.put(f"{base}/roll", data=ROLL_CSV, headers=CSV))
    await refuse_all("setup")
    await ok(await client.post(f"{base}/nominations/open", headers=AUTH_ADMIN))
    await refuse_all("nominations")
    for contest in DEFINITION["contests"]:
        for cand in contest["candidates"]:
            for nominator in ("branch-a", "branch-b"):
                body = {"contest": contest["id"], "candidate": cand["id"], "body": nominator}
                await ok(
                    await client.post(f"{base}/nominations", json=body, headers=AUTH_ADMIN), 201
                )
    await ok(await client.post(f"{base}/nominations/close", headers=AUTH_ADMIN))
    await refuse_all("ready")
    await ok(await client.post(f"{base}/poll/open", headers=AUTH_ADMIN))
    await refuse_all("poll_open")
    await ok(await client.post(f"{base}/ballots", json=paper("v001"), headers=AUTH_FRONTEND), 201)
    await ok(await client.post(f"{base}/poll/close", headers=AUTH_ADMIN))
    await refuse_all("poll_closed")
    await declare(client, eid, "members", ["ann", "bob", "cat"])
    await declare(client, eid, "youth", ["yan"])
    await refuse_all("declared")
    assert all(refused[p] >= 2 for p in ("setup", "nominations", "ready", "poll_open"))
    assert refused["poll_closed"] >= 5 and refused["declared"] >= 5
