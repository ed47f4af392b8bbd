"""`ballot counter serve`: run the counter service, on the embedded PostgreSQL by default.

With no ``BALLOT_COUNTER_DATABASE_URL`` the counter starts (or reuses) a local cluster under
its data directory and uses the database ``ballot_counter`` there. Pointing the counter's data
directory at the ledger's shares the ledger's cluster; the counter still never reads the
ledger's tables, only its public HTTP API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from counter.app import create_app
from counter.settings import Settings, load_settings
from ledger import logs
from ledger.embedded import EmbeddedPostgres
from ledger.errors import CliError
from ledger.serve import ensure_database
from ledger.settings import ConfigError

log = structlog.get_logger(__name__)
DATABASE = "ballot_counter"


def add_parser(counter_sub: Any) -> None:
    serve = counter_sub.add_parser(
        "serve",
        help="follow the ledger's public feed, verify, tally, count and declare",
        description="Follow every election of the ledger at --ledger (or BALLOT_COUNTER_"
        "ELECTIONS), verify each entry and checkpoint, keep running tallies, count the "
        "results after the poll closes and declare them (with BALLOT_COUNTER_LEDGER_TOKEN).",
    )
    serve.add_argument(
        "--ledger", metavar="URL", help="the ledger's base URL (BALLOT_COUNTER_LEDGER_URL)"
    )
    serve.add_argument("--host", help="address to listen on (BALLOT_COUNTER_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (BALLOT_COUNTER_PORT)")
    serve.add_argument(
        "--data-dir", type=Path, help="key and embedded database (BALLOT_COUNTER_DATA_DIR)"
    )
    serve.add_argument(
        "--election",
        action="append",
        default=[],
        metavar="ID",
        help="follow only this election (repeatable; default: all the ledger lists)",
    )
    serve.set_defaults(func=run_serve)


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Settings]:
    """Settings with a database URL: the configured one, or an embedded cluster's."""
    if settings.database_url:
        yield settings
        return
    cluster = EmbeddedPostgres(data_dir=Path(settings.data_dir) / "postgres")
    await asyncio.to_thread(cluster.start)
    try:
        url = await ensure_database(cluster.admin_url, DATABASE)
        yield dataclasses.replace(settings, database_url=url)
    finally:
        await asyncio.to_thread(cluster.stop)


async def serve(settings: Settings) -> None:
    async with database(settings) as ready:
        app = create_app(ready)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, ready.host, ready.port)
        await site.start()
        log.info("counter_listening", host=ready.host, port=ready.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def run_serve(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "ledger_url": args.ledger,
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "elections": tuple(args.election) or None,
        }.items()
        if v is not None
    }
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    logs.configure(settings.log_format)
    asyncio.run(serve(settings))
    return 0
