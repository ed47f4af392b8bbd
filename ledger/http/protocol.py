"""The HTTP connection under both services' applications: aiohttp's protocol, with two changes.

- aiohttp's own refusals (a malformed request line or header, which no middleware sees) are
  RFC 9457 problems like every other error, and echo nothing of the request: aiohttp's text
  quotes the offending header, which may be part of a bearer token.
- A header read timeout: a connection that starts a request must complete its request line
  and headers within ``header_timeout`` seconds, or it is closed. One that sends nothing at
  all after opening gets the same time; an idle kept-alive connection is left to aiohttp's
  keep-alive timeout. Without it, clients sending a header line every few seconds hold
  connections open for ever (slowloris).

``Runner`` is ``web.AppRunner`` with this protocol: ``ledger.http.serve`` and the tests' servers
both use it, so what is tested is what is served.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ledger.errors import LedgerError
from ledger.http import problems

log = structlog.get_logger(__name__)
PAGE = web.ResponseKey("ballot_ledger_page", bool)
"""Marks a response the application made on purpose (``response[PAGE] = True``): an error page
of the booth's is sent as it is, not replaced by a problem."""


class Protocol(RequestHandler):
    """One HTTP connection: aiohttp's ``RequestHandler`` with problem details for its own
    refusals and a header read timeout."""

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._body: Any = None
        """The payload of the last request whose headers completed: bytes that arrive while it
        is unfinished are its body, not the start of another request's head."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        in_body = self._body is not None and not self._body.is_eof()
        count = self._request_count
        super().data_received(data)
        if self._request_count != count:
            self._disarm()
            self._body = self._messages[-1][1] if self._messages else None
        elif data and not in_body:
            self._arm()

    def _arm(self) -> None:
        if self._header_timer is None and self._header_timeout > 0:
            self._header_timer = self._loop.call_later(self._header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport is not None:
            log.info("header_timeout", seconds=self._header_timeout)
            self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A problem response for aiohttp's own refusals (400 from the parser; 500 or 504 from
        an exception no middleware caught). Its detail never quotes the request."""
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already started; cannot send another")
        if status == 400:
            log.info("http_refused", status=status, error=type(exc).__name__)
        else:
            log.error("request_failed", status=status, exc_info=exc)
        response = _problem(request, status, "the request is not valid HTTP/1.1")
        response.force_close()
        return response

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        """Send ``resp``; an error that is not a problem yet (aiohttp refusing a request before
        the middlewares, as a 417 for an unknown ``Expect``, quoting it) is sent as one."""
        if (
            resp.status >= 400
            and not resp.prepared
            and resp.content_type != "application/problem+json"
            and not resp.get(PAGE)
        ):
            log.info("http_refused", status=resp.status, reason=resp.reason)
            resp = _problem(request, resp.status, f"the request was refused ({resp.reason})")
        return await super().finish_response(request, resp, start_time)


def _problem(request: web.BaseRequest, status: int, detail: str) -> web.Response:
    """A problem for a refusal no middleware saw: bad-request for a 4xx, internal otherwise."""
    err: LedgerError = problems.BadRequest(detail) if status < 500 else problems.Internal()
    rid = uuid.uuid4().hex
    response = problems.problem_response(err, instance=request.path, request_id=rid)
    response.headers["X-Request-Id"] = rid
    return response


class Server(web.Server):
    """aiohttp's ``web.Server`` (the protocol factory) making ``Protocol`` connections."""

    def __init__(self, server: web.Server, header_timeout: float) -> None:
        super().__init__(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )
        self.header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return Protocol(self, loop=self._loop, header_timeout=self.header_timeout, **self._kwargs)


class Runner(web.AppRunner):
    """``web.AppRunner`` serving ``app`` with ``Protocol``."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        return Server(await super()._make_server(), self.header_timeout)
