"""Driving the receipt check page in headless Chromium, and a proxy that lies for the ledger.

``CheckPage`` fills the page's form the way a voter does (typing, choosing a file, pressing the
button) and reads back the outcome cards it shows. ``Proxy`` stands between the page and a real
ledger and passes every request through, except the paths a test rewrites: the way a test shows
the page a tampered answer or a forked history.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from ledger.format import merkle
from ledger.format.canonical import canonical_bytes
from ledger.format.keys import Signer
from ledger.format.receipts import human_code

from ..browser import TIMEOUT, axe_violations, full_page_screenshot

READ_RESULTS = """
return [...document.querySelectorAll('#result-list article')].map((a) => ({
  outcome: a.dataset.outcome,
  title: a.querySelector('h3').innerText.trim(),
  what: a.querySelector('p.what') ? a.querySelector('p.what').textContent : null,
  text: a.innerText,
  steps: [...a.querySelectorAll('details li')].map((li) => li.textContent.trim()),
  evidence: a.querySelector('a.evidence') ? a.querySelector('a.evidence').download : null,
}));
"""

SIDEWAYS = "return document.documentElement.scrollWidth - document.documentElement.clientWidth;"
"""How far the page scrolls sideways, in CSS pixels (0: it fits its width)."""


@dataclass
class CheckPage:
    """The check page in one browser session."""

    session: WebDriver

    def open(self, url: str) -> None:
        self.session.get(url)
        WebDriverWait(self.session, TIMEOUT).until(
            lambda s: s.execute_script(
                "return document.readyState === 'complete' && "
                "document.documentElement.classList.contains('js')"
            )
        )

    def fill(self, field: str, text: str) -> None:
        box = self.session.find_element(By.ID, field)
        box.clear()
        if text:
            box.send_keys(text)

    def choose_file(self, path: Path) -> None:
        self.session.find_element(By.ID, "file").send_keys(str(path))

    def submit(self) -> list[dict[str, Any]]:
        """Press the button; the outcome cards once the check has finished."""
        self.session.execute_script("document.getElementById('status').textContent = '';")
        self.session.find_element(By.ID, "check").click()
        return self.wait_results()

    def wait_results(self) -> list[dict[str, Any]]:
        WebDriverWait(self.session, TIMEOUT).until(
            lambda s: s.execute_script(
                "return document.getElementById('status').textContent.startsWith('Check finished')"
            )
        )
        results: list[dict[str, Any]] = self.session.execute_script(READ_RESULTS)
        return results

    def check_code(self, election: str, code: str) -> list[dict[str, Any]]:
        self.fill("code", code)
        self.fill("election", election)
        return self.submit()

    def value(self, field: str) -> str:
        text: str = self.session.find_element(By.ID, field).get_attribute("value") or ""
        return text

    def check_code_refused(self, election: str, code: str) -> dict[str, str]:
        self.fill("code", code)
        self.fill("election", election)
        return self.submit_refused()

    def submit_refused(self) -> dict[str, str]:
        """Press the button on a form the page must refuse; its error summary."""
        self.session.find_element(By.ID, "check").click()
        return self.errors()

    def errors(self) -> dict[str, str]:
        """The error summary's links (field id -> message), after a refused submission."""
        WebDriverWait(self.session, TIMEOUT).until(
            lambda s: s.find_element(By.ID, "error-summary").is_displayed()
        )
        links: dict[str, str] = self.session.execute_script(
            "return Object.fromEntries([...document.querySelectorAll('#error-list a')]"
            ".map((a) => [a.getAttribute('href').slice(1), a.textContent]));"
        )
        return links

    def sideways(self) -> int:
        return int(self.session.execute_script(SIDEWAYS))

    def axe(self) -> list[dict[str, object]]:
        return axe_violations(self.session)

    def shot(self, path: Path) -> Path:
        return full_page_screenshot(self.session, path)

    def remembered(self) -> dict[str, Any]:
        value: dict[str, Any] = self.session.execute_script(
            "return JSON.parse(localStorage.getItem('ballot-check/v1/checkpoints') || '{}');"
        )
        return value


Rewrite = Callable[[web.Request, aiohttp.ClientSession], Awaitable[web.StreamResponse | None]]


class Proxy:
    """An HTTP server forwarding GETs to ``upstream``; ``rewrite`` may answer a request itself
    (it returns None to let it through)."""

    def __init__(self, upstream: str, rewrite: Rewrite) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite = rewrite
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.session: aiohttp.ClientSession | None = None

    async def forward(self, request: web.Request) -> tuple[int, str, bytes]:
        assert self.session is not None
        async with self.session.get(self.upstream + request.path_qs) as r:
            return r.status, r.headers.get("Content-Type", "text/plain"), await r.read()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self.session is not None
        own = await self.rewrite(request, self.session)
        if own is not None:
            own.headers["Access-Control-Allow-Origin"] = "*"
            return own
        status, content_type, body = await self.forward(request)
        return web.Response(
            status=status,
            body=body,
            headers={"Content-Type": content_type, "Access-Control-Allow-Origin": "*"},
        )

    async def __aenter__(self) -> Proxy:
        self.session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()


def json_response(value: Any) -> web.Response:
    return web.Response(text=json.dumps(value), content_type="application/json")


ACCEPTANCE_TAG = b"ballot-ledger/acceptance/v1\n"
ACCEPTANCE_BATCH_TAG = b"ballot-ledger/acceptance-batch/v1\n"


def acceptance_batch(
    signer: Signer,
    events: list[dict[str, Any]],
    *,
    origin: str,
    checkpoint: dict[str, Any],
    time: str = "2026-11-23T05:21:16.123456Z",
) -> list[dict[str, Any]]:
    """Acceptance receipts for ``events`` (all of election ``origin``'s log), built from issue
    14's contract alone: each message, the batch tree over their leaves in the order given, one
    signature over its root. Independent of the page's verifier and of the ledger's signer."""
    election = origin.rsplit("/", 1)[1]
    fields = [
        {
            "blind": hashlib.sha256(b"blind %d" % n).hexdigest(),
            "checkpoint": {"root": checkpoint["root"], "size": checkpoint["size"]},
            "contest": event["contest"],
            "election": election,
            "event_hash": hashlib.sha256(canonical_bytes(event)).hexdigest(),
            "origin": origin,
            "promise": "before poll_closed",
            "time": time,
        }
        for n, event in enumerate(events)
    ]
    tree = merkle.MemoryTree()
    tree.extend(merkle.leaf_hash(ACCEPTANCE_TAG + canonical_bytes(f)) for f in fields)
    signed = ACCEPTANCE_BATCH_TAG + canonical_bytes({"root": tree.root().hex(), "size": tree.size})
    signature = base64.b64encode(signer.sign(signed)).decode()
    return [
        {
            "stage": "accepted",
            **f,
            "key_id": signer.verifier.key_id_hex,
            "signature": signature,
            "code": human_code(bytes.fromhex(f["event_hash"])),
            "batch": {
                "size": tree.size,
                "position": n,
                "path": [p.hex() for p in tree.inclusion_proof(n)],
            },
            "event": events[n],
        }
        for n, f in enumerate(fields)
    ]
