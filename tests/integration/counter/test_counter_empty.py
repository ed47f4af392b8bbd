"""An election whose first contests are empty, counted end to end (docs/counting.md, "Empty
contests"): an STV contest nobody voted in, and one in which no candidate was validly
nominated. The counter declares every contest (the empty ones as "every seat vacant"), takes in
the later declarations, raises no alert; the audit of the export passes; ``ballot count`` of the
exported BLT says the same; the results page says the seats are vacant."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ballot.cli import main as ballot
from counter.errors import ProfileError
from counter.tally import fold as fl
from ledger.runtime.settings import Settings

from ..conftest import AUTH_ADMIN, AUTH_FRONTEND, COUNTER_SIGNER, ROLL_CSV, SIGNER
from .test_counter_flow import _wait_for, ledger_and_counter

EID = "empty-2027"
DEFINITION: dict[str, Any] = {
    "title": "An election with empty contests",
    "declare": "automatic",
    "sealed": True,
    "nomination_threshold": 1,
    "contests": [
        {
            "id": "members",
            "title": "Members' section (nobody votes)",
            "seats": 2,
            "method": {"type": "stv", "rule": "scottish"},
            "candidates": [
                {"id": "ann", "name": "Ann Able", "gender": "woman"},
                {"id": "bob", "name": "Bob Baker", "gender": "man"},
                {"id": "cat", "name": "Cat Cole", "gender": "woman"},
            ],
            "constraints": [{"attribute": "gender", "value": "woman", "min": 1}],
        },
        {
            "id": "youth",
            "title": "Youth seat (nobody nominated)",
            "seats": 1,
            "method": {"type": "stv", "rule": "meek"},
            "candidates": [
                {"id": "yan", "name": "Yan Young"},
                {"id": "yvo", "name": "Yvonne Yu"},
            ],
        },
        {
            "id": "branches",
            "title": "Branch delegates",
            "seats": 1,
            "method": {"type": "bloc", "max_marks": 1},
            "candidates": [{"id": "dee", "name": "Dee Dale"}, {"id": "eli", "name": "Eli Eng"}],
        },
    ],
}
VACANT = {"members": ("no valid ballots", 2), "youth": ("no candidates standing", 1)}


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
    assert r.status == 200, await r.text()
    for contest in ("members", "branches"):  # nobody nominates a youth candidate
        for cand in next(c for c in DEFINITION["contests"] if c["id"] == contest)["candidates"]:
            r = await ledger.post(
                f"/v1/elections/{EID}/nominations",
                json={"contest": contest, "candidate": cand["id"], "body": "branch-a"},
                headers=AUTH_ADMIN,
            )
            assert r.status == 201, await r.text()
    for path in ("nominations/close", "poll/open"):
        r = await ledger.post(f"/v1/elections/{EID}/{path}", headers=AUTH_ADMIN)
        assert r.status == 200, await r.text()
    for i in range(5):  # ballots in the bloc contest only
        r = await ledger.post(
            f"/v1/elections/{EID}/ballots",
            json={
                "submission_id": f"empty-sub-{i:04d}",
                "voter_id": f"v{i:03d}",
                "selections": {"branches": ["dee" if i % 3 else "eli"]},
            },
            headers=AUTH_FRONTEND,
        )
        assert r.status == 201, await r.text()
    r = await ledger.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()


Client = TestClient[Any, Any]


async def _ledger_and_counter(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[Client]],
    tmp_path: Path,
) -> tuple[Client, Client]:
    """The ledger on a test server and a counter following it, the election run and closed."""
    ledger, counter = await ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)
    await _run_election(ledger)
    return ledger, counter


async def test_empty_contests_are_declared_vacant_audited_and_counted_alike(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[Client]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Empty contests declare every seat vacant, the later contest is still declared, no alert
    is raised, the export audits clean, and ``ballot count`` and the page say the same."""
    ledger, counter = await _ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)

    async def declared() -> bool:
        body = await (await counter.get(f"/v1/elections/{EID}/results")).json()
        results = body.get("results", [])
        return len(results) == 3 and all(r["declared"] for r in results)

    await _wait_for(declared)
    info = await (await ledger.get(f"/v1/elections/{EID}")).json()
    assert info["phase"] == "declared" and set(info["declared"]) == {"members", "youth", "branches"}
    body = await (await counter.get(f"/v1/elections/{EID}/results")).json()
    docs = {r["contest"]: r["result"] for r in body["results"]}
    for contest, (outcome, seats) in VACANT.items():
        assert (docs[contest]["outcome"], docs[contest]["vacant"]) == (outcome, seats)
        assert docs[contest]["elected"] == [] and docs[contest]["ties"] == []
    assert docs["branches"]["elected"] == ["Dee Dale"]
    assert (docs["branches"]["outcome"], docs["branches"]["vacant"]) == ("filled", 0)
    alerts = await (await counter.get(f"/v1/elections/{EID}/alerts")).json()
    assert alerts["alerts"] == []

    # The page names the vacancies.
    page = await (await counter.get(f"/elections/{EID}")).text()
    assert "No valid ballots: no one is elected and all 2 seats are vacant." in page
    assert "No candidates standing: no one is elected and the seat is vacant." in page

    # ``ballot count`` of the exported BLT gives the declared result.
    blt_file, csv_file = tmp_path / "members.blt", tmp_path / "members.csv"
    blt_file.write_text(
        await (await counter.get(f"/v1/elections/{EID}/contests/members/ballots.blt")).text()
    )
    csv_file.write_text(
        await (await counter.get(f"/v1/elections/{EID}/contests/members/candidates.csv")).text()
    )
    capsys.readouterr()
    argv = ["count", str(blt_file), "--rule", "scottish", "--candidates", str(csv_file)]
    argv += ["--min", "gender=woman:1", "--seed", docs["members"]["counted_root"], "--json"]
    assert ballot(argv) == 0
    counted = json.loads(capsys.readouterr().out)
    extra = {"contest", "elected_ids", "counted_size", "counted_root", "constraints_adjusted"}
    extra |= {"minimums_unmet", "returned_unopposed", "polled_seats", "slates"}
    # A BLT knows only the withdrawn: ``ballot count`` has no ``status`` (fold.before_status).
    assert counted == {k: v for k, v in fl.before_status(docs["members"]).items() if k not in extra}

    # ``ballot audit`` of the export passes, recounting the same vacancies.
    export = tmp_path / "empty.export.ndjson"
    export.write_bytes(await (await ledger.get(f"/v1/elections/{EID}/export")).read())
    argv = ["audit", str(export), "--key", SIGNER.verifier.text()]
    argv += ["--counter-key", COUNTER_SIGNER.verifier.text(), "--json"]
    capsys.readouterr()
    assert ballot(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    for contest, (outcome, seats) in VACANT.items():
        res = report["results"][contest]
        assert (res["outcome"], res["vacant"], res["elected"]) == (outcome, seats, [])
        assert res["matches_declaration"] is True


async def test_a_contest_that_cannot_be_counted_alerts_once_and_blocks_no_other(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[Client]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A count that fails (here forced) raises one alert, not one per pass, and the contests
    after it are still counted, declared and their declarations taken in."""
    calls: list[str] = []
    real = fl.count_contest

    def failing(state: fl.FoldState, contest: str) -> Any:
        if contest == "members":
            calls.append(contest)
            raise ProfileError("forced failure")
        return real(state, contest)

    monkeypatch.setattr(fl, "count_contest", failing)
    _, counter = await _ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)

    async def others_declared() -> bool:
        body = await (await counter.get(f"/v1/elections/{EID}/results")).json()
        done = {r["contest"] for r in body.get("results", []) if r["declared"]}
        return done == {"youth", "branches"}

    await _wait_for(others_declared)  # declared, then verified from the feed: several passes
    alerts = await (await counter.get(f"/v1/elections/{EID}/alerts")).json()
    assert [a["message"] for a in alerts["alerts"]] == [
        "contest members cannot be counted: forced failure"
    ]
    assert calls == ["members"]
