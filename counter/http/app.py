"""The counter's HTTP API (aiohttp): tallies, results, BLT export, HTML results pages.

Every read is public and comes from the counter's own database (projections and results,
each stamped with the log size and root it reflects). Errors are RFC 9457 problem+json, with
the ledger's problem types (``ledger.http.problems``). What the pages show is built by the pure
``counter.http.pages``.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jinja2
import structlog
from aiohttp import web

from counter.http import pages
from counter.runtime.settings import Settings
from counter.service import Counter, LedgerClient
from counter.storage.store import CounterStore, migrate
from counter.tally import summary as sm
from ledger.domain import election as el
from ledger.errors import LedgerError
from ledger.format.keys import Signer
from ledger.http import problems
from ledger.runtime.keyfile import load_or_create_signer
from ledger.runtime.logs import clipped

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

COUNTER = web.AppKey("counter", Counter)
POOL = web.AppKey("pool", asyncpg.Pool)
SETTINGS = web.AppKey("settings", Settings)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
REQUEST_ID = web.RequestKey("request_id", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
STORE = CounterStore()


# --- middlewares -------------------------------------------------------------------------------


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    request[REQUEST_ID] = rid
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=rid)
    try:
        response = await handler(request)
    except LedgerError as exc:
        response = problems.problem_response(exc, instance=request.path, request_id=rid)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        cls = problems.HTTP_STATUS.get(exc.status, problems.BadRequest)
        response = problems.problem_response(cls(exc.reason), instance=request.path, request_id=rid)
        response.set_status(exc.status, exc.reason)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        log.warning("database_unavailable", error=str(exc), path=clipped(request.path))
        response = problems.problem_response(
            problems.Unavailable(), instance=request.path, request_id=rid
        )
        response.headers["Retry-After"] = "1"
    except Exception:
        log.exception("request_failed", path=clipped(request.path))
        response = problems.problem_response(
            problems.Internal(), instance=request.path, request_id=rid
        )
    response.headers["X-Request-Id"] = rid
    return response


# --- helpers -----------------------------------------------------------------------------------


def _id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not _ID.fullmatch(value):
        raise problems.NotFound(f"no such {name}", **{name: value})
    return value


async def _progress(request: web.Request, eid: str) -> Any:
    async with request.app[POOL].acquire() as conn:
        progress = await STORE.progress(conn, eid)
    if progress is None:
        raise problems.NotFound("the counter does not follow this election", election=eid)
    return progress


async def _results(request: web.Request, eid: str) -> list[Any]:
    await _progress(request, eid)
    async with request.app[POOL].acquire() as conn:
        return await STORE.results(conn, eid)


def _result_json(r: Any) -> dict[str, Any]:
    return {
        "contest": r.contest_id,
        "result_hash": r.result_hash,
        "counted_size": r.counted_size,
        "counted_root": r.counted_root.hex(),
        "declared": r.declared,
        "status": "declared" if r.declared else "provisional",
        "declared_index": r.declared_index,
        "result": r.document,
    }


async def _stored(request: web.Request, eid: str) -> tuple[dict[str, Any] | None, list[Any]]:
    """The election's projection (None before its first entry) and its stored results."""
    async with request.app[POOL].acquire() as conn:
        return await STORE.projection(conn, eid), await STORE.results(conn, eid)


def _summary(running: Mapping[str, Any], rows: Sequence[Any]) -> dict[str, Any]:
    """The summary (``counter.tally.summary``) of a projection and its stored results."""
    return sm.summary(running, {r.contest_id: r.document for r in rows})


async def _comparison(
    request: web.Request, running: Mapping[str, Any], rows: Sequence[Any]
) -> dict[str, Any] | None:
    """The comparison of the election (its projection and stored results, as the caller read
    them) with the predecessor the definition names, if any: an election this counter
    follows, or the imported summary the definition carries."""
    predecessor = running.get("definition", {}).get("predecessor")
    if not predecessor:
        return None
    if "results" in predecessor:
        previous = {**predecessor["results"], "title": predecessor["title"]}
    else:
        pid = predecessor["election"]
        followed, followed_rows = await _stored(request, pid)
        if followed is None:  # never "every candidate new": there is nothing to compare with
            raise problems.NotFound(
                f"the predecessor {pid} is not an election this counter follows",
                predecessor=pid,
            )
        previous = {**_summary(followed, followed_rows), "election": pid}
    return sm.compare(_summary(running, rows), previous)


