"""After an election, nothing the booth kept (every table of its database) or logged links a
member to a selection, a receipt or an event hash."""

from __future__ import annotations

import json
import re
from datetime import datetime

import asyncpg
from structlog.testing import capture_logs

from .conftest import DEFINITION, ROLL, Booth, mark_form
from .test_booth_flow import receipts_on

VOTERS = [voter for voter, _ in ROLL[:8]]


async def test_the_booth_keeps_and_logs_nothing_that_links_a_member_to_a_vote(
    booth: Booth,
) -> None:
    """Eight members vote; the dump of the booth's tables and its log lines hold no receipt
    code, event, leaf or chain hash, signature, submission id, candidate, nor any time finer
    than the minute; the log lines hold no voter id and no voting code."""
    secrets_of_votes: set[str] = set()
    with capture_logs() as logs:
        for voter in VOTERS:
            page = await booth.vote(voter, mark_form(voter))
            for code, receipt in receipts_on(page).values():
                secrets_of_votes.add(code)
                secrets_of_votes.add(code.replace("-", ""))
                for name in ("event_hash", "leaf_hash", "chain_hash", "signature", "blind", "salt"):
                    if name in receipt:
                        secrets_of_votes.add(str(receipt[name]))
                event = receipt.get("event", {})  # acceptance receipts (issue 14)
                for name in ("nonce", "commitment"):
                    if name in event:
                        secrets_of_votes.add(str(event[name]))
            secrets_of_votes.update(re.findall(r"booth-[0-9a-f]{32}", page))
        entries = await booth.close_poll()
    assert sum(json.loads(e["entry"])["type"] == "ballot_cast" for e in entries) > len(VOTERS)
    for entry in entries:  # the log's own hashes of every ballot
        secrets_of_votes.update((entry["leaf_hash"], entry["chain_hash"]))
    candidates = {
        text
        for contest in DEFINITION["contests"]
        for c in contest["candidates"]
        for text in (c["id"], c["name"])
    }

    dump = await booth.dump()
    assert all(voter in dump for voter in VOTERS)  # the dump is really of the members' rows
    lines = "\n".join(json.dumps(e, default=str) for e in logs)
    for text in (dump, lines):
        lowered = text.lower()
        for secret in secrets_of_votes:
            assert secret.lower() not in lowered
        for candidate in candidates:
            assert candidate.lower() not in lowered
    for voter in VOTERS:
        assert not re.search(rf"\b{voter}\b", lines)
        assert booth.codes[voter] not in lines and booth.codes[voter] not in dump

    conn = await asyncpg.connect(booth.database_url)
    try:
        voted = await conn.fetch("SELECT voted_on FROM booth_members WHERE voted_on IS NOT NULL")
        columns = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
            )
        }
    finally:
        await conn.close()
    assert len(voted) == len(VOTERS)
    stamps: list[datetime] = [r["voted_on"] for r in voted]
    assert all(s.second == 0 and s.microsecond == 0 for s in stamps)
    assert columns == {
        "election_id",
        "voter_id",
        "attributes",
        "code_hash",
        "issued_at",
        "voted_on",
        "version",
        "applied_at",
    }
