"""The log store on a real PostgreSQL: appends, proofs, checkpoints, append-only enforcement."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from ledger.format import merkle
from ledger.format.chain import chain_fold
from ledger.format.checkpoint import open_checkpoint
from ledger.format.entry import parse_entry, template
from ledger.format.keys import Keyring, Signer
from ledger.storage import sql
from ledger.storage.store import LogStore, UnknownLog, migrate

SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(32))
ORIGIN = "ballot-ledger.test/elections/e1"


async def _fill(db: asyncpg.Connection, store: LogStore, batches: list[int]) -> None:
    await store.create_log(db, "e1", ORIGIN)
    n = 0
    for size in batches:
        async with db.transaction():
            await store.append(db, "e1", [template("e1", "t", {"n": n + i}) for i in range(size)])
        n += size


async def test_append_assigns_contiguous_indices_and_hashes(db: asyncpg.Connection) -> None:
    """Batches get contiguous indices; stored leaf, chain and root recompute from the bodies."""
    store = LogStore()
    await _fill(db, store, [1, 5, 2, 17])
    entries = await store.entries(db, "e1", 0, 100)
    assert [e.index for e in entries] == list(range(25))
    assert [parse_entry(e.body).event["n"] for e in entries] == list(range(25))
    leaves = [merkle.leaf_hash(e.body) for e in entries]
    assert leaves == [e.leaf_hash for e in entries]
    head = await store.head(db, "e1")
    assert head.size == 25
    assert head.chain_head == chain_fold(leaves) == entries[-1].chain_hash
    tree = merkle.MemoryTree()
    tree.extend(leaves)
    assert head.root == tree.root()


async def test_proofs_from_the_store_match_the_memory_tree(db: asyncpg.Connection) -> None:
    """Roots and proofs computed from stored nodes equal the in-memory tree's, and verify."""
    store = LogStore()
    await _fill(db, store, [3, 30, 4])
    entries = await store.entries(db, "e1", 0, 100)
    tree = merkle.MemoryTree()
    tree.extend(e.leaf_hash for e in entries)
    for size in (1, 2, 3, 16, 33, 37):
        assert await store.root_at(db, "e1", size) == tree.root(size)
    proof = await store.inclusion_proof(db, "e1", 20, 37)
    merkle.verify_inclusion(20, 37, entries[20].leaf_hash, proof, tree.root())
    proof = await store.consistency_proof(db, "e1", 3, 37)
    merkle.verify_consistency(3, 37, tree.root(3), tree.root(), proof)


async def test_a_fresh_store_resumes_from_the_database(db: asyncpg.Connection) -> None:
    """A new process (empty cache) continues the log with the right indices, chain and root."""
    await _fill(db, LogStore(), [7])
    other = LogStore()
    async with db.transaction():
        appended = await other.append(db, "e1", [template("e1", "t", {"n": 7})])
    assert appended[0].index == 7
    entries = await other.entries(db, "e1", 0, 100)
    tree = merkle.MemoryTree()
    tree.extend(e.leaf_hash for e in entries)
    head = await other.head(db, "e1")
    assert head.root == tree.root() and head.chain_head == chain_fold(
        tree.nodes[(0, i)] for i in range(8)
    )


async def test_rolled_back_append_leaves_no_trace(db: asyncpg.Connection) -> None:
    """A batch whose transaction rolls back leaves the log as it was, and the next append fits."""
    store = LogStore()
    await _fill(db, store, [2])
    before = await store.head(db, "e1")
    with pytest.raises(RuntimeError):  # noqa: PT012 - the crash must happen inside the batch
        async with db.transaction():
            await store.append(db, "e1", [template("e1", "t", {"n": 99})])
            raise RuntimeError("crash inside the batch")
    assert await store.head(db, "e1") == before
    async with db.transaction():
        appended = await store.append(db, "e1", [template("e1", "t", {"n": 2})])
    assert appended[0].index == 2
    tree = merkle.MemoryTree()
    tree.extend(e.leaf_hash for e in await store.entries(db, "e1", 0, 10))
    assert (await store.head(db, "e1")).root == tree.root()


async def test_checkpoints_sign_the_head_once_per_size(db: asyncpg.Connection) -> None:
    """A checkpoint signs the head; asking again at the same size returns the same note."""
    store = LogStore()
    await _fill(db, store, [4])
    first = await store.checkpoint(db, "e1", [SIGNER], reason="test")
    again = await store.checkpoint(db, "e1", [SIGNER], reason="test")
    assert first.note == again.note
    cp = open_checkpoint(first.note, Keyring([SIGNER.verifier]), origin=ORIGIN)
    assert cp.size == 4 and cp.root == (await store.head(db, "e1")).root
    latest = await store.latest_checkpoint(db, "e1")
    assert latest is not None and latest.note == first.note