async def _contest_result(request: web.Request, rows: Sequence[Any] | None = None) -> Any:
    """The contest's stored result, from ``rows`` (the election's, if the caller has read
    them) or the store."""
    eid, contest = _id(request, "election"), _id(request, "contest")
    for r in await _results(request, eid) if rows is None else rows:
        if r.contest_id == contest:
            return r
    async with request.app[POOL].acquire() as conn:
        running = await STORE.projection(conn, eid)
    if running is not None and contest in running.get("contests", {}):
        raise el.WrongPhase(
            "not counted yet: the poll must close and every sealed ballot be opened",
            contest=contest,
            phase=running.get("phase"),
        )
    raise problems.NotFound("no such contest", contest=contest)


# --- JSON API ----------------------------------------------------------------------------------


@routes.get("/v1/elections")
async def list_elections(request: web.Request) -> web.Response:
    status = request.app[COUNTER].status()
    async with request.app[POOL].acquire() as conn:
        rows = await STORE.all_progress(conn)
    return web.json_response(
        {
            "elections": [
                {
                    "election": p.election_id,
                    "origin": p.origin,
                    "size": p.size,
                    "root": p.root.hex(),
                    "chain_head": p.chain_head.hex(),
                    "checkpoint_size": p.checkpoint_size,
                    "stopped": p.stopped,
                    **status.get(p.election_id, {"status": "inactive"}),
                }
                for p in rows
            ]
        }
    )


@routes.get("/v1/elections/{election}/tallies")
async def tallies(request: web.Request) -> web.Response:
    eid = _id(request, "election")
    await _progress(request, eid)
    async with request.app[POOL].acquire() as conn:
        running = await STORE.projection(conn, eid)
    if running is None:
        raise problems.NotFound("no entries folded yet", election=eid)
    return web.json_response(running)


@routes.get("/v1/elections/{election}/results")
async def results(request: web.Request) -> web.Response:
    eid = _id(request, "election")
    rows = await _results(request, eid)
    async with request.app[POOL].acquire() as conn:
        running = await STORE.projection(conn, eid) or {}
    key = sm.rank(pages.contest_order(running))
    rows = sorted(rows, key=lambda r: key(r.contest_id))
    return web.json_response({"election": eid, "results": [_result_json(r) for r in rows]})


@routes.get("/v1/elections/{election}/summary")
async def summary(request: web.Request) -> web.Response:
    """Each contest's candidates with place, share and nominations; turnout: the form a
    later election's definition imports as its predecessor."""
    eid = _id(request, "election")
    await _progress(request, eid)
    running, rows = await _stored(request, eid)
    return web.json_response({"election": eid, **_summary(running or {}, rows)})


@routes.get("/v1/elections/{election}/comparison")
async def comparison(request: web.Request) -> web.Response:
    """The election against its predecessor (404 when the definition names none)."""
    eid = _id(request, "election")
    await _progress(request, eid)
    running, rows = await _stored(request, eid)
    body = await _comparison(request, running or {}, rows)
    if body is None:
        raise problems.NotFound("the election names no predecessor", election=eid)
    return web.json_response({"election": eid, "against": body})


@routes.get("/v1/elections/{election}/results/{contest}")
async def contest_result(request: web.Request) -> web.Response:
    r = await _contest_result(request)
    body = {
        **r.document,
        "declared": r.declared,
        "status": "declared" if r.declared else "provisional",
        "result_hash": r.result_hash,
    }
    return web.json_response(body)


@routes.get("/v1/elections/{election}/contests/{contest}/ballots.blt")
async def ballots_blt(request: web.Request) -> web.Response:
    r = await _contest_result(request)
    async with request.app[POOL].acquire() as conn:
        text = await STORE.blt(conn, _id(request, "election"), r.contest_id)
    return web.Response(
        text=text or "",
        content_type="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{r.contest_id}.blt"'},
    )


@routes.get("/v1/elections/{election}/contests/{contest}/candidates.csv")
async def candidates_csv(request: web.Request) -> web.Response:
    """Name, gender and slate of each candidate: ``ballot count --candidates`` reads it."""
    r = await _contest_result(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["name", "gender", "slate"])
    for c in r.document["candidates"]:
        writer.writerow([c["name"], c["gender"] or "", c["slate"] or ""])
    return web.Response(text=out.getvalue(), content_type="text/csv")


@routes.get("/v1/elections/{election}/alerts")
async def alerts(request: web.Request) -> web.Response:
    eid = _id(request, "election")
    await _progress(request, eid)
    async with request.app[POOL].acquire() as conn:
        found = await STORE.alerts(conn, eid)
    return web.json_response({"election": eid, "alerts": found})


# --- HTML --------------------------------------------------------------------------------------


def _html(request: web.Request, name: str, **context: Any) -> web.Response:
    text = request.app[TEMPLATES].get_template(name).render(**context)
    return web.Response(text=text, content_type="text/html")


