"""A member's way through the booth, form by form, with JavaScript off (plain HTTP posts)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

from booth.domain import codes

from .conftest import EID, OLD, YOUNG, Booth, csrf, mark_form

_RECEIPT = re.compile(r'data-contest="([^"]+)".*?data-code>([^<]+)<.*?href="(data:[^"]+)"', re.S)


def receipts_on(page: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The receipt page's code and downloadable receipt, by contest."""
    out = {}
    for contest, code, href in _RECEIPT.findall(page):
        doc = json.loads(base64.b64decode(href.split(",", 1)[1]))
        out[contest] = (code, doc)
    return out


async def ledger_finds(booth: Booth, receipt: dict[str, Any]) -> bool:
    """Whether the ledger's public API finds the receipt: an acceptance receipt by its code
    (issue 14), a v1 receipt by its entry's leaf hash at its index."""
    if "index" in receipt:
        r = await booth.ledger.get(f"/v1/elections/{EID}/entries?start={receipt['index']}&limit=1")
        (entry,) = (await r.json())["entries"]
        return bool(entry["leaf_hash"] == receipt["leaf_hash"])
    r = await booth.ledger.get(f"/v1/elections/{EID}/receipts/{receipt['code']}")
    return r.status == 200


async def test_a_member_signs_in_votes_reviews_casts_and_gets_receipts(booth: Booth) -> None:
    """Code -> ballot (STV ranks, bloc boxes) -> review -> cast -> one receipt code per contest
    voted in, each found by the ledger, each with its download and check link."""
    client = booth.client
    r = await booth.sign_in(client, booth.codes[YOUNG].lower().replace("-", " "))
    assert r.status == 303 and r.headers["Location"] == "/ballot"
    page = await (await client.get("/ballot")).text()
    assert 'lang="en"' in page
    assert "I will publish every decision." in page  # the candidate's statement
    assert "Rank at least 2 candidates." in page and "Choose up to 2 candidates." in page
    r = await booth.mark(client, mark_form(YOUNG))
    assert r.status == 303 and r.headers["Location"] == "/review"
    page, fields = await booth.review(client)
    ranked = re.search(r"<dt>Executive committee</dt>\s*<dd>\s*<ol>(.*?)</ol>", page, re.S)
    assert ranked and re.findall(r"<li>(.*?)</li>", ranked.group(1)) == [
        "Xanthe Pemberton",
        "Zarina Quigley",
        "Valda Moncrieff",
    ]
    r = await client.post("/cast", data=fields)
    assert r.status == 200
    page = await r.text()
    shown = receipts_on(page)
    assert set(shown) == {"exec", "trustees", "youth"}
    for contest, (code, receipt) in shown.items():
        assert code == receipt["code"]
        assert f"/check?code={code}&amp;election={EID}" in page, contest
        assert await ledger_finds(booth, receipt), contest
    # The session is over: the ballot page now asks to sign in again.
    r = await client.get("/ballot")
    assert r.status == 401


async def test_signing_in_again_says_when_the_member_voted_and_refuses_a_second_vote(
    booth: Booth,
) -> None:
    """After voting, the code signs in only to be told the minute of the vote."""
    await booth.vote(OLD, mark_form(OLD))
    client = await booth.new_client()
    r = await booth.sign_in(client, booth.codes[OLD])
    assert r.status == 200
    page = await r.text()
    assert "You have already voted" in page and re.search(r"You voted on \d+ \w+ \d{4} at", page)
    assert (await client.get("/ballot")).status == 401


async def test_a_member_not_eligible_for_a_contest_never_sees_it(booth: Booth) -> None:
    """The youth seat is not on an older member's ballot, review or receipts, even when the
    form is forged to include it."""
    client = booth.client
    await booth.sign_in(client, booth.codes[OLD])
    page = await (await client.get("/ballot")).text()
    assert "Youth seat" not in page and "Rafferty Nightingale" not in page
    r = await booth.mark(client, {**mark_form(OLD), "bloc-youth": "rafferty-n"})
    assert r.status == 303
    page, fields = await booth.review(client)
    assert "Youth seat" not in page and "Rafferty" not in page
    page = await (await client.post("/cast", data=fields)).text()
    assert set(receipts_on(page)) == {"exec", "trustees"}
    young = await booth.new_client()
    await booth.sign_in(young, booth.codes[YOUNG])
    assert "Youth seat" in await (await young.get("/ballot")).text()


async def test_mistakes_come_back_with_an_error_summary_tied_to_the_fields(booth: Booth) -> None:
    """Too many boxes and too few ranks: 400, the summary links to each field, the field says
    what is wrong, and what was chosen is kept."""
    client = booth.client
    await booth.sign_in(client, booth.codes[OLD])
    form = {"rank-exec-walter-f": "1", "bloc-trustees": ["ursula-b", "tobias-h", "saoirse-d"]}
    r = await booth.mark(client, form)
    assert r.status == 400
    page = await r.text()
    assert "<title>Error:" in page and "There is a problem" in page
    assert 'href="#bloc-trustees-ursula-b"' in page and 'href="#rank-exec-zarina-q"' in page
    assert "choose up to 2 candidates - you chose 3" in page
    assert "rank at least 2 candidates - you ranked 1" in page
    assert 'aria-describedby="help-exec error-exec"' in page
    assert re.search(r'value="1" selected>1st choice', page)


