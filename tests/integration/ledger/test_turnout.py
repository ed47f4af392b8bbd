"""Turnout over the ledger's API (issue 14): ``/turnout`` serves the latest published report,
never a live count; reports are taken on the definition's schedule, driven here by calling the
housekeeping's ``tick`` with a clock, and show the totals only while the poll is open; a report
whose changes are below the threshold is skipped; the groups come in one final report after
``poll_closed``."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from counter.tally import fold as fl
from ledger.domain import schemas
from ledger.format.entry import parse_entry
from ledger.http.app import LEDGER
from ledger.runtime.settings import Settings

from ..conftest import AUTH_ADMIN, AUTH_FRONTEND, AppClient, definition, paper, setup_election

EID = "nec-2026"
EVERY = 60
T0 = EVERY * 29_000_000.0
"""A moment at the start of a schedule slot (Unix seconds)."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The release timer off: these tests release rounds themselves (``release_due``)."""
    return dataclasses.replace(settings, release_every=86400.0)


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
    """Ballots cast or released after a report leave ``/turnout`` unchanged, also through ticks
    within the same schedule slot; the next slot's report (the log's totals only, every group
    listed and null) is what ``/turnout`` then serves."""
    await setup_election(client, doc=definition(turnout={"every": EVERY}, round_size=1))
    ledger = client.app[LEDGER]
    await ledger.tick(T0)  # nobody has voted: nothing changed, nothing published
    assert await _reports(client) == []
    before = await _turnout(client)
    assert before["index"] is None and before["time"] is None
    members = before["contests"]["members"]
    assert members["cast"] == 0 and members["eligible"] == 60
    assert members["by"]["region"] == {"east": None, "north": None, "south": None}

    await _cast(client, "v000", "v001", "v002", "v003", "v004", "v005", "v006")
    assert await ledger.release_due(EID) == 6  # K = 1 stays pending
    assert (await _turnout(client))["contests"] == before["contests"]
    await ledger.tick(T0 + EVERY / 2)  # the same slot: no report is due
    assert await _reports(client) == []
    assert (await _turnout(client))["contests"] == before["contests"]

    await ledger.tick(T0 + EVERY)
    ((index, event),) = await _reports(client)
    after = await _turnout(client)
    assert after["index"] == index and after["contests"] == event["contests"]
    assert after["contests"]["members"]["cast"] == 6
    assert after["contests"]["members"]["by"]["region"] == {
        "east": None,
        "north": None,
        "south": None,
    }


async def test_a_report_whose_changes_are_below_the_threshold_is_skipped(
    client: AppClient,
) -> None:
    """With min_group_size 2, one more ballot in the log since the last report publishes
    nothing at the next slot; a second reaches the threshold and the report follows."""
    await setup_election(client, doc=definition(turnout={"every": EVERY}, round_size=1))
    ledger = client.app[LEDGER]
    await _cast(client, "v000", "v001", "v002", "v003", "v004", "v005", "v006")
    await ledger.release_due(EID)
    await ledger.tick(T0)
    published = await _turnout(client)
    assert published["contests"]["members"]["cast"] == 6

    await _cast(client, "v007")
    assert await ledger.release_due(EID) == 1  # one more ballot in the log
    await ledger.tick(T0 + EVERY)
    assert len(await _reports(client)) == 1
    skipped = await _turnout(client)
    assert (skipped["index"], skipped["contests"]) == (published["index"], published["contests"])

    await _cast(client, "v009")
    assert await ledger.release_due(EID) == 1  # 2 since the last report
    await ledger.tick(T0 + 2 * EVERY)
    assert len(await _reports(client)) == 2
    now = (await _turnout(client))["contests"]["members"]
    assert now["cast"] == 8 and set(now["by"]["region"].values()) == {None}


async def test_reports_while_open_count_released_ballots_never_pending_ones(
    client: AppClient,
) -> None:
    """Accepted ballots still pending are in no report while the poll is open: reports count
    the log's ``ballot_cast`` entries, so they never show the pending store's size."""
    doc = definition(turnout={"every": EVERY}, round_size=5)
    await setup_election(client, doc=doc)
    ledger = client.app[LEDGER]
    await _cast(client, "v000", "v001", "v002", "v003", "v004", "v005")
    assert await ledger.release_due(EID) == 0  # 6 pending, fewer than 2K
    await ledger.tick(T0)
    assert await _reports(client) == []
    assert (await _turnout(client))["contests"]["members"]["cast"] == 0
    await _cast(client, "v006", "v007", "v008", "v009")
    assert await ledger.release_due(EID) == 5
    await ledger.tick(T0 + EVERY)
    ((_, event),) = await _reports(client)
    assert event["contests"]["members"]["cast"] == 5


async def _close_after_two_per_region(client: AppClient) -> None:
    """An open election with K = 2: six papers (two per region), four released and reported
    at ``T0``, then the close (its round, ``poll_closed``, the final report)."""
    doc = definition(turnout={"every": EVERY}, sealed=False, round_size=2)
    await setup_election(client, doc=doc)
    ledger = client.app[LEDGER]
    await _cast(client, "v000", "v001", "v002", "v003", "v004", "v005")
    assert await ledger.release_due(EID) == 4
    await ledger.tick(T0)
    r = await client.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()


