"""The counter's results pages as headless Chromium renders them, wide and phone-narrow.

A whole election (test_counter_flow's: an STV contest of many stages with a minimum, a bloc
contest, a small ERS97 contest; one candidate not validly nominated, one withdrawn during the
poll) is run, counted and declared; the overview and each contest's own page are then loaded at
1280 and 390 CSS pixels, read back from the rendered DOM, compared with the counter's JSON
results, checked with axe-core, and kept as full-page screenshots in the artefacts folder
(``$ARTIFACTS_DIR``, else ``tests/artifacts/``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from selenium.webdriver.chrome.webdriver import WebDriver

from counter.http.pages import shown
from counter.rules.margins import ordinal
from ledger.runtime.settings import Settings

from ..browser import (
    artifacts_dir,
    axe_violations,
    chromium,
    full_page_screenshot,
    load,
    require_chromium,
    set_viewport,
)
from ..conftest import AUTH_ADMIN
from .test_counter_flow import (
    DEFINITION,
    EID,
    UNNOMINATED,
    _cast,
    _run_election,
    ledger_and_counter,
    wait_declared,
)

VIEWPORTS = ((1280, 900), (390, 844))
WITHDRAWN = "a12"  # withdraws while the poll is open, after the ballots are cast

READ_OVERVIEW = """
const text = (e) => (e ? e.innerText.trim() : null);
const out = {order: [], sections: {}};
for (const s of document.querySelectorAll('section.contest')) {
  const id = s.getAttribute('aria-labelledby').slice('contest-'.length);
  out.order.push(id);
  out.sections[id] = {
    title: text(s.querySelector('h3')),
    summary: text(s.querySelector('p.summary')),
    elected: [...s.querySelectorAll('ol > li')].map(text),
    margin: text(s.querySelector('p.margin')),
    link: s.querySelector('a[href*="/contests/"]').getAttribute('href'),
  };
}
out.turnout = [...document.querySelectorAll('#turnout ~ div table')].map((t) => ({
  caption: text(t.caption),
  rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map(text)),
}));
out.nominations = [...document.querySelectorAll('#nominations ~ div table')].map((t) => ({
  caption: text(t.caption),
  rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map(text)),
}));
return out;
"""
"""The rendered overview: contest sections in order, turnout and nomination tables."""

READ_CONTEST = """
const text = (e) => (e ? e.innerText.trim() : null);
const table = (t) => t && {
  caption: text(t.caption),
  head: [...(t.tHead ? t.tHead.rows : [])].map((r) => [...r.cells].map(text)),
  rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map(text)),
  exact: [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.dataset.exact || null)),
};
const figure = document.querySelector('figure.chart');
const svg = figure && figure.querySelector('svg');
return {
  title: text(document.querySelector('h1')),
  elected: [...document.querySelectorAll('ol[aria-labelledby^="elected-"] > li')].map(text),
  margin: text(document.querySelector('p.margin')),
  notStanding: [...document.querySelectorAll('ul.not-standing > li')].map(text),
  figures: table(document.querySelector('table:not([class])')),
  sheet: table(document.querySelector('table.sheet')),
  poll: table(document.querySelector('table.poll')),
  chart: svg && {svg: svg.getBoundingClientRect().width, box: figure.getBoundingClientRect().width,
                 viewBox: svg.getAttribute('viewBox'), width: svg.getAttribute('width')},
};
"""
"""The rendered contest page: its declaration, margin, stage sheet or poll, and chart."""

WIDTHS = "return [document.scrollingElement.scrollWidth, window.innerWidth];"


def _print_check(session: WebDriver) -> dict[str, Any]:
    """Under print media: which contest sections start a new sheet, what is hidden, and how
    many pages Chromium prints."""
    session.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        styles = session.execute_script(
            "return {breaks: [...document.querySelectorAll('section.contest')].map("
            "(s) => getComputedStyle(s).breakBefore),"
            " header: getComputedStyle(document.querySelector('header')).display};"
        )
    finally:
        session.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    styles["pages"] = _printed_pages(session)
    return dict(styles)


def _printed_pages(session: WebDriver) -> int:
    """How many sheets Chromium prints the page on (its own page size: A4 landscape for a
    contest's declaration)."""
    pdf = base64.b64decode(
        session.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True})["data"]
    )
    return pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")


