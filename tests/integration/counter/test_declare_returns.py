"""Issue 16, ledger and counter together over real HTTP and PostgreSQL: declaration on the
returning officer's approval; unopposed returns (whole and partial) and unmeetable minimums
under each policy, where the count, the page and ``ballot audit`` must agree; and an
election compared with its predecessor (on the same ledger, or imported)."""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ballot.cli import main as ballot
from counter.tally import summary as sm
from ledger.runtime.settings import Settings

from ..conftest import (
    AUTH_ADMIN,
    AUTH_FRONTEND,
    COUNTER_SIGNER,
    ROLL_CSV,
    SIGNER,
    definition,
    paper,
    setup_election,
)
from .test_counter_flow import _wait_for, ledger_and_counter

Client = TestClient[Any, Any]
Factory = Callable[..., Awaitable[Client]]


async def _results(counter: Client, eid: str) -> dict[str, dict[str, Any]]:
    body = await (await counter.get(f"/v1/elections/{eid}/results")).json()
    return {r["contest"]: r for r in body.get("results", [])}


async def _counted(counter: Client, eid: str, n: int, *, declared: bool) -> None:
    async def done() -> bool:
        found = await _results(counter, eid)
        return len(found) == n and all(r["declared"] or not declared for r in found.values())

    await _wait_for(done)


async def _cast(ledger: Client, eid: str, papers: list[dict[str, Any]]) -> None:
    for p in papers:
        r = await ledger.post(f"/v1/elections/{eid}/ballots", json=p, headers=AUTH_FRONTEND)
        assert r.status == 201, await r.text()


