"""Every problem type over real HTTP: status, media type, stable type URN, and no damage done.

Each test first gets something accepted (an election, a roll, a ballot...), snapshots what the
public can see (the election's state, every log entry, turnout), makes the refused request, and
checks the snapshot is unchanged: a refusal must never lose or alter what was already accepted.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import hashlib
import json
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from ledger.errors import EncodingError, EntryTooLarge
from ledger.format.canonical import canonical_bytes
from ledger.format.checkpoint import open_checkpoint
from ledger.format.keys import Keyring, Signer
from ledger.http import problems
from ledger.http.app import LEDGER, create_app, problem_middleware, request_id_middleware
from ledger.runtime.settings import Settings

from ..conftest import (
    AUTH_ADMIN,
    AUTH_COUNTER,
    AUTH_FRONTEND,
    COUNTER_SIGNER,
    DEFINITION,
    FRONTEND,
    OTHER_FRONTEND,
    ROLL_CSV,
    SIGNER,
    AppClient,
    definition,
    paper,
    setup_election,
)
from .test_bad_data import refuse_in_write

EID = "nec-2026"
BASE = f"/v1/elections/{EID}"
OPEN = definition(nomination_threshold=0)
"""The sample election without nominations: the poll may open straight from setup."""
STATUS = {kind.slug: kind.status for kind in problems.TYPES.values()}
KEYRING = Keyring([SIGNER.verifier])
WWW_AUTHENTICATE = 'Bearer realm="ballot-ledger"'
CSV = {**AUTH_ADMIN, "Content-Type": "text/csv"}
NDJSON = {**AUTH_ADMIN, "Content-Type": "application/x-ndjson"}
JSON_ADMIN = {**AUTH_ADMIN, "Content-Type": "application/json"}
JSON_FRONTEND = {**AUTH_FRONTEND, "Content-Type": "application/json"}


# --- helpers -----------------------------------------------------------------------------------


def declaration_message(body: dict[str, Any]) -> bytes:
    """What a declaration's signature covers, written out from the spec as a counter would:
    ``ballot-ledger/result/v1\n`` || RFC 8785 of every member but ``signature``."""
    return b"ballot-ledger/result/v1\n" + canonical_bytes(
        {k: v for k, v in body.items() if k != "signature"}
    )


async def refused(r: Any, slug: str) -> dict[str, Any]:
    """Assert ``r`` is the RFC 9457 problem ``slug`` and return its body."""
    text = await r.text()
    assert r.status == STATUS[slug], text
    assert r.headers["Content-Type"].split(";")[0] == "application/problem+json", text
    body: dict[str, Any] = json.loads(text)
    assert body["type"] == problems.PREFIX + slug, text
    assert body["status"] == r.status
    assert body["title"] and body["detail"]
    assert body["instance"] == r.url.path
    assert body["request_id"] == r.headers["X-Request-Id"]
    if r.status == 401:
        assert r.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    if r.status == 503:
        assert r.headers["Retry-After"].isdigit()
    return body


async def snapshot(client: AppClient, eid: str = EID) -> dict[str, Any]:
    """Everything the public can see of an election: state, every entry, turnout, elections."""
    r = await client.get(f"/v1/elections/{eid}")
    assert r.status == 200, await r.text()
    state = await r.json()
    r = await client.get(f"/v1/elections/{eid}/entries?start=0&limit=10000")
    page = await r.json()
    r = await client.get(f"/v1/elections/{eid}/turnout")
    turnout = await r.json()
    r = await client.get("/v1/elections")
    elections = await r.json()
    assert state["size"] == len(page["entries"]) == turnout["size"]
    return {"state": state, "entries": page["entries"], "turnout": turnout, "list": elections}


async def cast(client: AppClient, body: dict[str, Any], eid: str = EID) -> Any:
    return await client.post(f"/v1/elections/{eid}/ballots", json=body, headers=AUTH_FRONTEND)


async def accepted(r: Any, status: int = 201) -> dict[str, Any]:
    text = await r.text()
    assert r.status == status, text
    body: dict[str, Any] = json.loads(text)
    return body


async def open_election(client: AppClient, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """An open poll (no nominations) with one ballot already accepted; its snapshot."""
    await setup_election(client, EID, doc or OPEN)
    await accepted(await cast(client, paper("v000", members=["ann", "cat", "bob"], youth=["yvo"])))
    return await snapshot(client)


async def declaration(
    client: AppClient,
    contest: str,
    signer: Signer = COUNTER_SIGNER,
    *,
    eid: str = EID,
    **changes: Any,
) -> dict[str, Any]:
    """A result declaration signed by ``signer`` over the latest checkpoint."""
    r = await client.get(f"/v1/elections/{eid}/checkpoint")
    cp = open_checkpoint(await r.text(), KEYRING)
    body: dict[str, Any] = {
        "contest": contest,
        "result_hash": hashlib.sha256(contest.encode()).hexdigest(),
        "counted_size": cp.size,
        "counted_root": cp.root.hex(),
        "elected": ["ann"] if contest == "members" else ["yvo"],
        "key": signer.verifier.text(),
        **changes,
    }
    body["signature"] = base64.b64encode(signer.sign(declaration_message(body))).decode()
    return body


async def closed_election(client: AppClient) -> dict[str, Any]:
    await open_election(client)
    await accepted(await client.post(f"{BASE}/poll/close", headers=AUTH_ADMIN), 200)
    return await snapshot(client)


def tiny_app(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    """The ledger's middlewares around one handler, without a database."""
    app = web.Application(middlewares=[request_id_middleware, problem_middleware])
    app.router.add_get("/boom", handler)
    return app


# --- authentication and authorisation -----------------------------------------------------------


