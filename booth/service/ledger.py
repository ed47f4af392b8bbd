"""The ledger as the booth sees it: the public state of an election (cached for a moment), and
casting through the front-end API.

A cast is sent with the ballot's submission id; when the ledger cannot be reached, or answers
that it is unavailable, the very same body is sent again (up to ``attempts`` times): the ledger
answers a repeated submission with the first answer, so a retry never makes a second ballot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import structlog

from booth.errors import AlreadyVoted, LedgerRefused, LedgerUnavailable, PollNotOpen

log = structlog.get_logger(__name__)
RETRYABLE = frozenset((502, 503, 504))
BACKOFF = (0.2, 0.5, 1.0, 2.0)


class LedgerClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str | None,
        *,
        attempts: int = 4,
        cache_seconds: float = 2.0,
    ) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.token = token
        self.attempts = attempts
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    async def election(self, eid: str) -> dict[str, Any]:
        """``GET /v1/elections/{eid}``: phase, definition, standing, withdrawn."""
        now = time.monotonic()
        hit = self._cache.get(eid)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        try:
            async with self.session.get(f"{self.url}/v1/elections/{eid}") as r:
                if r.status != 200:
                    raise LedgerUnavailable(status=r.status)
                body: dict[str, Any] = await r.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LedgerUnavailable() from exc
        self._cache[eid] = (now, body)
        return body

    async def cast(
        self,
        eid: str,
        voter_id: str,
        submission_id: str,
        selections: Mapping[str, Sequence[str]],
    ) -> dict[str, Any]:
        """Cast one member's ballot paper; the ledger's answer (``submission_id``, ``receipts``
        by contest)."""
        body = {
            "submission_id": submission_id,
            "voter_id": voter_id,
            "selections": {c: list(s) for c, s in selections.items()},
        }
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(BACKOFF[min(attempt - 1, len(BACKOFF) - 1)])
            try:
                async with self.session.post(
                    f"{self.url}/v1/elections/{eid}/ballots", json=body, headers=headers
                ) as r:
                    if r.status in RETRYABLE:
                        log.warning("cast_retry", status=r.status, attempt=attempt + 1)
                        continue
                    answer = await r.json(content_type=None)
                    if r.status in (200, 201):
                        return dict(answer)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("cast_retry", error=type(exc).__name__, attempt=attempt + 1)
                continue
            kind = str(answer.get("type", "")).rsplit(":", 1)[-1]
            if kind == "already-voted":
                raise AlreadyVoted()
            if kind == "wrong-phase":
                raise PollNotOpen()
            raise LedgerRefused(
                "The ballot box refused this ballot: " + str(answer.get("detail", kind)),
                kind=kind,
            )
        raise LedgerUnavailable()
