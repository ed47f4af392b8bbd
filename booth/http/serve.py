"""`ballot booth serve` (the booth's pages) and `ballot booth codes` (issue voting codes).

With no ``BALLOT_BOOTH_DATABASE_URL`` the booth starts (or reuses) a local cluster under its data
directory and uses the database ``ballot_booth`` there (development only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from booth.domain.roll import read_roll
from booth.errors import BoothError
from booth.http.app import create_app
from booth.runtime.settings import Settings, load_secret, load_settings
from booth.service import codes as issuing
from booth.storage.store import migrate
from ledger.errors import CliError
from ledger.http.serve import embedded_url, run_until_signal
from ledger.runtime import logs
from ledger.runtime.settings import ConfigError

DATABASE = "ballot_booth"


def add_parsers(sub: Any) -> None:
    booth = sub.add_parser("booth", help="the voting booth: codes and pages")
    bsub = booth.add_subparsers(dest="booth_command", required=True, metavar="CMD")
    serve = bsub.add_parser(
        "serve",
        help="serve the booth's pages",
        description="Serve the voting booth: members sign in with their voting code, vote, "
        "and get their receipts. Casts through the ledger at --ledger with the front-end token "
        "BALLOT_BOOTH_LEDGER_TOKEN.",
    )
    serve.add_argument("--ledger", metavar="URL", help="the ledger's URL (BALLOT_BOOTH_LEDGER_URL)")
    serve.add_argument(
        "--ledger-public", metavar="URL", help="the ledger's URL as voters reach it, for links"
    )
    serve.add_argument("--host", help="address to listen on (BALLOT_BOOTH_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (BALLOT_BOOTH_PORT)")
    serve.add_argument("--data-dir", type=Path, help="secret and embedded database")
    serve.set_defaults(func=run_serve)
    codes = bsub.add_parser(
        "codes",
        help="issue voting codes for an election's roll",
        description="Issue one voting code to each member of the roll who has none yet (or, "
        "with --reissue, a new code to named members, which revokes their old one) and write "
        "them to a new CSV file (election, voter_id, code) for a mail merge. The booth keeps "
        "only keyed hashes of the codes: this file is the only copy.",
    )
    codes.add_argument("--election", required=True, metavar="ID")
    codes.add_argument("--roll", type=Path, metavar="FILE.csv", help="the roll (voter_id, …)")
    codes.add_argument(
        "--reissue", action="append", default=[], metavar="VOTER_ID", help="replace this code"
    )
    codes.add_argument("-o", "--output", type=Path, required=True, metavar="codes.csv")
    codes.add_argument("--data-dir", type=Path, help="secret and embedded database")
    codes.set_defaults(func=run_codes)


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Settings]:
    async with embedded_url(settings.database_url, settings.data_dir, DATABASE) as url:
        yield dataclasses.replace(settings, database_url=url)


def _settings(args: argparse.Namespace, **more: Any) -> Settings:
    overrides = {k: v for k, v in {"data_dir": args.data_dir, **more}.items() if v is not None}
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


async def serve(settings: Settings) -> None:
    async with database(settings) as ready:
        await run_until_signal(create_app(ready), ready, "booth_listening")


def run_serve(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        ledger_url=args.ledger,
        ledger_public_url=args.ledger_public,
        host=args.host,
        port=args.port,
    )
    logs.configure(settings.log_format)
    asyncio.run(serve(settings))
    return 0


async def issue_codes(
    settings: Settings,
    election: str,
    members: list[tuple[str, dict[str, Any]]],
    reissue: list[str],
    output: Path,
) -> int:
    """Issue (or reissue) codes and write them to ``output`` (which must not exist); the number
    written."""
    secret = load_secret(settings)
    async with database(settings) as ready:
        assert ready.database_url is not None
        conn = await asyncpg.connect(ready.database_url)
        try:
            await migrate(conn)
            issued = await issuing.issue(conn, secret, election, members)
            issued += await issuing.reissue(conn, secret, election, reissue)
        finally:
            await conn.close()
    await issuing.write_private(output, issuing.codes_csv(election, issued))
    return len(issued)


def run_codes(args: argparse.Namespace) -> int:
    if args.roll is None and not args.reissue:
        raise CliError("give --roll FILE.csv, or --reissue VOTER_ID")
    settings = _settings(args)
    if args.output.exists():
        raise CliError(f"{args.output} exists: codes are never written over a file")
    try:
        members = read_roll(args.roll.read_text(encoding="utf-8")) if args.roll else []
        n = asyncio.run(issue_codes(settings, args.election, members, args.reissue, args.output))
    except (BoothError, OSError, UnicodeDecodeError) as exc:
        raise CliError(str(exc)) from exc
    print(f"{n} code(s) written to {args.output}")
    return 0