async def test_unauthorized(client: AppClient) -> None:
    """No, unknown or non-bearer tokens are 401 with WWW-Authenticate; nothing is appended."""
    before = await open_election(client)
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Basic {FRONTEND}"},
        {"Authorization": "Bearer "},
    ):
        r = await client.post(f"{BASE}/ballots", json=paper("v001"), headers=headers)
        await refused(r, "unauthorized")
        r = await client.post(f"{BASE}/poll/close", headers=headers)
        await refused(r, "unauthorized")
        r = await client.put(BASE, json=OPEN, headers=headers)
        await refused(r, "unauthorized")
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001")))


async def test_every_writer_route_answers_401_with_www_authenticate(client: AppClient) -> None:
    """Every non-GET route refuses a missing or unknown token with 401 and WWW-Authenticate."""
    from ledger.http.app import routes

    await setup_election(client, EID, OPEN, open_poll=False)
    before = await snapshot(client)
    writers = [r for r in routes if r.method != "GET"]  # type: ignore[attr-defined]
    assert len(writers) >= 10
    names = {"election": EID, "contest": "members", "candidate": "ann"}
    for route in writers:
        path = re.sub(r"\{(\w+)\}", lambda m: names.get(m[1], "x"), route.path)  # type: ignore[attr-defined]
        for headers in ({}, {"Authorization": "Bearer not-a-real-token-000000"}):
            r = await client.request(route.method, path, json={}, headers=headers)  # type: ignore[attr-defined]
            await refused(r, "unauthorized")
    assert await snapshot(client) == before


async def test_forbidden(client: AppClient) -> None:
    """Tokens of the wrong role, or scoped to another election, are 403; nothing changes."""
    before = await open_election(client)
    other = {"Authorization": f"Bearer {OTHER_FRONTEND}"}
    attempts = [
        ("POST", f"{BASE}/poll/close", AUTH_FRONTEND, None),
        ("PUT", BASE, AUTH_FRONTEND, OPEN),
        ("POST", f"{BASE}/results", AUTH_FRONTEND, {}),
        ("POST", f"{BASE}/ballots", other, paper("v001")),
        ("POST", f"{BASE}/ballots", AUTH_COUNTER, paper("v001")),
        ("POST", f"{BASE}/ballots", AUTH_ADMIN, paper("v001")),
        ("POST", f"{BASE}/poll/close", AUTH_COUNTER, None),
    ]
    for method, path, headers, body in attempts:
        r = await client.request(method, path, json=body, headers=headers)
        await refused(r, "forbidden")
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001")))


# --- not found, bad requests and bodies ----------------------------------------------------------


async def test_not_found(client: AppClient) -> None:
    """Unknown elections, routes, checkpoints and receipt codes are 404 (defining an election
    whose id is no id is 422); nothing is created."""
    before = await open_election(client)
    for path in (
        "/v1/elections/nope",
        "/v1/elections/nope/turnout",
        "/v1/elections/NOT_VALID",
        "/v1/nowhere",
        "/v1/elections/nec-2026/nowhere",
        f"{BASE}/checkpoints/999",
        f"{BASE}/checkpoints/abc",
        f"{BASE}/proofs/inclusion?code=AAAA-AAAA-AAAA-AAAA",
    ):
        r = await client.get(path)
        await refused(r, "not-found")
    r = await cast(client, paper("v001"), eid="nope")
    await refused(r, "not-found")
    r = await client.post("/v1/elections/nope/poll/open", headers=AUTH_ADMIN)
    await refused(r, "not-found")
    r = await client.put("/v1/elections/Bad%20Id", json=OPEN, headers=AUTH_ADMIN)
    await refused(r, "schema-violation")  # defining names no election: the id itself is bad
    assert await snapshot(client) == before


async def test_log_reads_of_an_unknown_election_are_not_found(client: AppClient) -> None:
    """Entries, feed, checkpoints and proofs of an unknown election are 404, not 500."""
    for path in (
        "/v1/elections/nope/entries",
        "/v1/elections/nope/feed",
        "/v1/elections/nope/checkpoint",
        "/v1/elections/nope/checkpoints",
        "/v1/elections/nope/checkpoints/1",
        "/v1/elections/nope/proofs/inclusion?index=0",
        "/v1/elections/nope/proofs/consistency?old=0&new=1",
        "/v1/elections/nope/export",
    ):
        r = await client.get(path)
        await refused(r, "not-found")


async def test_bad_request(client: AppClient) -> None:
    """Malformed or missing query parameters are 400 bad-request; nothing changes."""
    before = await open_election(client)
    for path in (
        f"{BASE}/entries?start=abc",
        f"{BASE}/entries?limit=-1",
        f"{BASE}/entries?wait=1.5",
        f"{BASE}/entries?start=1234567890123456789",
        f"{BASE}/feed?start=x",
        f"{BASE}/proofs/inclusion",
        f"{BASE}/proofs/inclusion?index=0&size=big",
        f"{BASE}/proofs/consistency?old=1",
        f"{BASE}/proofs/consistency?old=one&new=2",
    ):
        r = await client.get(path)
        await refused(r, "bad-request")
    assert await snapshot(client) == before


async def test_malformed_receipt_code_is_bad_request(client: AppClient) -> None:
    """GET proofs/inclusion?code=<not a receipt code> is 400 bad-request, not 500."""
    await open_election(client)
    r = await client.get(f"{BASE}/proofs/inclusion?code=not-a-code")
    await refused(r, "bad-request")


async def test_method_not_allowed(client: AppClient) -> None:
    """A 405 carries Allow, and the problem body's status member equals the HTTP status."""
    await open_election(client)
    r = await client.delete(BASE, headers=AUTH_ADMIN)
    assert r.status == 405
    assert set(r.headers["Allow"].split(",")) >= {"GET", "PUT"}
    body = await r.json(content_type="application/problem+json")
    assert body["status"] == 405


