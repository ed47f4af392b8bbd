"""The booth in headless Chromium, wide (1280 px) and phone-narrow (390 px): a member signs in
with a code, makes mistakes and corrects them, votes in a bloc and an STV contest, reviews,
casts, gets receipts, and follows each receipt's check link to the ledger's check page, which
verifies it in the browser: accepted and not yet released while the poll is open, in the log
and unchanged once the poll has closed. axe-core finds no violation on any page; no page
scrolls sideways; screenshots are kept (``$ARTIFACTS_DIR``, else ``tests/artifacts/``).

The test also prints what a member's way from code to receipt to verified receipt costs: the
pages loaded, the requests made and the time the browser spent on them (``-s`` shows it), for
docs/booth.md. It asserts nothing about speed. To measure it alone:

    .venv/bin/python -m pytest -s -p no:cacheprovider \
        tests/integration/booth/test_booth_browser.py -k checks_the_receipt
"""

from __future__ import annotations

import asyncio
import base64
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from booth.domain import codes

from ..browser import (
    TIMEOUT,
    artifacts_dir,
    axe_violations,
    chromium,
    full_page_screenshot,
    require_chromium,
    set_viewport,
    wait_loaded,
)
from ..ledger.checkpage import CheckPage
from .conftest import EID, OLD, YOUNG, Booth

VIEWPORTS = ((1280, 900, YOUNG), (390, 844, OLD))
COUNT_REQUESTS = (
    "return performance.getEntriesByType('navigation').length"
    " + performance.getEntriesByType('resource').filter(r => r.transferSize > 0).length"
)
"""Requests that went to the network for the page: the document and what was not cached."""
LOAD_TIME = (
    "const n = performance.getEntriesByType('navigation')[0];return n.loadEventEnd - n.startTime;"
)
MARK_VERDICT = """
new MutationObserver(() => {
  const status = document.getElementById('status');
  if (window.verdictAt === undefined && status
      && status.textContent.startsWith('Check finished')) {
    window.verdictAt = performance.now();
  }
}).observe(document, {childList: true, subtree: true, characterData: true});
"""
"""Run in every page before its own scripts: notes when the check page shows its verdict
(milliseconds from the start of its navigation), without the test's polling in the figure."""
VERDICT_TIME = "return window.verdictAt;"


@dataclass
class Seen:
    shots: list[Path] = field(default_factory=list)
    axe: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sideways: dict[str, int] = field(default_factory=dict)
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    checked: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    """The check page's outcome cards, by state ("accepted", "released") and contest."""
    pages: int = 0
    requests: int = 0
    load_ms: float = 0.0
    check_requests: int = 0
    check_ms: float = 0.0
    focus_outline: str = ""
    voted_again: str = ""


def _look(session: WebDriver, seen: Seen, name: str, width: int, height: int) -> None:
    """axe-core, the sideways-scroll check and a screenshot of the page shown."""
    wait_loaded(session)
    key = f"{name} at {width} px"
    seen.axe[key] = axe_violations(session)
    seen.sideways[key] = session.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    seen.shots.append(
        full_page_screenshot(session, artifacts_dir() / f"booth-{name}-{width}x{height}.png")
    )


def _count(session: WebDriver, seen: Seen) -> None:
    """Add the page just loaded to the member's tally of pages, requests and load time."""
    wait_loaded(session)
    seen.pages += 1
    seen.requests += session.execute_script(COUNT_REQUESTS)
    seen.load_ms += session.execute_script(LOAD_TIME)


def _submit(session: WebDriver, text: str) -> None:
    """Press Enter on the button labelled ``text`` (the keyboard, not the mouse)."""
    button = session.find_element(By.XPATH, f"//button[normalize-space()='{text}']")
    button.send_keys(Keys.ENTER)


