"""`ballot receipt check` on both receipt stages against a ledger over HTTP that keeps, or
breaks, its promises; `ballot receipt evidence` judges the evidence offline."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from ballot import tools
from ballot.cli import main
from ledger.format import merkle
from ledger.format.acceptance import (
    AcceptanceReceipt,
    CheckpointRef,
    acceptance_texts,
    event_hash,
    sign_acceptances,
)
from ledger.format.chain import GENESIS, chain_next
from ledger.format.checkpoint import Checkpoint, sign_checkpoint
from ledger.format.entry import template
from ledger.format.evidence import check_evidence
from ledger.format.keys import Keyring, Signer
from ledger.http.app import LEDGER
from ledger.runtime.settings import Settings

from ..conftest import (
    AUTH_ADMIN,
    AUTH_FRONTEND,
    ROLL_CSV,
    AppClient,
    close_poll,
    definition,
    paper,
    setup_election,
)
from ..conftest import SIGNER as REAL_SIGNER
from ..ledger.test_rounds import withhold

SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(range(32)))
KEY = SIGNER.verifier.text()
EID = "e1"
ORIGIN = f"ballot-ledger.test/elections/{EID}"
TIME = "2026-11-23T05:21:16.123Z"
REAL = "nec-2026"


def _ballot(n: int, contest: str = "members") -> dict[str, Any]:
    return {
        "contest": contest,
        "selections": [f"c{n % 5:02d}"],
        "nonce": hashlib.sha256(b"%d" % n).hexdigest(),
    }


class FakeLedger:
    """A ledger in memory, served over HTTP with the public read API: it accepts ballots into
    a pending set, releases them into the log and closes the poll; a test can make it lie."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.tree = merkle.MemoryTree()
        self.chains: list[bytes] = []
        self.pending: set[bytes] = set()
        self.phase = "poll_open"
        self.size: int | None = None  # the checkpoint's size (default: the whole log)
        self.append("poll_opened", {})
        app = web.Application()
        base = f"/v1/elections/{EID}"
        app.router.add_get("/v1/keys", self.keys)
        app.router.add_get(base, self.election)
        app.router.add_get(base + "/checkpoint", self.checkpoint)
        app.router.add_get(base + "/proofs/inclusion", self.inclusion)
        app.router.add_get(base + "/proofs/consistency", self.consistency)
        app.router.add_get(base + "/entries", self.page)
        app.router.add_get(base + "/receipts/{code}", self.lookup)
        self.server = TestServer(app)

    def append(self, kind: str, event: dict[str, Any]) -> None:
        text = template(EID, kind, event).render(len(self.entries), TIME).decode()
        leaf = merkle.leaf_hash(text.encode())
        self.entries.append(text)
        self.tree.append(leaf)
        self.chains.append(chain_next(self.chains[-1] if self.chains else GENESIS, leaf))

    def accept(self, events: list[dict[str, Any]]) -> list[AcceptanceReceipt]:
        signed = sign_acceptances(
            SIGNER,
            election=EID,
            origin=ORIGIN,
            checkpoint=CheckpointRef(size=self.cp_size, root=self.tree.root(self.cp_size)),
            items=[(e["contest"], event_hash(e)) for e in events],
        )
        self.pending.update(event_hash(e) for e in events)
        texts = acceptance_texts(
            [
                AcceptanceReceipt.from_json({**r.to_json(), "event": e})
                for r, e in zip(signed, events, strict=True)
            ]
        )
        return [AcceptanceReceipt.from_json(json.loads(t)) for t in texts]

    def release(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            self.pending.discard(event_hash(e))
            self.append("ballot_cast", e)

    def close(self) -> None:
        self.append("poll_closed", {})
        self.phase = "poll_closed"

    @property
    def cp_size(self) -> int:
        return len(self.entries) if self.size is None else self.size

    async def keys(self, request: web.Request) -> web.Response:
        return web.json_response({"ledger": [KEY]})

    async def election(self, request: web.Request) -> web.Response:
        return web.json_response({"election": EID, "origin": ORIGIN, "phase": self.phase})

    async def checkpoint(self, request: web.Request) -> web.Response:
        size = self.cp_size
        cp = Checkpoint(origin=ORIGIN, size=size, root=self.tree.root(size))
        return web.Response(text=sign_checkpoint(cp, [SIGNER]).note)

    async def inclusion(self, request: web.Request) -> web.Response:
        index, size = int(request.query["index"]), int(request.query["size"])
        proof = self.tree.inclusion_proof(index, size)
        return web.json_response({"index": index, "size": size, "proof": [p.hex() for p in proof]})

    async def consistency(self, request: web.Request) -> web.Response:
        old, new = int(request.query["old"]), int(request.query["new"])
        proof = self.tree.consistency_proof(old, new)
        return web.json_response({"old": old, "new": new, "proof": [p.hex() for p in proof]})

    async def page(self, request: web.Request) -> web.Response:
        start, limit = int(request.query["start"]), int(request.query["limit"])
        end = min(len(self.entries), start + min(limit, 3))  # small pages: paging is exercised
        items = [
            {
                "index": i,
                "entry": self.entries[i],
                "leaf_hash": self.tree.nodes[(0, i)].hex(),
                "chain_hash": self.chains[i].hex(),
            }
            for i in range(start, end)
        ]
        return web.json_response({"entries": items, "next": end})

    async def lookup(self, request: web.Request) -> web.Response:
        return await self.receipt(request)

    async def receipt(self, request: web.Request) -> web.Response:
        wanted = bytes.fromhex(request.match_info["code"])
        for i, text in enumerate(self.entries):
            if event_hash(json.loads(text)["event"]) == wanted:
                return web.json_response(
                    {
                        "status": "released",
                        "index": i,
                        "entry": text,
                        "leaf_hash": self.tree.nodes[(0, i)].hex(),
                        "chain_hash": self.chains[i].hex(),
                    }
                )
        if wanted in self.pending:
            return web.json_response({"status": "accepted"})
        return web.json_response({"type": "urn:ballot-ledger:problem:no-such-receipt"}, status=404)


async def _check(
    ledger: FakeLedger, tmp_path: Path, receipt: Any, *extra: str
) -> tuple[int, dict[str, Any]]:
    """Run `ballot receipt check --json` on ``receipt`` (a receipt or a cast answer); its exit
    code and its JSON report."""
    body = receipt.to_json() if isinstance(receipt, AcceptanceReceipt) else receipt
    return await _receipt_check(ledger.server.make_url(""), KEY, tmp_path, body, *extra)


async def _receipt_check(
    url: URL, key: str, tmp_path: Path, body: Any, *extra: str
) -> tuple[int, dict[str, Any]]:
    """`ballot receipt check --json` of ``body`` (written to a file in ``tmp_path``, beside
    the state file) against the ledger at ``url`` with ``key`` pinned."""
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(body))
    base = str(url).rstrip("/")
    args = ["receipt", "check", str(path), "--url", base, "--state", str(tmp_path / "s.json")]
    return await _run_json([*args, "--key", key, "--json", *extra])


