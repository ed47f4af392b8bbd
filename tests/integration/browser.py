"""Headless Chromium for tests that look at a page the way a browser renders it.

Chromium and its driver come from the system (Debian's ``chromium`` and ``chromium-driver``);
``.ci/run`` installs them when they are missing. Selenium drives the system chromedriver through
a ``Service`` with its path, so Selenium Manager never runs and nothing is downloaded.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
)
MISSING = (
    "headless Chromium is needed to render the results page and was not found on PATH "
    "({what}): install it with `apt-get install -y chromium chromium-driver` "
    "(.ci/run does so when they are missing)"
)
TIMEOUT = 120.0
"""Seconds a page load or a wait for an element may take before the test fails."""


def artifacts_dir() -> Path:
    """Where screenshots are kept: ``$ARTIFACTS_DIR`` if set, else ``tests/artifacts/``."""
    path = Path(os.environ.get("ARTIFACTS_DIR") or Path(__file__).parents[1] / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def require_chromium() -> tuple[str, str]:
    """The paths of Chromium and chromedriver; the test fails (never skips) without them."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    if browser is None or driver is None:
        pytest.fail(MISSING.format(what=", ".join(missing)), pytrace=False)
    return browser, driver


@contextmanager
def chromium() -> Iterator[WebDriver]:
    """A headless Chromium on a fresh profile, quit on exit."""
    browser, driver = require_chromium()
    with tempfile.TemporaryDirectory(
        prefix="ballot-chromium-", ignore_cleanup_errors=True
    ) as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        session = webdriver.Chrome(service=Service(driver), options=options)
        try:
            session.set_page_load_timeout(TIMEOUT)
            session.set_script_timeout(TIMEOUT)
            yield session
        finally:
            session.quit()


def wait_loaded(session: WebDriver) -> None:
    """Until the page shown has loaded (``document.readyState`` is "complete")."""
    WebDriverWait(session, TIMEOUT).until(
        lambda s: s.execute_script("return document.readyState") == "complete"
    )


def load(session: WebDriver, url: str) -> None:
    """Open ``url`` and wait until it has loaded."""
    session.get(url)
    wait_loaded(session)


def set_viewport(session: WebDriver, width: int, height: int) -> None:
    """Make the viewport exactly ``width`` x ``height`` CSS pixels (a phone's when narrow)."""
    session.set_window_size(width, height)
    session.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def full_page_screenshot(session: WebDriver, path: Path) -> Path:
    """The whole page, beyond the viewport in both directions, as a PNG at ``path``."""
    size = session.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = session.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


AXE = Path(__file__).parents[1] / "browser-deps" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core from the npm registry (tests/browser-deps/package.json; `make test` installs it)."""


def axe_violations(session: WebDriver) -> list[dict[str, object]]:
    """Run axe-core (WCAG 2.x A and AA rules) on the page ``session`` shows; its violations,
    each with its rule id, impact, help text and the selectors of the nodes at fault. The test
    fails (never skips) when axe-core is not installed."""
    if not AXE.exists():
        pytest.fail(
            f"axe-core is missing ({AXE}): run `npm ci --prefix tests/browser-deps` "
            "(`make test` does so)",
            pytrace=False,
        )
    session.execute_script(AXE.read_text(encoding="utf-8"))
    result = session.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    assert isinstance(result, list)
    return result
