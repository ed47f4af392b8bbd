"""Public reads: entries, receipts' codes, inclusion and consistency proofs, turnout."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from ledger.errors import (
    NotFound,
    ProofUnavailable,
)
from ledger.format.canonical import canonical_bytes
from ledger.format.receipts import code_prefix
from ledger.service.base import LedgerBase, Q
from ledger.storage.store import Head, StoredEntry


def _suppress(counts: Mapping[str, int], minimum: int) -> dict[str, int | None]:
    """Small-group suppression: groups under ``minimum`` become None; when exactly one group
    is suppressed, the next smallest is too, so no total minus the rest reveals it."""
    out: dict[str, int | None] = {k: (v if v >= minimum else None) for k, v in counts.items()}
    hidden = [k for k, v in out.items() if v is None]
    if len(hidden) == 1:
        shown = sorted((v, k) for k, v in out.items() if v is not None)
        if shown:
            out[shown[0][1]] = None
    return out


class Reads(LedgerBase):
    """What anyone may read, and the turnout reports."""

    # --- turnout and checkpoints ------------------------------------------------------------

    async def turnout(self, eid: str) -> dict[str, Any]:
        """Turnout by contest and by declared reporting dimension, small groups suppressed."""
        state = await self.state(eid)
        d = state.require_definition()
        async with self.pool.acquire() as conn:
            totals = {
                r["contest_id"]: r["n"] for r in await conn.fetch(Q["turnout_by_contest"], eid)
            }
            by: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
            for dim in d.reporting_dimensions:
                for r in await conn.fetch(Q["turnout_by_dimension"], eid, dim):
                    by[r["contest_id"]][dim][r["value"] or "(none)"] = r["n"]
        contests = {}
        for c in d.contests:
            contests[c.id] = {
                "cast": int(totals.get(c.id, 0)),
                "eligible": int(state.eligible.get(c.id, 0)),
                "by": {
                    dim: _suppress(by[c.id][dim], d.min_group_size)
                    for dim in d.reporting_dimensions
                },
            }
        return {"contests": contests}

    async def report_turnout(self, eid: str) -> None:
        """Append a ``turnout_reported`` event when turnout changed since the last one."""
        report = await self.turnout(eid)
        digest = hashlib.sha256(canonical_bytes(report)).digest()
        if self._last_turnout.get(eid) == digest:
            return
        await self.append_event(eid, "turnout_reported", lambda s: report)
        self._last_turnout[eid] = digest

    # --- reads ------------------------------------------------------------------------------

    async def entries(self, eid: str, start: int, limit: int) -> list[StoredEntry]:
        async with self.pool.acquire() as conn:
            await self.store.head(conn, eid)
            return await self.store.entries(conn, eid, start, limit)

    async def index_of_code(self, eid: str, code: str) -> int:
        prefix = code_prefix(code)
        upper = (int.from_bytes(prefix, "big") + 1).to_bytes(len(prefix) + 1, "big")[-len(prefix) :]
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(Q["entry_by_leaf_prefix"], eid, prefix, upper)
        if not rows:
            raise NotFound("no entry has that receipt code", code=code)
        return int(rows[0]["idx"])

    async def inclusion(self, eid: str, index: int, size: int | None) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            head = await self.store.head(conn, eid)
            if size is None:
                latest = await self.store.latest_checkpoint(conn, eid)
                size = latest.checkpoint.size if latest else head.size
            if not 0 <= index < size <= head.size:
                raise ProofUnavailable(index=index, size=size, log_size=head.size)
            proof = await self.store.inclusion_proof(conn, eid, index, size)
            (entry,) = await self.store.entries(conn, eid, index, 1)
        return {
            "index": index,
            "size": size,
            "leaf_hash": entry.leaf_hash.hex(),
            "proof": [p.hex() for p in proof],
        }

    async def consistency(self, eid: str, old: int, new: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            head = await self.store.head(conn, eid)
            if not 0 <= old <= new <= head.size:
                raise ProofUnavailable(old=old, new=new, log_size=head.size)
            proof = await self.store.consistency_proof(conn, eid, old, new)
        return {"old": old, "new": new, "proof": [p.hex() for p in proof]}

    # --- the log's heads and checkpoints ----------------------------------------------------

    async def elections(self) -> list[dict[str, Any]]:
        """Every election: id, phase, log size and origin."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(Q["list_elections"])
        return [
            {
                "election": r["election_id"],
                "phase": r["phase"],
                "size": r["size"],
                "origin": r["origin"],
            }
            for r in rows
        ]

    async def head(self, eid: str) -> Head:
        """The log's head (``UnknownLog`` if there is no such election)."""
        async with self.pool.acquire() as conn:
            return await self.store.head(conn, eid)

    async def latest_checkpoint_note(self, eid: str) -> str | None:
        """The newest signed checkpoint's note, or None before the first."""
        async with self.pool.acquire() as conn:
            await self.store.head(conn, eid)
            cp = await self.store.latest_checkpoint(conn, eid)
        return None if cp is None else cp.note

    async def checkpoint_sizes(self, eid: str) -> list[int]:
        """The sizes of every signed checkpoint, ascending."""
        async with self.pool.acquire() as conn:
            await self.store.head(conn, eid)
            rows = await conn.fetch(Q["checkpoint_sizes"], eid)
        return [int(r["size"]) for r in rows]

    async def checkpoint_note(self, eid: str, size: int) -> str | None:
        """The note of the checkpoint at ``size``, or None if none was signed at that size."""
        async with self.pool.acquire() as conn:
            await self.store.head(conn, eid)
            row = await conn.fetchrow(Q["checkpoint_at"], eid, size)
        return None if row is None else str(row["note"])

    async def checkpoint_notes(self, eid: str, size: int) -> list[tuple[int, str]]:
        """(size, note) of every checkpoint up to ``size``, as the export lists them."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(Q["checkpoint_notes"], eid, size)
        return [(int(r["size"]), str(r["note"])) for r in rows]