async def test_invalid_json(client: AppClient) -> None:
    """Bodies that are not JSON (or not UTF-8) are 400 invalid-json; nothing changes."""
    before = await open_election(client)
    for raw in (b"{not json", b'{"voter_id": "v001",', b"\xff\xfe{}", b""):
        r = await client.post(f"{BASE}/ballots", data=raw, headers=JSON_FRONTEND)
        await refused(r, "invalid-json")
        r = await client.put(BASE, data=raw, headers=JSON_ADMIN)
        await refused(r, "invalid-json")
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001")))


async def test_unsupported_media_type(client: AppClient) -> None:
    """Bodies in the wrong media type are 415 (ballots, definitions and rolls); nothing changes."""
    before = await open_election(client)
    text = json.dumps(paper("v001"))
    r = await client.post(
        f"{BASE}/ballots", data=text, headers={**AUTH_FRONTEND, "Content-Type": "text/plain"}
    )
    await refused(r, "unsupported-media-type")
    r = await client.post(f"{BASE}/ballots", data={"voter_id": "v001"}, headers=AUTH_FRONTEND)
    await refused(r, "unsupported-media-type")
    r = await client.put(
        BASE, data=json.dumps(OPEN), headers={**AUTH_ADMIN, "Content-Type": "application/xml"}
    )
    await refused(r, "unsupported-media-type")
    r = await client.put(
        f"{BASE}/roll", data=ROLL_CSV, headers={**AUTH_ADMIN, "Content-Type": "application/xml"}
    )
    await refused(r, "unsupported-media-type")
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001")))


async def test_payload_too_large(
    client: AppClient, settings: Settings, aiohttp_client: Callable[..., Awaitable[AppClient]]
) -> None:
    """Bodies over the 64 KiB limit and rolls over max_roll_bytes are 413; nothing changes."""
    before = await open_election(client)
    big = paper("v001")
    big["padding"] = "x" * (70 * 1024)
    r = await cast(client, big)
    body = await refused(r, "payload-too-large")
    assert body["limit"] == 64 * 1024
    r = await client.put(BASE, json={**OPEN, "title": "t" * (70 * 1024)}, headers=AUTH_ADMIN)
    await refused(r, "payload-too-large")
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001")))

    small = await aiohttp_client(
        create_app(dataclasses.replace(settings, max_roll_bytes=len(ROLL_CSV) - 1), SIGNER)
    )
    r = await small.put("/v1/elections/limits", json=OPEN, headers=AUTH_ADMIN)
    await accepted(r)
    limited = await snapshot(small, "limits")
    r = await small.put("/v1/elections/limits/roll", data=ROLL_CSV, headers=CSV)
    body = await refused(r, "payload-too-large")
    assert body["limit"] == len(ROLL_CSV) - 1
    assert await snapshot(small, "limits") == limited
    shorter = "".join(ROLL_CSV.splitlines(keepends=True)[:30])
    r = await small.put("/v1/elections/limits/roll", data=shorter, headers=CSV)
    await accepted(r, 200)  # the same roll under the limit is taken: the size was the cause


async def test_schema_violation(client: AppClient) -> None:
    """Bodies that break their JSON Schema are 422 with the failing paths; nothing changes."""
    before = await open_election(client)
    bad_casts: list[dict[str, Any]] = [
        {"submission_id": "sub-v001-0001", "selections": {"members": ["ann"]}},
        {"voter_id": "v001", "selections": {"members": ["ann"]}},
        {**paper("v001"), "extra": True},
        {**paper("v001"), "submission_id": "short"},
        {**paper("v001"), "selections": {}},
        {**paper("v001"), "selections": {"members": "ann"}},
    ]
    for b in bad_casts:
        body = await refused(await cast(client, b), "schema-violation")
        assert body["errors"] and all("path" in e and "message" in e for e in body["errors"])
    bad_definitions: list[dict[str, Any]] = [
        definition(colour="red"),
        definition(contests=[]),
        definition(sealed="yes"),
        {k: v for k, v in OPEN.items() if k != "title"},
    ]
    zero_seats = copy.deepcopy(OPEN)
    zero_seats["contests"][0]["seats"] = 0
    bad_definitions.append(zero_seats)
    for doc in bad_definitions:
        r = await client.put("/v1/elections/second", json=doc, headers=AUTH_ADMIN)
        await refused(r, "schema-violation")
    r = await client.post(
        f"{BASE}/contests/members/candidates/eve/withdraw",
        json={"reason": "bored"},
        headers=AUTH_ADMIN,
    )
    await refused(r, "schema-violation")
    assert await snapshot(client) == before
    r = await client.get("/v1/elections/second")
    await refused(r, "not-found")


# --- definitions and phases -------------------------------------------------------------------


def members_changed(**changes: Any) -> dict[str, Any]:
    """The open sample definition with the members' contest changed."""
    doc = copy.deepcopy(OPEN)
    doc["contests"][0].update(changes)
    return doc


async def test_invalid_definition(client: AppClient) -> None:
    """Inconsistent definitions are 422 invalid-definition: no election created or changed."""
    await setup_election(client, EID, OPEN, open_poll=False)
    before = await snapshot(client)
    members = OPEN["contests"][0]
    stv = {"type": "stv", "rule": "scottish"}
    duplicate_contest = copy.deepcopy(OPEN)
    duplicate_contest["contests"].append(copy.deepcopy(members))
    docs = [
        members_changed(candidates=[*members["candidates"], {"id": "ann", "name": "Ann Again"}]),
        members_changed(method={"type": "stv", "rule": "borda"}),
        members_changed(constraints=[{"attribute": "gender", "value": "woman", "min": 4}]),
        members_changed(constraints=[{"attribute": "gender", "value": "robot", "min": 1}]),
        members_changed(method={**stv, "min_rankings": 4, "max_rankings": 2}),
        duplicate_contest,
    ]
    for doc in docs:
        r = await client.put(BASE, json=doc, headers=AUTH_ADMIN)
        await refused(r, "invalid-definition")
        r = await client.put("/v1/elections/other", json=doc, headers=AUTH_ADMIN)
        await refused(r, "invalid-definition")
    assert await snapshot(client) == before
    r = await client.get("/v1/elections/other")
    await refused(r, "not-found")


