"""`ballot count`: the command line over the counter."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ballot import count as cli

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


@pytest.mark.parametrize("rule", ["scottish", "ers97", "meek", "exact-droop", "bloc"])
def test_an_empty_blt_counts_to_every_seat_vacant(
    rule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A BLT with no ballots: exit 0, no one elected, every seat vacant, under every rule."""
    empty = tmp_path / "empty.blt"
    empty.write_text('3 2\n0\n"Ann"\n"Bob"\n"Cat"\n"Empty"\n', encoding="utf-8")
    assert _run(["count", str(empty), "--rule", rule, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["outcome"], doc["vacant"], doc["elected"]) == ("no valid ballots", 2, [])
    assert _run(["count", str(empty), "--rule", rule, "--seats", "1"]) == 0
    out = capsys.readouterr().out
    assert "Elected, in order: no one" in out and "no valid ballots; 1 of 1 seat(s) vacant" in out


def test_lot_seed_says_no_lot_was_drawn(capsys: pytest.CaptureFixture[str]) -> None:
    """A count that drew no lot says so instead of printing a blank seed."""
    assert _run(["count", str(GOLDEN / "exhausted.blt"), "--rule", "scottish"]) == 0
    out = capsys.readouterr().out
    assert "Lot seed: none (no lot drawn)" in out and "Lot seed: \n" not in out


def test_a_minimum_without_candidate_attributes_names_the_missing_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--min on gender without --candidates blames the missing attributes, not the seats."""
    argv = ["count", str(GOLDEN / "ties.blt"), "--rule", "scottish", "--min", "gender=woman:1"]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "no --candidates file gives any candidate a gender" in err and "seats" not in err
    assert _run([*argv[:-1], "age=30:1"]) == 2
    assert "candidates have no attribute 'age'" in capsys.readouterr().err


def test_more_seats_than_candidates_warns(capsys: pytest.CaptureFixture[str]) -> None:
    """--seats above the number of candidates standing warns on stderr and still counts."""
    profile_text = (GOLDEN / "ties.blt").read_text(encoding="utf-8")
    standing = int(profile_text.split()[0])
    seats = str(standing + 2)
    assert _run(["count", str(GOLDEN / "ties.blt"), "--rule", "scottish", "--seats", seats]) == 0
    captured = capsys.readouterr()
    assert f"warning: {seats} seats but {standing} candidate(s) standing" in captured.err
    assert "seats vacant" in captured.out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,gender\nAnn ABLE,\xb1\n", "expected UTF-8 text, found byte 0xB1 at offset 21"),
        (b"name,gender\nAnn ABLE," + b"x" * 200_000 + b"\n", "the candidates file cannot be read"),
    ],
)
def test_an_unreadable_candidates_file_is_a_clear_message(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --candidates file that is not UTF-8 or not CSV is reported by name, exit 2, never a
    traceback."""
    path = tmp_path / "candidates.csv"
    path.write_bytes(content)
    argv = ["count", str(GOLDEN / "ties.blt"), "--rule", "scottish", "--candidates", str(path)]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err


def test_an_empty_file_is_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot count` of an empty file says the file is empty (not "line 0"), exit 2."""
    empty = tmp_path / "empty.blt"
    empty.write_text("", encoding="utf-8")
    assert _run(["count", str(empty), "--rule", "scottish", "--seats", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: the file is empty" in err and "line 0" not in err


def _long_ward(tmp_path: Path) -> Path:
    """A 16-candidate, 3-seat ward with long names and thousands of votes (many stages)."""
    names = [f"Euan BLOCKSIDGE-MACKENZIE {chr(65 + i)} (Independent)" for i in range(16)]
    lines = ["16 3"]
    for i in range(16):
        second = (i + 1) % 16 + 1
        lines.append(f"{1000 + 137 * i} {i + 1} {second} 0")
    lines.append("0")
    lines += [f'"{n}"' for n in names]
    lines.append('"A long ward"')
    path = tmp_path / "ward.blt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("columns", [80, 120])
def test_table_fits_the_terminal_with_full_names_and_thousands_separators(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
) -> None:
    """`ballot count` fits $COLUMNS: no line is wider, every name is printed in full, figures
    carry thousands separators, and the stages that do not fit go on to further blocks."""
    monkeypatch.setenv("COLUMNS", str(columns))
    assert _run(["count", str(_long_ward(tmp_path)), "--rule", "scottish"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= columns
    for i in range(16):
        assert f"Euan BLOCKSIDGE-MACKENZIE {chr(65 + i)} (Independent)" in out
    assert "3,055.00000" in out  # the 16th's first preferences: 1000 + 137 * 15
    assert "Stages 1 to " in out and "…" not in out
    assert "Runner-up: " in out
