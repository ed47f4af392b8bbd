"""Strings from outside are checked at the boundary: no control characters where they make no
sense (none at all in ids, names and titles; only tab and newline in free text), ids matched
whole as JSON Schema's ECMA-262 ``pattern`` means, eligibility nested at most 32 deep, and roll
cells that are not what they look like refused with their line and column. Each refusal is a
4xx problem and leaves everything as it was."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from ..conftest import AUTH_ADMIN, ROLL_CSV, AppClient, paper, setup_election
from .test_problems import (
    BASE,
    CSV,
    EID,
    NDJSON,
    OPEN,
    accepted,
    cast,
    open_election,
    refused,
    snapshot,
)


def changed(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The open sample definition with the member at ``path`` set to ``value``."""
    doc = copy.deepcopy(OPEN)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


BAD_DEFINITIONS = [
    changed(("title",), "NEC\u00002026"),
    changed(("title",), "NEC\n2026"),
    changed(("contests", 0, "title"), "Members\u0000"),
    changed(("contests", 0, "title"), "Members\x1b[31m"),
    changed(("contests", 0, "id"), "members\n"),
    changed(("contests", 0, "candidates", 0, "id"), "ann\n"),
    changed(("contests", 0, "candidates", 0, "name"), "Ann\u0000Able"),
    changed(("contests", 0, "candidates", 0, "name"), "Ann\tAble"),
    changed(("contests", 0, "candidates", 0, "name"), "Ann Able\u0085"),
    changed(("contests", 0, "candidates", 0, "gender"), "woman\u0000"),
    changed(("contests", 0, "candidates", 4, "slate"), "centre\r"),
    changed(("contests", 0, "constraints", 0, "value"), "woman\u0000"),
    changed(("contests", 1, "eligibility"), {"attr": "age\n", "lt": 27}),
    changed(("contests", 1, "eligibility"), {"attr": "region", "eq": "north\u0000"}),
    changed(("contests", 1, "eligibility"), {"attr": "region", "in": ["north", "\u0000"]}),
    changed(("reporting_dimensions",), ["region\n"]),
    changed(("schedule",), {"poll_close": "next tuesday"}),
    changed(("schedule",), {"poll_close": "2026-12-01T10:00:00Z\n"}),
]


def expected(doc: Any) -> str:
    """The problem type a body is refused with: U+0000 anywhere is refused when the JSON is
    read (400 invalid-json, it can never be stored), any other bad string by its schema."""
    return "invalid-json" if "\\u0000" in json.dumps(doc) else "schema-violation"


async def test_definition_strings_with_control_characters_are_refused(
    client: AppClient,
) -> None:
    """A definition with U+0000 or another control character in a title, name, attribute or
    id (or an id with a final newline, or a schedule that is not a date-time) is refused
    (U+0000 as 400 invalid-json, the rest as 422 schema-violation), whether it defines or
    redefines; nothing is created or changed."""
    await setup_election(client, EID, OPEN, open_poll=False)
    before = await snapshot(client)
    for doc in BAD_DEFINITIONS:
        kind = expected(doc)
        body = await refused(await client.put(BASE, json=doc, headers=AUTH_ADMIN), kind)
        assert kind == "invalid-json" or body["errors"], body
        r = await client.put("/v1/elections/second", json=doc, headers=AUTH_ADMIN)
        await refused(r, kind)
    assert await snapshot(client) == before
    await refused(await client.get("/v1/elections/second"), "not-found")
    ok = changed(("schedule",), {"poll_close": "2026-12-01T10:00:00Z"})
    await accepted(await client.put("/v1/elections/second", json=ok, headers=AUTH_ADMIN))