async def test_wrong_phase(client: AppClient) -> None:
    """Every out-of-phase request is 409 wrong-phase and leaves the log as it was."""
    r = await client.put(BASE, json=DEFINITION, headers=AUTH_ADMIN)
    await accepted(r)
    await accepted(await client.put(f"{BASE}/roll", data=ROLL_CSV, headers=CSV), 200)

    async def refuse(method: str, path: str, body: Any = None, headers: Any = None) -> None:
        before = await snapshot(client)
        if isinstance(body, str):
            r = await client.request(method, path, data=body, headers=headers)
        else:
            r = await client.request(method, path, json=body, headers=headers or AUTH_ADMIN)
        await refused(r, "wrong-phase")
        assert await snapshot(client) == before

    nomination = {"contest": "members", "candidate": "ann", "body": "branch-z"}
    # setup
    await refuse("POST", f"{BASE}/ballots", paper("v001"), AUTH_FRONTEND)
    await refuse("POST", f"{BASE}/nominations", nomination)
    await refuse("POST", f"{BASE}/poll/open")  # nominations must run first (threshold 2)
    await refuse("POST", f"{BASE}/poll/close")
    # nominations -> ready
    await setup_election(client, "phases", DEFINITION, open_poll=False)
    await refuse("POST", "/v1/elections/phases/nominations", nomination)
    await refuse("POST", "/v1/elections/phases/nominations/open")
    await refuse("PUT", "/v1/elections/phases", DEFINITION)
    await refuse("POST", "/v1/elections/phases/ballots", paper("v001"), AUTH_FRONTEND)
    # poll open
    await accepted(await client.post("/v1/elections/phases/poll/open", headers=AUTH_ADMIN), 200)
    await refuse("POST", "/v1/elections/phases/poll/open")
    await refuse("PUT", "/v1/elections/phases", DEFINITION)
    await refuse("PUT", "/v1/elections/phases/roll", ROLL_CSV, CSV)
    await refuse("POST", "/v1/elections/phases/nominations/open")
    r = await cast(client, paper("v001"), eid="phases")
    await accepted(r)  # the voter refused before the poll opened was not marked as voted
    decl = await declaration(client, "members", eid="phases")
    await refuse("POST", "/v1/elections/phases/results", decl, AUTH_COUNTER)
    # poll closed
    await accepted(await client.post("/v1/elections/phases/poll/close", headers=AUTH_ADMIN), 200)
    await refuse("POST", "/v1/elections/phases/ballots", paper("v002"), AUTH_FRONTEND)
    await refuse("POST", "/v1/elections/phases/poll/open")
    await refuse(
        "POST",
        "/v1/elections/phases/contests/members/candidates/eve/withdraw",
        {"reason": "withdrawn"},
    )


async def test_closing_nominations_outside_nominations_is_wrong_phase(client: AppClient) -> None:
    """POST nominations/close in setup (or twice) is 409 wrong-phase."""
    await setup_election(client, EID, OPEN, open_poll=False)
    r = await client.post(f"{BASE}/nominations/close", headers=AUTH_ADMIN)
    await refused(r, "wrong-phase")


async def test_roll_missing(client: AppClient) -> None:
    """Opening the poll before a roll is published is 409 roll-missing; nothing is appended."""
    await accepted(await client.put(BASE, json=OPEN, headers=AUTH_ADMIN))
    before = await snapshot(client)
    r = await client.post(f"{BASE}/poll/open", headers=AUTH_ADMIN)
    body = await refused(r, "roll-missing")
    assert body["election"] == EID
    assert await snapshot(client) == before
    await accepted(await client.put(f"{BASE}/roll", data=ROLL_CSV, headers=CSV), 200)
    await accepted(await client.post(f"{BASE}/poll/open", headers=AUTH_ADMIN), 200)


async def test_redefinition_after_the_roll_needs_the_roll_again(client: AppClient) -> None:
    """After a redefinition adds a contest, the poll may not open until the roll is republished."""
    await setup_election(client, EID, OPEN, open_poll=False)
    extra = copy.deepcopy(OPEN)
    extra["contests"].append(
        {
            "id": "extra",
            "title": "Extra",
            "seats": 1,
            "method": {"type": "bloc"},
            "candidates": [{"id": "xena", "name": "Xena X"}],
        }
    )
    await accepted(await client.put(BASE, json=extra, headers=AUTH_ADMIN), 200)
    r = await client.post(f"{BASE}/poll/open", headers=AUTH_ADMIN)
    await refused(r, "roll-missing")


# --- ballots -----------------------------------------------------------------------------------


async def test_unknown_contest(client: AppClient) -> None:
    """Papers or withdrawals naming a contest not in the election are 422; nothing changes."""
    before = await open_election(client)
    for b in (
        paper("v001", nope=["ann"]),
        paper("v001", members=["ann"], nope=["ann"]),
    ):
        body = await refused(await cast(client, b), "unknown-contest")
        assert body["contest"] == "nope"
    r = await client.post(
        f"{BASE}/contests/nope/candidates/ann/withdraw",
        json={"reason": "withdrawn"},
        headers=AUTH_ADMIN,
    )
    await refused(r, "unknown-contest")
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001", members=["ann"])))


