"""A bounded, seeded schemathesis run of the served /openapi.json against a real ledger.

The ledger runs on a fresh database (over real HTTP, in a thread of this process) with elections
in every phase, and each operation is called with the token of its role, so the fuzzer reaches
the code behind authentication. Every check of schemathesis runs on every response: no 5xx, a
documented status code, content type, headers and body. Reproduce (and see the summary) with
``.venv/bin/python -m pytest -p no:cacheprovider -s tests/integration/test_fuzz.py``.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import schemathesis
from aiohttp import web

from ledger.http.app import create_app
from ledger.http.openapi import bundled
from ledger.runtime.settings import Settings

from ..conftest import (
    ADMIN,
    AUTH_ADMIN,
    AUTH_FRONTEND,
    COUNTER,
    DEFINITION,
    FRONTEND,
    ROLL_CSV,
    SIGNER,
    definition,
    paper,
    setup_election,
)

SEED = 20261201
MAX_EXAMPLES = 12
TOKENS = {"admin": ADMIN, "frontend": FRONTEND, "counter": COUNTER}
# GET /feed is a server-sent event stream that never ends by design: no request to it returns.
ENDLESS = ("followFeed",)
# The elections the fuzzer picks from: one per phase, and one that does not exist.
ELECTIONS = ("fuzz-setup", "fuzz-nominating", "fuzz-polling", "fuzz-closed", "fuzz-none")
STATUSES: Counter[str] = Counter()  # "operationId status" -> calls


class LiveLedger:
    """The ledger app served on 127.0.0.1 by an event loop in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = web.AppRunner(create_app(settings, SIGNER))
        self.url = ""

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def start(self) -> None:
        self.thread.start()
        self.run(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.run(site.start())
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def prepare(url: str) -> None:
    """An election in each phase: setup, nominations open, poll open with votes, poll closed."""
    async with aiohttp.ClientSession(base_url=url) as http:
        r = await http.put("/v1/elections/fuzz-setup", json=definition(), headers=AUTH_ADMIN)
        assert r.status == 201, await r.text()
        r = await http.put("/v1/elections/fuzz-nominating", json=definition(), headers=AUTH_ADMIN)
        assert r.status == 201, await r.text()
        r = await http.put(
            "/v1/elections/fuzz-nominating/roll",
            data=ROLL_CSV,
            headers={**AUTH_ADMIN, "Content-Type": "text/csv"},
        )
        assert r.status == 200, await r.text()
        r = await http.post("/v1/elections/fuzz-nominating/nominations/open", headers=AUTH_ADMIN)
        assert r.status == 200, await r.text()
        for eid in ("fuzz-polling", "fuzz-closed"):
            await setup_election(http, eid)  # type: ignore[arg-type]
            for voter in ("v001", "v002", "v003"):
                r = await http.post(
                    f"/v1/elections/{eid}/ballots", json=paper(voter), headers=AUTH_FRONTEND
                )
                assert r.status == 201, await r.text()
        r = await http.post("/v1/elections/fuzz-closed/poll/close", headers=AUTH_ADMIN)
        assert r.status == 200, await r.text()


def fuzzed_document() -> dict[str, Any]:
    """The served document, with examples that reach past the lookups: the prepared elections,
    and bodies naming their contests and candidates (the examples phase sends these)."""
    doc = copy.deepcopy(bundled())
    params = doc["components"]["parameters"]
    params["election"]["examples"] = {eid: {"value": eid} for eid in ELECTIONS}
    params["contest"]["examples"] = {"members": {"value": "members"}}
    params["candidate"]["examples"] = {"eve": {"value": "eve"}}
    bodies = {
        "defineElection": DEFINITION,
        "uploadRoll": ROLL_CSV,
        "nominate": {"contest": "members", "candidate": "eve", "body": "branch-c"},
        "withdrawCandidate": {"reason": "withdrawn", "note": "stood down"},
        "castBallot": paper("v010"),
    }
    for item in doc["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") in bodies:
                for media in op["requestBody"]["content"].values():
                    media["example"] = bodies[op["operationId"]]
    return doc


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # Hypothesis's health checks time the generation (too_slow and the like), which would
        # make the test depend on the machine; and the live ledger is one per operation, shared
        # by its examples on purpose (function_scoped_fixture).
        "suppress-health-check": ["all"],
        "request-timeout": 30,
        # The test sends each operation's bearer token itself (security parameters off).
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",  # no replay of examples saved by earlier runs
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        # Schema-valid is not valid: a cast may name a contest the election does not have, a
        # declaration a key that is not the counter's. Such refusals (422) are documented.
        "checks": {"positive_data_acceptance": {"enabled": False}},
        "operations": [
            # The long-poll waits up to `wait` seconds when no entry is past `start`.
            {"include-operation-id": "getEntries", "parameters": {"wait": 0}},
        ],
    }
)
# The roll's CSV and NDJSON bodies are text, sent as generated.
schemathesis.serializer.alias(
    ["application/csv", "application/jsonl", "application/x-ndjson"], "text/plain"
)
schema = schemathesis.openapi.from_dict(fuzzed_document(), config=CONFIG).exclude(
    operation_id=list(ENDLESS)
)


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    """Print how many calls each operation got (pytest -s shows it)."""
    yield
    operations = {key.split()[0] for key in STATUSES}
    print(f"\nschemathesis: {len(operations)} operations, {STATUSES.total()} calls")
    for key, n in sorted(STATUSES.items()):
        print(f"  {key}: {n}")


@pytest.fixture
def ledger_url(settings: Settings) -> Iterator[str]:
    """A live ledger on a fresh database with its elections prepared: each operation is fuzzed
    from the same state, whatever the operations before it did."""
    live = LiveLedger(settings)
    live.start()
    try:
        live.run(prepare(live.url))
        yield live.url
    finally:
        live.stop()


@schema.parametrize()
def test_fuzz_finds_no_server_error_and_no_undocumented_response(
    case: Any, ledger_url: str
) -> None:
    """Every operation, fuzzed with its role's token: no 5xx, each response as documented."""
    roles = case.operation.definition.raw.get("x-roles") or []
    headers = {"Authorization": f"Bearer {TOKENS[roles[0]]}"} if roles else {}
    response = case.call(base_url=ledger_url, headers=headers)
    STATUSES[f"{case.operation.definition.raw['operationId']} {response.status_code}"] += 1
    case.validate_response(response)
