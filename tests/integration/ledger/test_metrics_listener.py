"""The metrics are served on a private listener, never on the public API (issue 14): counts
taken at each acceptance would show, to anyone polling, when ballots arrive."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
from aiohttp import web

from counter.http.app import create_app as create_counter_app
from counter.runtime.settings import Settings as CounterSettings
from ledger.http.app import create_app
from ledger.http.serve import start
from ledger.runtime.settings import Settings

from ..conftest import COUNTER_SIGNER, SIGNER


async def _statuses(runners: list[web.BaseRunner], path: str) -> list[tuple[int, str]]:
    """(status, body) of GET ``path`` on the public listener, then the private one."""
    out = []
    async with aiohttp.ClientSession() as session:
        for runner in runners:
            host, port = runner.addresses[0][:2]
            async with session.get(f"http://{host}:{port}{path}") as r:
                out.append((r.status, await r.text()))
    return out


async def _serve(app: web.Application, settings: Any, path: str) -> list[tuple[int, str]]:
    runners = await start(app, settings)
    try:
        return await _statuses(runners, path)
    finally:
        for runner in runners:
            await runner.cleanup()


async def test_ledger_metrics_are_on_the_private_listener_only(settings: Settings) -> None:
    """The ledger's public port answers 404 for /metrics; the metrics port serves them, and
    nothing else."""
    listen = dataclasses.replace(settings, port=0, metrics_port=0)
    app = create_app(listen, SIGNER)
    (public, private) = await _serve(app, listen, "/metrics")
    assert public[0] == 404
    assert private[0] == 200 and "ballot_ledger_appends_total" in private[1]
    (public, private) = await _serve(create_app(listen, SIGNER), listen, "/healthz")
    assert public[0] == 200 and private[0] == 404


async def test_counter_metrics_are_on_the_private_listener_only(
    fresh_database: Any, tmp_path: Any
) -> None:
    """The counter's public port answers 404 for /metrics; its metrics port serves them."""
    listen = CounterSettings(
        ledger_url="http://127.0.0.1:9",
        database_url=fresh_database(),
        data_dir=tmp_path,
        port=0,
        metrics_port=0,
        retry=0.1,
    )
    (public, private) = await _serve(create_counter_app(listen, COUNTER_SIGNER), listen, "/metrics")
    assert public[0] == 404
    assert private[0] == 200 and "ballot_counter_errors_total" in private[1]


def test_metrics_listen_on_the_loopback_by_default() -> None:
    """Both services' metrics listeners default to the loopback interface, on their own port."""
    ledger, counter = Settings(), CounterSettings()
    assert ledger.metrics_host == counter.metrics_host == "127.0.0.1"
    assert ledger.metrics_port not in (ledger.port, 0)
    assert counter.metrics_port not in (counter.port, 0, ledger.metrics_port)
