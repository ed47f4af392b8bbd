"""An election against its predecessor, as headless Chromium renders it, wide and phone-narrow.

Two elections run on one ledger (``nec-2024``, then ``nec-2026`` naming it as predecessor);
the later one's overview and contest pages are loaded at 1280 and 390 CSS pixels and read back
from the rendered DOM: the results, nominations and turnout tables each carry last time's
figures and the change, cell for cell as the counter's ``/comparison`` JSON says; no page
scrolls sideways; axe-core finds no violation; screenshots are kept as artefacts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

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
from ..conftest import definition
from .test_counter_flow import ledger_and_counter
from .test_declare_returns import _papers, _run
from .test_results_page_browser import WIDTHS

VIEWPORTS = ((1280, 900), (390, 844))

READ_TABLES = """
const text = (e) => (e ? e.innerText.trim() : null);
return [...document.querySelectorAll('table')].map((t) => ({
  caption: text(t.caption),
  head: [...(t.tHead ? t.tHead.rows[0].cells : [])].map(text),
  rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map(text)),
}));
"""
"""Every table of the page: caption, column heads, body cells as rendered."""


def _look(base: str, shots: Path) -> dict[str, Any]:
    """The overview and both contest pages at each width: tables, widths, axe, screenshot."""
    seen: dict[str, Any] = {}
    pages = {
        "overview": "/elections/nec-2026",
        "members": "/elections/nec-2026/contests/members",
        "youth": "/elections/nec-2026/contests/youth",
        "turnout": "/elections/nec-2026/turnout",
        "nominations": "/elections/nec-2026/nominations",
    }
    with chromium() as session:
        for width, height in VIEWPORTS:
            set_viewport(session, width, height)
            for key, path in pages.items():
                load(session, base + path)
                seen[f"{key}@{width}"] = {
                    "tables": session.execute_script(READ_TABLES),
                    "widths": session.execute_script(WIDTHS),
                    "axe": axe_violations(session),
                    "shot": full_page_screenshot(
                        session, shots / f"against-{key}-{width}x{height}.png"
                    ),
                }
    return seen


def _table(tables: list[dict[str, Any]], caption_start: str) -> dict[str, Any]:
    found = [t for t in tables if (t["caption"] or "").startswith(caption_start)]
    assert len(found) == 1, (caption_start, [t["caption"] for t in tables])
    return found[0]


def _count(n: Any) -> str:
    return "" if n is None else f"{n:,}"


async def test_results_nominations_and_turnout_tables_show_last_time_in_chromium(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
) -> None:
    """With a predecessor, each results table (overview and contest page) shows every
    candidate's place, share and nominations now and last time with the change in words;
    each nominations table last time's nominations and the change; the turnout tables the
    section's and each region's eligible, voted and turnout % against last time; as the
    comparison JSON says, at 1280 and 390 px, without sideways scroll or axe violations; the
    turnout and nominations pages carry the same tables."""
    require_chromium()
    ledger, counter = await ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)
    before = _papers(["yan", "yan", "yvo"], [["ann", "bob"], ["bob"], ["cat", "ann"]] * 3)
    now = _papers(["yvo", "yvo", "yan"], [["cat", "bob"], ["cat"], ["ann", "cat"]] * 4)
    await _run(ledger, counter, "nec-2024", definition(title="NEC 2024"), before)
    doc = definition(title="NEC 2026", predecessor={"election": "nec-2024"})
    await _run(ledger, counter, "nec-2026", doc, now)
    against = (await (await counter.get("/v1/elections/nec-2026/comparison")).json())["against"]
    assert against["title"] == "NEC 2024"
    base = str(counter.make_url("")).rstrip("/")
    seen = await asyncio.to_thread(_look, base, artifacts_dir())

    titles = {c["id"]: c["title"] for c in doc["contests"]}
    for width, _ in VIEWPORTS:
        for key in ("overview", "members", "youth", "turnout", "nominations"):
            look = seen[f"{key}@{width}"]
            where = f"{key} at {width} px"
            assert look["axe"] == [], where
            scroll, inner = look["widths"]
            assert scroll <= inner, f"{where}: the page scrolls sideways ({scroll} > {inner})"
            if key in ("turnout", "nominations"):
                continue  # their tables are the overview's, checked below on both
            for cid in ("members", "youth") if key == "overview" else (key,):
                table = _table(look["tables"], f"{titles[cid]} against NEC 2024")
                assert table["head"][4:] == [
                    "Last time: place",
                    "Last time: share",
                    "Last time: nominations",
                    "Change",
                ], where
                expected = []
                for r in against["contests"][cid]["candidates"]:
                    old = r["previous"] or {}
                    expected.append(
                        [
                            r["name"],
                            ordinal(r["place"]) if r["place"] else "",
                            r["percent"] or "",
                            _count(r["nominations"]),
                            ordinal(old["place"]) if old.get("place") else "",
                            old.get("percent") or "",
                            _count(old.get("nominations")),
                            r["change"],
                        ]
                    )
                assert table["rows"] == expected, where
        tables = seen[f"overview@{width}"]["tables"]
        youth = _table(tables, "Youth seat against NEC 2024")
        assert youth["rows"][1][:7] == ["Yvonne Yu", "1st", "66.7%", "2", "2nd", "33.3%", "2"]
        assert youth["rows"][1][7] == "up 33.4% to 66.7%, one place up to 1st"

        assert seen[f"nominations@{width}"]["tables"] == [
            t
            for t in tables
            if "nominating bodies" in (t["caption"] or "") or "per slate" in t["caption"]
        ]
        assert seen[f"turnout@{width}"]["tables"] == [
            t for t in tables if "urnout by" in (t["caption"] or "")
        ]
        for cid in ("members", "youth"):
            c = against["contests"][cid]
            nominations = _table(tables, f"{titles[cid]}: {c['bodies']} nominating bodies")
            assert nominations["head"][-2:] == ["Last time", "Change"], width
            then = {r["name"]: r for r in against["contests"][cid]["candidates"]}
            for row in nominations["rows"]:
                r = then[row[0]]
                assert row[-2:] == [_count(r["previous"]["nominations"]), r["nominations_change"]]
            assert (
                f"against {c['previous_nominations']} nominations from "
                f"{c['previous_bodies']} bodies in NEC 2024" in nominations["caption"]
            )

        sections = _table(tables, "Turnout by section")
        assert sections["head"][-2:] == ["Last time: turnout %", "Change"]
        for row, cid in zip(sections["rows"], ("members", "youth"), strict=True):
            t = against["turnout"][cid]
            assert row[0] == titles[cid]
            assert row[-2:] == [t["previous_percent"].removesuffix("%"), t["change"]]
            assert t["change"].endswith(f"to {t['percent']}") or t["change"].startswith("unch")

        region = _table(tables, "Members' section: turnout by region, against NEC 2024")
        assert region["head"] == [
            "Region",
            "Eligible",
            "Voted",
            "Turnout %",
            "Share of the section's voters %",
            "Last time: voted",
            "Last time: turnout %",
            "Change",
        ]
        rows = against["turnout"]["members"]["by"]["region"]
        assert [row[0] for row in region["rows"]] == [r["value"] for r in rows]
        for row, r in zip(region["rows"], rows, strict=True):
            assert r["eligible"] == 20 and r["previous_eligible"] == 20  # 60 members, 3 regions
            assert row[1:4] == ["20", str(r["cast"]), r["percent"].removesuffix("%")]
            assert row[5:] == [
                str(r["previous"]),
                r["previous_percent"].removesuffix("%"),
                r["change"],
            ]
            assert r["change"]  # both elections show every region here
