"""The counter's view of the ledger: its public HTTP API (entries, checkpoints, proofs, keys),
and the one authenticated call, posting a declaration. Everything it returns is checked by
the follower; this module only fetches and parses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import structlog

from ledger.errors import DecodeError, LedgerError
from ledger.format.encoding import hex_strict

log = structlog.get_logger(__name__)


class LedgerUnreachable(LedgerError):
    """The ledger could not be reached or answered with a server error; retry later."""


class LedgerRefused(LedgerError):
    """The ledger refused the request."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEntry:
    index: int
    body: bytes
    leaf_hash: bytes
    chain_hash: bytes


class Source(Protocol):
    """What a follower reads from (and posts to) the ledger: its public API."""

    async def entries(self, eid: str, start: int, limit: int, wait: int) -> list[FeedEntry]: ...

    async def checkpoint_sizes(self, eid: str) -> list[int]: ...

    async def checkpoint_note(self, eid: str, size: int) -> str: ...

    async def consistency(self, eid: str, old: int, new: int) -> list[bytes]: ...

    async def declare(self, eid: str, body: Mapping[str, Any]) -> tuple[int, Any]: ...


# --- the ledger's HTTP API ---------------------------------------------------------------------


def _hex32(value: Any, what: str) -> bytes:
    try:
        return hex_strict(value, 32, what=what)
    except DecodeError as exc:
        raise LedgerRefused(exc.message) from exc


class LedgerClient:
    """The ledger's public API over HTTP (and the counter-token results endpoint)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None) -> None:
        self.session = session
        self.base = base_url.rstrip("/")
        self.token = token

    async def _get(self, path: str, *, seconds: float = 30.0, text: bool = False) -> Any:
        try:
            async with self.session.get(
                self.base + path, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as r:
                if r.status >= 500:
                    raise LedgerUnreachable(status=r.status, path=path)
                if r.status != 200:
                    raise LedgerRefused(status=r.status, path=path, body=(await r.text())[:300])
                return await r.text() if text else await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LedgerUnreachable(error=str(exc) or type(exc).__name__, path=path) from exc

    async def elections(self) -> list[dict[str, Any]]:
        body = await self._get("/v1/elections")
        return list(body["elections"])

    async def election(self, eid: str) -> dict[str, Any]:
        body: dict[str, Any] = await self._get(f"/v1/elections/{eid}")
        return body

    async def keys(self) -> dict[str, Any]:
        body: dict[str, Any] = await self._get("/v1/keys")
        return body

    async def entries(self, eid: str, start: int, limit: int, wait: int) -> list[FeedEntry]:
        body = await self._get(
            f"/v1/elections/{eid}/entries?start={start}&limit={limit}&wait={wait}",
            seconds=wait + 30.0,
        )
        try:
            return [
                FeedEntry(
                    index=int(e["index"]),
                    body=str(e["entry"]).encode(),
                    leaf_hash=_hex32(e["leaf_hash"], "leaf_hash"),
                    chain_hash=_hex32(e["chain_hash"], "chain_hash"),
                )
                for e in body["entries"]
            ]
        except (KeyError, TypeError) as exc:
            raise LedgerRefused("the entries page is malformed", start=start) from exc

    async def checkpoint_sizes(self, eid: str) -> list[int]:
        body = await self._get(f"/v1/elections/{eid}/checkpoints")
        return [int(s) for s in body["sizes"]]

    async def checkpoint_note(self, eid: str, size: int) -> str:
        note: str = await self._get(f"/v1/elections/{eid}/checkpoints/{size}", text=True)
        return note

    async def consistency(self, eid: str, old: int, new: int) -> list[bytes]:
        body = await self._get(f"/v1/elections/{eid}/proofs/consistency?old={old}&new={new}")
        return [_hex32(p, "proof element") for p in body["proof"]]

    async def declare(self, eid: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with self.session.post(
                f"{self.base}/v1/elections/{eid}/results", json=dict(body), headers=headers
            ) as r:
                return r.status, await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LedgerUnreachable(error=str(exc) or type(exc).__name__) from exc


# --- pure helpers ------------------------------------------------------------------------------
