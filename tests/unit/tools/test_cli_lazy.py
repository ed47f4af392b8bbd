"""`ballot`'s lazy command table: the same commands as the modules register, fewer imports."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from ballot import cli


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action


def _listing(parser: argparse.ArgumentParser) -> list[tuple[str, str | None]]:
    return [(a.dest, a.help) for a in _subparsers(parser)._choices_actions]


def _bench(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    return _subparsers(parser).choices["bench"]


def test_the_table_lists_exactly_what_the_modules_register() -> None:
    """Names and one-line help of every command and bench match the real registrations."""
    full, lazy = cli.build_parser(), cli.build_parser([])
    assert sorted(_listing(lazy)) == sorted(_listing(full))
    assert sorted(_listing(_bench(lazy))) == sorted(_listing(_bench(full)))


COMMANDS = [[name] for r in cli.COMMANDS for name, _ in r.commands] + [
    ["bench", name] for r in cli.BENCHES for name, _ in r.commands
]


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_a_command_built_alone_is_the_command_built_with_all(words: list[str]) -> None:
    """`ballot CMD` registers CMD from its module: the same options and help as the full parser."""

    def leaf(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        for w in words:
            parser = _subparsers(parser).choices[w]
        return parser

    assert leaf(cli.build_parser(words)).format_help() == leaf(cli.build_parser()).format_help()


@pytest.mark.parametrize("argv", [["--help"], ["count", "--help"], ["bench", "count", "--help"]])
def test_help_and_count_do_not_import_the_services(argv: list[str]) -> None:
    """`ballot --help` and `ballot count` load neither aiohttp nor asyncpg (0.5 s of imports)."""
    code = (
        "import sys\n"
        "from ballot import cli\n"
        "try:\n"
        f"    cli.main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiohttp', 'asyncpg'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