@routes.get("/")
async def index_page(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await STORE.all_progress(conn)
    return _html(request, "index.html", elections=rows)


async def _overview(request: web.Request) -> tuple[dict[str, Any], Any, list[Any]]:
    """The election's page model (against its predecessor, if it names one), its progress
    and its alerts."""
    eid = _id(request, "election")
    progress = await _progress(request, eid)
    async with request.app[POOL].acquire() as conn:
        running = await STORE.projection(conn, eid)
        rows = await STORE.results(conn, eid)
        found = await STORE.alerts(conn, eid)
    against, note = await _against(request, running, rows)
    model = pages.page_model(eid, running or {}, [_result_json(r) for r in rows], against)
    model["against_note"] = note
    return model, progress, found


async def _against(
    request: web.Request, running: Mapping[str, Any] | None, rows: Sequence[Any]
) -> tuple[dict[str, Any] | None, str]:
    """The comparison for a page, or why there is none where the definition names a
    predecessor (the page says so rather than showing every candidate as new)."""
    if not running:
        return None, ""
    try:
        return await _comparison(request, running, rows), ""
    except problems.NotFound as exc:
        return None, f"No comparison with the last election: {exc.message}."


@routes.get("/elections/{election}")
async def election_page(request: web.Request) -> web.Response:
    model, progress, found = await _overview(request)
    return _html(request, "election.html", page=model, progress=progress, alerts=found)


@routes.get("/elections/{election}/turnout")
async def turnout_page(request: web.Request) -> web.Response:
    """Turnout by section and by reporting dimension, against last time if named."""
    model, _, _ = await _overview(request)
    return _html(request, "turnout.html", page=model)


@routes.get("/elections/{election}/nominations")
async def nominations_page(request: web.Request) -> web.Response:
    """Nominations per contest, against last time if named."""
    model, _, _ = await _overview(request)
    return _html(request, "nominations.html", page=model)


@routes.get("/elections/{election}/contests/{contest}")
async def contest_page(request: web.Request) -> web.Response:
    """One contest's declaration sheet: the result, the margin, the stage sheet."""
    eid = _id(request, "election")
    rows = await _results(request, eid)
    r = await _contest_result(request, rows)
    async with request.app[POOL].acquire() as conn:
        running = await STORE.projection(conn, eid) or {}
    order = request.query.get("order", "first")
    if order not in pages.ORDERS:
        raise problems.BadRequest("order must be 'first' or 'place'", order=order)
    against, note = await _against(request, running, rows)
    contest = pages.contest_model(running, _result_json(r), order, against)
    contest["against_note"] = note
    title = running.get("definition", {}).get("title", eid)
    return _html(request, "contest.html", election=eid, title=title, c=contest)


# --- operations --------------------------------------------------------------------------------


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise problems.Unavailable("the database is not reachable") from exc
    if request.app[COUNTER].keyring is None:
        raise problems.Unavailable("the ledger's keys are not known yet")
    return web.json_response({"status": "ready", "elections": request.app[COUNTER].status()})


# --- application -------------------------------------------------------------------------------


def load_signer(settings: Settings) -> Signer:
    path = settings.key_file or Path(settings.data_dir) / "counter.key"
    return load_or_create_signer(path, settings.key_name)


def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("counter.http", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_app(settings: Settings, signer: Signer | None = None) -> web.Application:
    """The counter application; ``settings.database_url`` must be set (``counter.http.serve``)."""
    if not settings.database_url:
        raise problems.Internal("create_app needs settings.database_url")
    app = web.Application(middlewares=[problem_middleware])
    app[SETTINGS] = settings
    app[TEMPLATES] = templates()
    app.add_routes(routes)
    app.cleanup_ctx.append(_counter_ctx(settings, signer or load_signer(settings)))
    return app


def _counter_ctx(
    settings: Settings, signer: Signer
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        url = settings.database_url
        assert url is not None
        conn = await asyncpg.connect(url)
        try:
            applied = await migrate(conn)
        finally:
            await conn.close()
        if applied:
            log.info("counter_migrations_applied", versions=applied)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=settings.pool_size)
        session = aiohttp.ClientSession()
        counter = Counter(
            pool=pool,
            connect=lambda: asyncpg.connect(url),
            client=LedgerClient(session, settings.ledger_url, settings.ledger_token),
            signer=signer if settings.ledger_token else None,
            ledger_keys=settings.ledger_keys,
            elections=settings.elections,
            batch=settings.batch,
            wait=settings.wait,
            retry=settings.retry,
            discover_interval=settings.discover_interval,
        )
        app[POOL] = pool
        app[COUNTER] = counter
        await counter.start()
        log.info("counter_started", key=signer.verifier.text(), ledger=settings.ledger_url)
        try:
            yield
        finally:
            await counter.stop()
            await session.close()
            await pool.close()
            log.info("counter_stopped")

    return ctx
