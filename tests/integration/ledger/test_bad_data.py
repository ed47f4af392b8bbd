"""The write path on its own, whatever the boundary lets through (issue 12): a paper whose data
PostgreSQL refuses fails alone, a real outage is still a 503, and a refused poll close leaves
nothing behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
from structlog.testing import capture_logs

from ballot.verify import verify_export
from ledger.format.acceptance import AcceptanceReceipt, verify_acceptance
from ledger.format.entry import parse_entry
from ledger.format.keys import Keyring
from ledger.http.app import LEDGER
from ledger.http.problems import InvalidBallotData, problem_type
from ledger.service import CastJob

from ..conftest import (
    AUTH_ADMIN,
    AUTH_FRONTEND,
    SIGNER,
    AppClient,
    definition,
    paper,
    setup_election,
)

KEYRING = Keyring([SIGNER.verifier])
EID = "nec-2026"


REFUSE_IN_WRITE = """
CREATE FUNCTION refuse_voter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.voter_id = '{voter}' THEN
    RAISE EXCEPTION 'character not in repertoire' USING ERRCODE = '22021';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_voter BEFORE INSERT ON participation
  FOR EACH ROW EXECUTE FUNCTION refuse_voter();
"""
"""A data exception raised by the group commit's write (not its read) for one voter's row,
whatever the boundary checks: the database is the last judge of what it can store."""


async def refuse_in_write(db_url: str, voter: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(REFUSE_IN_WRITE.format(voter=voter))
    finally:
        await conn.close()


def unstorable(voter_id: str, sub: str) -> CastJob:
    """A paper as ``Ledger.cast`` queues it, with a voter id the boundary may have let through
    (this module tests the sequencer, not the boundary's checks)."""
    return CastJob(
        election=EID,
        submission_id=sub,
        voter_id=voter_id,
        selections={"members": ("ann", "cat")},
        mac=bytes(32),
    )


async def verified_export(client: AppClient, tmp_path: Path) -> int:
    """The election's export, checked by the auditor's verifier: the number of entries."""
    r = await client.get(f"/v1/elections/{EID}/export")
    assert r.status == 200, await r.text()
    path = tmp_path / "export.ndjson"
    path.write_bytes(await r.read())
    return verify_export(path, KEYRING).entries


async def test_a_paper_the_database_refuses_fails_alone(client: AppClient, tmp_path: Path) -> None:
    """A voter id with U+0000 in one batch beside 20 good papers: 20 receipts, one 422
    invalid-ballot-data with the reason, no sequencer pause, and the log verifies."""
    await setup_election(client)
    ledger = client.app[LEDGER]
    sequencer = ledger.sequencer(EID)
    good = [paper(f"v{i:03d}") for i in range(20)]
    with capture_logs() as logs:
        results = await asyncio.gather(
            *(ledger.cast(EID, b) for b in good[:10]),
            sequencer.submit(unstorable("v0\x0001", "bad-paper-0001")),
            *(ledger.cast(EID, b) for b in good[10:]),
            return_exceptions=True,
        )
    bad = results.pop(10)
    assert isinstance(bad, InvalidBallotData), bad
    assert problem_type(bad).status == 422
    assert problem_type(bad).slug == "invalid-ballot-data"
    assert bad.evidence["reason"]
    assert all(isinstance(r, tuple) and r[1] is False for r in results), results
    # The bad paper was in one batch with all the good ones, which were answered without a pause.
    assert [e["size"] for e in logs if e["event"] == "batch_data_refused"][:1] == [21]
    assert not [e for e in logs if e["event"] in ("batch_failed", "batch_crashed")]
    for text, _ in results:  # type: ignore[misc]
        receipt = json.loads(text)["receipts"]["members"]
        verify_acceptance(AcceptanceReceipt.from_json(receipt), KEYRING)
    size = await verified_export(client, tmp_path)
    # Accepted, not yet released: the officer's pending counts say the 20 good papers were taken.
    assert (await ledger.pending_counts(EID))["pending"]["members"] == 20
    # The sequencer goes on: the next paper is answered as usual.
    r = await client.post(f"/v1/elections/{EID}/ballots", json=paper("v050"), headers=AUTH_FRONTEND)
    assert r.status == 201, await r.text()
    assert await verified_export(client, tmp_path) == size  # accepted: it waits to be released


async def test_several_refused_papers_each_get_their_own_answer(client: AppClient) -> None:
    """Three unstorable papers (U+0000, a lone surrogate) among 30 good ones: each bad one
    gets its own 422, every good one its receipt."""
    await setup_election(client)
    ledger = client.app[LEDGER]
    sequencer = ledger.sequencer(EID)
    bad = [
        unstorable("\x00", "bad-paper-0001"),
        unstorable("v00\udc801", "bad-paper-0002"),
        unstorable("v0\x0003", "bad-paper-0003"),
    ]
    results = await asyncio.gather(
        *(ledger.cast(EID, paper(f"v{i:03d}")) for i in range(30)),
        *(sequencer.submit(job) for job in bad),
        return_exceptions=True,
    )
    assert all(isinstance(r, tuple) for r in results[:30]), results
    assert all(isinstance(r, InvalidBallotData) for r in results[30:]), results[30:]


async def test_a_paper_refused_by_the_write_fails_alone_over_http(
    client: AppClient, db_url: str, tmp_path: Path
) -> None:
    """The group commit's write refuses one voter's row (a data exception): over HTTP, that
    paper is 422 invalid-ballot-data, each of 20 concurrent good papers 201, the log verifies."""
    await setup_election(client)
    await refuse_in_write(db_url, "v013")
    url = f"/v1/elections/{EID}/ballots"
    bodies = [paper(f"v{i:03d}") for i in range(21)]
    responses = await asyncio.gather(
        *(client.post(url, json=b, headers=AUTH_FRONTEND) for b in bodies)
    )
    statuses = [r.status for r in responses]
    assert statuses == [422 if i == 13 else 201 for i in range(21)], statuses
    problem = await responses[13].json()
    assert problem["type"] == "urn:ballot-ledger:problem:invalid-ballot-data"
    assert problem["reason"] == "character not in repertoire"
    assert "v013" not in json.dumps(problem)
    await verified_export(client, tmp_path)
    # Accepted, not yet released (turnout reports count the log's ballots only): the officer's
    # pending counts say the 20 good papers were taken.
    pending = await client.app[LEDGER].pending_counts(EID)
    assert pending["pending"]["members"] == 20


async def test_a_refused_poll_close_leaves_nothing_behind(client: AppClient) -> None:
    """`poll/close` during setup is 409; after the poll opens, interval checkpoints and
    turnout reports go on and a released ballot's inclusion proof is available."""
    await setup_election(client, doc=definition(round_size=1), open_poll=False)
    ledger = client.app[LEDGER]
    base = f"/v1/elections/{EID}"
    r = await client.post(f"{base}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 409 and (await r.json())["type"].endswith("wrong-phase")
    r = await client.post(f"{base}/poll/open", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    codes = []
    for voter in ("v000", "v001", "v002"):
        r = await client.post(f"{base}/ballots", json=paper(voter), headers=AUTH_FRONTEND)
        assert r.status == 201, await r.text()
        codes.append((await r.json())["receipts"]["members"]["code"])
    # All but K = 1: two, the turnout threshold (min_group_size), so the report is published.
    assert await ledger.release_all() == 2
    found = [await (await client.get(f"{base}/receipts/{code}")).json() for code in codes]
    index = next(f["index"] for f in found if f["status"] == "released")
    await ledger.tick()  # the housekeeping's step
    kinds = [parse_entry(e["entry"].encode()).kind for e in await _entries(client)]
    assert kinds[-1] == "turnout_reported"
    r = await client.get(f"{base}/proofs/inclusion", params={"index": str(index)})
    assert r.status == 200, await r.text()
    r = await client.get(f"{base}/checkpoints")
    assert (await _state(client))["size"] in (await r.json())["sizes"]


async def _entries(client: AppClient) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/elections/{EID}/entries", params={"limit": "10000"})
    assert r.status == 200, await r.text()
    entries: list[dict[str, Any]] = (await r.json())["entries"]
    return entries


async def _state(client: AppClient) -> dict[str, Any]:
    r = await client.get(f"/v1/elections/{EID}")
    state: dict[str, Any] = await r.json()
    return state
