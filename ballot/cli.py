"""The `ballot` command line: one entry point for every service and tool.

Each subcommand lives with the package that owns it; this module only wires them
together. Every subcommand returns a process exit code; bad input is a clear
message on stderr and a non-zero exit, never a traceback.

Imports are lazy: the commands and their one-line help are listed here, and only
the module that registers the command being run is imported (``ballot --help``
and ``ballot count`` never load aiohttp, asyncpg or the services). A unit test
checks this table against the modules' own registrations.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Registrar:
    """``module.function(subparsers)`` registers the ``commands`` (name, one-line help)."""

    module: str
    function: str
    commands: tuple[tuple[str, str], ...]

    def register(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        getattr(importlib.import_module(self.module), self.function)(sub)

    def stub(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        for name, help_ in self.commands:
            sub.add_parser(name, help=help_)


COMMANDS = (
    Registrar(
        "ballot.demo", "add_parser", (("demo", "run a whole executive election end to end"),)
    ),
    Registrar("ledger.http.serve", "add_parsers", (("ledger", "the ledger service"),)),
    Registrar(
        "ballot.tools",
        "add_parsers",
        (
            ("export", "download an election's whole public log"),
            ("audit", "verify and recount an election from its public log"),
            ("receipt", "voter tools"),
            ("keys", "signing keys"),
        ),
    ),
    Registrar(
        "ballot.officer",
        "add_parser",
        (("election", "the returning officer's commands (create, roll, open, …)"),),
    ),
    Registrar("ballot.count", "add_service_parser", (("counter", "the counter service"),)),
    Registrar(
        "ballot.count", "add_count_parser", (("count", "count a BLT ballot file by a named rule"),)
    ),
    Registrar("booth.http.serve", "add_parsers", (("booth", "the voting booth: codes and pages"),)),
)
BENCHES = (
    Registrar(
        "ballot.count",
        "add_bench_parser",
        (
            (
                "count",
                "time the counting rules on a seeded 1M-ballot profile and the Scottish wards",
            ),
        ),
    ),
    Registrar("ballot.bench.audit", "add_parser", (("audit", "audit speed on a synthetic log"),)),
    Registrar(
        "ballot.bench.pipeline",
        "add_parser",
        (("pipeline", "close + openings + counter follow + count/declare of a big election"),),
    ),
    Registrar(
        "ballot.bench.lag",
        "add_parser",
        (("lag", "release-round-to-counter-tallies lag under steady open-loop load"),),
    ),
    Registrar(
        "ballot.bench.booth",
        "add_parser",
        (("booth", "a member's way from code to receipt at a running booth"),),
    ),
    Registrar(
        "ballot.bench.ledger",
        "add_parser",
        (
            ("append", "durable casts/s over HTTP beside the HTTP ceiling"),
            ("sequencer", "the batch path in-process beside raw COPY"),
        ),
    ),
)


def _positionals(argv: Sequence[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-")]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the modules of the command in it are imported."""
    parser = argparse.ArgumentParser(
        prog="ballot",
        description="ballot-ledger: verifiable ballot log, counter and audit tools.",
    )
    words = _positionals(argv) if argv is not None else None
    command = words[0] if words else None
    bench_command = words[1] if words and len(words) > 1 and command == "bench" else None
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for r in COMMANDS:
        if words is None or command in dict(r.commands):
            r.register(sub)
        else:
            r.stub(sub)
    bench = sub.add_parser("bench", help="benchmarks that print their figures")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    for r in BENCHES:
        if words is None or (command == "bench" and bench_command in dict(r.commands)):
            r.register(bench_sub)
        else:
            r.stub(bench_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # No command uses BLAS: one OpenBLAS thread spares numpy's import starting a thread per
    # core (~0.04 s of a whole `ballot count`). A setting made by the user wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    args_in = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_in)
    args = parser.parse_args(args_in)
    from ledger.errors import CliError

    try:
        code: int = args.func(args)
    except CliError as exc:
        sys.stderr.write(f"ballot {args.command}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