async def test_a_cast_with_a_control_character_is_refused_alone(client: AppClient) -> None:
    """A ballot whose voter id holds U+0000 (400 invalid-json) or whose id ends in a newline
    (422 schema-violation) is refused on its own: the good ballots sent beside it all get
    their receipts."""
    before = await open_election(client)
    bad = [
        paper("v0\u000001", sub="sub-bad-00001"),
        paper("v001\n", sub="sub-bad-00002"),
        {**paper("v001"), "submission_id": "sub-v001-0001\n"},
        paper("v001", sub="sub-bad-00003", **{"members\n": ["ann"]}),
        paper("v001", sub="sub-bad-00004", members=["ann\n"]),
    ]
    for b in bad:
        await refused(await cast(client, b), expected(b))
    assert await snapshot(client) == before
    good = [paper(f"v{i:03d}", members=["ann"]) for i in range(1, 21)]
    answers = await asyncio.gather(
        *(cast(client, b) for b in good), *(cast(client, b) for b in bad)
    )
    for r in answers[: len(good)]:
        await accepted(r)
    for r, b in zip(answers[len(good) :], bad, strict=True):
        await refused(r, expected(b))


async def test_nomination_and_withdrawal_strings_are_checked(client: AppClient) -> None:
    """A nominating body with a control character is refused; a withdrawal note is free text
    (tab and newline allowed) but may not hold U+0000 or other control characters."""
    await client.put(
        BASE, json=copy.deepcopy(OPEN) | {"nomination_threshold": 1}, headers=AUTH_ADMIN
    )
    await accepted(await client.put(f"{BASE}/roll", data=ROLL_CSV, headers=CSV), 200)
    await accepted(await client.post(f"{BASE}/nominations/open", headers=AUTH_ADMIN), 200)
    before = await snapshot(client)
    for nominator in ("branch\u0000a", "branch\na", "\x7f"):
        nomination = {"contest": "members", "candidate": "ann", "body": nominator}
        r = await client.post(f"{BASE}/nominations", json=nomination, headers=AUTH_ADMIN)
        await refused(r, expected(nomination))
    for note in ("ill\u0000", "bell\x07", "esc\x1b[2J"):
        withdrawal = {"reason": "withdrawn", "note": note}
        r = await client.post(
            f"{BASE}/contests/members/candidates/eve/withdraw", json=withdrawal, headers=AUTH_ADMIN
        )
        await refused(r, expected(withdrawal))
    assert await snapshot(client) == before
    r = await client.post(
        f"{BASE}/contests/members/candidates/eve/withdraw",
        json={"reason": "withdrawn", "note": "Moved abroad.\n\tLetter of 3 May."},
        headers=AUTH_ADMIN,
    )
    await accepted(r)


def nested_rule(depth: int) -> dict[str, Any]:
    """An eligibility rule ``depth`` levels deep (the comparison is level 1)."""
    rule: dict[str, Any] = {"attr": "age", "lt": 27}
    for level in range(depth - 1):
        rule = {"not": rule} if level % 4 else {"all": [{"attr": "age", "gt": 17}, rule]}
    return rule


async def test_deeply_nested_eligibility_is_refused(client: AppClient) -> None:
    """An eligibility rule nested more than 32 deep is 422 schema-violation naming the limit;
    160 deep (a 500 before) is past the JSON reader's 64 levels, 400 invalid-json; 32 deep is
    accepted."""
    await setup_election(client, EID, OPEN, open_poll=False)
    before = await snapshot(client)
    doc = changed(("contests", 1, "eligibility"), nested_rule(33))
    body = await refused(await client.put(BASE, json=doc, headers=AUTH_ADMIN), "schema-violation")
    assert "32" in body["detail"], body
    assert body["errors"][0]["path"].startswith("/contests/1/eligibility/"), body
    doc = changed(("contests", 1, "eligibility"), nested_rule(160))
    body = await refused(await client.put(BASE, json=doc, headers=AUTH_ADMIN), "invalid-json")
    assert "64" in body["detail"], body
    assert await snapshot(client) == before
    doc = changed(("contests", 1, "eligibility"), nested_rule(32))
    await accepted(await client.put("/v1/elections/second", json=doc, headers=AUTH_ADMIN))


