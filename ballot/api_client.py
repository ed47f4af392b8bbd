"""A small JSON client of the ledger's and the counter's HTTP APIs, for the officer's commands.

HTTP is the standard library's (``http.client``, one kept-alive connection): the commands are
sequential, and a thousand nominations in a row are a thousand small requests on one socket.
An answer that is not a success is a ``Refused`` whose message is the RFC 9457 problem in
plain words; a server that cannot be reached is a ``CliError`` that says so.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from ledger.errors import CliError

TOKEN_VARIABLE = "BALLOT_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a token
TIMEOUT = 120.0
"""Seconds a request may take (a large roll is parsed before the answer)."""


# --- HTTP --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any


class Refused(CliError):
    """The ledger (or the counter) answered with an error."""

    def __init__(self, message: str, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.problem = dict(problem)

    @property
    def slug(self) -> str:
        return str(self.problem.get("type", "")).rpartition(":")[2]

    def short(self) -> str:
        """The problem's detail and evidence, without the status and type."""
        extra = [f"{k}={v}" for k, v in self.problem.items() if k not in _PROBLEM_FIELDS]
        detail = str(self.problem.get("detail") or self)
        return detail + (f" ({', '.join(extra)})" if extra else "")


_PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "request_id", "errors"}


def describe_problem(status: int, reason: str, problem: Mapping[str, Any]) -> str:
    """One line for an RFC 9457 problem: ``409 wrong-phase: the poll … (phase=setup)``."""
    slug = str(problem.get("type", "")).rpartition(":")[2] or reason
    detail = str(problem.get("detail") or problem.get("title") or reason)
    extra = [
        f"{k}={v if isinstance(v, str) else json.dumps(v)}"
        for k, v in problem.items()
        if k not in _PROBLEM_FIELDS
    ]
    text = f"{status} {slug}: {detail}"
    if extra:
        text += f" ({', '.join(extra)})"
    return text + error_lines(problem)


def error_lines(problem: Mapping[str, Any]) -> str:
    """A problem's ``errors`` (schema violations), each on a new line: ``  /path: message``."""
    errors = problem.get("errors")
    if not isinstance(errors, list):
        return ""
    return "".join(
        f"\n  {e.get('path', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)
    )


class Client:
    """Requests to one base URL, on one kept-alive connection; JSON in and out."""

    def __init__(self, url: str, token: str | None = None, *, name: str = "ledger") -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CliError(f"--url must be an http:// or https:// URL, not {url!r}")
        self.url, self.token, self.name = url.rstrip("/"), token, name
        self._parts = parts
        self._prefix = parts.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = cls(self._parts.hostname or "", self._parts.port, timeout=TIMEOUT)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | IO[bytes] | None = None,
        content_type: str | None = None,
        auth: bool = True,
        ok: tuple[int, ...] = (200, 201),
        length: int | None = None,
        timeout: float = TIMEOUT,
    ) -> Answer:
        """The answer's status and JSON body; a ``Refused`` for any status not in ``ok``, a
        ``CliError`` when the server cannot be reached or the answer is not what an API sends."""
        headers = {"Accept": "application/json"}
        if auth:
            if not self.token:
                raise CliError(
                    f"set {TOKEN_VARIABLE} to an admin token of the ledger "
                    "(one of its BALLOT_ADMIN_TOKENS)"
                )
            headers["Authorization"] = f"Bearer {self.token}"
        body: bytes | IO[bytes] | None = data
        if json_body is not None:
            body = json.dumps(json_body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if body is None and method in ("POST", "PUT"):
            headers["Content-Length"] = "0"
        elif length is not None:
            headers["Content-Length"] = str(length)
        target = self._prefix + path
        where = f"{method} {self.url}{path}"
        retried = False
        while True:
            conn = self._connection()
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A kept-alive connection the server closed between requests: one new one,
                # only if the body can be sent again (never a half-read file).
                self.close()
                if retried or not (body is None or isinstance(body, bytes)):
                    raise CliError(f"{where}: the {self.name} closed the connection") from exc
                retried = True
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                why = "timed out" if isinstance(exc, socket.timeout) else str(exc) or repr(exc)
                raise CliError(f"cannot reach the {self.name} at {self.url} ({why})") from exc
        kind = response.headers.get("Content-Type", "").split(";")[0].strip()
        parsed: Any = None
        if kind in ("application/json", "application/problem+json"):
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                raise CliError(f"{where}: the answer is not JSON") from exc
        elif kind.startswith("text/"):
            parsed = raw.decode("utf-8", "replace")
        if response.status in ok:
            if not isinstance(parsed, dict):
                raise CliError(
                    f"{where} answered {response.status} with {kind or 'no content type'}, "
                    f"not JSON: is {self.url} the {self.name}'s address?"
                )
            return Answer(response.status, parsed)
        if isinstance(parsed, dict):
            message = describe_problem(response.status, response.reason, parsed)
            raise Refused(f"the {self.name} refused: {message}", response.status, parsed)
        text = raw.decode("utf-8", "replace").strip()[:200]
        message = f"{where} answered {response.status} {response.reason}"
        raise Refused(message + (f": {text}" if text else ""), response.status, {})