async def test_unknown_candidate(client: AppClient) -> None:
    """Selections or withdrawals of a candidate not in the contest are 422; nothing changes."""
    before = await open_election(client)
    for b in (
        paper("v001", members=["zed"]),
        paper("v001", members=["ann", "yan"]),
        paper("v001", members=["ann"], youth=["ann"]),
    ):
        await refused(await cast(client, b), "unknown-candidate")
    r = await client.post(
        f"{BASE}/contests/members/candidates/zed/withdraw",
        json={"reason": "withdrawn"},
        headers=AUTH_ADMIN,
    )
    body = await refused(r, "unknown-candidate")
    assert body["candidate"] == "zed"
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001", members=["ann"], youth=["yan"])))


async def test_candidate_not_standing(client: AppClient) -> None:
    """Withdrawn and not validly nominated candidates may not be selected (422)."""
    await open_election(client)
    r = await client.post(
        f"{BASE}/contests/members/candidates/eve/withdraw",
        json={"reason": "withdrawn"},
        headers=AUTH_ADMIN,
    )
    await accepted(r)
    before = await snapshot(client)
    body = await refused(
        await cast(client, paper("v001", members=["ann", "eve"])), "candidate-not-standing"
    )
    assert body["candidate"] == "eve"
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001", members=["ann", "dan"])))

    # below the nomination threshold: dan has one nomination of the two needed
    eid = "threshold"
    base = f"/v1/elections/{eid}"
    await accepted(await client.put(base, json=DEFINITION, headers=AUTH_ADMIN))
    await accepted(await client.put(f"{base}/roll", data=ROLL_CSV, headers=CSV), 200)
    await accepted(await client.post(f"{base}/nominations/open", headers=AUTH_ADMIN), 200)
    for contest in DEFINITION["contests"]:
        for cand in contest["candidates"]:
            bodies = ["branch-a"] if cand["id"] == "dan" else ["branch-a", "branch-b"]
            for nominator in bodies:
                nomination = {"contest": contest["id"], "candidate": cand["id"], "body": nominator}
                r = await client.post(f"{base}/nominations", json=nomination, headers=AUTH_ADMIN)
                await accepted(r)
    r = await client.post(f"{base}/nominations/close", headers=AUTH_ADMIN)
    await accepted(r, 200)
    await accepted(await client.post(f"{base}/poll/open", headers=AUTH_ADMIN), 200)
    state = (await snapshot(client, eid))["state"]
    assert "dan" not in state["standing"]["members"]
    before = await snapshot(client, eid)
    r = await cast(client, paper("v001", members=["dan"]), eid=eid)
    await refused(r, "candidate-not-standing")
    assert await snapshot(client, eid) == before
    await accepted(await cast(client, paper("v001", members=["ann"]), eid=eid))


async def test_duplicate_selection(client: AppClient) -> None:
    """A candidate ranked twice is 422 duplicate-selection; nothing changes."""
    before = await open_election(client)
    r = await cast(client, paper("v001", members=["ann", "bob", "ann"]))
    await refused(r, "duplicate-selection")
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001", members=["ann", "bob"])))


async def test_too_many_selections(client: AppClient) -> None:
    """More marks than the contest allows is 422 too-many-selections; nothing changes."""
    before = await open_election(client)
    r = await cast(client, paper("v001", members=["ann"], youth=["yan", "yvo"]))
    body = await refused(r, "too-many-selections")
    assert (body["contest"], body["given"], body["maximum"]) == ("youth", 2, 1)
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001", members=["ann"], youth=["yan"])))


async def test_too_few_selections(client: AppClient) -> None:
    """Fewer rankings than min_rankings (or none) is 422 too-few-selections; nothing changes."""
    doc = copy.deepcopy(OPEN)
    doc["contests"][0]["method"]["min_rankings"] = 2
    before = await open_election(client, doc)
    for chosen in (["ann"], []):
        body = await refused(
            await cast(client, paper("v001", members=chosen)), "too-few-selections"
        )
        assert body["minimum"] == 2
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v001", members=["ann", "bob"])))


async def test_submission_conflict(client: AppClient) -> None:
    """Reusing a submission id with other content is 409; the original receipt still replays."""
    await open_election(client)
    first = await accepted(await cast(client, paper("v001", members=["ann"])))
    before = await snapshot(client)
    for b in (
        paper("v001", members=["bob"]),
        paper("v002", sub="sub-v001-0001", members=["ann"]),
    ):
        body = await refused(await cast(client, b), "submission-conflict")
        assert body["submission_id"] == "sub-v001-0001"
    assert await snapshot(client) == before
    r = await cast(client, paper("v001", members=["ann"]))
    assert r.headers["Idempotent-Replayed"] == "true"
    assert await accepted(r, 200) == first


async def test_already_voted(client: AppClient) -> None:
    """A second paper for a contest the voter voted in is 409, even mixed with a new contest."""
    await open_election(client)
    await accepted(await cast(client, paper("v002", members=["ann"])))
    before = await snapshot(client)
    for b in (
        paper("v002", sub="sub-v002-0002", members=["bob"]),
        paper("v002", sub="sub-v002-0003", members=["bob"], youth=["yan"]),
    ):
        body = await refused(await cast(client, b), "already-voted")
        assert body["contest"] == "members"
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v002", sub="sub-v002-0004", youth=["yan"])))


async def test_not_on_roll(client: AppClient) -> None:
    """A voter id not on the roll is 403 not-on-roll; nothing is recorded."""
    before = await open_election(client)
    r = await cast(client, paper("stranger"))
    await refused(r, "not-on-roll")
    assert await snapshot(client) == before


