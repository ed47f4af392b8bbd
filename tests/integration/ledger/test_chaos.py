"""Chaos for acceptance and release rounds (issue 14): kill -9 of the ledger at random instants
and a PostgreSQL immediate restart while casting goes on through a withdrawal and the close;
and a ledger made to withhold one accepted ballot, caught from public evidence alone."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ballot.cli import main
from ledger.format.acceptance import event_hash
from ledger.format.checkpoint import open_checkpoint
from ledger.format.entry import parse_entry
from ledger.format.keys import Keyring

from ..procs import (
    AUTH,
    DURABLE,
    FRONT,
    SECONDS,
    Cluster,
    LedgerProcess,
    Load,
    close_election,
    create_database,
    open_election,
    paper,
    private_root,
    public_log,
    remove,
    retry_until_answered,
    until_receipts,
    verify_log,
    wait_for_checkpoint,
)
from .test_rounds import withhold

pytestmark = pytest.mark.slow

K = 5
"""The election's round size: small, so that release rounds run all through the load."""
PAPERS = 2500
YOUNG = range(8)
"""Members eligible for the youth contest, whose papers are cast first. Between K and 2K - 1
youth ballots in all: none is released before the close, so the ones naming the withdrawn
candidate are certainly still pending when the withdrawal is appended."""
LATE = PAPERS
"""A young member outside the load, who names the withdrawn candidate after the withdrawal."""
AFTER = PAPERS + 1
"""A member outside the load, who casts after the close."""
PROBLEM = "urn:ballot-ledger:problem:"


def _paper(i: int) -> dict[str, Any]:
    """The load's paper ``i``: young members also vote in the youth contest, the even ones
    for ``yvo`` (who withdraws midway)."""
    doc = paper(i)
    if i in YOUNG or i == LATE:
        doc["selections"]["youth"] = ["yvo" if i % 2 == 0 else "yan"]
    return doc


async def _cast(url: str, eid: str, i: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{url}/v1/elections/{eid}/ballots", json=_paper(i), headers=FRONT) as r,
    ):
        return r.status, await r.json()