def _look(base: str, shots: Path) -> dict[str, Any]:
    """Each page at each viewport: what it shows, its widths, axe's violations, a screenshot."""
    seen: dict[str, Any] = {}
    with chromium() as session:
        for width, height in VIEWPORTS:
            set_viewport(session, width, height)
            load(session, f"{base}/")
            seen[f"index@{width}"] = {
                "widths": session.execute_script(WIDTHS),
                "axe": axe_violations(session),
            }
            for part, path, shot in (
                ("overview", "", "results-page"),
                ("turnout", "/turnout", "turnout"),
                ("nominations", "/nominations", "nominations"),
            ):
                load(session, f"{base}/elections/{EID}{path}")
                seen[f"{part}@{width}"] = {
                    "page": session.execute_script(READ_OVERVIEW),
                    "widths": session.execute_script(WIDTHS),
                    "axe": axe_violations(session),
                    "shot": full_page_screenshot(session, shots / f"{shot}-{width}x{height}.png"),
                }
                if part == "overview" and width == VIEWPORTS[0][0]:
                    seen["overview@print"] = _print_check(session)
            for contest in DEFINITION["contests"]:
                cid = contest["id"]
                for order in ("first", "place"):
                    load(session, f"{base}/elections/{EID}/contests/{cid}?order={order}")
                    seen[f"{cid}/{order}@{width}"] = {
                        "page": session.execute_script(READ_CONTEST),
                        "widths": session.execute_script(WIDTHS),
                        "axe": axe_violations(session) if order == "first" else [],
                        "printed": _printed_pages(session),
                        "shot": full_page_screenshot(
                            session, shots / f"contest-{cid}-{order}-{width}x{height}.png"
                        ),
                    }
    return seen


async def _declared_election(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
) -> tuple[TestClient[Any, Any], dict[str, Any]]:
    """The counter of a declared election, and its results by contest."""
    ledger, counter = await ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)
    await _run_election(ledger)
    await _cast(ledger)
    r = await ledger.post(
        f"/v1/elections/{EID}/contests/members/candidates/{WITHDRAWN}/withdraw",
        json={"reason": "withdrawn"},
        headers=AUTH_ADMIN,
    )
    assert r.status in (200, 201), await r.text()
    r = await ledger.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    await wait_declared(counter)
    body = await (await counter.get(f"/v1/elections/{EID}/results")).json()
    assert [r["contest"] for r in body["results"]] == [c["id"] for c in DEFINITION["contests"]]
    return counter, {r["contest"]: r["result"] for r in body["results"]}


def _name(cid: str) -> str:
    return next(
        c["name"]
        for contest in DEFINITION["contests"]
        for c in contest["candidates"]
        if c["id"] == cid
    )


