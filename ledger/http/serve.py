"""`ballot ledger serve`: run the ledger service, on the embedded PostgreSQL by default."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ledger.errors import CliError
from ledger.http.app import create_app
from ledger.http.protocol import Runner
from ledger.runtime import logs
from ledger.runtime.embedded import EmbeddedPostgres
from ledger.runtime.settings import ConfigError, Settings, load_settings
from ledger.storage.store import migrate

log = structlog.get_logger(__name__)


def add_parsers(sub: Any) -> None:
    ledger = sub.add_parser("ledger", help="the ledger service")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="CMD")
    serve = ledger_sub.add_parser("serve", help="serve the ledger API")
    serve.add_argument("--host", help="address to listen on (BALLOT_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (BALLOT_PORT)")
    serve.add_argument("--data-dir", type=Path, help="keys and embedded database (BALLOT_DATA_DIR)")
    serve.set_defaults(func=run_serve)
    mig = ledger_sub.add_parser(
        "migrate", help="apply the database migrations (run as the owner role) and exit"
    )
    mig.set_defaults(func=run_migrate)


async def ensure_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the cluster if missing; return its URL."""
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


@contextlib.asynccontextmanager
async def embedded_url(url: str | None, data_dir: Path, name: str) -> AsyncIterator[str]:
    """``url`` when set; otherwise database ``name`` on an embedded cluster under
    ``data_dir/postgres``, started (or reused) for the duration."""
    if url:
        yield url
        return
    cluster = EmbeddedPostgres(data_dir=Path(data_dir) / "postgres")
    await asyncio.to_thread(cluster.start)
    try:
        yield await ensure_database(cluster.admin_url, name)
    finally:
        await asyncio.to_thread(cluster.stop)


@contextlib.asynccontextmanager
async def database(settings: Settings, name: str) -> AsyncIterator[Settings]:
    """Settings with a database URL: the configured one, or an embedded cluster's."""
    async with embedded_url(settings.database_url, settings.data_dir, name) as url:
        yield dataclasses.replace(settings, database_url=url)


class Listening(Protocol):
    """Where and how a service listens: both services' settings have these."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def header_timeout(self) -> float: ...
    @property
    def metrics_host(self) -> str: ...
    @property
    def metrics_port(self) -> int: ...


async def metrics_endpoint(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_app() -> web.Application:
    """The private listener's application: ``GET /metrics`` (Prometheus) and nothing else.
    The public API does not serve the metrics: counts taken at each acceptance would show
    when ballots arrive (issue 14)."""
    app = web.Application()
    app.router.add_get("/metrics", metrics_endpoint)
    return app


async def start(app: web.Application, listen: Listening) -> list[web.BaseRunner]:
    """Serve ``app`` on ``listen.host:port`` and the metrics on ``listen.metrics_host:
    metrics_port`` (port 0: any free port; each runner's ``addresses`` says which)."""
    runner = Runner(
        app, header_timeout=listen.header_timeout, access_log=None, shutdown_timeout=2.0
    )
    await runner.setup()
    await web.TCPSite(runner, listen.host, listen.port).start()
    private = web.AppRunner(metrics_app(), access_log=None)
    await private.setup()
    try:
        await web.TCPSite(private, listen.metrics_host, listen.metrics_port).start()
    except BaseException:
        await private.cleanup()
        await runner.cleanup()
        raise
    return [runner, private]


async def run_until_signal(app: web.Application, listen: Listening, event: str) -> None:
    """Serve ``app`` (and the metrics, privately) until SIGINT or SIGTERM; open long-polls get
    2 s to finish. Connections have ``listen.header_timeout`` seconds to send their headers
    (``ledger.http.protocol``)."""
    runners = await start(app, listen)
    log.info(
        event,
        host=listen.host,
        port=listen.port,
        metrics_host=listen.metrics_host,
        metrics_port=listen.metrics_port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


async def serve(settings: Settings) -> None:
    async with database(settings, "ballot_ledger") as ready:
        await run_until_signal(create_app(ready), ready, "ledger_listening")


def run_serve(args: argparse.Namespace) -> int:
    overrides = {
        k: v
        for k, v in {"host": args.host, "port": args.port, "data_dir": args.data_dir}.items()
        if v is not None
    }
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    logs.configure(settings.log_format)
    asyncio.run(serve(settings))
    return 0


async def _migrate(settings: Settings) -> list[str]:
    async with database(settings, "ballot_ledger") as ready:
        assert ready.database_url is not None
        conn = await asyncpg.connect(ready.database_url)
        try:
            return await migrate(conn)
        finally:
            await conn.close()


def run_migrate(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    logs.configure(settings.log_format)
    applied = asyncio.run(_migrate(settings))
    sys.stdout.write(
        f"applied migrations: {', '.join(applied)}\n" if applied else "schema is up to date\n"
    )
    return 0
