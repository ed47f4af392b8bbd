"""PostgreSQL storage of the counter: progress, the verified mirror, projections, results.

Thin on purpose: verification and tallies are ``counter.tally.fold``'s; this module runs the named
queries of ``sql/queries.sql``. ``commit_batch`` is the one write path of the follower: in one
transaction it moves the progress row by compare-and-swap on the old size, copies the verified
entries into the mirror and replaces the projection, so a crash at any instant leaves either
the whole batch or none of it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from counter.storage import sql
from ledger.errors import LedgerError
from ledger.storage.store import apply_migrations

Q = sql.queries()
MIGRATIONS_TABLE = "counter_schema_migrations"


class ProgressMoved(LedgerError):
    """Another writer moved this election's progress: stop and reload."""


class ResultMismatch(LedgerError):
    """A recount disagrees with the result stored before."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    election_id: str
    origin: str
    size: int
    chain_head: bytes
    root: bytes
    checkpoint_size: int
    checkpoint_root: bytes
    checkpoint_note: str | None
    stopped: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorEntry:
    index: int
    body: bytes
    leaf_hash: bytes
    chain_hash: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResult:
    contest_id: str
    document: dict[str, Any]
    result_hash: str
    counted_size: int
    counted_root: bytes
    declared: bool
    declared_index: int | None


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the counter's migrations not yet applied, in order; return the versions applied."""
    return await apply_migrations(conn, sql.FILES, MIGRATIONS_TABLE, "ballot-counter:migrate")


def _progress(row: Any) -> Progress:
    return Progress(
        election_id=row["election_id"],
        origin=row["origin"],
        size=row["size"],
        chain_head=bytes(row["chain_head"]),
        root=bytes(row["root"]),
        checkpoint_size=row["checkpoint_size"],
        checkpoint_root=bytes(row["checkpoint_root"]),
        checkpoint_note=row["checkpoint_note"],
        stopped=row["stopped"],
    )


def lock_key(election_id: str) -> str:
    """The text whose ``hashtext`` is the election's advisory lock key."""
    return f"ballot-counter:follow:{election_id}"