async def _size(url: str, eid: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/v1/elections/{eid}") as r:
        size: int = (await r.json())["size"]
        return size


async def _until_released(url: str, eid: str, opened: int) -> None:
    """Until a release round put ballots in the log (it held ``opened`` entries at the
    opening), however slow the machine."""
    deadline = time.monotonic() + SECONDS  # a hang guard, not a speed test
    async with aiohttp.ClientSession() as s:
        while True:
            async with s.get(
                f"{url}/v1/elections/{eid}/entries", params={"start": str(opened)}
            ) as r:
                page = (await r.json())["entries"]
            if any(parse_entry(e["entry"].encode()).kind == "ballot_cast" for e in page):
                return
            assert time.monotonic() < deadline, "no release round while the poll was open"
            await asyncio.sleep(0.1)


async def _where(url: str, eid: str, receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``GET /receipts/{code}`` says of each receipt (404s as their problem)."""
    found = []
    async with aiohttp.ClientSession() as s:
        for rc in receipts:
            async with s.get(f"{url}/v1/elections/{eid}/receipts/{rc['code']}") as r:
                body = await r.json()
                assert r.status == 200 or body["type"] == PROBLEM + "no-such-receipt", body
                found.append(body)
    return found


async def _ballot(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    """``ballot ARGS --json`` (the ledger runs in its own process: what this one prints is the
    command's report): its exit code and its JSON report."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, [*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


async def _audit(
    ledger: LedgerProcess,
    eid: str,
    receipts: list[dict[str, Any]],
    folder: Path,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, dict[str, Any]]:
    """`ballot audit --receipts` of the election's export with the ledger's key pinned: its
    exit code and its JSON report."""
    export, given = folder / "export.ndjson", folder / "receipts.json"
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{ledger.url}/v1/elections/{eid}/export") as r,
    ):
        assert r.status == 200
        export.write_bytes(await r.read())
    given.write_text(json.dumps(receipts))
    key = ledger.key.verifier.text()
    return await _ballot(["audit", str(export), "--key", key, "--receipts", str(given)], capsys)


async def _receipt_check(
    ledger: LedgerProcess, receipt: dict[str, Any], folder: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    """`ballot receipt check` of one acceptance receipt, as its voter runs it (the ledger's key
    pinned, a broken promise's evidence written to ``folder``/evidence.json)."""
    path = folder / f"receipt-{receipt['code']}.json"
    path.write_text(json.dumps(receipt))
    args = ["receipt", "check", str(path), "--url", ledger.url, "--key", ledger.key.verifier.text()]
    args += ["--state", str(folder / "seen.json"), "--evidence", str(folder / "evidence.json")]
    return await _ballot(args, capsys)


async def test_kills_restart_withdrawal_and_close_under_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three kill -9s of the ledger and one PostgreSQL immediate restart at random points of
    a load that goes on through a withdrawal and the close (K = 5): every acceptance receipt a
    client received is found released before poll_closed, its entry hashing to it, and checks
    with `ballot receipt check`; the audit finds every promise kept; no event hash is in the
    log twice; ballots naming the withdrawn candidate accepted before the withdrawal are
    released after it (and a resent one gets its receipt again); casts racing the close get
    201 or 409 wrong-phase."""
    eid = "chaos-2026"
    rng = random.Random(20261201)
    root = private_root()
    cluster = Cluster(data_dir=root / "data", settings=dict(DURABLE))
    cluster.start()
    ledger: LedgerProcess | None = None
    try:
        url = await create_database(cluster.admin_url)
        ledger = LedgerProcess(url, tmp_path)
        await ledger.start()
        await open_election(ledger.url, eid, PAPERS + 2, young=[*YOUNG, LATE], round_size=K)
        opened = await _size(ledger.url, eid)
        load = Load(ledger.url, eid, range(PAPERS), make=_paper, patient=True)
        faults = ["kill", "kill", "kill", "restart"]
        rng.shuffle(faults)
        # The withdrawal midway, after two faults, one at least a kill (whose retries leave no
        # paper sent so far without an answer); the close last, with papers still queued.
        steps = [*faults[:2], "withdraw", *faults[2:], "close"]
        workers = asyncio.create_task(load.run(32))
        for step in steps:
            # Each step at a random point of the casting, reached by progress, not by time:
            # 80 to 320 more receipts (at most 1,920 of the 2,500 papers before the close).
            await until_receipts(load, len(load.receipts) + rng.randint(80, 320))
            if step == "kill":
                ledger.kill()
                await workers
                await ledger.start()
                await retry_until_answered(load)  # same submission ids, same papers
                workers = asyncio.create_task(load.run(32))
            elif step == "restart":
                # Patient clients go on casting: 503 with Retry-After while the cluster
                # recovers, the same paper again after it.
                await asyncio.to_thread(cluster.restart_immediate)
            elif step == "withdraw":
                # Once a round was released: the withdrawal lands between rounds.
                await _until_released(ledger.url, eid, opened)
                assert all((i, "youth") in load.acceptances for i in YOUNG)
                async with aiohttp.ClientSession(headers=AUTH) as s:
                    r = await s.post(
                        f"{ledger.url}/v1/elections/{eid}/contests/youth/candidates/yvo/withdraw",
                        json={"reason": "withdrawn"},
                    )
                    assert r.status == 201, await r.text()
                status, body = await _cast(ledger.url, eid, LATE)
                assert (status, body["type"]) == (422, PROBLEM + "candidate-not-standing")
                # A paper for yvo accepted before, sent again: its first answer, not a refusal.
                status, body = await _cast(ledger.url, eid, 0)
                assert (status, body["receipts"]["youth"]) == (200, load.acceptances[0, "youth"])
            else:
                await close_election(ledger.url, eid)
                await workers  # the rest of the queue: each refused as cast too late
                # (casts wait on the close's lock, so papers are still queued when it ends)
                await retry_until_answered(load)
        status, body = await _cast(ledger.url, eid, AFTER)
        assert (status, body["type"]) == (409, PROBLEM + "wrong-phase")
        assert not load.unknown
        assert set(load.statuses) <= {200, 201, 409, 503}, load.statuses
        assert set(load.refused.values()) == {PROBLEM + "wrong-phase"}, load.refused
        assert len(load.receipts) + len(load.refused) == PAPERS

        await wait_for_checkpoint(ledger.url, eid)
        entries, note = await public_log(ledger.url, eid)
        # Every receipt in the log once before poll_closed, nothing else; rounds of K or more.
        verify_log(entries, note, ledger.key, load.acceptances)
        parsed = [parse_entry(e["entry"].encode()) for e in entries]
        hashes = Counter(event_hash(p.event) for p in parsed if p.kind == "ballot_cast")
        assert set(hashes.values()) == {1}
        closed = next(n for n, p in enumerate(parsed) if p.kind == "poll_closed")
        withdrawn = next(n for n, p in enumerate(parsed) if p.kind == "candidate_withdrawn")
        assert "ballot_cast" in [p.kind for p in parsed[:withdrawn]]  # a round, then it
        # Each receipt, as a voter checks it: found released, the entry hashing to it.
        receipts = list(load.acceptances.values())
        found = await _where(ledger.url, eid, receipts)
        for rc, f in zip(receipts, found, strict=True):
            assert f["status"] == "released", (rc["code"], f)
            entry = entries[f["index"]]
            assert f["entry"] == entry["entry"] and f["index"] < closed
            assert (f["leaf_hash"], f["chain_hash"]) == (entry["leaf_hash"], entry["chain_hash"])
            assert event_hash(json.loads(f["entry"])["event"]).hex() == rc["event_hash"]
        yvo = [found[receipts.index(load.acceptances[i, "youth"])] for i in YOUNG if i % 2 == 0]
        assert all(withdrawn < f["index"] for f in yvo)
        # And as an auditor checks the export with every receipt given: all promises kept.
        code, report = await _audit(ledger, eid, receipts, tmp_path, capsys)
        assert code == 0 and report["ok"], report.get("failure")
        promises = report["promises"]
        assert len(promises["released"]) == len(receipts) and promises["broken"] == []
        assert report["rounds"]["members"]["smallest"] >= K
        youth = {"rounds": 1, "ballots": len(YOUNG), "smallest": len(YOUNG)}
        assert report["rounds"]["youth"] == youth
        # And as voters check theirs with `ballot receipt check` (a sample: each check is a
        # few requests), the ones for the withdrawn candidate among them.
        sample = rng.sample(receipts, 20) + [load.acceptances[i, "youth"] for i in YOUNG]
        for rc in sample:
            code, report = await _receipt_check(ledger, rc, tmp_path, capsys)
            assert (code, report["status"]) == (0, "in the log and unchanged"), report
    finally:
        if ledger is not None:
            ledger.stop()
        cluster.stop(mode="immediate")
        remove(root)


async def test_withheld_ballot_is_a_broken_promise(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger that withholds one accepted ballot (its pending row deleted by the database
    owner before the close) is caught: after the close its receipt's code is not found, and
    its signed acceptance, a signed checkpoint covering poll_closed and a verified export
    without its event prove the promise broken; the other ballots are all released."""
    eid = "withheld-2026"
    ledger = LedgerProcess(db_url, tmp_path)
    try:
        await ledger.start()
        # Fewer than 2K ballots: none is released before the close, the withheld one is
        # still pending when its row is deleted.
        await open_election(ledger.url, eid, 8, round_size=K)
        load = Load(ledger.url, eid, range(8))
        await load.run(8)
        assert len(load.receipts) == 8
        withheld = load.receipts.pop(3)
        assert await _where(ledger.url, eid, [withheld]) == [{"status": "accepted"}]
        assert await withhold(db_url, eid, withheld["event_hash"]) == "DELETE 1"
        await close_election(ledger.url, eid)
        await wait_for_checkpoint(ledger.url, eid)

        key = ledger.key
        [gone] = await _where(ledger.url, eid, [withheld])
        assert gone["type"] == PROBLEM + "no-such-receipt"
        entries, note = await public_log(ledger.url, eid)
        verify_log(entries, note, key, load.receipts)  # the others: released, once
        with pytest.raises(AssertionError):
            verify_log(entries, note, key, {**load.receipts, 3: withheld})
        # Its voter's check: a broken promise (exit 3), with evidence...
        code, report = await _receipt_check(ledger, withheld, tmp_path, capsys)
        assert (code, report["status"], report["ok"]) == (3, "broken promise", False), report
        evidence = tmp_path / "evidence.json"
        assert report["evidence_file"] == str(evidence)
        # ...that an independent verifier, offline, accepts with the ledger's key pinned: the
        # signed acceptance, a signed checkpoint covering poll_closed, the log up to it
        # without the event.
        pinned = ["receipt", "evidence", str(evidence), "--key", key.verifier.text()]
        code, verdict = await _ballot(pinned, capsys)
        assert code == 0 and verdict["proven"], verdict
        data = json.loads(evidence.read_text())
        assert data["kind"] == "broken-promise" and data["receipt"]["code"] == withheld["code"]
        cp = open_checkpoint(data["checkpoint"], Keyring([key.verifier]))
        bodies = [e.encode() for e in data["entries"]]
        assert cp.size == len(bodies) and "poll_closed" in [parse_entry(b).kind for b in bodies]
        # The others check as released; the auditor, given the withheld receipt, agrees.
        for rc in load.receipts.values():
            code, report = await _receipt_check(ledger, rc, tmp_path, capsys)
            assert (code, report["status"]) == (0, "in the log and unchanged"), report
        code, report = await _audit(ledger, eid, [withheld], tmp_path, capsys)
        assert code == 3 and report["promises"]["released"] == []
        assert [p["event_hash"] for p in report["promises"]["broken"]] == [withheld["event_hash"]]
    finally:
        ledger.stop()