async def test_invalid_ballot_data(client: AppClient, db_url: str) -> None:
    """A paper whose data the database refuses (a data exception in the group commit) is 422
    invalid-ballot-data with the reason; nothing is recorded, and the voter's id not echoed."""
    before = await open_election(client)
    await refuse_in_write(db_url, "v013")
    body = await refused(await cast(client, paper("v013")), "invalid-ballot-data")
    assert body["reason"] == "character not in repertoire" and "v013" not in json.dumps(body)
    assert await snapshot(client) == before


async def test_not_eligible(client: AppClient) -> None:
    """A voter outside a contest's electorate (age 27 for youth) is 403; the paper is refused."""
    before = await open_election(client)
    for b in (paper("v007", youth=["yan"]), paper("v007", members=["ann"], youth=["yan"])):
        body = await refused(await cast(client, b), "not-eligible")
        assert body["contest"] == "youth"
    assert await snapshot(client) == before
    await accepted(await cast(client, paper("v007", members=["ann"])))


# --- roll, nominations and declarations -------------------------------------------------------


async def test_invalid_roll(client: AppClient) -> None:
    """Malformed rolls are 422 invalid-roll; the published roll stands unchanged."""
    await setup_election(client, EID, OPEN, open_poll=False)
    before = await snapshot(client)
    assert before["turnout"]["contests"]["members"]["eligible"] == 60
    rolls = [
        (CSV, "id,region\nv001,north\n"),
        (CSV, "voter_id,region\nv001,north\nv001,south\n"),
        (CSV, "voter_id,region\nv001,north,extra\n"),
        (CSV, "voter_id,region\n,north\n"),
        (CSV, b"voter_id\n\xff\xfe\n"),
        (NDJSON, '{"voter_id": "v001"}\n{"voter_id": \n'),
        (NDJSON, '{"voter_id": "v001", "attributes": {"Bad Name": 1}}\n'),
        (NDJSON, '{"voter_id": "v001"}\n{"voter_id": "v001"}\n'),
    ]
    for headers, data in rolls:
        r = await client.put(f"{BASE}/roll", data=data, headers=headers)
        await refused(r, "invalid-roll")
    assert await snapshot(client) == before
    await accepted(await client.post(f"{BASE}/poll/open", headers=AUTH_ADMIN), 200)
    await accepted(await cast(client, paper("v059", members=["ann"])))


async def test_roll_with_unencodable_text_is_invalid_roll(client: AppClient) -> None:
    """An NDJSON roll whose voter id or attribute is not valid Unicode is 422 invalid-roll."""
    await setup_election(client, EID, OPEN, open_poll=False)
    for data in (
        '{"voter_id": "\\ud800"}\n',
        '{"voter_id": "a", "attributes": {"x": "\\ud800"}}\n',
    ):
        r = await client.put(f"{BASE}/roll", data=data, headers=NDJSON)
        await refused(r, "invalid-roll")


async def test_duplicate_nomination(client: AppClient) -> None:
    """The same body nominating the same candidate twice is 409; its first nomination counts."""
    await accepted(await client.put(BASE, json=DEFINITION, headers=AUTH_ADMIN))
    await accepted(await client.post(f"{BASE}/nominations/open", headers=AUTH_ADMIN), 200)
    nomination = {"contest": "members", "candidate": "ann", "body": "branch-a"}
    await accepted(await client.post(f"{BASE}/nominations", json=nomination, headers=AUTH_ADMIN))
    before = await snapshot(client)
    r = await client.post(f"{BASE}/nominations", json=nomination, headers=AUTH_ADMIN)
    body = await refused(r, "duplicate-nomination")
    assert body["body"] == "branch-a"
    assert await snapshot(client) == before
    assert before["state"]["nominations"]["members"]["ann"] == 1


async def test_already_declared(client: AppClient) -> None:
    """Declaring a contest's result twice is 409 already-declared; the first result stands."""
    await closed_election(client)
    first = await declaration(client, "members")
    await accepted(await client.post(f"{BASE}/results", json=first, headers=AUTH_COUNTER))
    before = await snapshot(client)
    again = await declaration(client, "members", result_hash="ab" * 32)
    r = await client.post(f"{BASE}/results", json=again, headers=AUTH_COUNTER)
    await refused(r, "already-declared")
    assert await snapshot(client) == before
    assert before["state"]["declared"] == {"members": first["result_hash"]}
    youth = await declaration(client, "youth")
    await accepted(await client.post(f"{BASE}/results", json=youth, headers=AUTH_ADMIN))
    r = await client.post(f"{BASE}/results", json=again, headers=AUTH_COUNTER)
    await refused(r, "already-declared")  # also once every contest is declared


async def test_not_approved(client: AppClient) -> None:
    """A result_declared the officer has not approved cannot be appended: with ``declare:
    on_approval`` the counter's declaration is held (202), and an approval of a contest
    already declared is refused; the fold refuses a declaration with no approval."""
    from ledger.domain import election as el

    await setup_election(client, EID, definition(nomination_threshold=0, declare="on_approval"))
    await accepted(await client.post(f"{BASE}/poll/close", headers=AUTH_ADMIN), 200)
    held = await declaration(client, "members")
    r = await client.post(f"{BASE}/results", json=held, headers=AUTH_COUNTER)
    assert r.status == 202 and (await r.json())["status"] == "awaiting_approval"
    assert (await snapshot(client))["state"]["declared"] == {}
    state = await client.app[LEDGER].state(EID)
    with pytest.raises(el.NotApproved) as refusal:
        el.apply(state, "result_declared", held)
    assert problems.problem_type(refusal.value).slug == "not-approved"