class CounterStore:
    """The counter's tables, one row of progress per followed election."""

    async def ensure_progress(
        self, conn: asyncpg.Connection, election_id: str, origin: str
    ) -> Progress:
        await conn.execute(Q["ensure_progress"], election_id, origin)
        progress = await self.progress(conn, election_id)
        assert progress is not None
        return progress

    async def progress(self, conn: asyncpg.Connection, election_id: str) -> Progress | None:
        row = await conn.fetchrow(Q["get_progress"], election_id)
        return None if row is None else _progress(row)

    async def all_progress(self, conn: asyncpg.Connection) -> list[Progress]:
        return [_progress(r) for r in await conn.fetch(Q["list_progress"])]

    async def try_lock(self, conn: asyncpg.Connection, election_id: str) -> bool:
        """Take the election's session advisory lock on ``conn`` if free."""
        got = await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtext($1))", lock_key(election_id)
        )
        return bool(got)

    async def unlock(self, conn: asyncpg.Connection, election_id: str) -> None:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_key(election_id))

    async def mirror(
        self, conn: asyncpg.Connection, election_id: str, page: int = 5000
    ) -> AsyncIterator[MirrorEntry]:
        """The verified mirror in order, paged (the caller's connection, no transaction)."""
        start = 0
        while True:
            rows = await conn.fetch(Q["mirror_from"], election_id, start, page)
            for r in rows:
                yield MirrorEntry(
                    index=r["idx"],
                    body=bytes(r["body"]),
                    leaf_hash=bytes(r["leaf_hash"]),
                    chain_hash=bytes(r["chain_hash"]),
                )
            if len(rows) < page:
                return
            start = rows[-1]["idx"] + 1

    async def commit_batch(
        self,
        conn: asyncpg.Connection,
        *,
        old: Progress,
        new: Progress,
        entries: Sequence[MirrorEntry],
        running: dict[str, Any],
    ) -> None:
        """One transaction: CAS the progress from ``old.size``, mirror, projection."""
        async with conn.transaction():
            moved = await conn.execute(
                Q["advance"],
                new.election_id,
                old.size,
                new.size,
                new.chain_head,
                new.root,
                new.checkpoint_size,
                new.checkpoint_root,
                new.checkpoint_note,
            )
            if moved != "UPDATE 1":
                raise ProgressMoved(election=new.election_id, expected_size=old.size)
            if entries:
                await conn.copy_records_to_table(
                    "counter_entries",
                    records=[
                        (new.election_id, e.index, e.body, e.leaf_hash, e.chain_hash)
                        for e in entries
                    ],
                    columns=["election_id", "idx", "body", "leaf_hash", "chain_hash"],
                )
            await self.write_projection(conn, new, running)

    async def write_projection(
        self, conn: asyncpg.Connection, progress: Progress, running: dict[str, Any]
    ) -> None:
        await conn.execute(
            Q["upsert_projection"],
            progress.election_id,
            progress.size,
            progress.root,
            json.dumps(running),
        )

    async def projection(self, conn: asyncpg.Connection, election_id: str) -> dict[str, Any] | None:
        row = await conn.fetchrow(Q["get_projection"], election_id)
        if row is None:
            return None
        running: dict[str, Any] = json.loads(row["running"])
        return running

    async def save_result(
        self,
        conn: asyncpg.Connection,
        election_id: str,
        document: dict[str, Any],
        result_hash: str,
        blt: str,
    ) -> None:
        """Store a counted result; a different result already stored is an error."""
        contest = document["contest"]
        await conn.execute(
            Q["insert_result"],
            election_id,
            contest,
            json.dumps(document),
            result_hash,
            document["counted_size"],
            bytes.fromhex(document["counted_root"]),
            blt,
        )
        stored = {r.contest_id: r for r in await self.results(conn, election_id)}[contest]
        if stored.result_hash != result_hash:
            raise ResultMismatch(contest=contest, stored=stored.result_hash, recounted=result_hash)

    async def mark_declared(
        self, conn: asyncpg.Connection, election_id: str, contest: str, index: int | None
    ) -> None:
        await conn.execute(Q["mark_declared"], election_id, contest, index)

    async def results(self, conn: asyncpg.Connection, election_id: str) -> list[StoredResult]:
        return [
            StoredResult(
                contest_id=r["contest_id"],
                document=json.loads(r["document"]),
                result_hash=r["result_hash"],
                counted_size=r["counted_size"],
                counted_root=bytes(r["counted_root"]),
                declared=r["declared"],
                declared_index=r["declared_index"],
            )
            for r in await conn.fetch(Q["get_results"], election_id)
        ]

    async def blt(self, conn: asyncpg.Connection, election_id: str, contest: str) -> str | None:
        value: str | None = await conn.fetchval(Q["get_blt"], election_id, contest)
        return value

    async def alert(
        self, conn: asyncpg.Connection, election_id: str, message: str, evidence: dict[str, Any]
    ) -> None:
        await conn.execute(
            Q["insert_alert"], election_id, message, json.dumps(evidence, default=str)
        )

    async def stop(self, conn: asyncpg.Connection, election_id: str, reason: str) -> None:
        await conn.execute(Q["set_stopped"], election_id, reason)

    async def alerts(self, conn: asyncpg.Connection, election_id: str) -> list[dict[str, Any]]:
        return [
            {
                "id": r["id"],
                "at": r["at"].isoformat(),
                "message": r["message"],
                "evidence": json.loads(r["evidence"]),
            }
            for r in await conn.fetch(Q["get_alerts"], election_id)
        ]

    async def trusted_keys(self, conn: asyncpg.Connection) -> list[str]:
        return [r["verifier"] for r in await conn.fetch(Q["trusted_keys"])]

    async def trust_key(self, conn: asyncpg.Connection, verifier: str, source: str) -> None:
        await conn.execute(Q["trust_key"], verifier, source)