async def _run_json(args: list[str]) -> tuple[int, dict[str, Any]]:
    """Run ``ballot`` with ``args`` (``--json``): its exit code and the report it printed (the
    report alone: the ledger's own log lines in this process go elsewhere)."""
    buffer = io.StringIO()
    tools.out.file = buffer
    try:
        code = await asyncio.to_thread(main, args)
    finally:
        tools.out.file = None  # type: ignore[assignment]  # back to sys.stdout, as built
    report: dict[str, Any] = json.loads(buffer.getvalue())
    return code, report


async def test_accepted_then_released_then_closed(tmp_path: Path) -> None:
    """While pending the receipt is "accepted, not yet released" (exit 0); once released it is
    "in the log and unchanged" at its entry; after the close it still checks (the whole log
    is read and the entry is before poll_closed); offline, the saved proof re-verifies."""
    ledger = FakeLedger()
    await ledger.server.start_server()
    try:
        ledger.release([_ballot(n) for n in range(4)])
        mine = _ballot(99)
        receipt = ledger.accept([mine, _ballot(98)])[0]
        code, report = await _check(ledger, tmp_path, receipt)
        assert (code, report["status"], report["ok"]) == (0, "accepted, not yet released", True)
        ledger.release([_ballot(98), _ballot(7), mine])
        code, report = await _check(ledger, tmp_path, receipt)
        assert (code, report["status"], report["index"]) == (0, "in the log and unchanged", 7)
        ledger.close()
        code, report = await _check(ledger, tmp_path, receipt)
        assert (code, report["status"], report["index"]) == (0, "in the log and unchanged", 7)
        code, report = await _check(ledger, tmp_path, receipt, "--offline")
        assert (code, report["status"], report["index"]) == (0, "in the log and unchanged", 7)
    finally:
        await ledger.server.close()


