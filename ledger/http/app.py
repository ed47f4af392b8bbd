"""The ledger's HTTP API (aiohttp). Handlers parse, call the service, and answer; no more.

Writers authenticate with bearer tokens (admin, front-end, counter); every read is public.
Every error is RFC 9457 ``application/problem+json`` from ``problem_middleware``.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ledger.domain import strict_json
from ledger.domain.schemas import SchemaViolation
from ledger.errors import LedgerError, ReceiptError
from ledger.format import export as exp
from ledger.format.keys import Signer
from ledger.format.receipts import Receipt
from ledger.http import problems
from ledger.http.auth import Role, TokenTable
from ledger.http.checkpage import add_check_page
from ledger.http.openapi import bundled_text
from ledger.runtime import metrics
from ledger.runtime.keyfile import load_or_create_signer
from ledger.runtime.logs import clipped
from ledger.runtime.settings import Settings
from ledger.service import Ledger
from ledger.storage.store import migrate

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

LEDGER = web.AppKey("ledger", Ledger)
TOKENS = web.AppKey("tokens", TokenTable)
SETTINGS = web.AppKey("settings", Settings)
REQUEST_ID = web.RequestKey("request_id", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ELECTION = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_DIGITS = re.compile(r"[0-9]{1,18}")


# --- middlewares -------------------------------------------------------------------------------


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    request[REQUEST_ID] = rid
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=rid)
    election = request.match_info.get("election")
    if election:  # as the client sent it, so clipped: the id is checked later
        structlog.contextvars.bind_contextvars(election_id=clipped(election))
    response = await handler(request)
    response.headers["X-Request-Id"] = rid
    return response


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.get(REQUEST_ID, "")
    try:
        return await handler(request)
    except LedgerError as exc:
        kind = problems.problem_type(exc)
        metrics.REJECTIONS.labels(kind.slug).inc()
        headers = {"Retry-After": "1"} if kind.status == 503 else None
        if kind.status == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="ballot-ledger"'}
        log.info(
            "request_refused", problem=kind.slug, status=kind.status, path=clipped(request.path)
        )
        return problems.problem_response(
            exc, instance=request.path, request_id=rid, headers=headers
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        cls = problems.HTTP_STATUS.get(exc.status, problems.BadRequest)
        err = cls(exc.reason)
        response = problems.problem_response(err, instance=request.path, request_id=rid)
        response.set_status(exc.status, exc.reason)
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
        return response
    except (web.RequestPayloadError, HttpProcessingError) as exc:
        # A body that cannot be read: bad chunked framing, a Content-Encoding that does not
        # decode. The message is aiohttp's, about the client's bytes: not echoed.
        log.info("request_body_unreadable", error=type(exc).__name__, path=clipped(request.path))
        err = problems.BadRequest("the request body cannot be read (framing or encoding)")
        return problems.problem_response(err, instance=request.path, request_id=rid)
    except (
        OSError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.CannotConnectNowError,
        TimeoutError,
    ) as exc:
        log.warning("database_unavailable", error=str(exc), path=clipped(request.path))
        return problems.problem_response(
            problems.Unavailable(),
            instance=request.path,
            request_id=rid,
            headers={"Retry-After": "1"},
        )
    except asyncpg.PostgresError as exc:
        if exc.sqlstate and exc.sqlstate.startswith(("08", "57P")):
            return problems.problem_response(
                problems.Unavailable(),
                instance=request.path,
                request_id=rid,
                headers={"Retry-After": "1"},
            )
        log.exception("request_failed", path=clipped(request.path))
        return problems.problem_response(problems.Internal(), instance=request.path, request_id=rid)
    except Exception:
        log.exception("request_failed", path=clipped(request.path))
        return problems.problem_response(problems.Internal(), instance=request.path, request_id=rid)


# --- helpers -----------------------------------------------------------------------------------


def _election(request: web.Request) -> str:
    eid = request.match_info["election"]
    if not _ELECTION.fullmatch(eid):
        raise problems.NotFound("no such election", election=clipped(eid))
    return eid


def _new_election(request: web.Request) -> str:
    """The id of an election to define: one that cannot be an id is a schema violation (the
    request names no election that could exist, so "no such election" would mislead)."""
    eid = request.match_info["election"]
    if not _ELECTION.fullmatch(eid):
        raise SchemaViolation(
            f"the election id must match {_ELECTION.pattern} (1-63 of a-z, 0-9, _ and -, "
            "starting with a letter or digit)",
            errors=[{"path": "election", "message": "not an election id"}],
            election=clipped(eid),
        )
    return eid


def _auth(request: web.Request, *roles: Role) -> None:
    election = request.match_info.get("election")
    request.app[TOKENS].require(request.headers.get("Authorization"), roles, election)


async def _json(request: web.Request) -> Any:
    if request.content_type not in ("application/json", "application/merge-patch+json"):
        raise problems.UnsupportedMediaType(
            "the body must be application/json", content_type=request.content_type
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise problems.PayloadTooLarge(limit=request.app[SETTINGS].max_body_bytes) from exc
    try:
        return strict_json.loads(raw)
    except strict_json.JsonRefused as exc:
        raise problems.InvalidJson(f"the body is refused: {exc}") from exc


def _int(request: web.Request, name: str, default: int | None = None) -> int:
    value = request.query.get(name)
    if value is None:
        if default is None:
            raise problems.BadRequest(f"query parameter {name} is required")
        return default
    if not _DIGITS.fullmatch(value):
        raise problems.BadRequest(f"query parameter {name} must be a non-negative integer")
    return int(value)


def _receipt(receipt: Receipt, status: int = 200, **extra: Any) -> web.Response:
    return web.json_response({"receipt": receipt.to_json(), **extra}, status=status)


# --- admin -------------------------------------------------------------------------------------


@routes.put("/v1/elections/{election}")
async def define_election(request: web.Request) -> web.Response:
    _auth(request, "admin")
    eid = _new_election(request)
    receipt, created = await request.app[LEDGER].define(eid, await _json(request))
    return _receipt(receipt, 201 if created else 200)


@routes.put("/v1/elections/{election}/roll")
async def upload_roll(request: web.Request) -> web.Response:
    _auth(request, "admin")
    receipt, summary = await request.app[LEDGER].upload_roll(
        _election(request), request.content_type, request.content.iter_chunked(1 << 16)
    )
    return _receipt(receipt, summary=summary)


@routes.post("/v1/elections/{election}/nominations/open")
async def open_nominations(request: web.Request) -> web.Response:
    _auth(request, "admin")
    return _receipt(await request.app[LEDGER].phase_event(_election(request), "nominations_opened"))


@routes.post("/v1/elections/{election}/nominations")
async def nominate(request: web.Request) -> web.Response:
    _auth(request, "admin")
    receipt = await request.app[LEDGER].nominate(_election(request), await _json(request))
    return _receipt(receipt, 201)


@routes.post("/v1/elections/{election}/nominations/close")
async def close_nominations(request: web.Request) -> web.Response:
    _auth(request, "admin")
    return _receipt(await request.app[LEDGER].phase_event(_election(request), "nominations_closed"))


@routes.post("/v1/elections/{election}/contests/{contest}/candidates/{candidate}/withdraw")
async def withdraw(request: web.Request) -> web.Response:
    _auth(request, "admin")
    receipt = await request.app[LEDGER].withdraw(
        _election(request),
        request.match_info["contest"],
        request.match_info["candidate"],
        await _json(request),
    )
    return _receipt(receipt, 201)


@routes.post("/v1/elections/{election}/poll/open")
async def open_poll(request: web.Request) -> web.Response:
    _auth(request, "admin")
    return _receipt(await request.app[LEDGER].phase_event(_election(request), "poll_opened"))


@routes.post("/v1/elections/{election}/poll/close")
async def close_poll(request: web.Request) -> web.Response:
    _auth(request, "admin")
    return web.json_response(await request.app[LEDGER].close(_election(request)))


@routes.get("/v1/elections/{election}/pending")
async def pending(request: web.Request) -> web.Response:
    """How many accepted ballots wait to be released, by contest: for the officer only (a live
    count of acceptances is exactly what the public must not see while the poll is open)."""
    _auth(request, "admin")
    return web.json_response(await request.app[LEDGER].pending_counts(_election(request)))


@routes.post("/v1/elections/{election}/results")
async def declare(request: web.Request) -> web.Response:
    _auth(request, "admin", "counter")
    done = await request.app[LEDGER].declare(_election(request), await _json(request))
    if isinstance(done, Receipt):
        return _receipt(done, 201)
    return web.json_response(done, status=202)  # held for the returning officer's approval


@routes.post("/v1/elections/{election}/contests/{contest}/declare")
async def approve(request: web.Request) -> web.Response:
    """The returning officer approves a contest's provisional result: it is declared."""
    _auth(request, "admin")
    receipt = await request.app[LEDGER].approve(_election(request), request.match_info["contest"])
    return _receipt(receipt, 200)