async def test_bad_roll_cells_name_their_line_and_column(client: AppClient) -> None:
    """Roll cells that are not what they look like (``--5``, ``²``), control characters in an
    id, attribute name or cell, a CSV field over the csv module's limit, and an NDJSON id with
    U+0000 are 422 invalid-roll naming the line (and column); the published roll stands."""
    await setup_election(client, EID, OPEN, open_poll=False)
    before = await snapshot(client)
    huge = "x" * (128 * 1024 + 1)
    rolls: list[tuple[dict[str, str], str, dict[str, Any]]] = [
        (CSV, "voter_id,age\nv001,30\nv002,--5\n", {"line": 3, "column": "age"}),
        (CSV, "voter_id,age\nv001,\u00b2\n", {"line": 2, "column": "age"}),
        (CSV, "voter_id,age\nv001,30\nv\u0000002,31\n", {"line": 3, "column": "voter_id"}),
        (CSV, "voter_id,region\nv001,no\u0000rth\n", {"line": 2, "column": "region"}),
        (CSV, 'voter_id,region\nv001,"north\nern"\n', {"line": 2, "column": "region"}),
        (CSV, "voter_id,reg\u0000ion\nv001,north\n", {"line": 1, "column": "reg\u0000ion"}),
        (CSV, 'voter_id,"region\n"\nv001,north\n', {"line": 1, "column": "region\n"}),
        (CSV, f"voter_id,region\nv001,north\nv002,{huge}\n", {"line": 3, "column": "region"}),
        (CSV, f'voter_id,region\nv001,"{huge}"\n', {"line": 2, "column": "region"}),
        (NDJSON, '{"voter_id": "v001"}\n{"voter_id": "v\\u0000002"}\n', {"line": 2}),
        (NDJSON, '{"voter_id": "v001", "attributes": {"r": "\\u0000"}}\n', {"line": 1}),
        (NDJSON, '{"voter_id": "v001", "attributes": {"r\\n": "x"}}\n', {"line": 1}),
    ]
    for headers, data, where in rolls:
        r = await client.put(f"{BASE}/roll", data=data.encode(), headers=headers)
        body = await refused(r, "invalid-roll")
        assert {k: body.get(k) for k in where} == where, body
        if headers is NDJSON and "u0000" not in data:  # the schema's path: a line's "column"
            assert body["errors"][0]["path"].startswith(("/voter_id", "/attributes")), body
    assert await snapshot(client) == before
    await accepted(await client.post(f"{BASE}/poll/open", headers=AUTH_ADMIN), 200)
    await accepted(await cast(client, paper("v059", members=["ann"])))


async def test_roll_numbers_are_plain_integers(client: AppClient) -> None:
    """A roll cell of ASCII digits (optionally negative) is an integer that eligibility
    compares; ``+5`` and dates stay text."""
    await setup_election(client, EID, OPEN, open_poll=False)
    roll = "voter_id,age,joined\nv001,26,2024-01\nv002,-3,+5\nv003,27,x\n"
    body = await accepted(await client.put(f"{BASE}/roll", data=roll, headers=CSV), 200)
    assert body["summary"]["contests"]["youth"]["eligible"] == 2, body


async def test_a_roll_with_a_byte_order_mark_and_crlf_line_ends_reads_as_plain_csv(
    client: AppClient,
) -> None:
    """A roll as a spreadsheet saves it (UTF-8 BOM, CRLF line ends) is read as the plain CSV:
    the header's first name is ``voter_id``, no cell keeps a carriage return."""
    await setup_election(client, EID, OPEN, open_poll=False)
    roll = "voter_id,age,joined\nv001,26,2024-01\nv002,-3,+5\nv003,27,x\n"
    body = await accepted(await client.put(f"{BASE}/roll", data=roll, headers=CSV), 200)
    saved = ("\ufeff" + roll.replace("\n", "\r\n")).encode()
    again = await accepted(await client.put(f"{BASE}/roll", data=saved, headers=CSV), 200)

    def eligible(answer: dict[str, Any]) -> dict[str, Any]:  # roll hashes are salted anew
        summary = answer["summary"]
        return {"voters": summary["voters"]} | {
            c: v["eligible"] for c, v in summary["contests"].items()
        }

    assert eligible(again) == eligible(body) == {"voters": 3, "members": 3, "youth": 2}


