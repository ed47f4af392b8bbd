"""Public reads: entries, receipts' codes, inclusion and consistency proofs, turnout."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import asyncpg

from ledger.domain import election as el
from ledger.domain import turnout
from ledger.domain.election import ElectionState
from ledger.domain.turnout import Cell
from ledger.errors import (
    BadRequest,
    DecodeError,
    NoSuchReceipt,
    NotFound,
    ProofUnavailable,
    ReceiptError,
)
from ledger.format.encoding import hex_strict
from ledger.format.entry import parse_entry
from ledger.format.receipts import code_prefix
from ledger.service.base import LedgerBase, Q, log
from ledger.storage.store import Head, StoredEntry


class Reads(LedgerBase):
    """What anyone may read, and the turnout reports."""

    # --- turnout and checkpoints ------------------------------------------------------------

    async def turnout(self, eid: str) -> dict[str, Any]:
        """The latest published turnout report (never a live count): its ``contests``, and the
        ``index`` and ``time`` of its entry. Before the first, the report of a poll where no
        one has voted yet, with ``index`` and ``time`` null."""
        async with self.pool.acquire() as conn:
            state = await self._load_state(conn, eid)
            latest = await conn.fetchrow(Q["latest_turnout"], eid)
            if latest is not None:
                entry = parse_entry(bytes(latest["body"]))
                return {**entry.event, "index": int(latest["idx"]), "time": entry.time}
            d = state.require_definition()
            cells = await self._cells(conn, eid, state)
        empty = turnout.snapshot(cells, {}, _contests(state, {}), d.reporting_dimensions)
        return {**turnout.report(empty, d.min_group_size), "index": None, "time": None}

    async def report_turnout(self, eid: str) -> bool:
        """Take a turnout snapshot and append it as ``turnout_reported`` if the rule allows
        (``ledger.domain.turnout``), in one transaction under the head lock. While the poll is
        open the report counts the ballots in the public log (totals only); once it has closed,
        the final report (taken once) counts participation by cell of the roll in one
        statement. Whether it was published."""

        async def read(conn: asyncpg.Connection, state: ElectionState) -> dict[str, Any] | None:
            d = state.require_definition()
            dims = list(d.reporting_dimensions)
            cells = await self._cells(conn, eid, state)
            cast: dict[str, dict[Cell, int]] = defaultdict(dict)
            final = state.phase == "poll_closed"
            if final:
                if await conn.fetchval(Q["final_turnout_taken"], eid):
                    return None
                totals: dict[str, int] = defaultdict(int)
                for r in await conn.fetch(Q["turnout_cells"], eid, dims):
                    cast[r["contest_id"]][tuple(r["cell"])] = int(r["n"])
                    totals[r["contest_id"]] += int(r["n"])
            else:
                totals = await self._log_ballots(conn, eid)
            counts = turnout.snapshot(cells, cast, _contests(state, totals), dims)
            report = turnout.report(counts, d.min_group_size, final=final)
            latest = await conn.fetchrow(Q["latest_turnout"], eid)
            previous = None if latest is None else parse_entry(bytes(latest["body"])).event
            if turnout.publishable(
                None if previous is None else previous["contests"],
                report["contests"],
                d.min_group_size,
            ):
                return report
            log.info("turnout_report_skipped", election_id=eid, final=final)
            return None

        return await self.append_read(eid, "turnout_reported", read) is not None

    async def _log_ballots(self, conn: asyncpg.Connection, eid: str) -> dict[str, int]:
        """Contest -> its ``ballot_cast`` entries in the log, counted on from where this
        process counted last (the caller holds the head lock, so every entry is committed)."""
        start, counted = self._released_counts.get(eid, (0, {}))
        totals = dict(counted)
        for r in await conn.fetch(Q["turnout_released"], eid, start):
            totals[r["contest_id"]] = totals.get(r["contest_id"], 0) + int(r["n"])
            start = max(start, int(r["last"]) + 1)
        self._released_counts[eid] = (start, totals)
        return totals

    async def _cells(
        self, conn: asyncpg.Connection, eid: str, state: ElectionState
    ) -> dict[str, dict[Cell, int]]:
        """Contest -> cell of the roll (the voter's group in each dimension) -> eligible voters;
        read once per definition and roll (a new state keeps both objects unless they change)."""
        d = state.require_definition()
        cached = self._roll_groups.get(eid)
        if cached is not None and cached[0] is d and cached[1] is state.eligible:
            cells: dict[str, dict[Cell, int]] = cached[2]
            return cells
        out: dict[str, dict[Cell, int]] = {c.id: {} for c in d.contests}
        if state.roll_published and d.reporting_dimensions:
            dims = list(d.reporting_dimensions)
            for r in await conn.fetch(Q["roll_cells"], eid, dims):
                attributes = json.loads(r["attributes"])
                cell = tuple(r["cell"])
                for c in d.contests:
                    if el.eligible(c.eligibility, attributes):
                        out[c.id][cell] = out[c.id].get(cell, 0) + 1
        self._roll_groups[eid] = (d, state.eligible, out)
        return out

    # --- reads ------------------------------------------------------------------------------

    async def entries(self, eid: str, start: int, limit: int) -> list[StoredEntry]:
        async with self.pool.acquire() as conn:
            await self.store.head(conn, eid)
            return await self.store.entries(conn, eid, start, limit)

    async def index_of_code(self, eid: str, code: str) -> int:
        """The index of the entry a receipt code names: an administrative receipt's code (the
        leaf hash's first 10 bytes) or an acceptance receipt's (the event hash's)."""
        prefix = code_prefix(code)
        upper = (int.from_bytes(prefix, "big") + 1).to_bytes(len(prefix) + 1, "big")[-len(prefix) :]
        low, high = _hash_range(code)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(Q["entry_by_leaf_prefix"], eid, prefix, upper)
            if not rows:
                rows = await conn.fetch(Q["released_by_event_hash"], eid, low, high)
        if not rows:
            raise NotFound("no entry has that receipt code", code=code)
        return int(rows[0]["idx"])

    async def find_receipt(self, eid: str, code: str) -> dict[str, Any]:
        """Where the ballot of an acceptance receipt is: its entry once released (``status``
        ``released``, with the entry's exact text, index, leaf hash and chain value), or
        ``accepted`` while it waits in the pending store. ``code`` is the receipt's short code
        (the event hash's first 10 bytes) or the whole event hash in hex. Says nothing else
        about the pending store."""
        low, high = _hash_range(code)
        async with self.pool.acquire() as conn:
            await self.store.head(conn, eid)
            rows = await conn.fetch(Q["released_by_event_hash"], eid, low, high)
            if rows:
                r = rows[0]
                return {
                    "status": "released",
                    "index": int(r["idx"]),
                    "entry": bytes(r["body"]).decode(),
                    "leaf_hash": bytes(r["leaf_hash"]).hex(),
                    "chain_hash": bytes(r["chain_hash"]).hex(),
                    "event_hash": bytes(r["event_hash"]).hex(),
                }
            if await conn.fetch(Q["pending_by_event_hash"], eid, low, high):
                return {"status": "accepted"}
        raise NoSuchReceipt(code=code)

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


def _contests(state: ElectionState, cast: Mapping[str, int]) -> list[tuple[str, int, int]]:
    """(contest, eligible voters, ballots) of every contest, in the definition's order."""
    d = state.require_definition()
    return [(c.id, int(state.eligible.get(c.id, 0)), cast.get(c.id, 0)) for c in d.contests]


def _hash_range(code: str) -> tuple[bytes, bytes]:
    """The event hashes a receipt code (or a whole event hash in hex) stands for, as an
    inclusive range."""
    text = code.strip()
    if len(text) == 64:
        try:
            whole = hex_strict(text, 32, what="event hash")
        except DecodeError as exc:
            raise BadRequest(exc.message) from exc
        return whole, whole
    try:
        prefix = code_prefix(text)
    except ReceiptError as exc:
        raise BadRequest(exc.message) from exc
    return prefix + bytes(32 - len(prefix)), prefix + b"\xff" * (32 - len(prefix))
