"""`ballot count`: the command line over the counter."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from counter import cli

GOLDEN = Path(__file__).parent / "golden"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ballot")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench")
    cli.add_parsers(sub, bench.add_subparsers(dest="bench_command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_json_lists_elected_names_as_the_blt_spells_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--json prints elected names exactly as in the BLT, in order, with decimal tallies."""
    assert _run(["count", str(GOLDEN / "exhausted.blt"), "--rule", "scottish", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["elected"] == ["Alba ANDERSON", "Calum CAMPBELL"]
    assert doc["rounds"][1]["tallies"]["Bruce BROWN"] == "2.66666"


def test_table_by_default_and_constraint_from_candidates_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default output is a table; --candidates and --min make the constraint act."""
    csv = tmp_path / "c.csv"
    csv.write_text("name,gender,slate\nNia NEIL,F,\nOla ORR,F,\n", encoding="utf-8")
    argv = ["count", str(GOLDEN / "constraint.blt"), "--rule", "meek", "--candidates", str(csv)]
    assert _run([*argv, "--min", "gender=F:1"]) == 0
    out = capsys.readouterr().out
    assert "Elected, in order: Kit KERR, Lew LAMB, Nia NEIL" in out
    assert "Constraint gender=F:1 acted" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--rule", "nope"], "unknown rule"),
        (["--rule", "scottish", "--min", "gender"], "ATTR=VALUE:K"),
        (["--rule", "scottish", "--seed", "xyz"], "not hexadecimal"),
        (["--rule", "scottish", "--seats", "0"], "at least 1"),
    ],
)
def test_bad_input_is_a_clear_message_and_a_non_zero_exit(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad options give a message on stderr and exit 2, never a traceback."""
    assert _run(["count", str(GOLDEN / "ties.blt"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_is_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    """A file that cannot be read is reported, exit 2."""
    assert _run(["count", "/nonexistent.blt", "--rule", "scottish"]) == 2
    assert "cannot read" in capsys.readouterr().err
