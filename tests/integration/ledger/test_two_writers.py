"""Two ledger processes on one election: every paper is sent to both at once; one accepts it and
the other, finding the same submission id taken (a unique violation, the whole batch unwritten),
checks its batch again and replays the answer. Both run release rounds on their own jittered
timers from the one pending store: the log stays one chain, with every accepted ballot in it
exactly once. No client sees an error."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from ledger.format.keys import Signer

from ..procs import (
    LedgerProcess,
    Load,
    close_election,
    open_election,
    public_log,
    verify_log,
    wait_for_checkpoint,
)

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
        # Both ledgers answered every paper with the same receipt: one accepted it, the
        # other replayed it.
        assert loads[0].receipts == loads[1].receipts
        await close_election(a.url, EID)
        await wait_for_checkpoint(a.url, EID)
        entries, note = await public_log(a.url, EID)
        key = Signer.parse((tmp_path / "a" / "ledger.key").read_text())
        verify_log(entries, note, key, loads[0].receipts)
        retried = sum(
            line.count(b"batch_checked_again")
            for d in ("a", "b")
            for line in [(tmp_path / d / "ledger.log").read_bytes()]
        )
        assert retried > 0, "the two ledgers never raced: the test showed nothing"
    finally:
        a.stop()
        b.stop()