async def test_a_withheld_ballot_is_a_broken_promise_with_evidence(tmp_path: Path) -> None:
    """A ballot accepted and never released: after the close the check says broken promise
    (exit 3) and writes evidence that `ballot receipt evidence` accepts (exit 0), with the
    keys pinned or not; a tampered copy of the evidence is refused (exit 1)."""
    ledger = FakeLedger()
    await ledger.server.start_server()
    try:
        receipt = ledger.accept([_ballot(99), _ballot(1)])[0]
        ledger.release([_ballot(1), _ballot(2)])
        ledger.close()
        evidence = tmp_path / "evidence.json"
        code, report = await _check(ledger, tmp_path, receipt, "--evidence", str(evidence))
        assert (code, report["status"], report["ok"]) == (3, "broken promise", False)
        assert report["evidence_file"] == str(evidence)
        assert await asyncio.to_thread(main, ["receipt", "evidence", str(evidence)]) == 0
        pinned = ["receipt", "evidence", str(evidence), "--key", KEY]
        assert await asyncio.to_thread(main, pinned) == 0
        data = json.loads(evidence.read_text())
        data["entries"].pop()
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(data))
        assert await asyncio.to_thread(main, ["receipt", "evidence", str(forged)]) == 1
        forged.write_text("not json")
        assert await asyncio.to_thread(main, ["receipt", "evidence", str(forged)]) == 1
        assert await asyncio.to_thread(main, ["receipt", "evidence", str(tmp_path / "none")]) == 2
    finally:
        await ledger.server.close()


async def test_a_whole_cast_answer_is_checked_receipt_by_receipt(tmp_path: Path) -> None:
    """A cast answer with two contests' receipts, one released and one withheld: exit 3, one
    report per contest, the evidence file named after the withheld contest."""
    ledger = FakeLedger()
    await ledger.server.start_server()
    try:
        kept, withheld = _ballot(5, "members"), _ballot(6, "youth")
        members, youth = ledger.accept([kept, withheld])
        ledger.release([kept])
        ledger.close()
        answer = {
            "submission_id": "s1",
            "receipts": {"members": members.to_json(), "youth": youth.to_json()},
        }
        code, report = await _check(
            ledger, tmp_path, answer, "--evidence", str(tmp_path / "ev.json")
        )
        assert code == 3 and report["ok"] is False
        assert report["receipts"]["members"]["status"] == "in the log and unchanged"
        assert report["receipts"]["youth"]["status"] == "broken promise"
        assert (tmp_path / "ev-youth.json").exists() and not (tmp_path / "ev.json").exists()
    finally:
        await ledger.server.close()


async def test_a_lying_or_forked_ledger_fails_the_check(tmp_path: Path) -> None:
    """Exit 1 when the ledger denies an accepted ballot while the poll is open, when it shows
    a log that does not extend the checkpoint the receipt was given (split view), or when a
    released entry it points to is another ballot."""
    ledger = FakeLedger()
    await ledger.server.start_server()
    try:
        receipt = ledger.accept([_ballot(99)])[0]
        ledger.pending.clear()
        code, report = await _check(ledger, tmp_path, receipt)
        assert code == 1 and "does not know" in report["error"]

        fork = FakeLedger()
        fork.release([_ballot(1)])
        moved = fork.accept([_ballot(50)])[0]  # given at size 2 of another history
        ledger.release([_ballot(2), _ballot(3)])
        ledger.pending.add(moved.event_hash)
        code, report = await _check(ledger, tmp_path / "fresh", moved)
        assert code == 1 and "no longer extends the checkpoint the receipt" in report["error"]

        liar = FakeLedger()
        await liar.server.start_server()
        try:
            receipt = liar.accept([_ballot(70)])[0]
            liar.release([_ballot(71)])

            async def wrong(request: web.Request) -> web.Response:
                answer = {"status": "released", "index": 1, "entry": liar.entries[1]}
                return web.json_response(answer)

            liar.receipt = wrong  # type: ignore[method-assign]
            code, report = await _check(liar, tmp_path / "liar", receipt)
            assert code == 1 and "not the ballot the receipt promised" in report["error"]
        finally:
            await liar.server.close()
    finally:
        await ledger.server.close()


# --- against the real ledger -------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings with the release timer off: rounds run when the test says."""
    return dataclasses.replace(settings, release_every=3600.0)


