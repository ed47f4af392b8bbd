"""The check page as the ledger serves it, and CORS: public reads open to every origin, writes
to none (ledger/http/checkpage.py)."""

from __future__ import annotations

from pathlib import Path

from ..conftest import AUTH_ADMIN, AUTH_FRONTEND, DEFINITION, AppClient, paper, setup_election

STATIC = Path(__file__).parents[3] / "ledger" / "http" / "static"
EID = "nec-2026"
ALLOW = "Access-Control-Allow-Origin"
ELSEWHERE = {"Origin": "https://elsewhere.example"}


async def test_check_page_and_its_assets_are_served_as_saved(client: AppClient) -> None:
    """GET /check and its three assets answer the files of ledger/http/static byte for byte,
    with their types, and the page a policy allowing only its own script and style."""
    for path, name, kind in (
        ("/check", "check.html", "text/html"),
        ("/check.js", "check.js", "text/javascript"),
        ("/check-verify.js", "check-verify.js", "text/javascript"),
        ("/check.css", "check.css", "text/css"),
    ):
        r = await client.get(path)
        assert r.status == 200, path
        assert r.content_type == kind, path
        assert await r.read() == (STATIC / name).read_bytes(), path
    page = await client.get("/check")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy


async def test_public_reads_allow_every_origin_and_writes_none(client: AppClient) -> None:
    """GET answers (successes, a 404 problem, the checkpoint text) carry
    Access-Control-Allow-Origin: *; admin and front-end writes (PUT, POST) never do, even when
    they succeed, and a CORS preflight is not granted."""
    r = await client.put(
        f"/v1/elections/{EID}", json=DEFINITION, headers={**AUTH_ADMIN, **ELSEWHERE}
    )
    assert r.status == 201 and ALLOW not in r.headers
    await setup_election(client, "other", open_poll=True)
    r = await client.post(
        "/v1/elections/other/ballots", json=paper("v001"), headers={**AUTH_FRONTEND, **ELSEWHERE}
    )
    assert r.status == 201 and ALLOW not in r.headers
    r = await client.post("/v1/elections/other/poll/close", headers={**AUTH_ADMIN, **ELSEWHERE})
    assert r.status == 200 and ALLOW not in r.headers
    r = await client.post("/v1/elections/other/poll/close", headers=ELSEWHERE)
    assert r.status == 401 and ALLOW not in r.headers
    for path in (
        "/v1/keys",
        "/v1/elections",
        "/v1/elections/other",
        "/v1/elections/other/checkpoint",
        "/v1/elections/other/entries?start=0&limit=2",
        "/v1/elections/other/proofs/consistency?old=1&new=2",
        "/v1/elections/no-such/checkpoint",
        "/check",
    ):
        r = await client.get(path, headers=ELSEWHERE)
        assert r.headers.get(ALLOW) == "*", (path, r.status)
    r = await client.options(
        "/v1/elections/other/ballots",
        headers={**ELSEWHERE, "Access-Control-Request-Method": "POST"},
    )
    assert r.status >= 400 and ALLOW not in r.headers
