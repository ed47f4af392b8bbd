"""A ledger and a booth, both on real HTTP and fresh databases, with an open election whose
members have voting codes; and the steps a member takes, as form posts."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from booth.domain.roll import read_roll
from booth.http.app import create_app as create_booth_app
from booth.runtime.settings import Settings as BoothSettings
from booth.service import codes as issuing
from booth.storage.store import migrate
from ledger.http.app import create_app as create_ledger_app
from ledger.runtime.settings import Settings

from .. import conftest
from ..conftest import FRONTEND, ROLL_CSV, SIGNER, Served, setup_election

EID = "booth-2026"
SECRET = bytes(range(100, 132))
AppClient = TestClient[Any, Any]
DEFINITION: dict[str, Any] = {
    "title": "National Executive 2026",
    "sealed": True,
    "nomination_threshold": 0,
    "contests": [
        {
            "id": "exec",
            "title": "Executive committee",
            "seats": 3,
            "method": {"type": "stv", "rule": "scottish", "min_rankings": 2, "max_rankings": 5},
            "candidates": [
                {
                    "id": "zarina-q",
                    "name": "Zarina Quigley",
                    "statement": "I will publish every decision.\n\nAnd answer every letter.",
                },
                {"id": "yusuf-k", "name": "Yusuf Kowalczyk"},
                {"id": "xanthe-p", "name": "Xanthe Pemberton"},
                {"id": "walter-f", "name": "Walter Fenwick"},
                {"id": "valda-m", "name": "Valda Moncrieff"},
            ],
        },
        {
            "id": "trustees",
            "title": "Trustees",
            "seats": 2,
            "method": {"type": "bloc", "max_marks": 2},
            "candidates": [
                {"id": "ursula-b", "name": "Ursula Brightwater"},
                {"id": "tobias-h", "name": "Tobias Hargreave"},
                {"id": "saoirse-d", "name": "Saoirse Dunleavy"},
            ],
        },
        {
            "id": "youth",
            "title": "Youth seat",
            "seats": 1,
            "method": {"type": "bloc", "max_marks": 1},
            "candidates": [
                {"id": "rafferty-n", "name": "Rafferty Nightingale"},
                {"id": "quenby-o", "name": "Quenby Oyelaran"},
            ],
            "eligibility": {"attr": "age", "lt": 27},
        },
    ],
}
ROLL = read_roll(ROLL_CSV)
AGES = {voter: attrs["age"] for voter, attrs in ROLL}
YOUNG = next(v for v, a in AGES.items() if a < 27)
OLD = next(v for v, a in AGES.items() if a >= 27)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_SUBMISSION = re.compile(r'name="submission" value="([^"]+)"')


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, html
    return found.group(1)


@dataclass
class Booth:
    ledger: AppClient
    client: AppClient
    database_url: str
    codes: dict[str, str]
    settings: BoothSettings
    make_client: Callable[..., Awaitable[AppClient]] = field(repr=False)

    async def new_client(self) -> AppClient:
        """Another browser: a client of the same booth app with its own cookies."""
        return await self.make_client(self.client.server)

    async def sign_in(self, client: AppClient, code: str) -> Any:
        page = await (await client.get("/")).text()
        return await client.post(
            "/sign-in", data={"csrf": csrf(page), "code": code}, allow_redirects=False
        )

    async def mark(self, client: AppClient, form: dict[str, Any]) -> Any:
        page = await (await client.get("/ballot")).text()
        return await client.post(
            "/ballot", data={"csrf": csrf(page), **form}, allow_redirects=False
        )

    async def review(self, client: AppClient) -> tuple[str, dict[str, str]]:
        r = await client.get("/review")
        assert r.status == 200, await r.text()
        page = await r.text()
        found = _SUBMISSION.search(page)
        assert found
        return page, {"csrf": csrf(page), "submission": found.group(1)}

    async def vote(self, voter: str, form: dict[str, Any]) -> str:
        """Sign in as ``voter``, mark ``form``, review, cast: the receipt page's HTML."""
        client = await self.new_client()
        r = await self.sign_in(client, self.codes[voter])
        assert r.status == 303, await r.text()
        r = await self.mark(client, form)
        assert r.status == 303, await r.text()
        _, fields = await self.review(client)
        r = await client.post("/cast", data=fields)
        assert r.status == 200, await r.text()
        return await r.text()

    async def close_poll(self) -> list[dict[str, Any]]:
        """Close the poll; every entry of the log (all ballots released by then)."""
        await conftest.close_poll(self.ledger, EID)
        entries: list[dict[str, Any]] = []
        while True:
            r = await self.ledger.get(f"/v1/elections/{EID}/entries?start={len(entries)}")
            got = (await r.json())["entries"]
            if not got:
                return entries
            entries += got

    async def dump(self) -> str:
        """Every row of every table of the booth's database, as text."""
        conn = await asyncpg.connect(self.database_url)
        try:
            tables = [
                r["table_name"]
                for r in await conn.fetch(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' ORDER BY table_name"
                )
            ]
            out = []
            for t in tables:
                rows = await conn.fetch(f'SELECT * FROM "{t}"')
                out += [f"{t}: {dict(r)!r}" for r in rows]
            return "\n".join(out)
        finally:
            await conn.close()


def mark_form(voter: str) -> dict[str, Any]:
    """A ballot for ``voter``: an STV ranking of three, two trustees, and the youth seat if
    they may vote in it."""
    form: dict[str, Any] = {
        "rank-exec-xanthe-p": "1",
        "rank-exec-zarina-q": "2",
        "rank-exec-valda-m": "3",
        "bloc-trustees": ["ursula-b", "saoirse-d"],
    }
    if AGES[voter] < 27:
        form["bloc-youth"] = "quenby-o"
    return form


@pytest.fixture
def booth_settings(fresh_database: Any, tmp_path: Path) -> BoothSettings:
    return BoothSettings(
        ledger_token=FRONTEND,
        database_url=fresh_database(),
        data_dir=tmp_path / "booth",
        address_limit=20,
        code_limit=5,
    )


@pytest.fixture
async def booth(
    settings: Settings,
    booth_settings: BoothSettings,
    aiohttp_client: Callable[..., Awaitable[AppClient]],
) -> Booth:
    """An open election on a ledger, codes for its whole roll, and a booth casting there."""
    ledger = await aiohttp_client(TestServer(create_ledger_app(settings, SIGNER)))
    await setup_election(ledger, EID, copy.deepcopy(DEFINITION))
    url = str(ledger.make_url("")).rstrip("/")
    assert booth_settings.database_url
    conn = await asyncpg.connect(booth_settings.database_url)
    try:
        await migrate(conn)
        issued = await issuing.issue(conn, SECRET, EID, ROLL)
    finally:
        await conn.close()
    ready = dataclasses.replace(booth_settings, ledger_url=url)
    # On the services' own protocol (ledger.http.protocol.Runner), as `ballot booth serve` runs.
    client = await aiohttp_client(Served(create_booth_app(ready, SECRET)))
    return Booth(
        ledger=ledger,
        client=client,
        database_url=booth_settings.database_url,
        codes=dict(issued),
        settings=ready,
        make_client=aiohttp_client,
    )
