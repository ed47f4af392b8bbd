"""Closing the poll: every contest's final release round and ``poll_closed`` in one
transaction, then every sealed ballot opened (``ballot_opened``) in
batches, resumable after a crash at any point; then the counter's signed declarations (held
for the returning officer's approval where the definition says ``declare: on_approval``:
``ledger.service.approval``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ledger.domain import election as el
from ledger.domain import schemas
from ledger.domain.election import declaration_message
from ledger.errors import (
    DecodeError,
    InvalidDeclaration,
    LedgerError,
)
from ledger.format.encoding import b64_strict
from ledger.format.entry import template
from ledger.format.keys import Verifier
from ledger.format.receipts import Receipt
from ledger.runtime import metrics
from ledger.service.approval import Approval
from ledger.service.base import Q, log
from ledger.service.rounds import Rounds

OPEN_BATCH = 2000


class Closing(Approval, Rounds):
    """The close of the poll (after every contest's final release round), the openings of
    sealed ballots, and the counter's declarations."""

    # --- closing ----------------------------------------------------------------------------

    def _closing_task(self, eid: str, scheduled: bool = False) -> asyncio.Task[dict[str, Any]]:
        task = self._closing.get(eid)
        if task is None or task.done():
            task = asyncio.create_task(self._close(eid, scheduled), name=f"close:{eid}")
            self._closing[eid] = task
        return task

    async def close(self, eid: str) -> dict[str, Any]:
        """Close the poll and open every sealed ballot; resumable and idempotent."""
        return await asyncio.shield(self._closing_task(eid))

    async def _close(self, eid: str, scheduled: bool) -> dict[str, Any]:
        try:
            state = await self.state(eid)
            if state.phase == "poll_open":
                closing: dict[str, Any] = {"scheduled": True} if scheduled else {}
                await self.append_event(
                    eid, "poll_closed", lambda s: closing, before=self.final_rounds
                )
            elif state.phase not in ("poll_closed", "declared"):
                raise el.WrongPhase(
                    f"the poll cannot close in phase {state.phase}", phase=state.phase
                )
        except BaseException:
            # Refused, or failed before the poll closed: the election is not closing, and
            # the housekeeping's checkpoints and turnout reports go on for it.
            if self._closing.get(eid) is asyncio.current_task():
                del self._closing[eid]
            raise
        # The final turnout report (the groups, when the rule shows them): after poll_closed,
        # when no ballot can arrive; taken once, so a resumed close takes it if it is missing.
        if (await self.state(eid)).phase == "poll_closed":
            await self.report_turnout(eid)
        opened = 0
        while True:
            async with self.pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        await conn.fetchrow(Q["lock_head"], eid)
                        state = await self._load_state(conn, eid)
                        rows = await conn.fetch(Q["unopened_ballots"], eid, OPEN_BATCH)
                        if not rows:
                            break
                        templates = []
                        for r in rows:
                            event = {
                                "contest": r["contest_id"],
                                "cast_index": r["cast_index"],
                                "selections": json.loads(r["selections"]),
                                "salt": bytes(r["salt"]).hex(),
                            }
                            el.apply(state, "ballot_opened", event)
                            templates.append(template(eid, "ballot_opened", event))
                        appended = await self.store.append(conn, eid, templates)
                        await conn.copy_records_to_table(
                            "openings",
                            records=[
                                (eid, r["cast_index"], a.index)
                                for r, a in zip(rows, appended, strict=True)
                            ],
                            columns=["election_id", "cast_index", "opened_index"],
                        )
                        await self._notify(conn, eid)
                except BaseException:
                    self.store.forget(eid)
                    raise
            opened += len(rows)
            metrics.APPENDS.labels("ballot_opened").inc(len(rows))
            log.info("ballots_opened", election_id=eid, count=len(rows), total=opened)
        cp = await self.checkpoint(eid, "openings-complete")
        log.info("poll_closed", election_id=eid, opened=opened, size=cp.checkpoint.size)
        return {"phase": "poll_closed", "opened": opened, "size": cp.checkpoint.size}

    async def unopened(self, eid: str) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval(Q["count_unopened"], eid))

    # --- results ----------------------------------------------------------------------------

    async def declare(self, eid: str, body: Any) -> Receipt | dict[str, Any]:
        """Append a counter-signed result declaration (DESIGN §3 ``result_declared``), or,
        in an election declared on approval, hold it as the provisional result."""
        schemas.validate(schemas.DECLARATION, body)
        try:
            key = Verifier.parse(body["key"])
        except LedgerError as exc:
            raise InvalidDeclaration("the declaring key is not a verifier key") from exc
        if self.counter_keys.get(key.name, key.key_id) is None and key != self.signer.verifier:
            raise InvalidDeclaration("the declaring key is not trusted", key=key.text())
        try:
            key.verify(declaration_message(body), _b64(body["signature"]))
        except LedgerError as exc:
            raise InvalidDeclaration("the declaration signature does not verify") from exc
        if await self.unopened(eid):
            raise el.WrongPhase("sealed ballots are still being opened")
        state = await self.state(eid)
        contest = state.require_definition().contest(body["contest"])
        elected = body.get("elected", [])
        if len(elected) > contest.seats or any(contest.candidate(c) is None for c in elected):
            raise InvalidDeclaration(
                "the elected must be at most the seats, all candidates of the contest",
                contest=contest.id,
            )
        async with self.pool.acquire() as conn:
            head = await self.store.head(conn, eid)
            if body["counted_size"] > head.size:
                raise InvalidDeclaration("counted size is beyond the log", size=head.size)
            root = await self.store.root_at(conn, eid, body["counted_size"])
        if root.hex() != body["counted_root"]:
            raise InvalidDeclaration("counted root is not the log's root at that size")
        if state.require_definition().declare == "on_approval":
            if contest.id in state.declared:
                raise el.AlreadyDeclared(contest=contest.id)
            return await self.hold(eid, body)
        receipt, _ = await self.append_event(eid, "result_declared", lambda s: dict(body))
        return receipt


def _b64(text: str) -> bytes:
    try:
        return b64_strict(text, 64, what="signature")
    except DecodeError as exc:
        raise InvalidDeclaration(f"{exc.message}") from exc
