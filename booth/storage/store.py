"""The booth's store: members, their codes' keyed hashes, and whether they voted.

Migrations as the counter's (a table of applied versions, under an advisory lock). A code's
hash is unique across elections: a code names one member of one election.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from booth.storage import sql
from ledger.storage.store import apply_migrations

Q = sql.queries()
MIGRATIONS_TABLE = "booth_schema_migrations"


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRow:
    election_id: str
    voter_id: str
    attributes: Mapping[str, Any]
    code_hash: bytes
    voted_on: datetime | None


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the booth's migrations not yet applied, in order; return the versions applied."""
    return await apply_migrations(conn, sql.FILES, MIGRATIONS_TABLE, "ballot-booth:migrate")


def _member(row: Any) -> MemberRow:
    return MemberRow(
        election_id=row["election_id"],
        voter_id=row["voter_id"],
        attributes=json.loads(row["attributes"]),
        code_hash=bytes(row["code_hash"]),
        voted_on=row["voted_on"],
    )


class BoothStore:
    async def issue(
        self,
        conn: asyncpg.Connection,
        election: str,
        voter_id: str,
        attributes: Mapping[str, Any],
        code_hash: bytes,
    ) -> bool:
        """Record a member's first code; False if the member already has one."""
        got = await conn.fetchval(Q["issue"], election, voter_id, json.dumps(attributes), code_hash)
        return got is not None

    async def reissue(
        self, conn: asyncpg.Connection, election: str, voter_id: str, code_hash: bytes
    ) -> bool:
        """Replace a member's code (revoking the old); False if there is no such member."""
        return await conn.fetchval(Q["reissue"], election, voter_id, code_hash) is not None

    async def by_code(self, conn: asyncpg.Connection, code_hash: bytes) -> MemberRow | None:
        row = await conn.fetchrow(Q["by_code"], code_hash)
        return None if row is None else _member(row)

    async def member(
        self, conn: asyncpg.Connection, election: str, voter_id: str
    ) -> MemberRow | None:
        row = await conn.fetchrow(Q["member"], election, voter_id)
        return None if row is None else _member(row)

    async def mark_voted(self, conn: asyncpg.Connection, election: str, voter_id: str) -> None:
        await conn.execute(Q["mark_voted"], election, voter_id)