async def test_forms_without_the_right_token_are_refused(booth: Booth) -> None:
    """Sign-in needs the form cookie's token; later forms need the session's (CSRF)."""
    client = booth.client
    await client.get("/")
    r = await client.post("/sign-in", data={"csrf": "forged", "code": booth.codes[OLD]})
    assert r.status == 403 and "expired" in await r.text()
    await booth.sign_in(client, booth.codes[OLD])
    r = await client.post("/ballot", data={"csrf": "forged", **mark_form(OLD)})
    assert r.status == 403
    r = await client.post("/cast", data={"csrf": "forged", "submission": "x"})
    assert r.status == 403
    page = await (await client.get("/ballot")).text()
    r = await client.post("/cast", data={"csrf": csrf(page), "submission": "booth-forged"})
    assert r.status == 403  # nothing reviewed: nothing cast


async def test_a_revoked_code_no_longer_signs_in(booth: Booth) -> None:
    """Reissuing a member's code revokes the old one; the new one signs in."""
    import asyncpg

    from booth.service import codes as issuing

    from .conftest import SECRET

    old = booth.codes[OLD]
    conn = await asyncpg.connect(booth.database_url)
    try:
        ((_, new),) = await issuing.reissue(conn, SECRET, EID, [OLD])
    finally:
        await conn.close()
    assert new != old
    r = await booth.sign_in(await booth.new_client(), old)
    assert r.status == 403 and "not recognised" in await r.text()
    r = await booth.sign_in(await booth.new_client(), new)
    assert r.status == 303


async def test_a_thousand_wrong_codes_are_refused_rate_limited_and_find_nothing(
    booth: Booth,
) -> None:
    """1,000 well-formed random codes from one address: none signs in; after the address's
    20 failures every try is refused unchecked (429), even the member's own valid code."""
    client = booth.client
    page = await (await client.get("/")).text()
    token = csrf(page)
    statuses = []
    for _ in range(1000):
        r = await client.post(
            "/sign-in", data={"csrf": token, "code": codes.new_code()}, allow_redirects=False
        )
        statuses.append(r.status)
        await r.release()
    assert 303 not in statuses and 200 not in statuses
    assert statuses[:20] == [403] * 20
    assert statuses[20:] == [429] * 980
    r = await client.post(
        "/sign-in", data={"csrf": token, "code": booth.codes[OLD]}, allow_redirects=False
    )
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0


async def test_one_code_tried_again_and_again_is_rate_limited(booth: Booth) -> None:
    """The same wrong code is refused unchecked after 5 tries, whatever else is tried."""
    client = booth.client
    wrong = codes.new_code()
    got = [(await booth.sign_in(client, wrong)).status for _ in range(7)]
    assert got == [403] * 5 + [429] * 2
    assert (await booth.sign_in(client, codes.new_code())).status == 403
    assert (await booth.sign_in(client, booth.codes[OLD])).status == 303


async def test_a_double_submission_gives_one_ballot(booth: Booth) -> None:
    """Cast pressed twice at once, and once more after: one receipt page, one ballot per
    contest in the log; the other answers say the member has voted."""
    client = booth.client
    await booth.sign_in(client, booth.codes[YOUNG])
    await booth.mark(client, mark_form(YOUNG))
    _, fields = await booth.review(client)
    pages = await asyncio.gather(*(client.post("/cast", data=fields) for _ in range(2)))
    texts = [await p.text() for p in pages]
    texts.append(await (await client.post("/cast", data=fields)).text())
    assert sum("Your vote has been cast" in t for t in texts) == 1
    entries = await booth.close_poll()
    kinds = [json.loads(e["entry"])["type"] for e in entries]
    assert kinds.count("ballot_cast") == 3  # exec, trustees, youth: once each


async def _through_relay(booth: Booth, fault: str) -> list[int]:
    """Cast OLD's ballot through a relay to the ledger whose first ballot request meets
    ``fault``: ``lost`` (the ledger takes it, the answer is cut off) or ``busy`` (a 503 and the
    ledger never sees it). The statuses the ledger gave to the faulted request."""
    from aiohttp import web

    from booth.http.app import LEDGER

    ledger_url = booth.settings.ledger_url
    faulted: list[int] = []

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        first = request.path.endswith("/ballots") and not faulted
        if first and fault == "busy":
            faulted.append(0)
            return web.json_response({"type": "urn:ballot-ledger:problem:unavailable"}, status=503)
        async with booth.ledger.session.request(
            request.method,
            ledger_url + request.path_qs,
            data=body or None,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        ) as r:
            answer = await r.read()
            if first:
                faulted.append(r.status)
                assert request.transport is not None
                request.transport.close()  # the answer never arrives
                raise ConnectionResetError
            return web.Response(body=answer, status=r.status, content_type=r.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", relay)
    relayed = await booth.make_client(app)
    booth.client.app[LEDGER].url = str(relayed.make_url("")).rstrip("/")
    page = await booth.vote(OLD, mark_form(OLD))
    assert "Your vote has been cast" in page
    entries = await booth.close_poll()
    kinds = [json.loads(e["entry"])["type"] for e in entries]
    assert kinds.count("ballot_cast") == 2  # exec and trustees, once each
    return faulted


async def test_a_lost_answer_is_retried_with_the_same_submission_and_gives_one_ballot(
    booth: Booth,
) -> None:
    """The ledger takes the ballot but its answer is lost on the way back: the booth sends the
    same submission again, gets the same receipts, and the log holds one ballot per contest."""
    assert await _through_relay(booth, "lost") == [201]


async def test_a_busy_ledger_is_retried_and_gives_one_ballot(booth: Booth) -> None:
    """A 503 from the ledger (its database busy) is retried with the same submission: the
    member gets receipts, and the log holds one ballot per contest."""
    assert await _through_relay(booth, "busy") == [0]
