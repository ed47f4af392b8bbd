"""The HTTP boundary: no request content gets a 500, aiohttp's own refusals are problems that
echo nothing, and slow headers cannot hold connections open (raw sockets where aiohttp's client
would refuse to send the bytes)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from structlog.testing import capture_logs

from ledger.http import problems
from ledger.http.app import create_app
from ledger.runtime.settings import Settings

from ..conftest import (
    ADMIN,
    AUTH_ADMIN,
    AUTH_FRONTEND,
    FRONTEND,
    SIGNER,
    AppClient,
    Served,
    definition,
    paper,
    setup_election,
)
from ..counter.test_counter_faults import CounterProcess, _until
from ..procs import LedgerProcess

EID = "nec-2026"
BASE = f"/v1/elections/{EID}"
JSON_FRONTEND = {**AUTH_FRONTEND, "Content-Type": "application/json"}
JSON_ADMIN = {**AUTH_ADMIN, "Content-Type": "application/json"}


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a new connection; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
        }
        body = await reader.readexactly(int(headers["content-length"]))
        return int(lines[0].split()[1]), headers, body
    finally:
        writer.close()


def problem(status: int, headers: dict[str, str], body: bytes, slug: str) -> dict[str, Any]:
    """Assert the answer is the RFC 9457 problem ``slug``; its body."""
    assert headers["content-type"].split(";")[0] == "application/problem+json", body
    doc: dict[str, Any] = json.loads(body)
    assert doc["type"] == problems.PREFIX + slug, doc
    assert doc["status"] == status
    return doc


async def open_poll(client: AppClient) -> None:
    await setup_election(client, EID, definition(nomination_threshold=0))


# --- request bodies ----------------------------------------------------------------------------


async def test_a_schedule_outside_the_utc_calendar_is_422_and_changes_nothing(
    client: AppClient,
) -> None:
    """A schedule date-time that is RFC 3339 but falls before year 1 or after year 9999 once
    in UTC (``0001-01-01T00:00:00+23:59``) is a 422 schema violation, not a 500, both when
    an election is defined and when it is redefined during setup; the log is unchanged."""
    for moment in ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"):
        doc = definition(schedule={"poll_close": moment})
        r = await client.put(BASE, json=doc, headers=AUTH_ADMIN)
        problem(
            r.status,
            {k.lower(): v for k, v in r.headers.items()},
            await r.read(),
            "schema-violation",
        )
        assert r.status == 422
        assert (await client.get(BASE)).status == 404
    r = await client.put(BASE, json=definition(), headers=AUTH_ADMIN)
    assert r.status == 201, await r.text()
    doc = definition(schedule={"poll_close": "0001-01-01T00:00:00+23:59"})
    r = await client.put(BASE, json=doc, headers=AUTH_ADMIN)
    assert r.status == 422, await r.text()
    assert (await (await client.get(BASE)).json())["size"] == 1


async def test_duplicate_keys_are_refused(client: AppClient) -> None:
    """A body naming a key twice is 400 invalid-json, not last-one-wins; nothing is recorded."""
    await open_poll(client)
    twice = '"voter_id": "v020", "voter_id": "v021"'
    text = json.dumps(paper("v020")).replace('"voter_id": "v020"', twice)
    r = await client.post(f"{BASE}/ballots", data=text, headers=JSON_FRONTEND)
    assert r.status == 400, await r.text()
    body = await r.json()
    assert body["type"] == problems.PREFIX + "invalid-json"
    assert "voter_id" in body["detail"]
    r = await client.post(f"{BASE}/ballots", json=paper("v021"), headers=AUTH_FRONTEND)
    assert r.status == 201, await r.text()


async def test_deep_nesting_and_huge_integers_are_400(client: AppClient) -> None:
    """JSON nested 10,000 deep or an integer of 5,000 digits is 400 invalid-json, not 500."""
    await open_poll(client)
    for text, reason in (
        ("[" * 10_000 + "]" * 10_000, "nested"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested"),
        ('{"voter_id": ' + "7" * 5000 + "}", "digits"),
    ):
        for r in (
            await client.post(f"{BASE}/ballots", data=text, headers=JSON_FRONTEND),
            await client.put("/v1/elections/x", data=text, headers=JSON_ADMIN),
        ):
            assert r.status == 400, await r.text()
            body = await r.json()
            assert body["type"] == problems.PREFIX + "invalid-json"
            assert reason in body["detail"]


async def test_nul_anywhere_in_a_body_is_refused(client: AppClient) -> None:
    """U+0000 in a value or a key of a cast or a definition is a 400 problem; the other voters'
    ballots are recorded."""
    await open_poll(client)
    bad_voter = json.dumps(paper("v001")).replace('"v001"', '"v001\\u0000"')
    bad_key = json.dumps(paper("v002")).replace('"members"', '"mem\\u0000bers"')
    title = json.dumps(definition(nomination_threshold=0)).replace(
        '"Youth seat"', '"Youth\\u0000seat"'
    )
    results = await asyncio.gather(
        client.post(f"{BASE}/ballots", data=bad_voter, headers=JSON_FRONTEND),
        client.post(f"{BASE}/ballots", data=bad_key, headers=JSON_FRONTEND),
        client.put("/v1/elections/nul", data=title, headers=JSON_ADMIN),
        *(
            client.post(f"{BASE}/ballots", json=paper(f"v{i:03d}"), headers=AUTH_FRONTEND)
            for i in range(10, 20)
        ),
    )
    for r in results[:3]:
        assert r.status == 400, await r.text()
        assert "U+0000" in (await r.json())["detail"]
    for r in results[3:]:
        assert r.status == 201, await r.text()
    r = await client.get("/v1/elections/nul")
    assert r.status == 404


# --- authentication and ids --------------------------------------------------------------------


async def test_non_utf8_bearer_token_is_401(client: AppClient) -> None:
    """A bearer token of bytes that are not UTF-8 is 401 unauthorized, not 500."""
    assert client.port is not None
    for token in (b"\xff\xfe\xfd", b"\xff\xfe" + ADMIN.encode(), "é".encode("latin-1")):
        raw = (
            b"POST /v1/elections/x/poll/open HTTP/1.1\r\nHost: t\r\n"
            b"Authorization: Bearer " + token + b"\r\nContent-Length: 0\r\n\r\n"
        )
        status, headers, body = await exchange(client.port, raw)
        assert status == 401, body
        problem(status, headers, body, "unauthorized")


async def test_ids_are_matched_whole(client: AppClient) -> None:
    """An election id with a trailing newline (or other control character) is 404, not 500."""
    await open_poll(client)
    for path in (
        "/v1/elections/x%0A",
        f"{BASE}%0A",
        f"{BASE}%0A/entries",
        f"{BASE}%00/checkpoint",
        f"{BASE}%0A/proofs/inclusion?index=0",
        f"{BASE}%0A/turnout",
    ):
        r = await client.get(path)
        assert r.status == 404, (path, await r.text())
        assert (await r.json())["type"] == problems.PREFIX + "not-found"


async def test_oversized_ids_and_paths_are_clipped_in_the_log(client: AppClient) -> None:
    """A 5,000-character election id (refused: 404 to read, 422 to define) goes into the
    ``request_refused`` line, and the request's bound ``election_id``, as at most 80
    characters ending in an ellipsis; a short id stays whole."""
    long_id = "a" * 5000
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        assert (await client.get(f"/v1/elections/{long_id}/checkpoint")).status == 404
        r = await client.put(f"/v1/elections/{long_id}", json=definition(), headers=AUTH_ADMIN)
        assert r.status == 422, await r.text()
        assert (await client.get("/v1/elections/short/checkpoint")).status == 404
    refused = [e for e in logs if e["event"] == "request_refused"]
    assert len(refused) == 3, logs
    for event in refused[:2]:
        for key in ("path", "election_id"):
            assert len(event[key]) <= 80 and event[key].endswith("\u2026"), event
            assert event[key].removesuffix("\u2026") in f"/v1/elections/{long_id}", event
    assert refused[2]["election_id"] == "short", refused[2]
    assert refused[2]["path"] == "/v1/elections/short/checkpoint", refused[2]
    assert all(len(str(v)) <= 200 for e in logs for v in e.values()), logs


async def test_defining_an_election_with_an_invalid_id_is_a_clear_422(client: AppClient) -> None:
    """PUT of an election whose id does not match ``[a-z0-9][a-z0-9_-]{0,62}`` (capitals, a
    final newline, a leading dash, 64 characters) is 422 schema-violation naming the pattern,
    not 404 "no such election"; nothing is created, reading such an id stays 404, and without
    a token it is still 401."""
    for eid in ("X", "x%0A", "-x", "a" * 64, "x%20y", "%C3%A9"):
        r = await client.put(f"/v1/elections/{eid}", json=definition(), headers=AUTH_ADMIN)
        assert r.status == 422, (eid, await r.text())
        body = await r.json()
        assert body["type"] == problems.PREFIX + "schema-violation", body
        assert "[a-z0-9][a-z0-9_-]{0,62}" in body["detail"], body
        assert body["errors"][0]["path"] == "election", body
        r = await client.get(f"/v1/elections/{eid}")
        assert r.status == 404, (eid, await r.text())
    r = await client.put("/v1/elections/X", json=definition())
    assert r.status == 401, await r.text()
    assert (await (await client.get("/v1/elections")).json())["elections"] == []


async def test_odd_query_and_path_values_are_4xx(client: AppClient) -> None:
    """Query parameters and path segments of odd text (NUL, newline, non-ASCII, 19 digits,
    undecodable escapes) are answered with a 4xx problem, never a 500."""
    await open_poll(client)
    odd = ("%00", "%0A", "%FF", "%C2%B2", "-1", "1e3", "9" * 19, "%F0%9F%98%80", "0x10", " 1")
    paths = [f"{BASE}/entries?start={v}" for v in odd]
    paths += [f"{BASE}/entries?limit={v}&wait={v}" for v in odd]
    paths += [f"{BASE}/proofs/inclusion?index={v}" for v in odd]
    paths += [f"{BASE}/proofs/inclusion?code={v}" for v in odd]
    paths += [f"{BASE}/proofs/consistency?old={v}&new=1" for v in odd]
    paths += [f"{BASE}/checkpoints/{v}" for v in odd]
    for path in paths:
        r = await client.get(path)
        assert 400 <= r.status < 500, (path, r.status, await r.text())
        assert r.headers["Content-Type"].startswith("application/problem+json"), path
    for v in odd:
        r = await client.post(
            f"{BASE}/contests/{v}/candidates/{v}/withdraw",
            json={"reason": "withdrawn"},
            headers=AUTH_ADMIN,
        )
        assert 400 <= r.status < 500, (v, r.status, await r.text())


# --- aiohttp's own refusals --------------------------------------------------------------------


async def test_malformed_requests_are_problems_that_echo_nothing(client: AppClient) -> None:
    """aiohttp's own 400s (a bad header, a bad request line) are problem+json and quote
    nothing of the request, not even part of a bearer token."""
    assert client.port is not None
    secret = b"secret-token-0123456789"
    for raw in (
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization Bearer " + secret + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Token: a\x01" + secret + b"\r\n\r\n",
        b"GET /healthz?" + secret + b" HTTP/1.1 junk\r\nHost: t\r\n\r\n",
        b"G\x01T /" + secret + b" HTTP/1.1\r\n\r\n",
        b"POST /v1/elections HTTP/1.1\r\nHost: t\r\nContent-Length: x" + secret + b"\r\n\r\n",
    ):
        status, headers, body = await exchange(client.port, raw)
        assert status == 400, body
        doc = problem(status, headers, body, "bad-request")
        assert secret not in body and b"secret" not in body, body
        assert doc["request_id"] == headers["x-request-id"]


# --- header read timeout -----------------------------------------------------------------------


async def test_slow_headers_are_cut_off_and_others_are_served(
    settings: Settings, aiohttp_client: Callable[..., Awaitable[AppClient]]
) -> None:
    """With a 0.5 s header timeout, a connection sending a header line every 0.2 s is closed,
    while a normal request on another connection is answered, a kept-alive connection idle
    for longer than the timeout still serves its next request, and a slowly sent body is not
    cut off."""
    fast = dataclasses.replace(settings, header_timeout=0.5)
    client = await aiohttp_client(Served(create_app(fast, SIGNER), header_timeout=0.5))
    assert client.port is not None
    port = client.port

    async def kept_alive() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(2):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
                await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r")[0]))
                await asyncio.sleep(1.5)
        finally:
            writer.close()

    async def slow_body() -> None:
        body = json.dumps(definition(nomination_threshold=0)).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                b"PUT /v1/elections/slow-body HTTP/1.1\r\nHost: t\r\n"
                b"Authorization: Bearer " + ADMIN.encode() + b"\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            )
            for i in range(0, len(body), len(body) // 4 + 1):
                writer.write(body[i : i + len(body) // 4 + 1])
                await asyncio.sleep(0.5)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 201"), head
        finally:
            writer.close()

    cut = asyncio.create_task(slow_headers_closed(port))
    others = asyncio.gather(kept_alive(), slow_body())
    status, _, body = await exchange(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 200, body
    assert await cut, "the slow-header connection was still open after 10 s"
    await others


async def test_unreadable_bodies_are_400(client: AppClient) -> None:
    """A body whose Content-Encoding does not decode (a cast, a roll) is 400 bad-request, not
    500, and quotes nothing of it."""
    assert client.port is not None
    await open_poll(client)
    for head in (
        f"POST {BASE}/ballots HTTP/1.1\r\nAuthorization: Bearer {FRONTEND}\r\n"
        "Content-Type: application/json\r\nContent-Encoding: gzip\r\n",
        f"POST {BASE}/ballots HTTP/1.1\r\nAuthorization: Bearer {FRONTEND}\r\n"
        "Content-Type: application/json\r\nContent-Encoding: deflate\r\n",
        f"PUT /v1/elections/e2/roll HTTP/1.1\r\nAuthorization: Bearer {ADMIN}\r\n"
        "Content-Type: text/csv\r\nContent-Encoding: gzip\r\n",
    ):
        raw = head.encode() + b"Host: t\r\nContent-Length: 12\r\n\r\nsecret-bytes"
        status, headers, body = await exchange(client.port, raw)
        problem(status, headers, body, "bad-request")
        assert b"secret" not in body


async def test_an_unknown_expectation_is_a_problem_that_echoes_nothing(client: AppClient) -> None:
    """aiohttp's refusal of an unknown Expect header (before any middleware) is a problem and
    does not quote the header."""
    assert client.port is not None
    raw = (
        b"POST /v1/elections/x/ballots HTTP/1.1\r\nHost: t\r\nExpect: 100-secret\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    status, headers, body = await exchange(client.port, raw)
    problem(status, headers, body, "bad-request")
    assert b"secret" not in body


async def test_a_roll_line_nested_too_deep_is_an_invalid_roll(client: AppClient) -> None:
    """An NDJSON roll line nested 10,000 deep (or naming a key twice) is 422 invalid-roll."""
    r = await client.put(BASE, json=definition(nomination_threshold=0), headers=AUTH_ADMIN)
    assert r.status == 201, await r.text()
    ndjson = {**AUTH_ADMIN, "Content-Type": "application/x-ndjson"}
    for line in ("[" * 10_000 + "]" * 10_000, '{"voter_id": "v1", "voter_id": "v2"}'):
        r = await client.put(f"{BASE}/roll", data=line + "\n", headers=ndjson)
        assert r.status == 422, await r.text()
        assert (await r.json())["type"] == problems.PREFIX + "invalid-roll"


# --- the served processes ----------------------------------------------------------------------


async def slow_headers_closed(port: int) -> bool:
    """Send a request line, then a header line every 0.2 s: True when the server closes the
    connection within 10 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    try:
        while loop.time() < deadline:
            try:
                data = await asyncio.wait_for(reader.read(1), 0.2)
            except TimeoutError:
                writer.write(b"X-Slow: 1\r\n")
                continue
            return data == b""
    except ConnectionError:
        return True
    finally:
        writer.close()
    return False


