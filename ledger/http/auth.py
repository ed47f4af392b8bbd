"""Bearer tokens for writers: admins, front-ends and counters. Reads are public.

Tokens are compared in constant time (``hmac.compare_digest`` of SHA-256 digests, against
every configured token, so the time taken says nothing about which one matched).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ledger.http.problems import Forbidden, Unauthorized

Role = Literal["admin", "frontend", "counter"]


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    elections: tuple[str, ...]

    def covers(self, election: str) -> bool:
        return "*" in self.elections or election in self.elections


class TokenTable:
    def __init__(
        self,
        admin: tuple[str, ...],
        frontend: Mapping[str, tuple[str, ...]],
        counter: Mapping[str, tuple[str, ...]],
    ) -> None:
        self._grants: list[tuple[bytes, Grant]] = []
        for token in admin:
            self._add(token, Grant("admin", ("*",)))
        for token, scope in frontend.items():
            self._add(token, Grant("frontend", scope))
        for token, scope in counter.items():
            self._add(token, Grant("counter", scope))

    def _add(self, token: str, grant: Grant) -> None:
        if len(token) < 16:
            raise ValueError("tokens must be at least 16 characters")
        self._grants.append((hashlib.sha256(token.encode()).digest(), grant))

    def lookup(self, header: str | None) -> list[Grant]:
        if not header or not header.startswith("Bearer "):
            raise Unauthorized("a bearer token is required")
        try:
            token = header[7:].strip().encode()
        except UnicodeEncodeError:  # bytes that are not UTF-8 (aiohttp keeps them as surrogates)
            raise Unauthorized("the bearer token is not valid") from None
        digest = hashlib.sha256(token).digest()
        found = [g for d, g in self._grants if hmac.compare_digest(d, digest)]
        if not found:
            raise Unauthorized("the bearer token is not valid")
        return found

    def require(self, header: str | None, roles: tuple[Role, ...], election: str | None) -> Grant:
        for grant in self.lookup(header):
            if grant.role in roles and (election is None or grant.covers(election)):
                return grant
        raise Forbidden(f"this token may not do that (needs {' or '.join(roles)})")
