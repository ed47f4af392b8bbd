"""Issuing voting codes: one fresh code per member on the roll who has none yet, or a new code
for named members (which revokes their old one). Only the codes' keyed hashes are stored; the
codes themselves are returned once, to be written to the mail-merge file."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from booth.domain import codes
from booth.errors import CodesError
from booth.storage.store import BoothStore

STORE = BoothStore()


async def issue(
    conn: asyncpg.Connection,
    secret: bytes,
    election: str,
    members: Sequence[tuple[str, dict[str, Any]]],
) -> list[tuple[str, str]]:
    """A code for each member of ``members`` who has none in ``election``: ``(voter_id,
    code)`` for each code issued (members who already have one are left as they are)."""
    issued = []
    async with conn.transaction():
        for voter, attributes in members:
            code = codes.new_code()
            if await STORE.issue(conn, election, voter, attributes, codes.code_hash(secret, code)):
                issued.append((voter, code))
    return issued


async def reissue(
    conn: asyncpg.Connection, secret: bytes, election: str, voters: Sequence[str]
) -> list[tuple[str, str]]:
    """A new code for each of ``voters``; their old codes no longer sign in."""
    issued = []
    async with conn.transaction():
        for voter in voters:
            code = codes.new_code()
            if not await STORE.reissue(conn, election, voter, codes.code_hash(secret, code)):
                raise CodesError(f"{voter} has no code in {election} to replace")
            issued.append((voter, code))
    return issued


def codes_csv(election: str, issued: Sequence[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["election", "voter_id", "code"])
    for voter, code in issued:
        writer.writerow([election, voter, code])
    return out.getvalue()


async def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only (codes are secrets)."""

    def write() -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CodesError(f"{path} exists: codes are never written over a file") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)

    await asyncio.to_thread(write)