async def test_result_not_counted(client: AppClient) -> None:
    """Approving a contest the counter has sent no result for is 409 result-not-counted."""
    await setup_election(client, EID, definition(nomination_threshold=0, declare="on_approval"))
    await accepted(await client.post(f"{BASE}/poll/close", headers=AUTH_ADMIN), 200)
    before = await snapshot(client)
    r = await client.post(f"{BASE}/contests/members/declare", headers=AUTH_ADMIN)
    body = await refused(r, "result-not-counted")
    assert body["contest"] == "members"
    assert await snapshot(client) == before


async def test_contest_not_polled(client: AppClient) -> None:
    """A ballot in a contest returned unopposed at the close of nominations (no poll, not on
    the ballot paper) is 422 contest-not-polled; nothing is accepted."""
    doc = definition()
    doc["contests"][1]["candidates"] = doc["contests"][1]["candidates"][:1]  # one for one seat
    doc["contests"][1]["constraints"] = []
    await setup_election(client, EID, doc)
    before = await snapshot(client)
    r = await cast(client, paper("v000", youth=["yan"]))
    body = await refused(r, "contest-not-polled")
    assert body["contest"] == "youth"
    assert await snapshot(client) == before
    assert before["state"]["returns"]["youth"]["unopposed"] == [{"candidate": "yan", "under": None}]


async def test_nominator_not_allowed(client: AppClient) -> None:
    """A nomination by a kind of body the contest does not take is 422 nominator-not-allowed;
    a kind it takes is recorded."""
    doc = definition()
    doc["contests"][0]["nominations"] = {"threshold": 1, "by": ["branch"]}
    await accepted(await client.put(BASE, json=doc, headers=AUTH_ADMIN))
    await accepted(await client.post(f"{BASE}/nominations/open", headers=AUTH_ADMIN), 200)
    before = await snapshot(client)
    for kind in ("affiliate", None):
        nomination = {"contest": "members", "candidate": "ann", "body": "unite"}
        if kind:
            nomination["kind"] = kind
        r = await client.post(f"{BASE}/nominations", json=nomination, headers=AUTH_ADMIN)
        body = await refused(r, "nominator-not-allowed")
        assert body["allowed"] == ["branch"]
    assert await snapshot(client) == before
    nomination = {"contest": "members", "candidate": "ann", "body": "b-1", "kind": "branch"}
    await accepted(await client.post(f"{BASE}/nominations", json=nomination, headers=AUTH_ADMIN))


async def test_invalid_declaration(client: AppClient) -> None:
    """Declarations that do not verify (signature, key, size, root) are 422; nothing changes."""
    before = await closed_election(client)
    good = await declaration(client, "members")
    forged = dict(good, result_hash="cd" * 32)  # signature no longer covers the body
    stranger = await declaration(client, "members", Signer.generate("ballot-ledger.test/rogue"))
    beyond = await declaration(client, "members", counted_size=good["counted_size"] + 1)
    wrong_root = await declaration(client, "members", counted_root="00" * 32)
    not_b64 = dict(good, signature="%%%%")
    not_a_key = await declaration(client, "members", key="not a key")
    for b in (forged, stranger, beyond, wrong_root, not_b64, not_a_key):
        r = await client.post(f"{BASE}/results", json=b, headers=AUTH_COUNTER)
        await refused(r, "invalid-declaration")
    assert await snapshot(client) == before
    await accepted(await client.post(f"{BASE}/results", json=good, headers=AUTH_COUNTER))