async def answers(port: int) -> bool:
    """True when ``/healthz`` answers 200 on ``port``."""
    try:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/healthz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


async def test_both_services_serve_with_the_protocol(
    db_url: str, fresh_database: Any, tmp_path: Path
) -> None:
    """`ballot ledger serve` and `ballot counter serve` answer a malformed header with a
    problem echoing nothing, and close a slow-header connection after BALLOT_HEADER_TIMEOUT /
    BALLOT_COUNTER_HEADER_TIMEOUT (0.5 s here) while serving others."""
    (tmp_path / "ledger").mkdir()
    (tmp_path / "counter").mkdir()
    ledger = LedgerProcess(db_url, tmp_path / "ledger", BALLOT_HEADER_TIMEOUT="0.5")
    counter = CounterProcess(
        fresh_database("template0"), "http://127.0.0.1:1", tmp_path / "counter"
    )
    counter.env["BALLOT_COUNTER_HEADER_TIMEOUT"] = "0.5"
    try:
        await ledger.start()
        counter.start()
        await _until(lambda: answers(counter.port), 60, "the counter to answer")
        for port in (ledger.port, counter.port):
            raw = b"GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization Bearer secret-token\r\n\r\n"
            status, headers, body = await exchange(port, raw)
            problem(status, headers, body, "bad-request")
            assert b"secret" not in body
            cut = asyncio.create_task(slow_headers_closed(port))
            status, _, body = await exchange(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert status == 200, body
            assert await cut, f"port {port}: the slow-header connection was open after 10 s"
    finally:
        counter.stop()
        ledger.stop()
