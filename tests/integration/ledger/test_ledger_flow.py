"""The whole election lifecycle over real HTTP and PostgreSQL, verified from the public feed."""

from __future__ import annotations

from typing import Any

from ledger.domain.election import commitment
from ledger.format import merkle
from ledger.format.acceptance import AcceptanceReceipt, event_hash, verify_acceptance
from ledger.format.chain import GENESIS, chain_next
from ledger.format.checkpoint import open_checkpoint
from ledger.format.entry import parse_entry
from ledger.format.keys import Keyring

from ..conftest import AUTH_ADMIN, AUTH_FRONTEND, SIGNER, AppClient, paper, setup_election

KEYRING = Keyring([SIGNER.verifier])


async def feed(client: AppClient, eid: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start = 0
    while True:
        r = await client.get(f"/v1/elections/{eid}/entries?start={start}&limit=500")
        body = await r.json()
        if not body["entries"]:
            return out
        out += body["entries"]
        start = body["next"]


async def test_lifecycle_sealed_election(client: AppClient) -> None:
    """Define, roll, nominate, open, cast, close: the feed verifies and openings match."""
    await setup_election(client)
    receipts = []
    for i in range(12):
        sel: dict[str, list[str]] = {"members": ["ann", "dan", "cat"][: 1 + i % 3]}
        if 20 + i % 40 < 27:
            sel["youth"] = ["yvo" if i % 2 else "yan"]
        r = await client.post(
            "/v1/elections/nec-2026/ballots", json=paper(f"v{i:03d}", **sel), headers=AUTH_FRONTEND
        )
        assert r.status == 201, await r.text()
        body = await r.json()
        assert set(body["receipts"]) == set(sel)
        receipts += [AcceptanceReceipt.from_json(x) for x in body["receipts"].values()]
    r = await client.post("/v1/elections/nec-2026/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200, await r.text()
    closed = await r.json()
    assert closed["opened"] == len(receipts)

    entries = await feed(client, "nec-2026")
    tree, chain = merkle.MemoryTree(), GENESIS
    casts: dict[int, dict[str, Any]] = {}
    opened = 0
    for i, e in enumerate(entries):
        assert e["index"] == i
        body = e["entry"].encode()
        leaf = merkle.leaf_hash(body)
        chain = chain_next(chain, leaf)
        assert (leaf.hex(), chain.hex()) == (e["leaf_hash"], e["chain_hash"])
        tree.append(leaf)
        entry = parse_entry(body)
        if entry.kind == "ballot_cast":
            assert "selections" not in entry.event  # sealed
            casts[i] = entry.event
        if entry.kind == "ballot_opened":
            cast = casts[entry.event["cast_index"]]
            salt = bytes.fromhex(entry.event["salt"])
            expected = commitment("nec-2026", cast["contest"], entry.event["selections"], salt)
            assert expected == cast["commitment"]
            opened += 1
    assert opened == len(casts) == len(receipts)
    r = await client.get("/v1/elections/nec-2026/checkpoint")
    cp = open_checkpoint(await r.text(), KEYRING, origin="ballot-ledger.test/elections/nec-2026")
    assert cp.size == len(entries) and cp.root == tree.root()
    for receipt in receipts:
        verify_acceptance(receipt, KEYRING)
        r = await client.get(f"/v1/elections/nec-2026/receipts/{receipt.code}")
        found = await r.json()
        assert found["status"] == "released"
        assert event_hash(parse_entry(found["entry"].encode()).event) == receipt.event_hash
        r = await client.get(f"/v1/elections/nec-2026/proofs/inclusion?code={receipt.code}")
        proof = await r.json()
        assert proof["index"] == found["index"] and proof["size"] == cp.size
        merkle.verify_inclusion(
            found["index"],
            cp.size,
            bytes.fromhex(found["leaf_hash"]),
            [bytes.fromhex(p) for p in proof["proof"]],
            cp.root,
        )
    kinds = [parse_entry(e["entry"].encode()).kind for e in entries]
    assert kinds[:2] == ["election_defined", "roll_published"]
    assert "nominations_closed" in kinds and "poll_closed" in kinds
