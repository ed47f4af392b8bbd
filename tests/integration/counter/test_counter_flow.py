"""Ledger and counter over real HTTP and real PostgreSQL: follow, tally, count, declare.

The ledger runs on a TCP test server; the counter, with its own database, reads only the
ledger's public API and declares through the counter-token endpoint. The declared results
must equal ``ballot count`` run on the BLT the counter exports.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ballot.cli import main as ballot
from counter.http.app import create_app as create_counter_app
from counter.runtime.settings import Settings as CounterSettings
from counter.tally import fold as fl
from ledger.http.app import LEDGER
from ledger.http.app import create_app as create_ledger_app
from ledger.http.serve import metrics_app
from ledger.runtime.settings import Settings

from ..conftest import AUTH_ADMIN, AUTH_FRONTEND, COUNTER, COUNTER_SIGNER, ROLL_CSV, SIGNER

EID = "nec-2027"
WOMEN = {"a01", "a03", "a05", "a07", "a09", "a11", "b01", "b03", "b05", "b07"}


def _candidates(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i:02d}",
            "name": f"{prefix.upper()} Candidate {i:02d}",
            "gender": "woman"
            if f"{prefix}{i:02d}" in WOMEN or (prefix == "d" and i % 2)
            else "man",
            "slate": ["left", "centre", "right"][i % 3],
        }
        for i in range(1, n + 1)
    ]


DEFINITION: dict[str, Any] = {
    "title": "National Executive Committee 2027",
    "declare": "automatic",
    "sealed": True,
    "nomination_threshold": 2,
    "reporting_dimensions": ["region"],
    "min_group_size": 3,
    "round_size": 5,
    "contests": [
        {
            "id": "members",
            "title": "Members' section",
            "seats": 9,
            "method": {"type": "stv", "rule": "scottish"},
            "candidates": _candidates("a", 13),
            "constraints": [{"attribute": "gender", "value": "woman", "min": 4}],
        },
        {
            "id": "branches",
            "title": "Branch delegates",
            "seats": 6,
            "method": {"type": "bloc", "max_marks": 6},
            "candidates": _candidates("b", 9),
            "constraints": [{"attribute": "gender", "value": "woman", "min": 3}],
        },
        {
            "id": "disabled",
            "title": "Disabled members' section",
            "seats": 2,
            "method": {"type": "stv", "rule": "ers97"},
            "candidates": _candidates("d", 4),
            "eligibility": {"attr": "disabled", "eq": True},
        },
    ],
}
UNNOMINATED = "a13"  # one nomination only: not validly nominated


async def _wait_for(check: Callable[[], Awaitable[bool]], seconds: float = 120.0) -> None:
    """Until ``check()`` holds; the bound is only reached on a hang, not on a slow machine."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def _run_election(ledger: TestClient[Any, Any]) -> None:
    r = await ledger.put(f"/v1/elections/{EID}", json=DEFINITION, headers=AUTH_ADMIN)
    assert r.status == 201, await r.text()
    r = await ledger.put(
        f"/v1/elections/{EID}/roll",
        data=ROLL_CSV,
        headers={**AUTH_ADMIN, "Content-Type": "text/csv"},
    )
    assert r.status == 200, await r.text()
    r = await ledger.post(f"/v1/elections/{EID}/nominations/open", headers=AUTH_ADMIN)
    assert r.status == 200
    for contest in DEFINITION["contests"]:
        for cand in contest["candidates"]:
            bodies = ["branch-a"] if cand["id"] == UNNOMINATED else ["branch-a", "branch-b"]
            if cand["id"].endswith("01"):
                bodies.append("branch-c")
            for body in bodies:
                r = await ledger.post(
                    f"/v1/elections/{EID}/nominations",
                    json={"contest": contest["id"], "candidate": cand["id"], "body": body},
                    headers=AUTH_ADMIN,
                )
                assert r.status == 201, await r.text()
    for path in ("nominations/close", "poll/open"):
        r = await ledger.post(f"/v1/elections/{EID}/{path}", headers=AUTH_ADMIN)
        assert r.status == 200, await r.text()