async def test_election_exists(client: AppClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two concurrent first definitions of one id: one is 201, the other 409 election-exists."""
    ledger = client.app[LEDGER]
    create_log = ledger.store.create_log
    both_checked = asyncio.Barrier(2)

    async def gated(conn: asyncpg.Connection, election_id: str, origin: str) -> Any:
        # Both requests have passed define()'s existence check before either creates the log.
        await asyncio.wait_for(both_checked.wait(), 60)  # a hang guard
        return await create_log(conn, election_id, origin)

    monkeypatch.setattr(ledger.store, "create_log", gated)
    docs = [definition(nomination_threshold=0, title=f"Race {i}") for i in range(2)]
    responses = await asyncio.gather(
        *(client.put(BASE, json=doc, headers=AUTH_ADMIN) for doc in docs)
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201, 409], [await r.text() for r in responses]
    winner = next(i for i, r in enumerate(responses) if r.status == 201)
    loser = responses[1 - winner]
    body = await refused(loser, "election-exists")
    assert body["election"] == EID
    monkeypatch.undo()
    after = await snapshot(client)
    assert after["state"]["size"] == 1
    assert after["state"]["definition"]["title"] == f"Race {winner}"


async def test_proof_unavailable(client: AppClient) -> None:
    """Proofs outside the log (index >= size, size > log, old > new) are 400; nothing changes."""
    before = await open_election(client)
    size = before["state"]["size"]
    for path in (
        f"proofs/inclusion?index={size}",
        f"proofs/inclusion?index={size + 100}",
        f"proofs/inclusion?index=0&size={size + 1}",
        "proofs/inclusion?index=0&size=0",
        f"proofs/consistency?old={size}&new=1",
        f"proofs/consistency?old=1&new={size + 1}",
    ):
        r = await client.get(f"{BASE}/{path}")
        await refused(r, "proof-unavailable")
    assert await snapshot(client) == before


# --- encoding -----------------------------------------------------------------------------------


async def test_entry_too_large(client: AppClient) -> None:
    """A definition under the body limit whose entry exceeds 64 KiB is 413 entry-too-large.

    Reachable through the API: the entry adds the filled-in defaults of every contest, the
    ledger key and the envelope to the posted document.
    """
    await setup_election(client, EID, OPEN, open_poll=False)
    before = await snapshot(client)
    doc = {
        "title": "Big",
        "contests": [
            {
                "id": f"c{i:02d}",
                "title": "T",
                "seats": 1,
                "method": {"type": "stv", "rule": "scottish"},
                "candidates": [{"id": f"k{j}", "name": "N" * 179} for j in range(6)],
            }
            for i in range(50)
        ],
    }
    raw = json.dumps(doc, separators=(",", ":"))
    assert len(raw) <= 64 * 1024
    r = await client.put(BASE, data=raw, headers=JSON_ADMIN)
    body = await refused(r, "entry-too-large")
    assert body["limit"] == 64 * 1024 and body["size"] > body["limit"]
    r = await client.put("/v1/elections/big", data=raw, headers=JSON_ADMIN)
    await refused(r, "entry-too-large")
    assert await snapshot(client) == before
    await refused(await client.get("/v1/elections/big"), "not-found")


async def test_invalid_encoding(client: AppClient) -> None:
    """Values RFC 8785 cannot encode (lone surrogates, integers over 2^53) are 422."""
    before = await open_election(client)
    title = json.dumps(OPEN).replace('"National Executive', '"\\ud800 National Executive', 1)
    r = await client.put("/v1/elections/odd", data=title, headers=JSON_ADMIN)
    await refused(r, "invalid-encoding")
    r = await client.put(
        "/v1/elections/odd", json=definition(nomination_threshold=2**60), headers=AUTH_ADMIN
    )
    await refused(r, "invalid-encoding")
    voter = json.dumps(paper("v001")).replace('"v001"', '"\\udc00"')
    r = await client.post(f"{BASE}/ballots", data=voter, headers=JSON_FRONTEND)
    await refused(r, "invalid-encoding")
    assert await snapshot(client) == before
    await refused(await client.get("/v1/elections/odd"), "not-found")


def test_encoding_problems_map_to_their_types() -> None:
    """EntryTooLarge and EncodingError render as entry-too-large (413) / invalid-encoding (422)."""
    for exc, slug in (
        (EntryTooLarge(size=70000), "entry-too-large"),
        (EncodingError(), "invalid-encoding"),
    ):
        response = problems.problem_response(exc, instance="/x", request_id="r1")
        assert response.status == STATUS[slug]
        assert response.content_type == "application/problem+json"
        assert response.text is not None
        assert json.loads(response.text)["type"] == problems.PREFIX + slug


# --- availability -------------------------------------------------------------------------------


async def test_unavailable(client: AppClient, pg_admin_url: str) -> None:
    """With the database unreachable, requests are 503 + Retry-After; a retry later succeeds."""
    before = await open_election(client)
    ledger = client.app[LEDGER]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = await asyncpg.create_pool(
        f"postgresql://nobody@127.0.0.1:{port}/nothing", min_size=0, max_size=1
    )
    real = ledger.pool
    ledger.pool = dead
    try:
        await refused(await client.get("/readyz"), "unavailable")
        await refused(await cast(client, paper("v001")), "unavailable")
        await refused(await client.get(BASE), "unavailable")
        r = await client.post(f"{BASE}/poll/close", headers=AUTH_ADMIN)
        await refused(r, "unavailable")
    finally:
        ledger.pool = real
        await dead.close()
    assert await snapshot(client) == before
    assert (await client.get("/readyz")).status == 200
    await accepted(await cast(client, paper("v001")))


async def test_unavailable_middleware_mapping(
    aiohttp_client: Callable[..., Awaitable[AppClient]],
) -> None:
    """OSError, connection errors and sqlstate 08/57P in a handler become 503 + Retry-After."""
    errors: list[BaseException] = [
        ConnectionRefusedError("refused"),
        TimeoutError(),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        problems.Unavailable(),
    ]

    async def handler(request: web.Request) -> web.Response:
        raise errors[int(request.query["n"])]

    client = await aiohttp_client(tiny_app(handler))
    for n in range(len(errors)):
        await refused(await client.get(f"/boom?n={n}"), "unavailable")


async def test_internal(aiohttp_client: Callable[..., Awaitable[AppClient]]) -> None:
    """An unexpected exception is 500 internal, with no traceback or message in the body."""

    async def handler(request: web.Request) -> web.Response:
        raise RuntimeError("secret-detail-4711 in /etc/ballot/secret.conf")

    client = await aiohttp_client(tiny_app(handler))
    r = await client.get("/boom", headers={"X-Request-Id": "req-42"})
    body = await refused(r, "internal")
    text = json.dumps(body)
    assert body["request_id"] == "req-42"
    for leak in ("Traceback", "RuntimeError", "secret-detail-4711", "secret.conf", ".py"):
        assert leak not in text


async def test_no_such_receipt(client: AppClient) -> None:
    """A receipt code that no ballot of the election has, waiting or released, is 404
    no-such-receipt; the public sees nothing change."""
    before = await open_election(client)
    for code in ("AAAA-AAAA-AAAA-AAAA", "a" * 64):
        r = await client.get(f"{BASE}/receipts/{code}")
        await refused(r, "no-such-receipt")
    assert await snapshot(client) == before


def test_every_problem_type_has_its_test() -> None:
    """Each problem slug in problems.TYPES has a test_<slug> in this module."""
    names = set(globals())
    missing = [slug for slug in STATUS if f"test_{slug.replace('-', '_')}" not in names]
    assert missing == []


async def test_non_ascii_digits_are_bad_request(client: AppClient) -> None:
    """A query parameter of Unicode 'digits' int() cannot parse is 400, not 500."""
    await open_election(client)
    r = await client.get(f"{BASE}/entries?start=%C2%B2")
    await refused(r, "bad-request")
    r = await client.get(f"{BASE}/checkpoints/%C2%B2")
    await refused(r, "not-found")
