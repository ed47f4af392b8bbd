"""The receipt check page in headless Chromium, against a real ledger (its own PostgreSQL).

A voter casts a real ballot; the page, served by the ledger at ``/check`` or opened from a
saved file, verifies the receipt in the browser (typed code, and the receipt file) at 1280 and
390 CSS pixels, with axe-core finding nothing. Through a proxy that rewrites the ledger's
answers it must notice a tampered checkpoint and a tampered entry; after a forked view it must
report a split view. Screenshots go to the artefacts folder (``tests/artifacts/``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ledger.format import merkle
from ledger.format.checkpoint import Checkpoint, sign_checkpoint

from ..browser import artifacts_dir, chromium, require_chromium, set_viewport
from ..conftest import AUTH_FRONTEND, SIGNER, AppClient, paper, setup_election
from .checkpage import CheckPage, Proxy, json_response

EID = "nec-2026"
VIEWPORTS = ((1280, 900), (390, 844))
STATIC = Path(__file__).parents[3] / "ledger" / "http" / "static"


async def cast(client: AppClient, voter: str, **selections: list[str]) -> dict[str, Any]:
    """Cast one voter's ballot; the ledger's whole answer (its receipts by contest)."""
    r = await client.post(
        f"/v1/elections/{EID}/ballots", json=paper(voter, **selections), headers=AUTH_FRONTEND
    )
    assert r.status == 201, await r.text()
    answer: dict[str, Any] = await r.json()
    return answer


async def sign_now(client: AppClient) -> None:
    """Make the ledger sign a checkpoint at its current size (the export does so first)."""
    r = await client.get(f"/v1/elections/{EID}/export")
    assert r.status == 200, await r.text()
    await r.read()


async def voted(client: AppClient) -> dict[str, Any]:
    """A real election with one member's ballot in two contests, covered by a checkpoint."""
    await setup_election(client, EID)
    answer = await cast(client, "v001", members=["ann", "cat", "bob"], youth=["yvo"])
    await sign_now(client)
    return answer


def _shots() -> Path:
    return artifacts_dir()


async def test_check_page_verifies_a_typed_code_and_a_receipt_file_wide_and_narrow(
    client: AppClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 1280 and 390 px, the page served by the ledger verifies a cast receipt from its typed
    code and from the cast answer's file (both contests), says "In the log and unchanged", fits
    the width, and axe-core finds no violation on the form, its errors or the results."""
    require_chromium()
    answer = await voted(client)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(answer))
    code = answer["receipts"]["members"]["code"]
    url = str(client.make_url("/check"))

    def look() -> dict[int, dict[str, Any]]:
        seen: dict[int, dict[str, Any]] = {}
        with chromium() as session:
            page = CheckPage(session)
            for width, height in VIEWPORTS:
                set_viewport(session, width, height)
                page.open(url)
                got: dict[str, Any] = {"axe": {"form": page.axe()}}
                got["errors"] = page.submit_refused()
                got["axe"]["errors"] = page.axe()
                page.shot(_shots() / f"check-page-errors-{width}.png")
                page.open(url)
                got["typed"] = page.check_code(EID, code.lower().replace("-", " "))
                got["axe"]["typed"] = page.axe()
                got["sideways"] = page.sideways()
                got["shot_typed"] = page.shot(_shots() / f"check-page-code-{width}.png")
                page.open(url)
                page.choose_file(receipt_file)
                got["file"] = page.submit()
                got["axe"]["file"] = page.axe()
                got["sideways_file"] = page.sideways()
                got["shot_file"] = page.shot(_shots() / f"check-page-file-{width}.png")
                got["remembered"] = page.remembered()
                seen[width] = got
        return seen

    seen = await asyncio.to_thread(look)
    with capsys.disabled():
        for got in seen.values():
            print(f"\ncheck page screenshots: {got['shot_typed']} {got['shot_file']}")
    for width, got in seen.items():
        assert got["axe"] == {"form": [], "errors": [], "typed": [], "file": []}, width
        assert got["errors"] == {"code": "Enter your receipt code, or open your receipt file"}
        (typed,) = got["typed"]
        assert typed["outcome"] == "released", (width, typed)
        assert typed["title"] == "In the log and unchanged"
        assert code in typed["text"]
        assert [r["outcome"] for r in got["file"]] == ["released", "released"], got["file"]
        assert {r["what"] for r in got["file"]} == {
            f"Contest {c}, code {answer['receipts'][c]['code']}" for c in ("members", "youth")
        }
        assert any("signed by the ledger's key" in s for s in got["file"][0]["steps"])
        assert got["sideways"] == 0 and got["sideways_file"] == 0, width
        (origin,) = got["remembered"]
        assert origin.endswith(f"/elections/{EID}")
