"""PostgreSQL storage of the logs: migrations, the append path, nodes, checkpoints.

Thin on purpose: hashing and tree arithmetic are the pure modules'; this module runs the named
queries of ``sql/queries.sql`` and keeps the append atomic. ``append`` must run inside the
caller's transaction: it locks the election's head row (``SELECT … FOR UPDATE``), assigns the
next indices, inserts entries and the perfect Merkle nodes they complete, and moves the head.
Indices never come from a sequence, so they have no gaps and commit in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from ledger.errors import LedgerError
from ledger.format import merkle
from ledger.format.chain import chain_next
from ledger.format.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from ledger.format.entry import EntryTemplate, entry_time
from ledger.format.keys import Signer
from ledger.storage import sql

Q = sql.queries()


class UnknownLog(LedgerError):
    """No log exists for this election."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Head:
    election_id: str
    origin: str
    size: int
    chain_head: bytes
    root: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Appended:
    index: int
    kind: str
    body: bytes
    leaf_hash: bytes
    chain_hash: bytes
    time: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEntry:
    index: int
    kind: str
    body: bytes
    leaf_hash: bytes
    chain_hash: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedAppend:
    """Entries placed after a head: what to write, and the head after them."""

    appended: list[Appended]
    entry_rows: list[tuple[int, str, bytes, bytes, bytes]]
    """(idx, kind, leaf_hash, chain_hash, body)"""
    node_rows: list[tuple[int, int, bytes]]
    """(level, idx, hash) of every perfect node the entries complete"""
    edge: merkle.CompactRange
    size: int
    chain_head: bytes
    root: bytes


def prepare_append(
    head: Head, edge: merkle.CompactRange, templates: Sequence[EntryTemplate], time: str
) -> PreparedAppend:
    """Pure: render each entry at its index, hash it into the chain and the tree."""
    edge = merkle.CompactRange(size=edge.size, hashes=list(edge.hashes))
    chain = head.chain_head
    appended: list[Appended] = []
    entry_rows: list[tuple[int, str, bytes, bytes, bytes]] = []
    node_rows: list[tuple[int, int, bytes]] = []
    for offset, tpl in enumerate(templates):
        index = head.size + offset
        body = tpl.render(index, time)
        leaf = merkle.leaf_hash(body)
        chain = chain_next(chain, leaf)
        for (level, idx), value in edge.append(leaf):
            node_rows.append((level, idx, value))
        entry_rows.append((index, tpl.kind, leaf, chain, body))
        appended.append(
            Appended(
                index=index, kind=tpl.kind, body=body, leaf_hash=leaf, chain_hash=chain, time=time
            )
        )
    return PreparedAppend(
        appended=appended,
        entry_rows=entry_rows,
        node_rows=node_rows,
        edge=edge,
        size=edge.size,
        chain_head=chain,
        root=edge.root(),
    )


async def apply_migrations(
    conn: asyncpg.Connection, files: sql.SqlFiles, table: str, lock: str
) -> list[str]:
    """Apply the migrations of ``files`` not yet recorded in ``table``, in order, in one
    transaction under the advisory lock ``hashtext(lock)``; return the versions applied. The
    ledger's, the counter's and the booth's stores each call it with their own files, table and
    lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch(f"SELECT version FROM {table}")}
        applied = []
        for version, text in files.migrations():
            if version in done:
                continue
            await conn.execute(text)
            await conn.execute(f"INSERT INTO {table} (version) VALUES ($1)", version)
            applied.append(version)
    return applied


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the ledger's migrations not yet applied, in order; return the versions applied."""
    return await apply_migrations(conn, sql.FILES, "schema_migrations", "ballot-ledger:migrate")


