"""Administration: define an election, publish its roll, record nominations and withdrawals,
and move its phases."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg

from ledger.domain import election as el
from ledger.domain import schemas
from ledger.errors import (
    ElectionExists,
)
from ledger.format.checkpoint import election_origin
from ledger.format.entry import template
from ledger.format.receipts import Receipt
from ledger.service.base import LedgerBase, Q, _poll_close, log
from ledger.service.roll import parse_roll


class Administration(LedgerBase):
    """The returning officer's operations (admin tokens) and the counter's declarations."""

    # --- definition, roll, nominations, phases ----------------------------------------------

    async def define(self, eid: str, document: Any) -> tuple[Receipt, bool]:
        """Define (or, during setup, redefine) an election. Returns (receipt, created)."""
        definition = el.parse_definition(document)
        event = {
            "definition": definition.document,
            "keys": {"ledger": [self.signer.verifier.text()]},
        }
        schemas.validate_event("election_defined", event)
        async with self.pool.acquire() as conn:
            exists = await conn.fetchrow(Q["election_row"], eid)
        if exists is not None:
            receipt, _ = await self.append_event(eid, "election_defined", lambda s: event)
            return receipt, False
        origin = election_origin(self.settings.origin_prefix, eid)
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await self.store.create_log(conn, eid, origin)
                    state = el.apply(el.ElectionState(election_id=eid), "election_defined", event)
                    await conn.execute(
                        Q["insert_election"],
                        eid,
                        state.phase,
                        definition.sealed,
                        _poll_close(definition),
                    )
                    (appended,) = await self.store.append(
                        conn, eid, [template(eid, "election_defined", event)]
                    )
                    await self._notify(conn, eid)
            except asyncpg.UniqueViolationError as exc:
                self.store.forget(eid)
                raise ElectionExists(election=eid) from exc
            except BaseException:
                self.store.forget(eid)
                raise
        self._states[eid] = (1, state)
        log.info("election_defined", election_id=eid, seq=appended.index)
        await self.checkpoint(eid, "phase:setup")
        return self.receipt(eid, appended), True

    async def upload_roll(
        self, eid: str, content_type: str, chunks: AsyncIterator[bytes]
    ) -> tuple[Receipt, dict[str, Any]]:
        """Stream a roll (CSV with a ``voter_id`` column, or NDJSON rows), replace the private
        roll, and publish each contest's eligible count and roll hash."""
        rows = await parse_roll(content_type, chunks, self.settings.max_roll_bytes)
        salt = secrets.token_bytes(32)
        summary: dict[str, Any] = {}

        def build(state: el.ElectionState) -> dict[str, Any]:
            d = state.require_definition()
            contests = {}
            for c in d.contests:
                ids = [vid for vid, attrs in rows if el.eligible(c.eligibility, attrs)]
                contests[c.id] = {"eligible": len(ids), "roll_hash": el.roll_hash(salt, ids)}
                if len(ids) < d.round_size:
                    contests[c.id]["below_round_size"] = True
            summary.update(voters=len(rows), contests=contests)
            return {"voters": len(rows), "contests": contests}

        async def store_roll(conn: asyncpg.Connection, state: el.ElectionState) -> None:
            await conn.execute(Q["delete_roll"], eid)
            await conn.copy_records_to_table(
                "roll",
                records=[(eid, vid, json.dumps(attrs)) for vid, attrs in rows],
                columns=["election_id", "voter_id", "attributes"],
            )
            await conn.execute(Q["set_roll_salt"], eid, salt)

        receipt, _ = await self.append_event(eid, "roll_published", build, extra=store_roll)
        return receipt, summary

    async def nominate(self, eid: str, body: Mapping[str, Any]) -> Receipt:
        schemas.validate(schemas.NOMINATION, body)
        event = {"contest": body["contest"], "candidate": body["candidate"], "body": body["body"]}
        if "kind" in body:
            event["kind"] = body["kind"]
        receipt, _ = await self.append_event(eid, "nomination_recorded", lambda s: event)
        return receipt

    async def withdraw(self, eid: str, contest: str, candidate: str, body: Any) -> Receipt:
        schemas.validate(schemas.WITHDRAWAL, body)
        event = {"contest": contest, "candidate": candidate, **body}
        receipt, _ = await self.append_event(eid, "candidate_withdrawn", lambda s: event)
        return receipt

    async def phase_event(self, eid: str, kind: str) -> Receipt:
        def build(state: el.ElectionState) -> dict[str, Any]:
            if kind == "nominations_closed" and state.phase == "nominations":
                return el.standing_event(state)
            return {}

        receipt, _ = await self.append_event(eid, kind, build)
        return receipt