async def _cast(ledger: TestClient[Any, Any]) -> int:
    rng = random.Random(2027)
    members = [c["id"] for c in DEFINITION["contests"][0]["candidates"] if c["id"] != UNNOMINATED]
    branches = [c["id"] for c in DEFINITION["contests"][1]["candidates"]]
    disabled = [c["id"] for c in DEFINITION["contests"][2]["candidates"]]
    papers = 0
    for i in range(60):
        selections: dict[str, list[str]] = {
            "members": rng.sample(members, rng.randint(1, 12)),
            "branches": rng.sample(branches, rng.randint(1, 6)),
        }
        if i % 7 == 0:
            selections["disabled"] = rng.sample(disabled, rng.randint(1, 4))
        r = await ledger.post(
            f"/v1/elections/{EID}/ballots",
            json={
                "submission_id": f"counter-sub-{i:04d}",
                "voter_id": f"v{i:03d}",
                "selections": selections,
            },
            headers=AUTH_FRONTEND,
        )
        assert r.status == 201, await r.text()
        papers += len(selections)
    return papers


async def ledger_and_counter(
    ledger_settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
) -> tuple[TestClient[Any, Any], TestClient[Any, Any]]:
    """The ledger on a TCP test server, and a counter with its own database following it."""
    server = TestServer(create_ledger_app(ledger_settings, SIGNER))
    ledger = await aiohttp_client(server)
    counter_settings = CounterSettings(
        ledger_url=str(server.make_url("")).rstrip("/"),
        ledger_keys=(SIGNER.verifier.text(),),
        ledger_token=COUNTER,
        database_url=fresh_database(),
        data_dir=tmp_path / "counter",
        wait=2,
        retry=0.1,
        discover_interval=0.2,
        batch=50,
    )
    counter = await aiohttp_client(create_counter_app(counter_settings, COUNTER_SIGNER))
    return ledger, counter


async def wait_declared(counter: TestClient[Any, Any]) -> None:
    """Until the counter has counted and declared every contest of ``DEFINITION``."""

    async def declared() -> bool:
        body = await (await counter.get(f"/v1/elections/{EID}/results")).json()
        results = body.get("results", [])
        return len(results) == len(DEFINITION["contests"]) and all(r["declared"] for r in results)

    await _wait_for(declared, 120.0)


@pytest.fixture
def ledger_settings(settings: Settings) -> Settings:
    return settings


