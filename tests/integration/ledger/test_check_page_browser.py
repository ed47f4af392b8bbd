"""The receipt check page in headless Chromium, against a real ledger (its own PostgreSQL).

A voter casts a real ballot; the page, served by the ledger at ``/check`` or opened from a
saved file, verifies the receipt in the browser (typed code, and the receipt file) at 1280 and
390 CSS pixels, with axe-core finding nothing. Through a proxy that rewrites the ledger's
answers it must notice a tampered checkpoint and a tampered entry; after a forked view it must
report a split view. Screenshots go to the artefacts folder (``tests/artifacts/``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from ledger.format import merkle
from ledger.format.canonical import canonical_bytes
from ledger.format.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.format.keys import Keyring
from ledger.http.app import LEDGER

from ..browser import artifacts_dir, chromium, require_chromium, set_viewport
from ..conftest import (
    AUTH_ADMIN,
    AUTH_FRONTEND,
    SIGNER,
    AppClient,
    close_poll,
    definition,
    paper,
    setup_election,
)
from .checkpage import CheckPage, Proxy, acceptance_batch, json_response

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
    """Make the ledger sign a checkpoint at its current size."""
    await client.app[LEDGER].checkpoint(EID, "test")


async def voted(client: AppClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A real election whose poll has closed with two members' ballots (two contests each), all
    released at the close and covered by a checkpoint: the first member's cast answer (its
    acceptance receipts) and the v1 receipt of the administrative event poll_opened."""
    await setup_election(client, EID, open_poll=False)
    r = await client.post(f"/v1/elections/{EID}/poll/open", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    opened: dict[str, Any] = await r.json()
    answer = await cast(client, "v001", members=["ann", "cat", "bob"], youth=["yvo"])
    await cast(client, "v002", members=["dan", "eve"], youth=["yan"])
    await close_poll(client, EID)
    await sign_now(client)
    return answer, opened


async def released_and_pending(client: AppClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """An open poll with rounds of K = 1: two members' ballots accepted, one round released
    (one ballot of the two, drawn at random), a checkpoint signed: the released receipt and
    the one still pending."""
    await setup_election(client, EID, definition(round_size=1))
    first = (await cast(client, "v001", members=["ann", "cat"]))["receipts"]["members"]
    second = (await cast(client, "v002", members=["dan"]))["receipts"]["members"]
    assert await client.app[LEDGER].release_all() == 1
    await sign_now(client)
    status = {}
    for receipt in (first, second):
        r = await client.get(f"/v1/elections/{EID}/receipts/{receipt['code']}")
        status[receipt["code"]] = (await r.json())["status"]
    released = first if status[first["code"]] == "released" else second
    pending = second if released is first else first
    assert (status[released["code"]], status[pending["code"]]) == ("released", "accepted")
    return released, pending


def _shots() -> Path:
    return artifacts_dir()


async def test_check_page_verifies_a_typed_code_and_a_receipt_file_wide_and_narrow(
    client: AppClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 1280 and 390 px, the page served by the ledger verifies a released ballot's
    acceptance receipt from its typed code and from the cast answer's file (both contests), and
    a v1 receipt (an administrative event's) from its code and its file: each "In the log and
    unchanged"; it fits the width, and axe-core finds no violation on the form, its errors or
    the results."""
    require_chromium()
    answer, opened = await voted(client)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(answer))
    v1_file = tmp_path / "poll-opened-receipt.json"
    v1_file.write_text(json.dumps(opened))
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
                page.open(url)
                got["v1_code"] = page.check_code(EID, opened["receipt"]["code"])
                page.open(url)
                page.choose_file(v1_file)
                got["v1_file"] = page.submit()
                got["axe"]["v1"] = page.axe()
                seen[width] = got
        return seen

    seen = await asyncio.to_thread(look)
    with capsys.disabled():
        for got in seen.values():
            print(f"\ncheck page screenshots: {got['shot_typed']} {got['shot_file']}")
    for width, got in seen.items():
        assert got["axe"] == {"form": [], "errors": [], "typed": [], "file": [], "v1": []}
        assert got["errors"] == {"code": "Enter your receipt code, or open your receipt file"}
        (typed,) = got["typed"]
        assert typed["outcome"] == "released", (width, typed)
        assert typed["title"] == "In the log and unchanged"
        assert code in typed["text"]
        assert any("is your ballot" in s for s in typed["steps"]), typed["steps"]
        assert [r["outcome"] for r in got["file"]] == ["released", "released"], got["file"]
        assert {r["what"] for r in got["file"]} == {
            f"Contest {c}, code {answer['receipts'][c]['code']}" for c in ("members", "youth")
        }
        for result in got["file"]:
            assert any("signed by the ledger's key" in s for s in result["steps"])
            assert any("is your ballot" in s for s in result["steps"]), result["steps"]
        for result in got["v1_code"] + got["v1_file"]:
            assert result["outcome"] == "released", result
            assert opened["receipt"]["code"] in result["what"]
        assert any("poll opened" in s for s in got["v1_file"][0]["steps"])
        assert got["sideways"] == 0 and got["sideways_file"] == 0, width
        (origin,) = got["remembered"]
        assert origin.endswith(f"/elections/{EID}")


def _tamper_checkpoint(note: str) -> str:
    """The note with another root, its signature left as it was."""
    lines = note.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    return "\n".join(lines)


def _tamper_ballot(text: str) -> str:
    """The entry with one hex digit of its commitment changed (still canonical JSON)."""
    entry = json.loads(text)
    digest = entry["event"]["commitment"]
    entry["event"]["commitment"] = ("0" if digest[0] != "0" else "1") + digest[1:]
    return canonical_bytes(entry).decode()


def _tamper_time(text: str) -> str:
    """The entry a millisecond later (still canonical JSON)."""
    entry = json.loads(text)
    ms = int(entry["time"][-4:-1])
    entry["time"] = f"{entry['time'][:-4]}{(ms + 1) % 1000:03d}Z"
    return canonical_bytes(entry).decode()


async def test_check_page_detects_a_tampered_checkpoint_and_a_tampered_entry(
    client: AppClient, tmp_path: Path
) -> None:
    """Through a proxy that changes the checkpoint's root (signature kept), or a ballot's entry
    (with the leaf hash recomputed to match) or an administrative entry, the page says "This
    receipt does not check out", for a typed code and for the files, and names what failed: the
    checkpoint's signature, the entry that is not the voter's ballot, the entry that is not the
    v1 receipt's; the contest whose entry was left alone still checks."""
    require_chromium()
    answer, opened = await voted(client)
    receipt = answer["receipts"]["members"]
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(answer))
    v1_file = tmp_path / "poll-opened-receipt.json"
    v1_file.write_text(json.dumps(opened))
    base = f"/v1/elections/{EID}"

    async def bad_checkpoint(request: web.Request, _: Any) -> web.StreamResponse | None:
        if request.path != f"{base}/checkpoint":
            return None
        note = await (await client.get(request.path)).text()
        return web.Response(text=_tamper_checkpoint(note), content_type="text/plain")

    async def bad_entry(request: web.Request, _: Any) -> web.StreamResponse | None:
        if request.path == f"{base}/receipts/{receipt['code']}":
            found = await (await client.get(request.path)).json()
            found["entry"] = _tamper_ballot(found["entry"])
            found["leaf_hash"] = merkle.leaf_hash(found["entry"].encode()).hex()
            return json_response(found)
        if request.path == f"{base}/entries":
            page = await (await client.get(request.path_qs)).json()
            for item in page["entries"]:
                if item["index"] == opened["receipt"]["index"]:
                    item["entry"] = _tamper_time(item["entry"])
            return json_response(page)
        return None

    async with (
        Proxy(str(client.make_url("")), bad_checkpoint) as cp_proxy,
        Proxy(str(client.make_url("")), bad_entry) as entry_proxy,
    ):

        def look() -> dict[str, Any]:
            seen: dict[str, Any] = {}
            with chromium() as session:
                page = CheckPage(session)
                set_viewport(session, 390, 844)
                for name, proxy in (("checkpoint", cp_proxy), ("entry", entry_proxy)):
                    url = str(client.make_url("/check")) + "?ledger=" + proxy.url
                    page.open(url)
                    seen[f"{name}-code"] = page.check_code(EID, receipt["code"])
                    page.shot(_shots() / f"check-page-tampered-{name}-390.png")
                    page.open(url)
                    page.choose_file(receipt_file)
                    seen[f"{name}-file"] = page.submit()
                    seen[f"axe-{name}"] = page.axe()
                    page.open(url)
                    page.choose_file(v1_file)
                    seen[f"{name}-v1"] = page.submit()
            return seen

        seen = await asyncio.to_thread(look)
    assert seen["axe-checkpoint"] == [] and seen["axe-entry"] == []
    for key in ("checkpoint-code", "checkpoint-file", "checkpoint-v1"):
        for result in seen[key]:
            assert result["outcome"] == "failed", (key, result)
            assert result["title"] == "This receipt does not check out"
            assert "the checkpoint's signature does not verify" in result["text"], key
    not_yours = "the entry the ledger gives is not your ballot (its event hash differs)"
    (by_code,) = seen["entry-code"]
    assert by_code["outcome"] == "failed"
    assert not_yours in by_code["text"]
    members, youth = sorted(seen["entry-file"], key=lambda r: r["what"])
    assert members["outcome"] == "failed", members
    assert not_yours in members["text"]
    assert youth["outcome"] == "released"  # the other contest's entry was left alone
    (v1,) = seen["entry-v1"]
    assert v1["outcome"] == "failed", v1
    assert "the entry at the receipt's index is another one" in v1["text"]


async def test_check_page_detects_a_split_view_against_a_remembered_checkpoint(
    client: AppClient,
) -> None:
    """A browser shown a forked log (a signed checkpoint with an extra entry that the real log
    never had) remembers it; checking the same released ballot's code at the real ledger after
    another round grew the log then reports "Split view detected", with the two checkpoints as
    evidence to download."""
    require_chromium()
    released, _ = await released_and_pending(client)
    code = released["code"]
    base = f"/v1/elections/{EID}"
    found = await (await client.get(f"{base}/receipts/{code}")).json()
    real_note = await (await client.get(f"{base}/checkpoint")).text()
    origin, size_text = real_note.split("\n")[:2]
    size = int(size_text)
    page = await (await client.get(f"{base}/entries", params={"limit": str(size)})).json()
    texts = [item["entry"] for item in page["entries"]]
    forged = json.loads(texts[found["index"]])
    forged["index"] = size
    forged["event"]["commitment"] = "ab" * 32
    texts.append(canonical_bytes(forged).decode())
    fork = merkle.MemoryTree()
    fork.extend(merkle.leaf_hash(t.encode()) for t in texts)
    fork_note = sign_checkpoint(
        Checkpoint(origin=origin, size=fork.size, root=fork.root()), [SIGNER]
    ).note

    async def forked(request: web.Request, _: Any) -> web.StreamResponse | None:
        q = request.query
        if request.path == f"{base}/checkpoint":
            return web.Response(text=fork_note, content_type="text/plain")
        if request.path == f"{base}/proofs/inclusion":
            index = int(q["index"])
            proof = fork.inclusion_proof(index, int(q["size"]))
            return json_response({"index": index, "proof": [p.hex() for p in proof]})
        if request.path == f"{base}/proofs/consistency":
            proof = fork.consistency_proof(int(q["old"]), int(q["new"]))
            return json_response({"proof": [p.hex() for p in proof]})
        return None

    async with Proxy(str(client.make_url("")), forked) as proxy:

        def shown_the_fork() -> tuple[list[dict[str, Any]], dict[str, Any]]:
            with chromium() as session:
                page = CheckPage(session)
                set_viewport(session, 1280, 900)
                page.open(str(client.make_url("/check")) + "?ledger=" + proxy.url)
                first = page.check_code(EID, code)
                remembered = page.remembered()
                await_real = asyncio.run_coroutine_threadsafe(grow_real_log(), loop)
                await_real.result()
                page.open(str(client.make_url("/check")))
                second = page.check_code(EID, code)
                page.shot(_shots() / "check-page-split-view-1280.png")
                violations = page.axe()
                set_viewport(session, 390, 844)
                page.shot(_shots() / "check-page-split-view-390.png")
                assert page.sideways() == 0
            return first + second, {"remembered": remembered, "axe": violations}

        async def grow_real_log() -> None:
            await cast(client, "v003", members=["dan", "eve"])
            await cast(client, "v004", members=["eve"])
            assert await client.app[LEDGER].release_all() == 2  # all but K = 1 of 3
            await sign_now(client)

        loop = asyncio.get_running_loop()
        (first, second), seen = await asyncio.to_thread(shown_the_fork)
    assert first["outcome"] == "released", first  # the fork alone looks like a fine log
    assert seen["remembered"][origin]["size"] == size + 1
    assert seen["remembered"][origin]["root"] == fork.root().hex()
    assert second["outcome"] == "split-view", second
    assert second["title"] == "Split view detected"
    assert second["evidence"] == "split-view-evidence.json"
    assert seen["axe"] == []


async def test_check_page_saved_to_disk_works_from_a_file_url(
    client: AppClient, tmp_path: Path
) -> None:
    """The page's three files saved to a folder and opened from file:// ask for the ledger's
    address, verify a typed code against it ("In the log and unchanged"), and remember the
    address when opened again; axe-core finds nothing there either."""
    require_chromium()
    answer, _ = await voted(client)
    code = answer["receipts"]["youth"]["code"]
    saved = tmp_path / "saved"
    saved.mkdir()
    for name in ("check.html", "check.js", "check-verify.js", "check.css"):
        shutil.copy(STATIC / name, saved / name)
    ledger = str(client.make_url("")).rstrip("/")

    def look() -> dict[str, Any]:
        with chromium() as session:
            page = CheckPage(session)
            set_viewport(session, 390, 844)
            page.open((saved / "check.html").as_uri())
            got: dict[str, Any] = {"asked": page.value("ledger")}
            got["refused"] = page.check_code_refused(EID, code)
            page.fill("ledger", ledger)
            got["results"] = page.submit()
            got["axe"] = page.axe()
            got["sideways"] = page.sideways()
            page.shot(_shots() / "check-page-file-url-390.png")
            page.open((saved / "check.html").as_uri())
            got["remembered"] = page.value("ledger")
            return got

    got = await asyncio.to_thread(look)
    assert got["asked"] == ""
    assert got["refused"] == {"ledger": "Enter the ledger's address"}
    (result,) = got["results"]
    assert result["outcome"] == "released", result
    assert got["axe"] == [] and got["sideways"] == 0
    assert got["remembered"] == ledger


READ_EVIDENCE = """
const done = arguments[arguments.length - 1];
fetch(document.querySelector('a.evidence').href)
  .then((r) => r.json())
  .then(done, (e) => done(String(e)));
"""


async def test_check_page_on_acceptance_receipts_released_accepted_and_a_broken_promise(
    client: AppClient, tmp_path: Path
) -> None:
    """Real acceptance receipts (issue 14), poll open with rounds of K = 1: the released ballot
    reads "In the log and unchanged", the pending one "Accepted, not yet released" (file and
    typed code), and "In the log and unchanged" once the close has released it. A receipt the
    ledger's key signed over a checkpoint the log does not extend reads "Split view detected";
    one it signed for a ballot it never released reads, after the close, "A broken promise",
    whose evidence file holds the receipt, the key, the checkpoint covering poll_closed and
    every entry, which rebuild that root and the receipt's, without the ballot."""
    require_chromium()
    released, pending = await released_and_pending(client)
    base = f"/v1/elections/{EID}"
    keyring = Keyring([SIGNER.verifier])
    held = open_checkpoint(await (await client.get(f"{base}/checkpoint")).text(), keyring)
    (promised,) = acceptance_batch(  # signed by the ledger's key (the tests' SIGNER)
        SIGNER,
        [{"contest": "members", "commitment": "cd" * 32}],
        origin=held.origin,
        checkpoint={"size": held.size, "root": held.root.hex()},
    )
    forked = acceptance_batch(
        SIGNER,
        [{"contest": "members", "commitment": "ef" * 32}],
        origin=held.origin,
        checkpoint={"size": held.size, "root": hashlib.sha256(b"another history").hexdigest()},
    )[0]
    files = {}
    for name, value in (
        ("released", released),
        ("pending", {"submission_id": "s-1", "receipts": {"members": pending}}),
        ("promised", promised),
        ("forked", forked),
    ):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(value))
    url = str(client.make_url("/check"))

    async def close() -> None:
        await close_poll(client, EID)
        await sign_now(client)

    loop = asyncio.get_running_loop()

    def look() -> dict[str, Any]:
        got: dict[str, Any] = {}
        with chromium() as session:
            page = CheckPage(session)

            def check_file(name: str) -> list[dict[str, Any]]:
                page.open(url)
                page.choose_file(files[name])
                return page.submit()

            for width, height in VIEWPORTS:
                set_viewport(session, width, height)
                got[f"released-{width}"] = check_file("released")
                got[f"accepted-{width}"] = check_file("pending")
                got[f"axe-accepted-{width}"] = page.axe()
                page.shot(_shots() / f"check-page-accepted-{width}.png")
                page.open(url)
                got[f"accepted-code-{width}"] = page.check_code(EID, pending["code"])
            got["forked"] = check_file("forked")
            asyncio.run_coroutine_threadsafe(close(), loop).result()
            got["pending-after-close"] = check_file("pending")
            for width, height in VIEWPORTS:
                set_viewport(session, width, height)
                got[f"broken-{width}"] = check_file("promised")
                got[f"axe-broken-{width}"] = page.axe()
                got[f"sideways-{width}"] = page.sideways()
                page.shot(_shots() / f"check-page-broken-promise-{width}.png")
            got["evidence"] = session.execute_async_script(READ_EVIDENCE)
        return got

    got = await asyncio.to_thread(look)
    for width, _ in VIEWPORTS:
        (done,) = got[f"released-{width}"]
        assert done["outcome"] == "released", done
        assert any("is your ballot" in s for s in done["steps"]), done["steps"]
        for waiting in got[f"accepted-{width}"] + got[f"accepted-code-{width}"]:
            assert waiting["outcome"] == "accepted", waiting
            assert waiting["title"] == "Accepted, not yet released"
        (broken,) = got[f"broken-{width}"]
        assert broken["outcome"] == "broken-promise", broken
        assert broken["title"] == "A broken promise"
        assert broken["evidence"] == "broken-promise-evidence.json"
        assert got[f"axe-accepted-{width}"] == [] and got[f"axe-broken-{width}"] == []
        assert got[f"sideways-{width}"] == 0
    (split,) = got["forked"]
    assert split["outcome"] == "split-view", split
    assert f"the log of {held.size} entries the ledger had when it accepted" in split["text"]
    assert [r["outcome"] for r in got["pending-after-close"]] == ["released"]
    evidence = got["evidence"]
    assert evidence["kind"] == "broken-promise"
    assert evidence["receipt"] == promised
    assert evidence["keys"] == [SIGNER.verifier.text()]
    cp = open_checkpoint(evidence["checkpoint"], keyring, origin=held.origin)
    entries = [json.loads(text) for text in evidence["entries"]]
    assert len(entries) == cp.size and "poll_closed" in [e["type"] for e in entries]
    tree = merkle.MemoryTree()
    tree.extend(merkle.leaf_hash(text.encode()) for text in evidence["entries"])
    assert tree.root() == cp.root and tree.root(held.size) == held.root
    hashes = {hashlib.sha256(canonical_bytes(e["event"])).hexdigest() for e in entries}
    assert promised["event_hash"] not in hashes and pending["event_hash"] in hashes


ACTIVE = "return document.activeElement.id || document.activeElement.className;"
OUTLINE = "return getComputedStyle(document.activeElement).outlineStyle;"


async def test_check_page_works_from_the_keyboard_alone_with_visible_focus(
    client: AppClient,
) -> None:
    """Tab walks skip link, ledger, code, election, file and button in that order, each with a
    visible outline; Enter on an empty form focuses the error summary, whose link takes focus
    to the code field; Enter in the filled form checks and moves focus to the result; and a
    link /check?election=…&code=… (as the booth gives) checks at once."""
    require_chromium()
    answer, _ = await voted(client)
    code = answer["receipts"]["members"]["code"]
    url = str(client.make_url("/check"))

    def drive() -> dict[str, Any]:
        got: dict[str, Any] = {"order": [], "outlines": []}
        with chromium() as session:
            page = CheckPage(session)
            set_viewport(session, 390, 844)
            page.open(url)
            keys = ActionChains(session)
            for _ in range(6):
                keys.send_keys(Keys.TAB).perform()
                got["order"].append(session.execute_script(ACTIVE))
                got["outlines"].append(session.execute_script(OUTLINE))
            session.find_element(By.ID, "code").send_keys(Keys.ENTER)
            page.errors()
            got["after_refusal"] = session.execute_script(ACTIVE)
            keys.send_keys(Keys.TAB).perform()
            keys.send_keys(Keys.ENTER).perform()
            got["after_link"] = session.execute_script(ACTIVE)
            keys.send_keys(code).perform()
            keys.send_keys(Keys.ENTER).perform()
            got["results"] = page.wait_results()
            got["after_check"] = session.execute_script(ACTIVE)
            page.open(f"{url}?election={EID}&code={code}")
            got["linked"] = page.wait_results()
        return got

    got = await asyncio.to_thread(drive)
    assert got["order"] == ["skip-link", "ledger", "code", "election", "file", "check"]
    assert "none" not in got["outlines"], got["outlines"]
    assert got["after_refusal"] == "error-summary"
    assert got["after_link"] == "code"
    assert [r["outcome"] for r in got["results"]] == ["released"]
    assert got["after_check"] == "results-title"
    assert [r["outcome"] for r in got["linked"]] == ["released"]
