"""The counter's results page as headless Chromium renders it, wide and phone-narrow.

A whole election (test_counter_flow's: an STV contest of many rounds, a bloc contest, a small
STV contest) is run, counted and declared; the page is then loaded at 1280 and 390 CSS pixels,
read back from the rendered DOM, compared with the counter's JSON results, and kept as full-page
screenshots in the artefacts folder (``$ARTIFACTS_DIR``, else ``tests/artifacts/``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from ledger.runtime.settings import Settings

from ..browser import (
    TIMEOUT,
    artifacts_dir,
    chromium,
    full_page_screenshot,
    require_chromium,
    set_viewport,
)
from ..conftest import AUTH_ADMIN
from .test_counter_flow import (
    DEFINITION,
    EID,
    _cast,
    _run_election,
    ledger_and_counter,
    wait_declared,
)

VIEWPORTS = ((1280, 900), (390, 844))

READ_PAGE = """
const text = (e) => (e ? e.innerText.trim() : null);
const out = {};
for (const s of document.querySelectorAll('section[aria-labelledby^="contest-"]')) {
  out[s.getAttribute('aria-labelledby').slice('contest-'.length)] = {
    title: text(s.querySelector('h3')),
    summary: text(s.querySelector('p')),
    elected: [...s.querySelectorAll('ol > li')].map(text),
    tables: [...s.querySelectorAll('table')].map((t) => ({
      caption: text(t.caption),
      rows: [...t.tBodies[0].rows].map((r) => [...r.cells].map(text)),
    })),
  };
}
return out;
"""
"""The rendered text of each contest's section: what a reader sees, cell by cell."""


def _look(url: str, shots: Path) -> dict[tuple[int, int], tuple[dict[str, Any], Path]]:
    """Load the page at each viewport; the sections read back and a full-page screenshot."""
    seen = {}
    with chromium() as session:
        for width, height in VIEWPORTS:
            set_viewport(session, width, height)
            session.get(url)
            wait = WebDriverWait(session, TIMEOUT)
            wait.until(lambda s: s.execute_script("return document.readyState") == "complete")
            for contest in DEFINITION["contests"]:
                wait.until(
                    expected_conditions.visibility_of_element_located(
                        (By.CSS_SELECTOR, f'section[aria-labelledby="contest-{contest["id"]}"] ol')
                    )
                )
            sections = session.execute_script(READ_PAGE)
            path = full_page_screenshot(session, shots / f"results-page-{width}x{height}.png")
            seen[(width, height)] = (sections, path)
    return seen


def _stv_rows(round_: dict[str, Any]) -> list[list[str]]:
    """The rows a round's table must show: transfer, total and outcome per candidate."""
    transfers = round_.get("transfers", {})
    rows = [
        [
            name,
            transfers.get(name, ""),
            tally,
            "elected"
            if name in round_.get("elected", [])
            else "excluded"
            if name in round_.get("excluded", [])
            else "",
        ]
        for name, tally in round_["tallies"].items()
    ]
    return [*rows, ["Exhausted", "", str(round_["exhausted"]), ""]]


async def test_results_page_renders_in_headless_chromium_wide_and_narrow(
    settings: Settings,
    fresh_database: Any,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """At 1280 and 390 px the page shows each contest's elected names in order, its quota, and
    every round's table cell for cell as the counter's JSON result has them."""
    require_chromium()  # before the election: a missing browser fails at once
    ledger, counter = await ledger_and_counter(settings, fresh_database, aiohttp_client, tmp_path)
    await _run_election(ledger)
    await _cast(ledger)
    r = await ledger.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    await wait_declared(counter)
    body = await (await counter.get(f"/v1/elections/{EID}/results")).json()
    results = {r["contest"]: r["result"] for r in body["results"]}
    assert len(results["members"]["rounds"]) >= 3  # an STV count of several rounds
    assert results["branches"]["rule"] == "bloc"

    url = str(counter.make_url(f"/elections/{EID}"))
    seen = await asyncio.to_thread(_look, url, artifacts_dir())

    with capsys.disabled():
        for _, path in seen.values():
            print(f"\nresults page screenshot: {path}")
    for (width, _), (sections, path) in seen.items():
        assert path.stat().st_size > 0
        for contest in DEFINITION["contests"]:
            doc, shown = results[contest["id"]], sections[contest["id"]]
            where = f"{contest['id']} at {width} px"
            assert shown["title"] == contest["title"], where
            assert shown["elected"] == doc["elected"], where
            assert f"{doc['valid_ballots']} valid ballots" in shown["summary"], where
            if doc["rule"] == "bloc":
                (table,) = shown["tables"]
                votes = {row[0]: row[1] for row in table["rows"]}
                assert votes == doc["rounds"][0]["tallies"], where
                marked = [row[0] for row in table["rows"] if row[3] == "elected"]
                assert sorted(marked) == sorted(doc["elected"]), where
                continue
            assert f"quota {doc['quota']}." in shown["summary"], where
            assert len(shown["tables"]) == len(doc["rounds"]), where
            for table, round_ in zip(shown["tables"], doc["rounds"], strict=True):
                assert table["caption"].startswith(f"Round {round_['round']}: "), where
                assert table["rows"] == _stv_rows(round_), f"{where}, round {round_['round']}"