async def test_unknown_log_is_an_error(db: asyncpg.Connection) -> None:
    """Appending to a log that does not exist raises UnknownLog."""
    with pytest.raises(UnknownLog):
        async with db.transaction():
            await LogStore().append(db, "nope", [template("nope", "t", {})])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE entries SET kind = 'x' WHERE idx = 0",
        "DELETE FROM entries WHERE idx = 0",
        "TRUNCATE entries",
        "UPDATE tree_nodes SET hash = hash WHERE idx = 0",
        "DELETE FROM tree_nodes",
        "TRUNCATE tree_nodes CASCADE",
        "UPDATE checkpoints SET note = ''",
        "DELETE FROM checkpoints",
        "TRUNCATE checkpoints",
        "DELETE FROM logs",
        "UPDATE logs SET size = 0",
        "TRUNCATE logs CASCADE",
    ],
)
async def test_database_refuses_to_change_the_log(db: asyncpg.Connection, statement: str) -> None:
    """Even the owner (a superuser here) cannot UPDATE, DELETE or TRUNCATE the log."""
    store = LogStore()
    await _fill(db, store, [3])
    await store.checkpoint(db, "e1", [SIGNER], reason="test")
    with pytest.raises(asyncpg.PostgresError) as err:
        await db.execute(statement)
    assert err.value.sqlstate == "BL001"
    assert "append-only" in str(err.value) or "may only grow" in str(err.value)
    assert (await store.head(db, "e1")).size == 3


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        ("SELECT count(*) FROM entries", True),
        (
            "INSERT INTO entries SELECT election_id, idx + 100, kind, leaf_hash, chain_hash, body, "
            "appended_at FROM entries WHERE false",
            True,
        ),
        ("UPDATE entries SET kind = 'x'", False),
        ("DELETE FROM entries", False),
        ("TRUNCATE entries", False),
        ("DELETE FROM tree_nodes", False),
        ("UPDATE checkpoints SET note = ''", False),
        ("UPDATE logs SET updated_at = now() WHERE false", True),
        ("DELETE FROM logs", False),
    ],
)
async def test_service_role_has_insert_and_select_only(
    db: asyncpg.Connection, statement: str, allowed: bool
) -> None:
    """The ballot_service role may read and append the log, never change or remove it."""
    await _fill(db, LogStore(), [2])
    async with db.transaction():
        await db.execute("SET LOCAL ROLE ballot_service")
        if allowed:
            await db.execute(statement)
        else:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await db.execute(statement)


async def _catalog(url: str) -> dict[str, Any]:
    """A description of the public schema: columns, constraints, indexes, triggers, grants."""
    conn = await asyncpg.connect(url)
    try:
        queries = {
            "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default
                          FROM information_schema.columns WHERE table_schema = 'public'""",
            "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                              FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
            "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public'",
            "triggers": """SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)
                           FROM pg_trigger WHERE NOT tgisinternal""",
            "functions": """SELECT proname, pg_get_functiondef(oid) FROM pg_proc
                            WHERE pronamespace = 'public'::regnamespace""",
            "grants": """SELECT grantee, table_name, privilege_type
                         FROM information_schema.role_table_grants
                         WHERE table_schema = 'public'""",
            "migrations": "SELECT version FROM schema_migrations",
        }
        return {k: sorted(tuple(r) for r in await conn.fetch(q)) for k, q in queries.items()}
    finally:
        await conn.close()


async def test_migrations_produce_exactly_the_schema(fresh_database: Any) -> None:
    """Applying every migration in order yields exactly what schema.sql defines."""
    from_schema = fresh_database()
    conn = await asyncpg.connect(from_schema)
    await conn.execute(sql.schema())
    await conn.close()
    from_migrations = fresh_database()
    conn = await asyncpg.connect(from_migrations)
    applied = await migrate(conn)
    assert await migrate(conn) == []  # a second run applies nothing
    await conn.close()
    assert applied == [v for v, _ in sql.migrations()]
    assert await _catalog(from_schema) == await _catalog(from_migrations)


async def test_migrate_on_a_schema_built_database_is_a_no_op(db: asyncpg.Connection) -> None:
    """A database built from schema.sql is already at the latest migration."""
    assert await migrate(db) == []