def _walk(session: WebDriver, url: str, code: str, young: bool, width: int, height: int) -> Seen:
    """The member's way from code to receipt, then the first receipt's check link followed from
    the receipt page (its verdict counted in the way), then the other receipts' links, then a
    second sign-in."""
    seen = Seen()
    session.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": MARK_VERDICT})
    set_viewport(session, width, height)
    session.get(url)
    _look(session, seen, "sign-in", width, height)
    field_ = session.find_element(By.ID, "code")
    field_.send_keys(Keys.TAB)  # reach the field by keyboard, then see its focus
    field_.click()
    seen.focus_outline = session.execute_script(
        "return getComputedStyle(document.activeElement).outlineStyle"
    )
    field_.send_keys(codes.new_code())
    _submit(session, "Continue")
    _look(session, seen, "sign-in-error", width, height)

    # From here on, the member's way from code to receipt is counted (``_count``).
    session.find_element(By.ID, "code").clear()
    session.find_element(By.ID, "code").send_keys(code)
    _submit(session, "Continue")
    _count(session, seen)
    _look(session, seen, "ballot", width, height)

    # A mistake first: three trustees where up to two may be chosen, one rank of two.
    for cid in ("ursula-b", "tobias-h", "saoirse-d"):
        session.find_element(By.ID, f"bloc-trustees-{cid}").send_keys(Keys.SPACE)
    Select(session.find_element(By.ID, "rank-exec-xanthe-p")).select_by_value("1")
    _submit(session, "Review your choices")
    _count(session, seen)
    _look(session, seen, "ballot-errors", width, height)
    summary = session.find_element(By.CSS_SELECTOR, ".error-summary")
    assert "choose up to 2" in summary.text and "rank at least 2" in summary.text
    assert session.switch_to.active_element == summary  # focus moved to the summary

    session.find_element(By.ID, "bloc-trustees-tobias-h").send_keys(Keys.SPACE)
    Select(session.find_element(By.ID, "rank-exec-zarina-q")).select_by_value("2")
    Select(session.find_element(By.ID, "rank-exec-valda-m")).select_by_value("3")
    if young:
        session.find_element(By.ID, "bloc-youth-quenby-o").send_keys(Keys.SPACE)
    _submit(session, "Review your choices")
    _count(session, seen)
    _look(session, seen, "review", width, height)
    ranked = [
        li.text for li in session.find_elements(By.CSS_SELECTOR, ".review-row:first-child li")
    ]
    assert ranked == ["Xanthe Pemberton", "Zarina Quigley", "Valda Moncrieff"]

    _submit(session, "Cast my vote")
    _count(session, seen)
    _look(session, seen, "receipt", width, height)
    for item in session.find_elements(By.CSS_SELECTOR, "li.receipt"):
        contest = item.get_attribute("data-contest") or ""
        href = item.find_element(By.CSS_SELECTOR, "a[download]").get_attribute("href") or ""
        doc = json.loads(base64.b64decode(href.split(",", 1)[1]))
        assert item.find_element(By.CSS_SELECTOR, "[data-code]").text == doc["code"]
        seen.receipts[contest] = doc
        check = item.find_element(By.PARTIAL_LINK_TEXT, "Check this receipt")
        seen.links[contest] = check.get_attribute("href") or ""
    assert session.find_element(By.CSS_SELECTOR, "[data-print]").is_displayed()

    # The member follows the first receipt's check link: the way ends at its verdict.
    first = session.find_element(By.CSS_SELECTOR, "li.receipt")
    contest = first.get_attribute("data-contest") or ""
    first.find_element(By.PARTIAL_LINK_TEXT, "Check this receipt").send_keys(Keys.ENTER)
    WebDriverWait(session, TIMEOUT).until(lambda s: s.current_url == seen.links[contest])
    _checked(session, seen, "accepted", contest, width, height)
    seen.check_requests = session.execute_script(COUNT_REQUESTS)
    seen.check_ms = session.execute_script(VERDICT_TIME)
    _check_links(session, seen, "accepted", width, height, skip=contest)

    session.get(url)
    session.find_element(By.ID, "code").send_keys(code)
    _submit(session, "Continue")
    _look(session, seen, "voted-already", width, height)
    seen.voted_again = session.find_element(By.TAG_NAME, "main").text
    return seen


def _checked(
    session: WebDriver, seen: Seen, state: str, contest: str, width: int, height: int
) -> None:
    """The check page's verdict on the receipt its link named, then axe-core, the
    sideways-scroll check and a screenshot of it."""
    page = CheckPage(session)
    WebDriverWait(session, TIMEOUT).until(
        lambda s: s.execute_script("return document.documentElement.classList.contains('js')")
    )
    seen.checked.setdefault(state, {})[contest] = page.wait_results()
    _look(session, seen, f"check-{state}-{contest}", width, height)


def _check_links(
    session: WebDriver, seen: Seen, state: str, width: int, height: int, skip: str = ""
) -> None:
    """Open each receipt's check link (but ``skip``'s) and note the check page's verdict."""
    for contest, link in seen.links.items():
        if contest != skip:
            session.get(link)
            _checked(session, seen, state, contest, width, height)


