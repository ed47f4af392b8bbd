"""The booth's pages: sign in with a code, mark the ballot, review it, cast it, see receipts.

Every page is server-rendered HTML and works with JavaScript off (``static/booth.js`` only adds
a running count of check boxes and a print button). Each step is a GET page and a POST form; a
form that fails comes back with an error summary at the top linking to each field at fault.

What is kept where: the member's code is checked against its keyed hash in the database; the
ballot being marked lives in the session, in this process's memory, and is dropped when it is
cast; the database learns only that the member voted, to the minute. The receipts are shown in
the answer to the cast and never stored: a reload of that page says the member has voted.
Nothing here logs a member, a code, a selection or a receipt.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jinja2
import structlog
from aiohttp import web

from booth.domain import ballot, codes
from booth.domain.sessions import Member, Session, Sessions
from booth.domain.throttle import Throttle
from booth.errors import (
    AlreadyVoted,
    BoothError,
    CodeRefused,
    FormExpired,
    LedgerUnavailable,
    NotSignedIn,
    PollNotOpen,
    RateLimited,
)
from booth.runtime.settings import Settings, load_secret
from booth.service.ledger import LedgerClient
from booth.storage.store import BoothStore, MemberRow, migrate
from ledger.http.protocol import PAGE

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SETTINGS = web.AppKey("settings", Settings)
SECRET = web.AppKey("secret", bytes)
POOL = web.AppKey("pool", asyncpg.Pool)
LEDGER = web.AppKey("ledger", LedgerClient)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
SESSIONS = web.AppKey("sessions", Sessions)
BY_ADDRESS = web.AppKey("by_address", Throttle)
BY_CODE = web.AppKey("by_code", Throttle)
LOCKS = web.AppKey[dict[Member, asyncio.Lock]]("locks")
CLOCK = web.AppKey[Callable[[], float]]("clock")
SESSION = web.RequestKey("session", Session)

SESSION_COOKIE = "booth_session"
FORM_COOKIE = "booth_form"
STORE = BoothStore()
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# --- rendering ---------------------------------------------------------------------------------


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("signed_in", False)
    text = request.app[TEMPLATES].get_template(name).render(**context)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def message(request: web.Request, error: BoothError, title: str | None = None) -> web.Response:
    return render(
        request,
        "message.html",
        status=error.status,
        title=title or "Sorry, there is a problem",
        text=error.message,
        signed_in=SESSION in request,
        csrf=request[SESSION].csrf if SESSION in request else "",
    )


def when(moment: datetime) -> str:
    """A time as the pages write it: ``1 December 2026 at 21:14 UTC``."""
    return f"{moment.day} {moment:%B %Y} at {moment:%H:%M} UTC"


@web.middleware
async def page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=rid)
    try:
        response = await handler(request)
    except BoothError as exc:
        response = message(request, exc)
        if isinstance(exc, RateLimited) and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after"])
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = render(
            request,
            "message.html",
            status=exc.status,
            title="Page not found" if exc.status == 404 else "Sorry, there is a problem",
            text="Check the address, or go to the start page." if exc.status == 404 else exc.reason,
            signed_in=False,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        log.warning("database_unavailable", error=type(exc).__name__)
        response = message(request, LedgerUnavailable("The booth is busy. Try again in a minute."))
    except Exception:
        log.exception("request_failed")
        response = message(request, BoothError("Something went wrong. Try again in a minute."))
        response.set_status(500)
    if request.path.startswith("/static/") and response.status == 200:
        response.headers["Cache-Control"] = "public, max-age=3600"
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["X-Request-Id"] = rid
    response[PAGE] = True  # the booth's error pages are pages, not problems
    return response


# --- sessions and forms ------------------------------------------------------------------------


def _now(request: web.Request) -> float:
    return request.app[CLOCK]()


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="Strict",
        secure=request.app[SETTINGS].cookie_secure,
        path="/",
    )


def _session(request: web.Request) -> Session:
    session = request.app[SESSIONS].get(request.cookies.get(SESSION_COOKIE), _now(request))
    if session is None:
        raise NotSignedIn()
    request[SESSION] = session
    return session


async def _form(request: web.Request) -> dict[str, list[str]]:
    data = await request.post()
    form: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, str):
            form.setdefault(key, []).append(value)
    return form


def _last(form: Mapping[str, list[str]], name: str) -> str:
    """The last value the form sent under ``name`` ("" if none)."""
    return (form.get(name) or [""])[-1]


def _check_token(session: Session, form: Mapping[str, list[str]]) -> None:
    if not session.token_ok(_last(form, "csrf")):
        raise FormExpired()


def _address(request: web.Request) -> str:
    return request.remote or "unknown"


# --- pages -------------------------------------------------------------------------------------


@routes.get("/")
async def start(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSIONS].get(request.cookies.get(SESSION_COOKIE), _now(request))
    if session is not None:
        raise web.HTTPSeeOther("/ballot")
    token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", csrf=token, errors=[], code="")
    _set_cookie(request, response, FORM_COOKIE, token)
    return response


@routes.post("/sign-in")
async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    cookie = request.cookies.get(FORM_COOKIE, "")
    sent = _last(form, "csrf")
    if not cookie or not secrets.compare_digest(cookie.encode(), sent.encode()):
        raise FormExpired()
    typed = _last(form, "code")[:200]
    now = _now(request)
    secret = request.app[SECRET]
    canonical = codes.normalise(typed)
    code_key = codes.code_hash(secret, canonical or typed.strip().upper())
    address = _address(request)
    by_address, by_code = request.app[BY_ADDRESS], request.app[BY_CODE]
    if by_address.blocked(address, now) or by_code.blocked(code_key, now):
        wait = max(by_address.retry_after(address, now), by_code.retry_after(code_key, now))
        log.info("sign_in_throttled")
        raise RateLimited(retry_after=int(wait) + 1)
    row: MemberRow | None = None
    if canonical is not None:
        async with request.app[POOL].acquire() as conn:
            row = await STORE.by_code(conn, code_key)
    # The row was found by its keyed hash; compare in constant time all the same.
    if row is None or not secrets.compare_digest(row.code_hash, code_key):
        by_address.fail(address, now)
        by_code.fail(code_key, now)
        log.info("sign_in_refused")
        error = ballot.FieldError(contest="", field="code", message=CodeRefused().message)
        if canonical is None:
            error = ballot.FieldError(
                contest="",
                field="code",
                message="Enter your voting code as it is on your letter: 20 letters and "
                "numbers, such as ABCD-EFGH-JKMN-PQRS-TVWX.",
            )
        response = render(
            request, "sign_in.html", status=403, csrf=cookie, errors=[error], code=typed
        )
        return response
    log.info("sign_in")
    if row.voted_on is not None:
        return _voted(request, row.voted_on)
    member = Member(row.election_id, row.voter_id)
    value, _ = request.app[SESSIONS].open(member, now)
    response = _see_other("/ballot")
    _set_cookie(request, response, SESSION_COOKIE, value)
    return response


def _see_other(location: str) -> web.Response:
    """A 303 to ``location`` that can carry cookies (raising ``HTTPSeeOther`` cannot)."""
    return web.Response(status=303, headers={"Location": location})


def _voted(request: web.Request, voted_on: datetime) -> web.Response:
    return render(
        request,
        "message.html",
        status=200,
        title="You have already voted",
        text=f"You voted on {when(voted_on)}. You cannot vote again in this election.",
        signed_in=False,
    )


@routes.post("/sign-out")
async def sign_out(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    _check_token(session, await _form(request))
    request.app[SESSIONS].close(request.cookies.get(SESSION_COOKIE))
    response = _see_other("/")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def _state_and_contests(
    request: web.Request, session: Session
) -> tuple[dict[str, Any], tuple[ballot.ContestView, ...]]:
    async with request.app[POOL].acquire() as conn:
        row = await STORE.member(conn, session.member.election, session.member.voter_id)
    if row is None:  # the code was replaced by a reissue: this session is over
        raise NotSignedIn()
    if row.voted_on is not None:
        raise AlreadyVoted(f"You voted on {when(row.voted_on)}. You cannot vote again.")
    state = await request.app[LEDGER].election(row.election_id)
    if state.get("phase") != "poll_open":
        raise PollNotOpen()
    contests = ballot.contests_for(
        state["definition"],
        state.get("standing"),
        state.get("withdrawn", {}),
        row.attributes,
        state.get("returns"),
    )
    if not contests:
        raise PollNotOpen("There is no contest in this election that you may vote in.")
    return state, contests


def _ballot_page(
    request: web.Request,
    session: Session,
    state: Mapping[str, Any],
    contests: tuple[ballot.ContestView, ...],
    errors: list[ballot.FieldError],
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "ballot.html",
        status=status,
        title=state["definition"]["title"],
        contests=contests,
        form=session.form,
        errors=errors,
        by_contest={e.contest: e for e in errors},
        csrf=session.csrf,
        signed_in=True,
    )


@routes.get("/ballot")
async def ballot_page(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    state, contests = await _state_and_contests(request, session)
    return _ballot_page(request, session, state, contests, [])


@routes.post("/ballot")
async def ballot_submit(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    form = await _form(request)
    _check_token(session, form)
    state, contests = await _state_and_contests(request, session)
    selections, errors = ballot.read_form(contests, form)
    session.form = {k: v for k, v in form.items() if k != "csrf"}
    if errors:
        return _ballot_page(request, session, state, contests, errors, status=400)
    if session.draft != selections or session.submission_id is None:
        session.draft = selections
        session.submission_id = f"booth-{secrets.token_hex(16)}"
    raise web.HTTPSeeOther("/review")


@routes.get("/review")
async def review(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    state, contests = await _state_and_contests(request, session)
    if not session.draft:
        raise web.HTTPSeeOther("/ballot")
    return render(
        request,
        "review.html",
        title=state["definition"]["title"],
        rows=_review_rows(contests, session.draft),
        csrf=session.csrf,
        submission=session.submission_id,
        signed_in=True,
    )


def _review_rows(
    contests: tuple[ballot.ContestView, ...], draft: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    rows = []
    for contest in contests:
        names = {c.id: c.name for c in contest.candidates}
        rows.append(
            {
                "contest": contest,
                "choices": [names[c] for c in draft.get(contest.id, [])],
            }
        )
    return rows


@routes.post("/cast")
async def cast(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    form = await _form(request)
    _check_token(session, form)
    member = session.member
    lock = request.app[LOCKS].setdefault(member, asyncio.Lock())
    async with lock:
        async with request.app[POOL].acquire() as conn:
            row = await STORE.member(conn, member.election, member.voter_id)
        if row is None:
            raise NotSignedIn()
        if row.voted_on is not None:
            request.app[SESSIONS].close_member(member)
            return _voted(request, row.voted_on)
        draft, submission = session.draft, session.submission_id
        if not draft or submission is None or _last(form, "submission") != submission:
            raise FormExpired("This ballot has changed since you reviewed it. Review it again.")
        state = await request.app[LEDGER].election(member.election)
        try:
            answer = await request.app[LEDGER].cast(
                member.election, member.voter_id, submission, draft
            )
        except AlreadyVoted:
            answer = None
        async with request.app[POOL].acquire() as conn:
            await STORE.mark_voted(conn, member.election, member.voter_id)
        request.app[SESSIONS].close_member(member)
        request.app[LOCKS].pop(member, None)
    log.info("ballot_cast")
    response: web.StreamResponse
    if answer is None:
        async with request.app[POOL].acquire() as conn:
            row = await STORE.member(conn, member.election, member.voter_id)
        assert row is not None and row.voted_on is not None
        response = _voted(request, row.voted_on)
    else:
        response = _receipt_page(request, member.election, state, answer)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _receipt_page(
    request: web.Request, election: str, state: Mapping[str, Any], answer: Mapping[str, Any]
) -> web.Response:
    titles = {c["id"]: c["title"] for c in state["definition"]["contests"]}
    public = request.app[SETTINGS].public_ledger
    order = list(titles)
    receipts = []
    for contest, receipt in sorted(
        answer["receipts"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
    ):
        text = json.dumps(receipt, indent=2, sort_keys=True) + "\n"
        code = str(receipt["code"])
        receipts.append(
            {
                "contest": contest,
                "title": titles.get(contest, contest),
                "code": code,
                "check": f"{public}/check?code={code}&election={election}",
                "download": "data:application/json;base64,"
                + base64.b64encode(text.encode()).decode(),
                "filename": f"receipt-{election}-{contest}.json",
            }
        )
    return render(
        request,
        "receipt.html",
        title=state["definition"]["title"],
        receipts=receipts,
        signed_in=False,
    )


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        await conn.fetchval("SELECT 1")
    return web.json_response({"status": "ready"})


# --- the application ---------------------------------------------------------------------------


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("booth.http", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.globals["ordinal"] = ballot.ordinal
    return env


def create_app(
    settings: Settings,
    secret: bytes | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    app = web.Application(middlewares=[page_middleware], client_max_size=64 * 1024)
    app[SETTINGS] = settings
    app[SECRET] = secret if secret is not None else load_secret(settings)
    app[TEMPLATES] = templates()
    app[SESSIONS] = Sessions(settings.session_minutes * 60)
    app[BY_ADDRESS] = Throttle(settings.address_limit, settings.limit_window)
    app[BY_CODE] = Throttle(settings.code_limit, settings.limit_window)
    app[LOCKS] = {}
    app[CLOCK] = clock
    app.add_routes(routes)
    app.router.add_static("/static", str(_static()), append_version=False)
    app.cleanup_ctx.append(_resources)
    return app


def _static() -> Path:
    return Path(__file__).parent / "static"


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url, "the booth needs a database URL"
    conn = await asyncpg.connect(settings.database_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=settings.pool_size)
    assert pool is not None
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        app[POOL] = pool
        app[LEDGER] = LedgerClient(
            http, settings.ledger_url, settings.ledger_token, attempts=settings.cast_attempts
        )
        try:
            yield
        finally:
            await pool.close()
