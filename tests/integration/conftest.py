"""Fixtures for the ledger over real HTTP: an app on a fresh database, tokens, sample data."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseRunner, TestClient, TestServer

from ledger.format.keys import Signer
from ledger.http.app import create_app
from ledger.http.protocol import Runner
from ledger.runtime.settings import Settings

ADMIN = "admin-token-0123456789"
FRONTEND = "frontend-token-0123456789"
OTHER_FRONTEND = "frontend-other-0123456789"
COUNTER = "counter-token-0123456789"
SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(range(32)))
COUNTER_SIGNER = Signer(name="ballot-ledger.test/counter", seed=bytes(range(1, 33)))

AUTH_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AUTH_FRONTEND = {"Authorization": f"Bearer {FRONTEND}"}
AUTH_COUNTER = {"Authorization": f"Bearer {COUNTER}"}

DEFINITION: dict[str, Any] = {
    "title": "National Executive Committee 2026",
    "declare": "automatic",
    "sealed": True,
    "nomination_threshold": 2,
    "reporting_dimensions": ["region"],
    "min_group_size": 2,
    "contests": [
        {
            "id": "members",
            "title": "Members' section",
            "seats": 3,
            "method": {"type": "stv", "rule": "scottish", "max_rankings": 5},
            "candidates": [
                {"id": "ann", "name": "Ann Able", "gender": "woman", "slate": "left"},
                {"id": "bob", "name": "Bob Baker", "gender": "man", "slate": "left"},
                {"id": "cat", "name": "Cat Cole", "gender": "woman", "slate": "right"},
                {"id": "dan", "name": "Dan Dee", "gender": "man", "slate": "right"},
                {"id": "eve", "name": "Eve East", "gender": "woman"},
            ],
            "constraints": [{"attribute": "gender", "value": "woman", "min": 2}],
        },
        {
            "id": "youth",
            "title": "Youth seat",
            "seats": 1,
            "method": {"type": "bloc", "max_marks": 1},
            "candidates": [
                {"id": "yan", "name": "Yan Young", "gender": "man"},
                {"id": "yvo", "name": "Yvonne Yu", "gender": "woman"},
            ],
            "eligibility": {"attr": "age", "lt": 27},
        },
    ],
}

ROLL_CSV = "voter_id,region,age,disabled\n" + "".join(
    f"v{i:03d},{['north', 'south', 'east'][i % 3]},{20 + i % 40},{str(i % 7 == 0).lower()}\n"
    for i in range(60)
)


def definition(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DEFINITION)
    doc.update(changes)
    return doc


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        admin_tokens=(ADMIN,),
        frontend_tokens={FRONTEND: ("*",), OTHER_FRONTEND: ("other-election",)},
        counter_tokens={COUNTER: ("*",)},
        counter_keys=(COUNTER_SIGNER.verifier.text(),),
        origin_prefix="ballot-ledger.test",
        checkpoint_interval=3600.0,
        release_every=3600.0,  # the release timer is the test's: it calls release_all()
        max_body_bytes=64 * 1024,
    )


AppClient = TestClient[Any, Any]


class Served(TestServer):
    """aiohttp's test server on the services' own protocol (``ledger.http.protocol.Runner``)."""

    def __init__(self, app: web.Application, *, header_timeout: float = 10.0, **kw: Any) -> None:
        super().__init__(app, **kw)
        self.header_timeout = header_timeout

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return Runner(self.app, header_timeout=self.header_timeout, **kwargs)


@pytest.fixture
async def client(
    settings: Settings, aiohttp_client: Callable[..., Awaitable[AppClient]]
) -> AppClient:
    app = create_app(settings, SIGNER)
    return await aiohttp_client(Served(app, header_timeout=settings.header_timeout))


async def setup_election(
    client: AppClient,
    eid: str = "nec-2026",
    doc: dict[str, Any] | None = None,
    *,
    open_poll: bool = True,
) -> None:
    """Define, publish the roll, run nominations (2 bodies each), and open the poll."""
    r = await client.put(f"/v1/elections/{eid}", json=doc or DEFINITION, headers=AUTH_ADMIN)
    assert r.status == 201, await r.text()
    r = await client.put(
        f"/v1/elections/{eid}/roll",
        data=ROLL_CSV,
        headers={**AUTH_ADMIN, "Content-Type": "text/csv"},
    )
    assert r.status == 200, await r.text()
    d = doc or DEFINITION
    if d.get("nomination_threshold", 0) > 0:
        r = await client.post(f"/v1/elections/{eid}/nominations/open", headers=AUTH_ADMIN)
        assert r.status == 200, await r.text()
        for contest in d["contests"]:
            for cand in contest["candidates"]:
                for body in ("branch-a", "branch-b"):
                    r = await client.post(
                        f"/v1/elections/{eid}/nominations",
                        json={"contest": contest["id"], "candidate": cand["id"], "body": body},
                        headers=AUTH_ADMIN,
                    )
                    assert r.status == 201, await r.text()
        r = await client.post(f"/v1/elections/{eid}/nominations/close", headers=AUTH_ADMIN)
        assert r.status == 200, await r.text()
    if open_poll:
        r = await client.post(f"/v1/elections/{eid}/poll/open", headers=AUTH_ADMIN)
        assert r.status == 200, await r.text()


async def close_poll(client: AppClient, eid: str = "nec-2026") -> dict[str, Any]:
    """Close the poll (the final rounds release every pending ballot) and open sealed ones."""
    r = await client.post(f"/v1/elections/{eid}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    body: dict[str, Any] = await r.json()
    return body


def paper(voter: str, sub: str | None = None, **selections: list[str]) -> dict[str, Any]:
    return {
        "submission_id": sub or f"sub-{voter}-0001",
        "voter_id": voter,
        "selections": selections or {"members": ["ann", "cat", "bob"]},
    }
