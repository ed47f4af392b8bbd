"""Signed-in sessions, held in the booth process's memory only.

A session says which member signed in, carries the token its forms must return (CSRF), and
the ballot being marked until it is cast: the ballot is never written to the database, so
nothing there ever joins a member to a selection. A restart signs everyone out (they sign in
again; a member who had voted is told so). Time is passed in, as in ``throttle``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Member:
    election: str
    voter_id: str


@dataclass(slots=True, kw_only=True)
class Session:
    member: Member
    csrf: str
    expires: float
    draft: dict[str, list[str]] | None = None
    """The ballot under review (contest -> selections), until it is cast."""
    submission_id: str | None = None
    """The ballot's idempotent submission id, drawn when the member reviews it."""
    form: dict[str, list[str]] = field(default_factory=dict)
    """The ballot form as last sent, to fill it in again when the member changes it."""

    def token_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), str(sent).encode())


class Sessions:
    """Sessions by the SHA-256 of their cookie value (the value itself is not kept)."""

    def __init__(self, lifetime: float, max_sessions: int = 200_000) -> None:
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self._by_digest: dict[bytes, Session] = {}

    @staticmethod
    def _digest(cookie: str) -> bytes:
        return hashlib.sha256(cookie.encode()).digest()

    def open(self, member: Member, now: float) -> tuple[str, Session]:
        """A new session for ``member``: its cookie value and the session."""
        self.sweep(now)
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        session = Session(member=member, csrf=csrf, expires=now + self.lifetime)
        self._by_digest[self._digest(cookie)] = session
        while len(self._by_digest) > self.max_sessions:
            del self._by_digest[next(iter(self._by_digest))]
        return cookie, session

    def get(self, cookie: str | None, now: float) -> Session | None:
        """The live session of a cookie value, its lifetime renewed; None if none."""
        if not cookie:
            return None
        session = self._by_digest.get(self._digest(cookie))
        if session is None or session.expires <= now:
            return None
        session.expires = now + self.lifetime
        return session

    def close(self, cookie: str | None) -> None:
        if cookie:
            self._by_digest.pop(self._digest(cookie), None)

    def close_member(self, member: Member) -> None:
        """End every session of ``member`` (once they have voted)."""
        for key in [k for k, s in self._by_digest.items() if s.member == member]:
            del self._by_digest[key]

    def sweep(self, now: float) -> None:
        for key in [k for k, s in self._by_digest.items() if s.expires <= now]:
            del self._by_digest[key]