async def test_lone_surrogates_are_refused(client: AppClient) -> None:
    """A voter id, title or nominating body holding a lone surrogate (``"\\ud800"``, not
    Unicode) is a 4xx problem and changes nothing."""
    before = await open_election(client)
    r = await cast(client, paper("v0\ud80001", sub="sub-bad-00001"))
    assert 400 <= r.status < 500, await r.text()
    r = await client.put(BASE, json=changed(("title",), "NEC \ud800"), headers=AUTH_ADMIN)
    assert 400 <= r.status < 500, await r.text()
    r = await client.put(
        "/v1/elections/second", json=changed(("title",), "\udfff"), headers=AUTH_ADMIN
    )
    assert 400 <= r.status < 500, await r.text()
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert await snapshot(client) == before
    await refused(await client.get("/v1/elections/second"), "not-found")


# Line and paragraph separators and bidirectional controls: one of each kind.
DISGUISES = ("\u2028", "\u2029", "\u200f", "\u061c", "\u202e", "\u2066")
OVERRIDES = ("\u202a", "\u202e", "\u2066", "\u2069")


async def test_separators_and_bidi_controls_are_refused_in_one_line_text(
    client: AppClient,
) -> None:
    """A title or candidate name holding U+2028/U+2029 or a bidirectional control is 422
    schema-violation (it was 201), in a roll cell 422 invalid-roll naming the cell, in a voter
    id 422 schema-violation; a withdrawal note refuses bidi overrides and isolates but keeps
    line breaks and marks. Nothing changes."""
    await setup_election(client, EID, OPEN, open_poll=False)
    before = await snapshot(client)
    for char in DISGUISES:
        for doc in (
            changed(("contests", 0, "candidates", 0, "name"), "A" + char),
            changed(("title",), char + "NEC 2026"),
        ):
            await refused(await client.put(BASE, json=doc, headers=AUTH_ADMIN), "schema-violation")
            r = await client.put("/v1/elections/e2", json=doc, headers=AUTH_ADMIN)
            await refused(r, "schema-violation")
        csv_roll = f"voter_id,region\nv001,north\nv002,no{char}rth\n".encode()
        body = await refused(
            await client.put(f"{BASE}/roll", data=csv_roll, headers=CSV), "invalid-roll"
        )
        assert (body.get("line"), body.get("column")) == (3, "region"), body
        ndjson_roll = json.dumps({"voter_id": "v001" + char}).encode() + b"\n"
        body = await refused(
            await client.put(f"{BASE}/roll", data=ndjson_roll, headers=NDJSON), "invalid-roll"
        )
        assert body.get("line") == 1, body
    for char in OVERRIDES:
        withdrawal = {"reason": "withdrawn", "note": f"Moved {char}abroad"}
        r = await client.post(
            f"{BASE}/contests/members/candidates/eve/withdraw", json=withdrawal, headers=AUTH_ADMIN
        )
        await refused(r, "schema-violation")
    assert await snapshot(client) == before
    await refused(await client.get("/v1/elections/e2"), "not-found")
    r = await client.post(
        f"{BASE}/contests/members/candidates/eve/withdraw",
        json={"reason": "withdrawn", "note": "Moved\u2028\u200fabroad.\n"},
        headers=AUTH_ADMIN,
    )
    await accepted(r)


async def test_a_voter_id_with_a_separator_or_bidi_control_is_refused(client: AppClient) -> None:
    """A ballot whose voter id holds U+2028/U+2029 or a bidirectional control is 422
    schema-violation and changes nothing."""
    before = await open_election(client)
    for n, char in enumerate(DISGUISES):
        await refused(
            await cast(client, paper(f"v001{char}", sub=f"sub-odd-{n:05d}")), "schema-violation"
        )
    assert await snapshot(client) == before