async def test_a_member_votes_and_checks_the_receipt_in_headless_chromium_wide_and_narrow(
    booth: Booth, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 1280 and 390 px: sign in with a code, correct the mistakes the error summary
    names, rank an STV contest, tick a bloc contest, review, cast; the receipt page's codes
    are the downloadable receipts'; each receipt's check link opens the ledger's check page,
    which verifies it in the browser as "Accepted, not yet released" while the poll is open and
    "In the log and unchanged" once it has closed; every page passes axe-core and none
    scrolls sideways."""
    require_chromium()
    url = str(booth.client.make_url("/"))
    public = booth.settings.public_ledger
    walked: dict[int, tuple[WebDriver, Seen]] = {}
    with ExitStack() as browsers:
        for width, height, voter in VIEWPORTS:
            session = await asyncio.to_thread(browsers.enter_context, chromium())
            seen = await asyncio.to_thread(
                _walk, session, url, booth.codes[voter], voter == YOUNG, width, height
            )
            walked[width] = session, seen
        await booth.close_poll()  # every ballot released, and a checkpoint signed
        for width, height, _ in VIEWPORTS:
            session, seen = walked[width]
            await asyncio.to_thread(_check_links, session, seen, "released", width, height)

    for width, _, voter in VIEWPORTS:
        _, seen = walked[width]
        assert {k: v for k, v in seen.axe.items() if v} == {}
        assert {k: v for k, v in seen.sideways.items() if v > 0} == {}
        assert seen.focus_outline == "solid"
        contests = {"exec", "trustees", "youth"} if voter == YOUNG else {"exec", "trustees"}
        assert set(seen.receipts) == contests
        for contest, receipt in seen.receipts.items():
            assert seen.links[contest] == (f"{public}/check?code={receipt['code']}&election={EID}")
        for state, title in (
            ("accepted", "Accepted, not yet released"),
            ("released", "In the log and unchanged"),
        ):
            assert set(seen.checked[state]) == contests, state
            for contest, cards in seen.checked[state].items():
                (card,) = cards
                assert (card["outcome"], card["title"]) == (state, title), (width, contest, card)
                assert seen.receipts[contest]["code"] in card["text"]
        for contest, (card,) in seen.checked["released"].items():
            assert any("is your ballot" in step for step in card["steps"]), (contest, card)
        assert "You have already voted" in seen.voted_again
        assert all(p.stat().st_size > 0 for p in seen.shots)
        check_pages = [k for k in seen.axe if k.startswith("check-")]
        with capsys.disabled():
            print(
                f"\nbooth at {width} px: code to receipt in {seen.pages} pages, "
                f"{seen.requests} network requests, {seen.load_ms:.0f} ms of page loads "
                "(redirects after posts included); receipt to verified (the first check link "
                f"followed): 1 page, {seen.check_requests} network requests, "
                f"{seen.check_ms:.0f} ms to the verdict; code to verified: "
                f"{seen.load_ms + seen.check_ms:.0f} ms of browser time; "
                f"axe-core: {len(seen.axe)} page states ({len(check_pages)} of the check page), "
                f"{sum(len(v) for v in seen.axe.values())} violations"
            )
            for p in seen.shots:
                print(f"  screenshot: {p}")


def _walk_without_script(url: str, code: str) -> tuple[list[str], bool, str]:
    """The same way with JavaScript disabled in the browser: the pages' headings, whether the
    print button shows, and the receipt page's text."""
    headings: list[str] = []

    def next_heading(session: WebDriver) -> None:
        """Wait (without script) for the next page's heading, and note it."""
        previous = headings[-1] if headings else None

        def changed(s: WebDriver) -> str | bool:
            found = s.find_elements(By.TAG_NAME, "h1")
            text = found[0].text if found else ""
            return text if text and text != previous else False

        wait = WebDriverWait(session, TIMEOUT, ignored_exceptions=(StaleElementReferenceException,))
        headings.append(wait.until(changed))

    with chromium() as session:
        set_viewport(session, 390, 844)
        session.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        session.get(url)
        next_heading(session)
        session.find_element(By.ID, "code").send_keys(code)
        _submit(session, "Continue")
        next_heading(session)
        assert not session.find_element(By.CSS_SELECTOR, "[data-count]").is_displayed()
        session.find_element(By.ID, "bloc-trustees-tobias-h").send_keys(Keys.SPACE)
        Select(session.find_element(By.ID, "rank-exec-walter-f")).select_by_value("1")
        Select(session.find_element(By.ID, "rank-exec-yusuf-k")).select_by_value("2")
        _submit(session, "Review your choices")
        next_heading(session)
        _submit(session, "Cast my vote")
        next_heading(session)
        printable = session.find_element(By.CSS_SELECTOR, "[data-print]").is_displayed()
        full_page_screenshot(session, artifacts_dir() / "booth-receipt-no-script-390x844.png")
        return headings, printable, session.find_element(By.TAG_NAME, "main").text


async def test_a_member_votes_with_javascript_disabled_in_the_browser(booth: Booth) -> None:
    """With script execution off in Chromium the whole way works: sign-in, ballot, review,
    receipts; only the enhancements (the running count, the print button) are absent."""
    require_chromium()
    url = str(booth.client.make_url("/"))
    headings, printable, text = await asyncio.to_thread(_walk_without_script, url, booth.codes[OLD])
    assert headings == [
        "Sign in to vote",
        "National Executive 2026",
        "Check your choices",
        "Your vote has been cast",
    ]
    assert not printable
    assert "Executive committee" in text and "Trustees" in text and "Receipt code" in text