async def test_results_pages_render_in_headless_chromium_wide_and_narrow(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """At 1280 and 390 px the elections index and the overview fit; the overview lists the
    contests in the definition's order with their elected, the runner-up's margin and a link to
    the contest's own page; each contest page shows its declaration, margin and stage sheet
    (transfer and total per stage, cell for cell as the JSON's, to two decimals) or bloc poll
    ("behind the 6th seat"); the turnout and nominations pages show the overview's tables; no
    page scrolls sideways at 390 px, the chart fits its box, axe-core finds no violation, and
    in print each contest starts a new sheet."""
    require_chromium()  # before the election: a missing browser fails at once
    counter, results = await _declared_election(settings, fresh_database, aiohttp_client, tmp_path)
    assert len(results["members"]["rounds"]) >= 3  # an STV count of several stages
    assert results["branches"]["rule"] == "bloc"
    base = str(counter.make_url("")).rstrip("/")
    seen = await asyncio.to_thread(_look, base, artifacts_dir())

    with capsys.disabled():
        for key, look in seen.items():
            if "shot" in look:
                print(f"\n{key}: {look['shot']}")
    order = [c["id"] for c in DEFINITION["contests"]]
    for width, _ in VIEWPORTS:
        index = seen[f"index@{width}"]
        assert index["axe"] == [] and index["widths"][0] <= index["widths"][1], width
        where = f"overview at {width} px"
        look = seen[f"overview@{width}"]
        assert look["shot"].stat().st_size > 0
        assert look["axe"] == [], where
        scroll, inner = look["widths"]
        assert scroll <= inner, f"{where}: the page scrolls sideways ({scroll} > {inner})"
        page = look["page"]
        assert page["order"] == order, where
        for contest in DEFINITION["contests"]:
            doc, shown_ = results[contest["id"]], page["sections"][contest["id"]]
            assert shown_["title"] == contest["title"], where
            assert [e.split(" (stage")[0] for e in shown_["elected"]] == doc["elected"], where
            assert f"{doc['valid_ballots']} valid ballots" in shown_["summary"], where
            assert shown_["margin"] == f"Runner-up: {doc['runner_up']['text']}", where
            assert shown_["link"] == f"/elections/{EID}/contests/{contest['id']}", where
        sections = [t for t in page["turnout"] if t["caption"].startswith("Turnout by section")]
        assert [row[0] for row in sections[0]["rows"]] == [
            c["title"] for c in DEFINITION["contests"]
        ]
        for row, contest in zip(sections[0]["rows"], DEFINITION["contests"], strict=True):
            doc = results[contest["id"]]
            assert row[4:] == [f"{doc['valid_ballots']:,}", f"{doc['invalid_ballots']:,}"], where
        for part in ("turnout", "nominations"):
            alone = seen[f"{part}@{width}"]
            assert alone["axe"] == [], f"{part} page at {width} px"
            assert alone["widths"][0] <= alone["widths"][1], f"{part} page at {width} px"
            assert alone["page"][part] == page[part], f"{part} page at {width} px"
        members = next(n for n in page["nominations"] if n["caption"].startswith("Members"))
        status = {row[0]: row[4] for row in members["rows"]}
        assert status[_name(UNNOMINATED)] == "not validly nominated", where
        assert status[_name(WITHDRAWN)] == "withdrawn", where
        assert status[_name("a01")] == "validly nominated", where

    printed = seen["overview@print"]
    assert printed["breaks"] == ["auto", *["page"] * (len(order) - 1)]
    assert printed["header"] == "none" and printed["pages"] >= len(order)

    for width, _ in VIEWPORTS:
        for contest in DEFINITION["contests"]:
            cid, doc = contest["id"], results[contest["id"]]
            for sheet_order in ("first", "place"):
                where = f"{cid} ({sheet_order}) at {width} px"
                look = seen[f"{cid}/{sheet_order}@{width}"]
                assert look["axe"] == [], where
                assert look["printed"] == 1, f"{where}: one declaration sheet"
                scroll, inner = look["widths"]
                assert scroll <= inner, f"{where}: the page scrolls sideways ({scroll} > {inner})"
                page = look["page"]
                assert page["title"] == contest["title"], where
                assert [e.split(" (elected")[0] for e in page["elected"]] == doc["elected"]
                assert page["margin"] == f"Runner-up: {doc['runner_up']['text']}", where
                if doc["rule"] == "bloc":
                    _check_poll(page["poll"], doc, where)
                else:
                    _check_sheet(page["sheet"], doc, contest, sheet_order, where)
                    chart = page["chart"]
                    assert chart["width"] is None and chart["viewBox"], where
                    assert chart["svg"] <= chart["box"] <= inner, where
            if cid == "members":
                status = {c["name"]: (c["status"], c["withdrawn"]) for c in doc["candidates"]}
                assert status[_name(WITHDRAWN)] == ("withdrawn", True)
                assert status[_name(UNNOMINATED)] == ("not validly nominated", False)
                assert status[_name("a01")] == ("standing", False)
                shown_out = seen[f"members/first@{width}"]["page"]["notStanding"]
                assert shown_out == [
                    f"{_name(WITHDRAWN)}: withdrawn",
                    f"{_name(UNNOMINATED)}: not validly nominated",
                ]


def _check_sheet(
    sheet: dict[str, Any], doc: dict[str, Any], contest: dict[str, Any], order: str, where: str
) -> None:
    """The stage sheet: a row per standing candidate in the order asked for, each stage's
    transfer and total as the JSON's figures to two decimals (exact values in data-exact),
    the outcome with its stage, the place; then non-transferable and quota rows."""
    rounds = doc["rounds"]
    standing = [c for c in doc["candidates"] if c["status"] == "standing"]
    # A gender column where a minimum is on gender; a slate column (every candidate has one).
    extra = 1 + any(k["attribute"] == "gender" for k in contest.get("constraints", []))
    if order == "place":
        names = sorted((c["name"] for c in standing), key=lambda n: doc["places"][n])
    else:
        first = rounds[0]["tallies"]
        names = sorted((c["name"] for c in standing), key=lambda n: -float(first[n]))
    assert [row[0] for row in sheet["rows"][:-2]] == names, where
    head = sheet["head"][0]
    assert head[1 + extra].startswith("Stage 1: First preferences"), where
    assert head[2 + extra].startswith("Stage 2: "), where
    for row, exact in zip(sheet["rows"][:-2], sheet["exact"][:-2], strict=True):
        name = row[0]
        cells = row[1 + extra : -2]
        expected = [shown(rounds[0]["tallies"][name], doc["decimals"])]
        exacts = [rounds[0]["tallies"][name]]
        for r in rounds[1:]:
            transfer = r["transfers"][name]
            moved = shown(transfer, doc["decimals"], sign=True)
            expected += [
                "" if float(transfer) == 0 else moved,
                shown(r["tallies"][name], doc["decimals"]),
            ]
            exacts += [None, r["tallies"][name]]
        assert cells == expected, f"{where}: {name}"
        assert exact[1 + extra : -2] == exacts, f"{where}: {name}"
        place = doc["places"][name]
        assert row[-1] == ordinal(place), f"{where}: {name}"
        if name in doc["elected"]:
            stage = next(r["round"] for r in rounds if name in r["elected"])
            assert row[-2] == f"Elected at stage {stage}", f"{where}: {name}"
    exhausted, quota = sheet["rows"][-2], sheet["rows"][-1]
    assert exhausted[0] == "Non-transferable" and quota[0] == "Quota", where
    assert exhausted[-3] == shown(rounds[-1]["exhausted"], doc["decimals"]), where
    assert quota[-3] == shown(rounds[-1]["quota"], doc["decimals"]), where


def _check_poll(poll: dict[str, Any], doc: dict[str, Any], where: str) -> None:
    """The bloc poll: by place, votes, and each candidate not elected "N behind the 6th seat"
    (the JSON's margin)."""
    seat = ordinal(len(doc["elected"]))
    for place, name, votes, result in poll["rows"]:
        assert place == ordinal(doc["places"][name]), where
        assert votes == f"{int(doc['rounds'][0]['tallies'][name]):,}", where
        if name in doc["elected"]:
            assert result == "Elected", where
        else:
            margin = int(doc["margins"][name])
            words = "behind" if margin >= 0 else "ahead of"
            assert result == f"{abs(margin):,} {words} the {seat} seat", where
