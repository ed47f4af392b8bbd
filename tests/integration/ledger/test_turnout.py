"""Turnout over the ledger's API (issue 14): ``/turnout`` serves the latest published report,
never a live count; reports are taken on the definition's schedule, driven here by calling the
housekeeping's ``tick`` with a clock; a report whose changes are below the threshold is
skipped."""

from __future__ import annotations

import asyncio
from typing import Any

from ledger.format.entry import parse_entry
from ledger.http.app import LEDGER

from ..conftest import AUTH_FRONTEND, AppClient, definition, paper, setup_election

EID = "nec-2026"
EVERY = 60
T0 = EVERY * 29_000_000.0
"""A moment at the start of a schedule slot (Unix seconds)."""


async def _cast(client: AppClient, *voters: str) -> None:
    for voter in voters:
        r = await client.post(
            f"/v1/elections/{EID}/ballots", json=paper(voter), headers=AUTH_FRONTEND
        )
        assert r.status == 201, await r.text()


async def _turnout(client: AppClient) -> dict[str, Any]:
    r = await client.get(f"/v1/elections/{EID}/turnout")
    assert r.status == 200, await r.text()
    body: dict[str, Any] = await r.json()
    return body


async def _reports(client: AppClient) -> list[tuple[int, dict[str, Any]]]:
    r = await client.get(f"/v1/elections/{EID}/entries", params={"limit": "10000"})
    out = []
    for e in (await r.json())["entries"]:
        entry = parse_entry(e["entry"].encode())
        if entry.kind == "turnout_reported":
            out.append((e["index"], dict(entry.event)))
    return out


async def test_turnout_serves_the_last_published_report_until_the_next_scheduled_one(
    client: AppClient,
) -> None:
    """Ballots cast after a report leave ``/turnout`` unchanged, also through ticks within the
    same schedule slot; the next slot's report is what ``/turnout`` then serves."""
    await setup_election(client, doc=definition(turnout={"every": EVERY}))
    ledger = client.app[LEDGER]
    await ledger.tick(T0)  # nobody has voted: nothing changed, nothing published
    assert await _reports(client) == []
    before = await _turnout(client)
    assert before["index"] is None and before["time"] is None
    members = before["contests"]["members"]
    assert members["cast"] == 0 and members["eligible"] == 60
    assert members["by"]["region"] == {"east": None, "north": None, "south": None}

    await _cast(client, "v000", "v001", "v002", "v003", "v004", "v005")  # 2 per region
    assert (await _turnout(client))["contests"] == before["contests"]
    await ledger.tick(T0 + EVERY / 2)  # the same slot: no report is due
    assert await _reports(client) == []
    assert (await _turnout(client))["contests"] == before["contests"]

    await ledger.tick(T0 + EVERY)
    ((index, event),) = await _reports(client)
    after = await _turnout(client)
    assert after["index"] == index and after["contests"] == event["contests"]
    assert after["contests"]["members"]["cast"] == 6
    assert after["contests"]["members"]["by"]["region"] == {"east": 2, "north": 2, "south": 2}


async def test_a_report_whose_changes_are_below_the_threshold_is_skipped(
    client: AppClient,
) -> None:
    """With min_group_size 2, one more ballot since the last report publishes nothing at the
    next slot; a second in the same group reaches the threshold and the report follows."""
    await setup_election(client, doc=definition(turnout={"every": EVERY}))
    ledger = client.app[LEDGER]
    await _cast(client, "v000", "v001", "v002", "v003", "v004", "v005")
    await ledger.tick(T0)
    published = await _turnout(client)
    assert published["contests"]["members"]["cast"] == 6

    await _cast(client, "v006")  # north, one ballot
    await ledger.tick(T0 + EVERY)
    assert len(await _reports(client)) == 1
    skipped = await _turnout(client)
    assert (skipped["index"], skipped["contests"]) == (published["index"], published["contests"])

    await _cast(client, "v009")  # north again: 2 since the last report
    await ledger.tick(T0 + 2 * EVERY)
    assert len(await _reports(client)) == 2
    now = (await _turnout(client))["contests"]["members"]
    assert now["cast"] == 8 and now["by"]["region"] == {"east": 2, "north": 4, "south": 2}


async def test_the_definition_sets_the_schedule_with_a_default(client: AppClient) -> None:
    """``turnout.every`` is in the published definition; without it the default applies."""
    await setup_election(client)
    state = await client.app[LEDGER].state(EID)
    assert state.require_definition().document["turnout"] == {"every": 600}


async def test_each_report_is_one_snapshot_of_the_log_while_ballots_arrive(
    client: AppClient,
) -> None:
    """Reports taken while papers are being accepted: each one's ``cast`` counts the papers
    accepted before it (never fewer than an earlier report's, at most all of them; the log
    itself holds none yet: they wait to be released), and its groups, when all shown, add up
    to it."""
    # t = 1: every report with a change is published, so each one taken mid-stream shows.
    await setup_election(client, doc=definition(turnout={"every": EVERY}, min_group_size=1))
    ledger = client.app[LEDGER]
    url = f"/v1/elections/{EID}/ballots"

    async def cast(i: int) -> None:
        await asyncio.sleep(0.003 * i)
        r = await client.post(url, json=paper(f"v{i:03d}"), headers=AUTH_FRONTEND)
        assert r.status == 201, await r.text()

    async def report(i: int) -> None:
        await asyncio.sleep(0.003 * i)  # among the papers (how many interleave is not checked)
        await ledger.report_turnout(EID)

    jobs = [cast(i) if i % 6 else report(i) for i in range(60)]
    await asyncio.gather(*jobs)
    await ledger.report_turnout(EID)
    r = await client.get(f"/v1/elections/{EID}/entries", params={"limit": "10000"})
    kinds = [parse_entry(e["entry"].encode()).kind for e in (await r.json())["entries"]]
    assert "ballot_cast" not in kinds
    reports = await _reports(client)
    assert reports
    seen = 0
    for _, event in reports:
        members = event["contests"]["members"]
        assert seen <= members["cast"] <= 50
        seen = members["cast"]
        shown = members["by"]["region"].values()
        if None not in shown:
            assert sum(shown) == members["cast"]
    assert reports[-1][1]["contests"]["members"]["cast"] == 50