async def test_counter_follows_counts_and_declares_what_ballot_count_says(
    ledger_settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The counter verifies the ledger's log as it grows, shows sealed turnout only while the
    poll is open, counts and declares each contest after close, and its results equal
    ``ballot count`` on the exported BLT with the counted root as the lot seed."""
    ledger, counter = await ledger_and_counter(
        ledger_settings, fresh_database, aiohttp_client, tmp_path
    )

    await _run_election(ledger)
    papers = await _cast(ledger)
    await ledger.app[LEDGER].release_all()  # the release timer's check, now
    waiting = await (await ledger.get(f"/v1/elections/{EID}/pending", headers=AUTH_ADMIN)).json()
    released = papers - sum(waiting["pending"].values())
    assert 0 < released < papers

    async def caught_up() -> bool:
        head = await (await ledger.get(f"/v1/elections/{EID}/turnout")).json()
        r = await counter.get(f"/v1/elections/{EID}/tallies")
        if r.status != 200:
            return False
        tallies = await r.json()
        return bool(tallies["size"] == head["size"] and tallies["root"] == head["root"])

    await _wait_for(caught_up)
    tallies = await (await counter.get(f"/v1/elections/{EID}/tallies")).json()
    assert tallies["phase"] == "poll_open"
    assert sum(c["cast"] for c in tallies["contests"].values()) == released
    assert all(
        "first_preferences" not in c and "votes" not in c for c in tallies["contests"].values()
    )
    noms = {r["candidate"]: r for r in tallies["nominations"]["members"]["candidates"]}
    assert noms[UNNOMINATED]["valid"] is False and noms["a01"]["nominations"] == 3
    assert noms["a01"]["share"] == "1.0000"
    r = await counter.get(f"/v1/elections/{EID}/results/members")
    assert r.status == 409 and r.content_type == "application/problem+json"

    r = await ledger.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()

    await wait_declared(counter)
    info = await (await ledger.get(f"/v1/elections/{EID}")).json()
    assert info["phase"] == "declared"
    body = await (await counter.get(f"/v1/elections/{EID}/results")).json()
    by_contest = {r["contest"]: r for r in body["results"]}
    for contest, result_hash in info["declared"].items():
        assert by_contest[contest]["result_hash"] == result_hash

    # ``ballot count`` on the exported BLT gives the declared result.
    rules = {"members": "scottish", "branches": "bloc", "disabled": "ers97"}
    for c in DEFINITION["contests"]:
        cid = c["id"]
        document = by_contest[cid]["result"]
        blt_file, csv_file = tmp_path / f"{cid}.blt", tmp_path / f"{cid}.csv"
        r = await counter.get(f"/v1/elections/{EID}/contests/{cid}/ballots.blt")
        assert r.status == 200
        blt_file.write_text(await r.text())
        r = await counter.get(f"/v1/elections/{EID}/contests/{cid}/candidates.csv")
        csv_file.write_text(await r.text())
        args = [
            "count",
            str(blt_file),
            "--rule",
            rules[cid],
            "--candidates",
            str(csv_file),
            "--seed",
            document["counted_root"],
            "--json",
        ]
        for k in c.get("constraints", []):
            args += ["--min", f"{k['attribute']}={k['value']}:{k['min']}"]
        capsys.readouterr()
        assert ballot(args) == 0
        counted = json.loads(capsys.readouterr().out)
        extra = {"contest", "elected_ids", "counted_size", "counted_root", "constraints_adjusted"}
        extra |= {"minimums_unmet", "returned_unopposed", "polled_seats", "slates"}
        # A BLT knows only the withdrawn: ``ballot count`` has no ``status`` (before_status).
        assert counted == {k: v for k, v in fl.before_status(document).items() if k not in extra}
        assert document["constraints_adjusted"] == []  # every minimum had enough standing
        assert len(document["elected"]) == c["seats"]
    members = by_contest["members"]["result"]
    women = {x["name"] for x in members["candidates"] if x["gender"] == "woman"}
    assert len(women & set(members["elected"])) >= 4
    branches = by_contest["branches"]["result"]
    women = {x["name"] for x in branches["candidates"] if x["gender"] == "woman"}
    assert len(women & set(branches["elected"])) >= 3

    # The HTML page, the running tallies after close, health and metrics.
    r = await counter.get(f"/elections/{EID}")
    page = await r.text()
    assert r.status == 200 and r.content_type == "text/html"
    assert "<script" not in page and "Elected, in order" in page and "Runner-up: " in page
    assert "turnout by region" in page and DEFINITION["title"] in page
    sheet = await (await counter.get(f"/elections/{EID}/contests/members")).text()
    assert "<script" not in sheet and "<svg" in sheet and "Stage 2" in sheet
    assert "Non-transferable" in sheet
    poll = await (await counter.get(f"/elections/{EID}/contests/branches")).text()
    assert "behind the 6th seat" in poll
    tallies = await (await counter.get(f"/v1/elections/{EID}/tallies")).json()
    assert tallies["turnout_by_dimension"]["members"]["by"]["region"]
    assert "first_preferences" in tallies["contests"]["members"]
    assert (await counter.get("/readyz")).status == 200
    assert (await counter.get("/metrics")).status == 404  # on the private listener only
    private = await aiohttp_client(metrics_app())
    metrics = await (await private.get("/metrics")).text()
    assert f'ballot_counter_entries_folded_total{{election="{EID}"}}' in metrics
    alerts = await (await counter.get(f"/v1/elections/{EID}/alerts")).json()
    assert alerts["alerts"] == []
    listed = await (await counter.get("/v1/elections")).json()
    assert listed["elections"][0]["election"] == EID


async def test_counter_api_problems(
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
) -> None:
    """Unknown elections and contests are problem+json 404s; an unreachable ledger leaves
    the counter alive but not ready."""
    settings = CounterSettings(
        ledger_url="http://127.0.0.1:9",
        database_url=fresh_database(),
        data_dir=tmp_path,
        retry=0.05,
    )
    counter = await aiohttp_client(create_counter_app(settings, COUNTER_SIGNER))
    for path in (
        "/v1/elections/nope/tallies",
        "/v1/elections/nope/results",
        "/v1/elections/NOPE/results/x",
        "/elections/nope",
        "/v1/nothing",
    ):
        r = await counter.get(path)
        assert r.status == 404, path
        assert r.content_type == "application/problem+json"
        assert (await r.json())["type"] == "urn:ballot-ledger:problem:not-found"
    assert (await counter.get("/healthz")).status == 200
    r = await counter.get("/readyz")
    assert r.status == 503 and (await r.json())["type"] == "urn:ballot-ledger:problem:unavailable"
    r = await counter.get("/")
    assert r.status == 200 and "No election yet" in await r.text()