# --- front-ends --------------------------------------------------------------------------------


@routes.post("/v1/elections/{election}/ballots")
async def cast(request: web.Request) -> web.Response:
    _auth(request, "frontend")
    text, replayed = await request.app[LEDGER].cast(_election(request), await _json(request))
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    # The JSON text the ledger stored for retries is the body: no second json.dumps.
    return web.json_response(text=text, status=200 if replayed else 201, headers=headers)


# --- public reads ------------------------------------------------------------------------------


@routes.get("/v1/elections")
async def list_elections(request: web.Request) -> web.Response:
    return web.json_response({"elections": await request.app[LEDGER].elections()})


@routes.get("/v1/elections/{election}")
async def get_election(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    eid = _election(request)
    state = await ledger.state(eid)
    head = await ledger.head(eid)
    d = state.require_definition()
    return web.json_response(
        {
            "election": eid,
            "origin": head.origin,
            "phase": state.phase,
            "size": head.size,
            "definition": d.document,
            "nominations": {c.id: state.nomination_counts(c.id) for c in d.contests},
            "standing": None
            if state.standing is None
            else {c: sorted(s) for c, s in state.standing.items()},
            "withdrawn": {c: sorted(s) for c, s in state.withdrawn.items()},
            "declared": dict(state.declared),
            "declare": d.declare,
            "approved": dict(state.approved),
            "provisional": await ledger.provisional(eid),
            "returns": {c: r.to_json() for c, r in state.returns.items()},
            "unopened": await ledger.unopened(eid) if state.phase == "poll_closed" else 0,
        }
    )


def _entry_json(e: Any) -> dict[str, Any]:
    return {
        "index": e.index,
        "entry": e.body.decode(),
        "leaf_hash": e.leaf_hash.hex(),
        "chain_hash": e.chain_hash.hex(),
    }


@routes.get("/v1/elections/{election}/entries")
async def entries(request: web.Request) -> web.Response:
    """Paged JSON; with ``wait=SECONDS`` a long-poll that returns as soon as entries exist."""
    ledger = request.app[LEDGER]
    eid = _election(request)
    start = _int(request, "start", 0)
    limit = min(_int(request, "limit", 1000), 10000)
    wait = min(_int(request, "wait", 0), 60)
    grown = ledger.notifier.listen(eid)
    rows = await ledger.entries(eid, start, limit)
    deadline = asyncio.get_running_loop().time() + wait
    while not rows and asyncio.get_running_loop().time() < deadline:
        remaining = deadline - asyncio.get_running_loop().time()
        await ledger.notifier.wait(grown, min(1.0, remaining))
        grown = ledger.notifier.listen(eid)
        rows = await ledger.entries(eid, start, limit)
    next_start = rows[-1].index + 1 if rows else start
    return web.json_response({"entries": [_entry_json(e) for e in rows], "next": next_start})


@routes.get("/v1/elections/{election}/feed")
async def feed(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every entry from ``start`` on, then live as the log grows."""
    ledger = request.app[LEDGER]
    eid = _election(request)
    last = request.headers.get("Last-Event-ID")
    start = int(last) + 1 if last and _DIGITS.fullmatch(last) else _int(request, "start", 0)
    await ledger.entries(eid, 0, 0)  # 404 before the stream starts
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    idle = 0.0
    while True:
        grown = ledger.notifier.listen(eid)
        rows = await ledger.entries(eid, start, 1000)
        for e in rows:
            data = json.dumps(_entry_json(e))
            await response.write(f"id: {e.index}\nevent: entry\ndata: {data}\n\n".encode())
            start = e.index + 1
        if rows:
            idle = 0.0
            continue
        await ledger.notifier.wait(grown, 1.0)
        idle += 1.0
        if idle >= 15:
            await response.write(b": keep-alive\n\n")
            idle = 0.0


@routes.get("/v1/elections/{election}/export")
async def export(request: web.Request) -> web.StreamResponse:
    """The whole public log as one NDJSON file (ledger/format/export.py), ending at a checkpoint."""
    ledger = request.app[LEDGER]
    eid = _election(request)
    cp = await ledger.checkpoint(eid, "export")
    size = cp.checkpoint.size
    notes = await ledger.checkpoint_notes(eid, size)
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/x-ndjson",
            "Content-Disposition": f'attachment; filename="{eid}.ndjson"',
        }
    )
    await response.prepare(request)
    header = exp.Header(
        election=eid,
        origin=cp.checkpoint.origin,
        size=size,
        ledger_keys=(ledger.signer.verifier.text(),),
        counter_keys=tuple(k.text() for k in ledger.counter_keys),
    )
    await response.write(exp.header_line(header))
    for at, note in notes:
        await response.write(exp.checkpoint_line(at, note))
    start = 0
    while start < size:
        page = await ledger.entries(eid, start, min(5000, size - start))
        chunk = b"".join(exp.entry_line(e.index, e.body, e.leaf_hash, e.chain_hash) for e in page)
        await response.write(chunk)
        start = page[-1].index + 1
    await response.write_eof()
    return response


@routes.get("/v1/elections/{election}/checkpoint")
async def latest_checkpoint(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    eid = _election(request)
    note = await ledger.latest_checkpoint_note(eid)
    if note is None:
        raise problems.NotFound("no checkpoint yet", election=eid)
    return web.Response(text=note, content_type="text/plain")


@routes.get("/v1/elections/{election}/checkpoints")
async def list_checkpoints(request: web.Request) -> web.Response:
    sizes = await request.app[LEDGER].checkpoint_sizes(_election(request))
    return web.json_response({"sizes": sizes})


@routes.get("/v1/elections/{election}/checkpoints/{size}")
async def checkpoint_at(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    eid = _election(request)
    size = request.match_info["size"]
    if not _DIGITS.fullmatch(size):
        raise problems.NotFound("no such checkpoint")
    note = await ledger.checkpoint_note(eid, int(size))
    if note is None:
        raise problems.NotFound("no checkpoint at that size", size=int(size))
    return web.Response(text=note, content_type="text/plain")


@routes.get("/v1/elections/{election}/proofs/inclusion")
async def inclusion(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    eid = _election(request)
    code = request.query.get("code")
    if (code is None) == ("index" not in request.query):
        raise problems.BadRequest("give exactly one of the query parameters index and code")
    try:
        index = (
            await ledger.index_of_code(eid, code) if code is not None else _int(request, "index")
        )
    except ReceiptError as exc:
        raise problems.BadRequest(exc.message, code=code) from exc
    size = _int(request, "size") if "size" in request.query else None
    return web.json_response(await ledger.inclusion(eid, index, size))


@routes.get("/v1/elections/{election}/receipts/{code}")
async def find_receipt(request: web.Request) -> web.Response:
    """Where an acceptance receipt's ballot is: released (its entry) or accepted, waiting."""
    found = await request.app[LEDGER].find_receipt(_election(request), request.match_info["code"])
    return web.json_response(found)


@routes.get("/v1/elections/{election}/proofs/consistency")
async def consistency(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    result = await ledger.consistency(
        _election(request), _int(request, "old"), _int(request, "new")
    )
    return web.json_response(result)


@routes.get("/v1/elections/{election}/turnout")
async def turnout(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    eid = _election(request)
    report = await ledger.turnout(eid)
    head = await ledger.head(eid)
    return web.json_response({**report, "size": head.size, "root": head.root.hex()})


@routes.get("/v1/keys")
async def keys(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    return web.json_response(
        {
            "ledger": [ledger.signer.verifier.text()],
            "counter": [k.text() for k in ledger.counter_keys],
        }
    )


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(text=bundled_text(), content_type="application/json")


@routes.get("/problems")
async def problem_catalogue(request: web.Request) -> web.Response:
    return web.json_response({"problems": problems.catalogue()})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    try:
        async with ledger.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise problems.Unavailable("the database is not reachable") from exc
    return web.json_response({"status": "ready"})


# --- application -------------------------------------------------------------------------------


def load_signer(settings: Settings) -> Signer:
    path = settings.key_file or Path(settings.data_dir) / "ledger.key"
    return load_or_create_signer(path, settings.key_name)


def create_app(settings: Settings, signer: Signer | None = None) -> web.Application:
    """The ledger application; ``settings.database_url`` must be set (``ledger.http.serve``)."""
    if not settings.database_url:
        raise problems.Internal("create_app needs settings.database_url")
    app = web.Application(
        middlewares=[request_id_middleware, problem_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[TOKENS] = TokenTable(
        settings.admin_tokens, settings.frontend_tokens, settings.counter_tokens
    )
    app.add_routes(routes)
    add_check_page(app)
    app.cleanup_ctx.append(_ledger_ctx(settings, signer or load_signer(settings)))
    return app


def _ledger_ctx(
    settings: Settings, signer: Signer
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        url = settings.database_url
        assert url is not None
        if settings.migrate:
            conn = await asyncpg.connect(url)
            try:
                applied = await migrate(conn)
            finally:
                await conn.close()
            if applied:
                log.info("migrations_applied", versions=applied)

        async def init(c: asyncpg.Connection) -> None:
            if settings.db_role:
                await c.execute(f'SET ROLE "{settings.db_role}"')

        pool = await asyncpg.create_pool(url, min_size=2, max_size=settings.pool_size, init=init)
        ledger = Ledger(pool, settings, signer)
        app[LEDGER] = ledger
        await ledger.start(lambda: asyncpg.connect(url))
        log.info("ledger_started", key=signer.verifier.text())
        try:
            yield
        finally:
            await ledger.stop()
            await pool.close()
            log.info("ledger_stopped")

    return ctx