async def _cast(client: AppClient, voter: str) -> dict[str, Any]:
    r = await client.post(f"/v1/elections/{REAL}/ballots", json=paper(voter), headers=AUTH_FRONTEND)
    assert r.status == 201, await r.text()
    answer: dict[str, Any] = await r.json()
    return answer


async def _real_check(
    client: AppClient, tmp_path: Path, body: Any, *extra: str
) -> tuple[int, dict[str, Any]]:
    """`ballot receipt check --json` of ``body`` against the real ledger, with a checkpoint
    signed first (the ledger signs them on its own timer)."""
    await client.app[LEDGER].checkpoint(REAL, "test")
    return await _receipt_check(
        client.make_url(""), REAL_SIGNER.verifier.text(), tmp_path, body, *extra
    )


async def _status(client: AppClient, receipt: dict[str, Any]) -> str:
    r = await client.get(f"/v1/elections/{REAL}/receipts/{receipt['event_hash']}")
    assert r.status == 200, await r.text()
    status: str = (await r.json())["status"]
    return status


async def test_both_stages_against_the_real_ledger(client: AppClient, tmp_path: Path) -> None:
    """The real ledger's answers check: an administrative receipt as before; an acceptance
    receipt as accepted while it waits, as in the log once a round released it, and after the
    close (which released the rest) still in the log, each through the whole cast answer."""
    doc = definition(round_size=2, nomination_threshold=0)
    r = await client.put(f"/v1/elections/{REAL}", json=doc, headers=AUTH_ADMIN)
    assert r.status == 201
    admin = (await r.json())["receipt"]
    r = await client.put(
        f"/v1/elections/{REAL}/roll",
        data=ROLL_CSV,
        headers={**AUTH_ADMIN, "Content-Type": "text/csv"},
    )
    assert r.status == 200
    r = await client.post(f"/v1/elections/{REAL}/poll/open", headers=AUTH_ADMIN)
    assert r.status == 200
    code, report = await _real_check(client, tmp_path, admin)
    assert (code, report["stage"], report["ok"]) == (0, "receipt", True)
    answers = [await _cast(client, f"v{i:03d}") for i in range(5)]
    code, report = await _real_check(client, tmp_path, answers[0])
    assert (code, report["status"]) == (0, "accepted, not yet released")
    assert await client.app[LEDGER].release_all() == 3  # 5 pending, K = 2: all but K
    statuses = [await _status(client, a["receipts"]["members"]) for a in answers]
    assert sorted(statuses) == ["accepted"] * 2 + ["released"] * 3
    for answer, status in zip(answers, statuses, strict=True):
        code, report = await _real_check(client, tmp_path, answer)
        expected = (
            "in the log and unchanged" if status == "released" else "accepted, not yet released"
        )
        assert (code, report["status"]) == (0, expected)
    await close_poll(client, REAL)
    for answer in answers:
        code, report = await _real_check(client, tmp_path, answer)
        assert (code, report["status"], report["ok"]) == (0, "in the log and unchanged", True)


async def test_a_real_ledger_made_to_withhold_a_ballot_is_caught(
    client: AppClient, db_url: str, tmp_path: Path
) -> None:
    """A ledger whose pending row of one accepted ballot is deleted (as the database owner)
    before the close: after the close that ballot's check is a broken promise (exit 3) with
    evidence `ballot receipt evidence` accepts with the ledger key pinned; every other ballot
    checks as in the log."""
    doc = definition(round_size=2)
    await setup_election(client, REAL, doc)
    answers = [await _cast(client, f"v{i:03d}") for i in range(4)]
    victim = answers[2]["receipts"]["members"]
    assert await withhold(db_url, REAL, victim["event_hash"]) == "DELETE 1"
    code, report = await _real_check(client, tmp_path, victim)
    assert code == 1 and "does not know" in report["error"]  # denied while the poll is open
    await close_poll(client, REAL)
    evidence = tmp_path / "evidence.json"
    code, report = await _real_check(client, tmp_path, victim, "--evidence", str(evidence))
    assert (code, report["status"], report["ok"]) == (3, "broken promise", False)
    pinned = ["receipt", "evidence", str(evidence), "--key", REAL_SIGNER.verifier.text()]
    assert await asyncio.to_thread(main, pinned) == 0
    verdict = check_evidence(json.loads(evidence.read_text()), Keyring([REAL_SIGNER.verifier]))
    assert verdict.proven and verdict.details["code"] == victim["code"]
    for n in (0, 1, 3):
        code, report = await _real_check(client, tmp_path, answers[n])
        assert (code, report["status"]) == (0, "in the log and unchanged")
