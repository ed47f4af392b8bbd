"""Two ledger processes appending to one election: the compare-and-set on the head keeps the
log one chain. Every paper is sent to both at once; each ledger's batches are checked against
heads the other keeps moving, so batches are checked again under the head lock, and find the
other's answer (same submission id) and replay it. No client sees an error."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from ledger import merkle
from ledger.chain import GENESIS, chain_next
from ledger.entry import parse_entry
from ledger.keys import Keyring, Signer
from ledger.receipts import Receipt, verify_receipt

from .procs import LedgerProcess, Load, open_election, public_log

EID = "two-writers-2026"
VOTERS = 3000


async def test_two_ledgers_on_one_log_give_one_chain(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = LedgerProcess(db_url, tmp_path / "a")
    b = LedgerProcess(db_url, tmp_path / "b", BALLOT_KEY_FILE=str(tmp_path / "b" / "ledger.key"))
    try:
        await a.start()
        await open_election(a.url, EID, VOTERS)
        shutil.copy(tmp_path / "a" / "ledger.key", tmp_path / "b" / "ledger.key")
        await b.start()
        loads = [Load(a.url, EID, range(VOTERS)), Load(b.url, EID, range(VOTERS))]
        await asyncio.gather(*(load.run(32) for load in loads))
        for load in loads:
            assert set(load.receipts) == set(range(VOTERS)), load.statuses
            assert set(load.statuses) <= {200, 201}, load.statuses
        # Both ledgers answered every paper with the same receipt: one was appended, the
        # other replayed it.
        assert loads[0].receipts == loads[1].receipts
        entries, _ = await public_log(a.url, EID)
        key = Signer.parse((tmp_path / "a" / "ledger.key").read_text()).verifier
        chain, tree = GENESIS, merkle.MemoryTree()
        for n, e in enumerate(entries):
            assert e["index"] == n
            leaf = merkle.leaf_hash(e["entry"].encode())
            chain = chain_next(chain, leaf)
            assert (e["leaf_hash"], e["chain_hash"]) == (leaf.hex(), chain.hex())
            tree.append(leaf)
        casts = [
            i
            for i, e in enumerate(entries)
            if parse_entry(e["entry"].encode()).kind == "ballot_cast"
        ]
        assert len(casts) == VOTERS
        assert sorted(rc["index"] for rc in loads[0].receipts.values()) == casts
        for rc in loads[0].receipts.values():
            verify_receipt(Receipt.from_json(rc), Keyring([key]))
            assert entries[rc["index"]]["chain_hash"] == rc["chain_hash"]
        retried = sum(
            line.count(b"batch_head_moved")
            for d in ("a", "b")
            for line in [(tmp_path / d / "ledger.log").read_bytes()]
        )
        assert retried > 0, "the two ledgers never raced: the test showed nothing"
    finally:
        a.stop()
        b.stop()
