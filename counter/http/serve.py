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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from counter.http.app import create_app
from counter.runtime.settings import Settings, load_settings
from ledger.errors import CliError
from ledger.http.serve import embedded_url, run_until_signal
from ledger.runtime import logs
from ledger.runtime.settings import ConfigError

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
    async with embedded_url(settings.database_url, settings.data_dir, DATABASE) as url:
        yield dataclasses.replace(settings, database_url=url)


async def serve(settings: Settings) -> None:
    async with database(settings) as ready:
        await run_until_signal(create_app(ready), ready, "counter_listening")


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
