"""The `ballot` command line: one entry point for every service and tool.

Each subcommand lives with the package that owns it; this module only wires them
together. Every subcommand returns a process exit code; bad input is a clear
message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ledger import demo, serve, tools
from ledger.errors import CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ballot",
        description="ballot-ledger: verifiable ballot log, counter and audit tools.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.add_parser(sub)
    serve.add_parsers(sub)
    tools.add_parsers(sub)
    bench = sub.add_parser("bench", help="benchmarks that print their figures")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH")

    from counter import bench_audit, bench_lag, bench_pipeline
    from counter import cli as counter_cli
    from ledger import bench as ledger_bench

    counter_cli.add_parsers(sub, bench_sub)
    bench_audit.add_parser(bench_sub)
    bench_pipeline.add_parser(bench_sub)
    bench_lag.add_parser(bench_sub)
    ledger_bench.add_parser(bench_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