def data_fault(exc: asyncpg.DataError) -> str | None:
    """Why the database refused a write, when the fault is in the data written (the same
    write fails whenever it is retried), not in the database or the connection: PostgreSQL's
    own message for a data exception (SQLSTATE class 22, such as U+0000 in a text or
    ``\\u0000`` in a jsonb: it names the fault, not the value), or text that is not valid
    Unicode, which the driver cannot encode. None when the driver refused a value for its
    type (a bug in the caller, not in the data)."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeError):
        return "a text is not valid Unicode"
    if cause is not None:
        return None
    return str(getattr(exc, "message", None) or "a value the database cannot store")


def _head(row: Any) -> Head:
    return Head(
        election_id=row["election_id"],
        origin=row["origin"],
        size=row["size"],
        chain_head=bytes(row["chain_head"]),
        root=bytes(row["root"]),
    )


class LogStore:
    """The logs of every election in one database, with a cache of each log's right edge."""

    def __init__(self) -> None:
        self._edges: dict[str, merkle.CompactRange] = {}

    async def create_log(self, conn: asyncpg.Connection, election_id: str, origin: str) -> Head:
        await conn.execute(Q["create_log"], election_id, origin)
        return await self.head(conn, election_id)

    async def head(self, conn: asyncpg.Connection, election_id: str) -> Head:
        row = await conn.fetchrow(Q["get_head"], election_id)
        if row is None:
            raise UnknownLog(election=election_id)
        return _head(row)

    async def nodes(
        self, conn: asyncpg.Connection, election_id: str, wanted: Sequence[merkle.NodeId]
    ) -> dict[merkle.NodeId, bytes]:
        if not wanted:
            return {}
        rows = await conn.fetch(
            Q["get_nodes"],
            election_id,
            [lv for lv, _ in wanted],
            [ix for _, ix in wanted],
        )
        found = {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
        missing = set(wanted) - set(found)
        if missing:
            raise LedgerError("tree nodes missing from the store", missing=sorted(missing)[:5])
        return found

    async def _edge(self, conn: asyncpg.Connection, head: Head) -> merkle.CompactRange:
        """The tree's right edge at ``head``: the cached one if it is that head's
        (``prepare_append`` copies it), else rebuilt from the stored nodes."""
        known = self._edges.get(head.election_id)
        if known is not None and known.size == head.size and known.root() == head.root:
            return known
        nodes = await self.nodes(conn, head.election_id, merkle.root_nodes(head.size))
        edge = merkle.CompactRange.from_nodes(head.size, nodes)
        if edge.root() != head.root:
            raise LedgerError(
                "stored nodes disagree with the head root",
                election=head.election_id,
                size=head.size,
            )
        return edge

    async def lock(self, conn: asyncpg.Connection, election_id: str) -> Head:
        """Lock the election's head row for the caller's transaction and return it."""
        row = await conn.fetchrow(Q["lock_head"], election_id)
        if row is None:
            raise UnknownLog(election=election_id)
        return _head(row)

    async def prepare(
        self,
        conn: asyncpg.Connection,
        head: Head,
        templates: Sequence[EntryTemplate],
        *,
        time: str | None = None,
    ) -> PreparedAppend:
        """Render, hash and place ``templates`` after ``head`` (locked by the caller): the rows
        to write and the new head. No writes."""
        edge = await self._edge(conn, head)
        return prepare_append(head, edge, templates, time or entry_time())

    async def append(
        self,
        conn: asyncpg.Connection,
        election_id: str,
        templates: Sequence[EntryTemplate],
        *,
        time: str | None = None,
        event_hashes: Sequence[bytes | None] | None = None,
    ) -> list[Appended]:
        """Append entries in order, inside the caller's transaction, all with one time stamp;
        ``event_hashes`` gives each ballot entry's event hash (None for other entries)."""
        head = await self.lock(conn, election_id)
        prepared = await self.prepare(conn, head, templates, time=time)
        if not prepared.appended:
            return []
        hashes = event_hashes if event_hashes is not None else [None] * len(templates)
        await conn.copy_records_to_table(
            "entries",
            records=[
                (election_id, *r, h) for r, h in zip(prepared.entry_rows, hashes, strict=True)
            ],
            columns=["election_id", "idx", "kind", "leaf_hash", "chain_hash", "body", "event_hash"],
        )
        await conn.copy_records_to_table(
            "tree_nodes",
            records=[(election_id, *r) for r in prepared.node_rows],
            columns=["election_id", "level", "idx", "hash"],
        )
        await conn.execute(
            Q["update_head"], election_id, prepared.size, prepared.chain_head, prepared.root
        )
        # The new right edge, remembered (the caller forgets it if the transaction rolls back).
        self._edges[election_id] = prepared.edge
        return prepared.appended

    def forget(self, election_id: str) -> None:
        """Drop the cached edge (after a rolled-back transaction)."""
        self._edges.pop(election_id, None)

    async def entries(
        self, conn: asyncpg.Connection, election_id: str, start: int, limit: int
    ) -> list[StoredEntry]:
        rows = await conn.fetch(Q["entries_from"], election_id, start, limit)
        return [
            StoredEntry(
                index=r["idx"],
                kind=r["kind"],
                body=bytes(r["body"]),
                leaf_hash=bytes(r["leaf_hash"]),
                chain_hash=bytes(r["chain_hash"]),
            )
            for r in rows
        ]

    async def root_at(self, conn: asyncpg.Connection, election_id: str, size: int) -> bytes:
        nodes = await self.nodes(conn, election_id, merkle.root_nodes(size))
        return merkle.root_hash(size, nodes)

    async def inclusion_proof(
        self, conn: asyncpg.Connection, election_id: str, index: int, size: int
    ) -> list[bytes]:
        nodes = await self.nodes(conn, election_id, merkle.inclusion_nodes(index, size))
        return merkle.inclusion_proof(index, size, nodes)

    async def consistency_proof(
        self, conn: asyncpg.Connection, election_id: str, old: int, new: int
    ) -> list[bytes]:
        nodes = await self.nodes(conn, election_id, merkle.consistency_nodes(old, new))
        return merkle.consistency_proof(old, new, nodes)

    async def checkpoint(
        self,
        conn: asyncpg.Connection,
        election_id: str,
        signers: list[Signer],
        reason: str,
    ) -> SignedCheckpoint:
        """Sign and store a checkpoint at the current head, unless one exists at that size."""
        async with conn.transaction():
            row = await conn.fetchrow(Q["lock_head"], election_id)
            if row is None:
                raise UnknownLog(election=election_id)
            head = _head(row)
            existing = await conn.fetchrow(Q["checkpoint_at"], election_id, head.size)
            cp = Checkpoint(origin=head.origin, size=head.size, root=head.root)
            if existing is not None:
                if bytes(existing["root"]) != head.root:
                    raise LedgerError("stored checkpoint disagrees with the head", size=head.size)
                return SignedCheckpoint(checkpoint=cp, note=existing["note"])
            signed = sign_checkpoint(cp, signers)
            await conn.execute(
                Q["insert_checkpoint"], election_id, head.size, head.root, signed.note, reason
            )
            return signed

    async def latest_checkpoint(
        self, conn: asyncpg.Connection, election_id: str
    ) -> SignedCheckpoint | None:
        row = await conn.fetchrow(Q["latest_checkpoint"], election_id)
        if row is None:
            return None
        cp = Checkpoint(origin="", size=row["size"], root=bytes(row["root"]))
        head = await self.head(conn, election_id)
        return SignedCheckpoint(
            checkpoint=Checkpoint(origin=head.origin, size=cp.size, root=cp.root), note=row["note"]
        )