async def test_the_final_report_follows_poll_closed_once_with_the_groups(
    client: AppClient,
) -> None:
    """The close takes one report after ``poll_closed``, showing each contest's groups when
    every group is at least t from both ends; closing again or ticking adds no other. With
    K >= t the close's round moves the totals by at least t."""
    await _close_after_two_per_region(client)
    ledger = client.app[LEDGER]
    r = await client.get(f"/v1/elections/{EID}/entries", params={"limit": "10000"})
    kinds = [parse_entry(e["entry"].encode()).kind for e in (await r.json())["entries"]]
    assert kinds[-3:] == ["ballot_cast", "poll_closed", "turnout_reported"]
    assert kinds.count("turnout_reported") == 2
    final = (await _turnout(client))["contests"]
    assert final["members"]["cast"] == 6
    assert final["members"]["by"]["region"] == {"east": 2, "north": 2, "south": 2}
    assert final["youth"]["cast"] == 0 and set(final["youth"]["by"]["region"].values()) == {None}

    await ledger.report_turnout(EID)
    await ledger.close(EID)
    await ledger.tick(T0 + EVERY)
    assert len(await _reports(client)) == 2


async def test_the_final_report_carries_each_shown_regions_eligible_voters(
    client: AppClient,
) -> None:
    """The final ``turnout_reported`` in the log has ``eligible_by`` (the roll's voters of each
    region shown, null where ``by`` is), the report before the close has none; both validate
    against the schema and the counter's fold keeps the final one as published."""
    await _close_after_two_per_region(client)
    (_, during), (index, final) = await _reports(client)
    assert all("eligible_by" not in c for c in during["contests"].values())
    members, youth = final["contests"]["members"], final["contests"]["youth"]
    assert members["by"]["region"] == {"east": 2, "north": 2, "south": 2}
    assert members["eligible_by"] == {"region": {"east": 20, "north": 20, "south": 20}}
    assert youth["eligible"] == 14 and set(youth["by"]["region"].values()) == {None}
    assert youth["eligible_by"] == {"region": {"east": None, "north": None, "south": None}}
    for event in (during, final):
        schemas.validate_event("turnout_reported", event)
    assert (await _turnout(client))["contests"] == final["contests"]
    r = await client.get(f"/v1/elections/{EID}/entries", params={"limit": "10000"})
    log = [(e["index"], e["entry"].encode()) for e in (await r.json())["entries"]]
    state = fl.fold(fl.initial(EID), log)
    assert (state.turnout[-1].index, state.turnout[-1].report) == (index, final["contests"])


async def test_the_housekeeping_takes_a_final_report_a_close_left_out(
    client: AppClient,
) -> None:
    """A close that stopped between ``poll_closed`` and its final report (a crash): the next
    housekeeping round takes the final report, once."""
    doc = definition(turnout={"every": EVERY}, sealed=False, round_size=2)
    await setup_election(client, doc=doc)
    ledger = client.app[LEDGER]
    await _cast(client, "v000", "v001", "v002", "v003", "v004", "v005")
    await ledger.append_event(EID, "poll_closed", lambda s: {}, before=ledger.final_rounds)
    assert await _reports(client) == []
    await ledger.tick(T0)
    await ledger.tick(T0 + EVERY)
    ((_, event),) = await _reports(client)
    assert event["contests"]["members"]["by"]["region"] == {"east": 2, "north": 2, "south": 2}


async def test_a_final_report_below_the_threshold_is_skipped(client: AppClient) -> None:
    """K = 1 < t = 2: the close's round holds one ballot, the final report would show a change
    of 1 and is skipped, groups and all (the log's ballots are public anyway, groups are not)."""
    doc = definition(turnout={"every": EVERY}, sealed=False, round_size=1)
    await setup_election(client, doc=doc)
    ledger = client.app[LEDGER]
    await _cast(client, "v000", "v001", "v002", "v003", "v004", "v005")
    await ledger.release_due(EID)
    await ledger.tick(T0)
    r = await client.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    ((_, event),) = await _reports(client)
    assert event["contests"]["members"]["cast"] == 5


async def test_the_definition_sets_the_schedule_with_a_default(client: AppClient) -> None:
    """``turnout.every`` is in the published definition; without it the default applies."""
    await setup_election(client)
    state = await client.app[LEDGER].state(EID)
    assert state.require_definition().document["turnout"] == {"every": 600}


async def test_each_report_is_one_snapshot_of_the_log_while_ballots_arrive(
    client: AppClient,
) -> None:
    """Reports taken while papers are being cast: each one's ``cast`` is the number of
    ``ballot_cast`` entries before it, and its groups, when all shown, add up to it."""
    # t = 1: every report with a change is published, so each one taken mid-stream shows.
    doc = definition(turnout={"every": EVERY}, min_group_size=1, round_size=1)
    await setup_election(client, doc=doc)
    ledger = client.app[LEDGER]
    url = f"/v1/elections/{EID}/ballots"

    async def cast(i: int) -> None:
        await asyncio.sleep(0.003 * i)
        r = await client.post(url, json=paper(f"v{i:03d}"), headers=AUTH_FRONTEND)
        assert r.status == 201, await r.text()

    async def report(i: int) -> None:
        await asyncio.sleep(0.003 * i)  # among the papers (how many interleave is not checked)
        await ledger.release_due(EID)
        await ledger.report_turnout(EID)

    jobs = [cast(i) if i % 6 else report(i) for i in range(60)]
    await asyncio.gather(*jobs)
    await ledger.release_due(EID)
    await ledger.report_turnout(EID)
    r = await client.get(f"/v1/elections/{EID}/entries", params={"limit": "10000"})
    kinds = [parse_entry(e["entry"].encode()).kind for e in (await r.json())["entries"]]
    reports = await _reports(client)
    assert reports
    for index, event in reports:
        members = event["contests"]["members"]
        assert members["cast"] == kinds[:index].count("ballot_cast")
        shown = members["by"]["region"].values()
        if None not in shown:
            assert sum(shown) == members["cast"]
    assert reports[-1][1]["contests"]["members"]["cast"] == 49  # K = 1 stays pending
