"""The returning officer's approval of counted results (definition ``declare: on_approval``).

The counter counts each contest at the close and sends its signed declaration as usual
(``Closing.declare`` verifies it). In an election declared on approval the ledger keeps it,
private, as the contest's *provisional* result; the counter's pages show it as provisional.
The officer's ``POST /v1/elections/{e}/contests/{c}/declare`` then appends ``result_approved``
(the result hash approved) and the kept ``result_declared``. A retry after a failure between
the two appends only the declaration; a second approval of a declared contest is refused.
"""

from __future__ import annotations

import json
from typing import Any

from ledger.domain import election as el
from ledger.errors import InvalidDeclaration, ResultNotCounted
from ledger.format.receipts import Receipt
from ledger.service.base import Q, log
from ledger.service.reads import Reads


class Approval(Reads):
    """Provisional results kept for approval, and the approval that declares them."""

    async def hold(self, eid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Keep a verified declaration as the contest's provisional result. The first one
        stands: another with the same result hash is a retry, one with another is refused."""
        contest = body["contest"]
        async with self.pool.acquire() as conn:
            await conn.execute(
                Q["insert_provisional"], eid, contest, body["result_hash"], json.dumps(body)
            )
            row = await conn.fetchrow(Q["provisional"], eid, contest)
        if row["result_hash"] != body["result_hash"]:
            raise InvalidDeclaration(
                "another provisional result is held for this contest",
                contest=contest,
                held=row["result_hash"],
            )
        log.info("result_provisional", election_id=eid, contest=contest)
        return {
            "status": "awaiting_approval",
            "contest": contest,
            "result_hash": body["result_hash"],
        }

    async def provisional(self, eid: str) -> dict[str, str]:
        """Contest -> the result hash held for approval."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(Q["provisionals"], eid)
        return {r["contest_id"]: r["result_hash"] for r in rows}

    async def approve(self, eid: str, contest: str) -> Receipt:
        """Approve the contest's provisional result: append ``result_approved``, then its
        ``result_declared``; return the declaration's receipt."""
        state = await self.state(eid)
        d = state.require_definition()
        d.contest(contest)
        if state.phase not in el.ALLOWED["result_approved"]:
            raise el.WrongPhase(
                f"a result cannot be approved in phase {state.phase}", phase=state.phase
            )
        if d.declare != "on_approval":
            raise el.WrongPhase(
                "this election declares its results without approval", declare=d.declare
            )
        if contest in state.declared:
            raise el.AlreadyDeclared(contest=contest)
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(Q["provisional"], eid, contest)
        if row is None:
            raise ResultNotCounted(contest=contest, phase=state.phase)
        body = json.loads(row["declaration"])
        if state.approved.get(contest) != body["result_hash"]:
            event = {"contest": contest, "result_hash": body["result_hash"]}
            await self.append_event(eid, "result_approved", lambda s: event)
            log.info("result_approved", election_id=eid, contest=contest)
        receipt, _ = await self.append_event(eid, "result_declared", lambda s: dict(body))
        return receipt