async def _audit(ledger: Client, eid: str, tmp_path: Path, capsys: Any) -> tuple[Any, str]:
    """``ballot audit`` of the election's export: the JSON report and the text report."""
    export = tmp_path / f"{eid}.export.ndjson"
    export.write_bytes(await (await ledger.get(f"/v1/elections/{eid}/export")).read())
    argv = ["audit", str(export), "--key", SIGNER.verifier.text()]
    argv += ["--counter-key", COUNTER_SIGNER.verifier.text()]
    capsys.readouterr()
    assert ballot([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert ballot(argv) == 0
    return report, capsys.readouterr().out


# --- 1. declaration on approval ----------------------------------------------------------------


async def test_results_are_declared_only_on_the_officers_approval(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Factory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``declare: on_approval``: the counter counts at the close and shows the provisional
    result (API and page) while the log has no declaration; the officer's POST .../declare
    appends result_approved then result_declared (200, the receipt), contest by contest; a
    second approval is 409; the audit recounts and finds the approvals."""
    ledger, counter = await ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)
    eid = "nec-2026"
    await setup_election(ledger, eid, definition(nomination_threshold=0, declare="on_approval"))
    await _cast(ledger, eid, [paper("v000", youth=["yvo"]), paper("v001")])
    r = await ledger.post(f"/v1/elections/{eid}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    await _counted(counter, eid, 2, declared=False)

    async def both_held() -> bool:  # the counter has sent both declarations to the ledger
        info = await (await ledger.get(f"/v1/elections/{eid}")).json()
        return len(info["provisional"]) == 2

    await _wait_for(both_held)
    info = await (await ledger.get(f"/v1/elections/{eid}")).json()
    assert info["declare"] == "on_approval" and info["declared"] == {}
    found = await _results(counter, eid)
    assert set(info["provisional"]) == {"members", "youth"}
    assert {c: r["status"] for c, r in found.items()} == {
        "members": "provisional",
        "youth": "provisional",
    }
    assert info["provisional"]["members"] == found["members"]["result_hash"]
    page = await (await counter.get(f"/elections/{eid}")).text()
    assert page.count("Provisional: not yet declared") == 2

    r = await ledger.post(f"/v1/elections/{eid}/contests/members/declare", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    receipt = (await r.json())["receipt"]
    entries = (await (await ledger.get(f"/v1/elections/{eid}/entries?start=0")).json())["entries"]
    last = [json.loads(e["entry"]) for e in entries[-2:]]
    assert [e["type"] for e in last] == ["result_approved", "result_declared"]
    assert last[0]["event"] == {
        "contest": "members",
        "result_hash": found["members"]["result_hash"],
    }
    assert last[1]["event"]["result_hash"] == found["members"]["result_hash"]
    assert receipt["index"] == last[1]["index"]

    async def members_declared() -> bool:
        return (await _results(counter, eid))["members"]["declared"]

    await _wait_for(members_declared)
    assert (await _results(counter, eid))["youth"]["status"] == "provisional"
    info = await (await ledger.get(f"/v1/elections/{eid}")).json()
    assert info["phase"] == "poll_closed" and set(info["declared"]) == {"members"}

    r = await ledger.post(f"/v1/elections/{eid}/contests/youth/declare", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    await _counted(counter, eid, 2, declared=True)
    assert (await (await ledger.get(f"/v1/elections/{eid}")).json())["phase"] == "declared"
    r = await ledger.post(f"/v1/elections/{eid}/contests/youth/declare", headers=AUTH_ADMIN)
    assert r.status == 409 and (await r.json())["type"].endswith(":already-declared")

    report, text = await _audit(ledger, eid, tmp_path, capsys)
    for contest in ("members", "youth"):
        res = report["results"][contest]
        assert res["matches_declaration"] is True
        assert res["approved"] == found[contest]["result_hash"]
        said = "approved by the returning officer before its declaration (result "
        assert f"{said}{res['approved'][:16]}…)" in text


# --- 2 and 3. unopposed returns, unmeetable minimums -------------------------------------------

RETURNS: dict[str, Any] = {
    "title": "Returns at the close",
    "declare": "automatic",
    "nomination_threshold": 1,
    "contests": [
        {  # partial: one woman nominated for a section requiring one
            "id": "exec",
            "title": "Executive",
            "seats": 3,
            "method": {"type": "bloc"},
            "candidates": [
                {"id": "w1", "name": "Wendy One", "gender": "woman"},
                {"id": "m1", "name": "Mark One", "gender": "man"},
                {"id": "m2", "name": "Mark Two", "gender": "man"},
                {"id": "m3", "name": "Mark Three", "gender": "man"},
                {"id": "w2", "name": "Wendy Two", "gender": "woman"},
            ],
            "constraints": [{"attribute": "gender", "value": "woman", "min": 1}],
        },
        {  # whole: one nominee for one seat
            "id": "youth",
            "title": "Youth seat",
            "seats": 1,
            "method": {"type": "stv", "rule": "scottish"},
            "candidates": [{"id": "y1", "name": "Yan Young"}, {"id": "y2", "name": "Yvo Yu"}],
        },
        {  # unmeetable: two women required, one nominated
            "id": "women",
            "title": "Women's officers",
            "seats": 2,
            "method": {"type": "bloc"},
            "candidates": [
                {"id": "f1", "name": "Fay First", "gender": "woman"},
                {"id": "f2", "name": "Flo Second", "gender": "woman"},
                {"id": "n1", "name": "Ned Near", "gender": "man"},
                {"id": "n2", "name": "Nat Next", "gender": "man"},
            ],
            "constraints": [{"attribute": "gender", "value": "woman", "min": 2}],
        },
    ],
}
NOMINATED = {"exec": ["w1", "m1", "m2", "m3"], "youth": ["y1"], "women": ["f1", "n1", "n2"]}
UNMET = {
    "vacant": (
        "minimum gender=woman:2 cannot be met: only 1 such candidate(s) standing; "
        "1 reserved seat(s) left vacant"
    ),
    "as_far_as_standing": (
        "minimum gender=woman:2 applied as 1: only 1 such candidate(s) standing"
    ),
}


@pytest.mark.parametrize("policy", ["vacant", "as_far_as_standing"])
async def test_unopposed_returns_and_unmet_minimums_agree_in_count_page_and_audit(
    policy: str,
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Factory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """At the close of nominations: the youth seat (one nominee) is returned unopposed and
    leaves the ballot paper; the executive's only woman is returned under the gender
    requirement and two seats are polled among the men; the women's officers' second reserved
    seat stays vacant (``vacant``: no poll) or goes to the poll (``as_far_as_standing``). The
    result JSON, the page and ``ballot audit`` say the same."""
    ledger, counter = await ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)
    eid = "returns-2026"
    doc = {**copy.deepcopy(RETURNS), "unmet_minimum": policy}
    r = await ledger.put(f"/v1/elections/{eid}", json=doc, headers=AUTH_ADMIN)
    assert r.status == 201, await r.text()
    csv = {**AUTH_ADMIN, "Content-Type": "text/csv"}
    assert (await ledger.put(f"/v1/elections/{eid}/roll", data=ROLL_CSV, headers=csv)).status == 200
    assert (await ledger.post(f"/v1/elections/{eid}/nominations/open", headers=AUTH_ADMIN)).ok
    for contest, ids in NOMINATED.items():
        for cid in ids:
            nomination = {"contest": contest, "candidate": cid, "body": "branch-a"}
            r = await ledger.post(
                f"/v1/elections/{eid}/nominations", json=nomination, headers=AUTH_ADMIN
            )
            assert r.status == 201, await r.text()
    assert (await ledger.post(f"/v1/elections/{eid}/nominations/close", headers=AUTH_ADMIN)).ok
    returns = (await (await ledger.get(f"/v1/elections/{eid}")).json())["returns"]
    assert returns["youth"]["polled_seats"] == 0
    assert returns["exec"]["unopposed"] == [{"candidate": "w1", "under": "gender=woman"}]
    assert returns["women"]["unmet"][0]["policy"] == policy  # flagged before any poll
    assert (await ledger.post(f"/v1/elections/{eid}/poll/open", headers=AUTH_ADMIN)).ok

    r = await ledger.post(
        f"/v1/elections/{eid}/ballots", json=paper("v009", youth=["y1"]), headers=AUTH_FRONTEND
    )
    assert r.status == 422 and (await r.json())["type"].endswith(":contest-not-polled")
    papers = []
    for i in range(6):
        exec_ = ["m1", "m2"] if i < 3 else (["m1"] if i == 3 else ["m3"])  # 4, 3 and 2 votes
        selections: dict[str, list[str]] = {"exec": exec_}
        if policy == "as_far_as_standing":
            selections["women"] = ["n1"] if i < 4 else ["n2"]
        papers.append(paper(f"v{i:03d}", **selections))
    await _cast(ledger, eid, papers)
    assert (await ledger.post(f"/v1/elections/{eid}/poll/close", headers=AUTH_ADMIN)).ok
    await _counted(counter, eid, 3, declared=True)
    docs = {c: r["result"] for c, r in (await _results(counter, eid)).items()}

    assert docs["youth"]["outcome"] == "returned unopposed" and docs["youth"]["rounds"] == []
    assert docs["youth"]["elected_ids"] == ["y1"] and docs["youth"]["polled_seats"] == 0
    assert docs["exec"]["elected_ids"] == ["w1", "m1", "m2"]
    assert docs["exec"]["returned_unopposed"] == [
        {"candidate": "w1", "name": "Wendy One", "under": "gender=woman"}
    ]
    assert docs["exec"]["polled_seats"] == 2 and docs["exec"]["vacant"] == 0
    women = docs["women"]
    assert women["constraints_adjusted"] == [UNMET[policy]]
    assert women["minimums_unmet"][0]["policy"] == policy
    if policy == "vacant":
        assert (women["elected_ids"], women["vacant"], women["polled_seats"]) == (["f1"], 1, 0)
    else:
        assert (women["elected_ids"], women["vacant"], women["polled_seats"]) == (
            ["f1", "n1"],
            0,
            1,
        )

    page = await (await counter.get(f"/elections/{eid}")).text()
    assert (
        "Returned unopposed at the close of nominations: Wendy One (under the gender requirement)."
        in page
    )
    assert "Returned unopposed at the close of nominations: Yan Young. No poll was held." in page
    assert UNMET[policy][0].upper() + UNMET[policy][1:] + "." in page
    women_page = html.unescape(await (await counter.get(f"/elections/{eid}/contests/women")).text())
    assert women_page.count(UNMET[policy][1:]) == 1  # said once, not once per template
    # A contest with no poll says so everywhere: no 0 ballots, no 0.0% turnout, no poll table.
    youth_title = next(c["title"] for c in RETURNS["contests"] if c["id"] == "youth")
    turnout = html.unescape(await (await counter.get(f"/elections/{eid}/turnout")).text())
    row = re.search(rf"<tr><th scope=\"row\">{re.escape(youth_title)}</th>(.*?)</tr>", turnout)
    assert row is not None and "no poll (returned unopposed)" in row.group(1)
    assert "0.0" not in row.group(1)
    youth_page = await (await counter.get(f"/elections/{eid}/contests/youth")).text()
    assert "No poll was held" in youth_page and ">The poll<" not in youth_page
    assert "Ballots cast" not in youth_page and "Stage sheet" not in youth_page

    report, text = await _audit(ledger, eid, tmp_path, capsys)
    for contest, d in docs.items():
        res = report["results"][contest]
        assert res["matches_declaration"] is True
        assert res["elected_ids"] == d["elected_ids"]
        assert res["notes"] == d["constraints_adjusted"]
        assert res["returned_unopposed"] == d["returned_unopposed"]
    assert UNMET[policy] in text
    assert "returned unopposed under the gender=woman requirement: Wendy One" in text


# --- 8. against the predecessor ----------------------------------------------------------------


async def _run(
    ledger: Client, counter: Client, eid: str, doc: dict[str, Any], papers: list[dict[str, Any]]
) -> None:
    await setup_election(ledger, eid, doc)
    await _cast(ledger, eid, papers)
    assert (await ledger.post(f"/v1/elections/{eid}/poll/close", headers=AUTH_ADMIN)).ok
    await _counted(counter, eid, 2, declared=True)


def _papers(youth: list[str], members: list[list[str]]) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(members):
        selections: dict[str, list[str]] = {"members": m}
        if i < len(youth):
            selections["youth"] = [youth[i]]
        out.append(paper(f"v{i:03d}", **selections))
    return out


async def test_an_election_is_compared_with_its_predecessor_on_the_ledger_or_imported(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Factory,
    tmp_path: Path,
) -> None:
    """An election naming its predecessor (an election on the same ledger, or its summary
    imported into the definition) shows each candidate's previous place, share and
    nominations with the change in words, and turnout by region against last time, in the
    JSON and on the page; both kinds of predecessor give the same comparison."""
    ledger, counter = await ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)
    before = _papers(["yan", "yan", "yvo"], [["ann", "bob"], ["bob"], ["cat", "ann"]] * 3)
    now = _papers(["yvo", "yvo", "yan"], [["cat", "bob"], ["cat"], ["ann", "cat"]] * 3)
    await _run(ledger, counter, "nec-2024", definition(), before)
    previous = await (await counter.get("/v1/elections/nec-2024/summary")).json()
    # Item 7 on the way: bodies that nominated a slate's whole combination, seats per slate.
    tallies = await (await counter.get("/v1/elections/nec-2024/tallies")).json()
    assert tallies["nominations"]["members"]["full_slates"] == {"left": 2, "right": 2}
    members = (await _results(counter, "nec-2024"))["members"]["result"]
    slate_of = {c["name"]: c["slate"] for c in members["candidates"]}
    won = [slate_of[n] for n in members["elected"]]
    assert members["slates"] == {"left": won.count("left"), "right": won.count("right")}
    page = await (await counter.get("/elections/nec-2024")).text()
    assert f"Seats won per slate: left {won.count('left')}, right {won.count('right')}." in page
    await _run(ledger, counter, "nec-2026", definition(predecessor={"election": "nec-2024"}), now)
    imported = {
        "title": "NEC 2024 (imported)",
        "results": {k: previous[k] for k in ("contests", "turnout")},
    }
    await _run(ledger, counter, "nec-2026b", definition(predecessor=imported), now)

    current = await (await counter.get("/v1/elections/nec-2026/summary")).json()
    body = await (await counter.get("/v1/elections/nec-2026/comparison")).json()
    against = body["against"]
    youth = {r["id"]: r for r in against["contests"]["youth"]["candidates"]}
    old = {r["id"]: r for r in previous["contests"]["youth"]["candidates"]}
    assert old["yan"]["place"] == 1 and youth["yan"]["place"] == 2
    for cid, row in youth.items():
        assert row["previous"]["place"] == old[cid]["place"]
        assert row["previous"]["share"] == old[cid]["share"]
        assert row["previous"]["nominations"] == old[cid]["nominations"] == 2
        assert row["change"] == sm.phrase(row, old[cid])
    assert youth["yvo"]["change"] == "up 33.4% to 66.7%, one place up to 1st"
    assert youth["yan"]["change"] == "down 33.4% to 33.3%, one place down to 2nd"
    members = against["contests"]["members"]
    assert members["previous_nominations"] == previous["contests"]["members"]["nominations"]
    region = against["turnout"]["members"]["by"].get("region", [])
    then, now_ = previous["turnout"]["members"], current["turnout"]["members"]
    assert now_["eligible_by"]["region"] == {"east": 20, "north": 20, "south": 20}
    assert [(r["value"], r["cast"], r["eligible"], r["previous"]) for r in region] == [
        (v, n, now_["eligible_by"]["region"][v], then["by"]["region"][v])
        for v, n in sorted(now_["by"]["region"].items())
    ]
    for r in region:
        share, old_share = sm._turnout(r["cast"], 20), sm._turnout(r["previous"], 20)
        assert r["percent"] == (None if share is None else sm.percent_text(share))
        assert r["change"] == sm.turnout_change(share, old_share)
    page = html.unescape(await (await counter.get("/elections/nec-2026")).text())
    title = "National Executive Committee 2026"  # the predecessor's title (the same here)
    assert f"Youth seat against {title}" in page  # the results table
    assert "up 33.4% to 66.7%, one place up to 1st" in page
    assert f"Members' section: turnout by region, against {title}" in page
    assert "Last time: turnout %" in page and "Last time: nominations" in page
    contest_page = await (await counter.get("/elections/nec-2026/contests/youth")).text()
    assert f"Youth seat against {title}" in contest_page
    assert "up 33.4% to 66.7%, one place up to 1st" in contest_page

    other = (await (await counter.get("/v1/elections/nec-2026b/comparison")).json())["against"]
    assert other["title"] == "NEC 2024 (imported)"
    # The same last time either way (the two current elections' lots may place equals apart).
    assert other["turnout"] == against["turnout"]
    for cid, c in against["contests"].items():
        theirs = other["contests"][cid]
        assert [r["previous"] for r in theirs["candidates"]] == [
            r["previous"] for r in c["candidates"]
        ]
        assert theirs["previous_nominations"] == c["previous_nominations"]
    r = await counter.get("/v1/elections/nec-2024/comparison")
    assert r.status == 404

    # A predecessor this counter does not follow: said so, never "every candidate new".
    await _run(ledger, counter, "nec-2027", definition(predecessor={"election": "nec-2019"}), now)
    r = await counter.get("/v1/elections/nec-2027/comparison")
    problem = await r.json()
    assert r.status == 404 and problem["predecessor"] == "nec-2019", problem
    said = "the predecessor nec-2019 is not an election this counter follows"
    assert problem["detail"] == said
    for path in ("", "/turnout", "/nominations", "/contests/members"):
        page = html.unescape(await (await counter.get(f"/elections/nec-2027{path}")).text())
        assert f"No comparison with the last election: {said}." in page, path
        assert "Last time" not in page, path
