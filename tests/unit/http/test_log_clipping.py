"""Client-supplied values (election ids, paths) go into log lines clipped to 80 characters,
so that a client cannot make a log line any length; in the ledger's and the counter's
middlewares alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from counter.http import app as counter_app
from ledger.runtime.logs import CLIP, clipped


def test_clipped_keeps_short_values_and_cuts_long_ones_with_an_ellipsis() -> None:
    """A value of at most 80 characters is kept whole; a longer one is its first 79 and "…"."""
    assert clipped("nec-2026") == "nec-2026"
    assert clipped("x" * CLIP) == "x" * CLIP
    assert clipped("x" * 5000) == "x" * (CLIP - 1) + "\u2026"
    assert len(clipped("y" * 81)) == CLIP == 80


async def test_the_counter_logs_a_long_path_clipped(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    """A request to the counter that fails (500) or finds the database down (503) is logged
    with its path clipped to 80 characters, not the 5,000 the client sent."""

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    async def database_down(request: web.Request) -> web.Response:
        raise OSError("connection refused")

    app = web.Application(middlewares=[counter_app.problem_middleware])
    app.router.add_get("/crash/{election}", crash)
    app.router.add_get("/down/{election}", database_down)
    client = await aiohttp_client(app)
    long_id = "a" * 5000
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        assert (await client.get(f"/crash/{long_id}")).status == 500
        assert (await client.get(f"/down/{long_id}")).status == 503
    events = {e["event"]: e for e in logs}
    for name in ("request_failed", "database_unavailable"):
        path = events[name]["path"]
        assert len(path) == 80 and path.endswith("\u2026"), events[name]
    assert all(len(str(v)) <= 200 for e in logs for k, v in e.items() if k != "exc_info"), logs
