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


async def run_until_signal(app: web.Application, listen: Listening, event: str) -> None:
    """Serve ``app`` until SIGINT or SIGTERM; open long-polls get 2 s to finish. Connections
    have ``listen.header_timeout`` seconds to send their headers (``ledger.http.protocol``)."""
    runner = Runner(
        app, header_timeout=listen.header_timeout, access_log=None, shutdown_timeout=2.0
    )
    await runner.setup()
    site = web.TCPSite(runner, listen.host, listen.port)
    await site.start()
    log.info(event, host=listen.host, port=listen.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
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
