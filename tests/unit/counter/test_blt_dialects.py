"""The BLT dialects real counting software writes: one file in ``blt/`` per feature.

Every file but the mark and weight ones holds the same three ballots (4 x Ann,
Bob; 3 x Bob; 2 x Cy, Ann) spelled in its dialect, so each must read as
:data:`PLAIN_BALLOTS`.  Every refusal names the line, what was expected and
what was found.
"""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot import cli as ballot_cli
from ballot.bench import synthetic
from counter.ballots import blt
from counter.ballots.profile import make_profile
from counter.errors import BltError
from counter.rules import count, report, resolve
from counter.rules.model import Profile
from counter.tally import fold as fl

DIALECTS = Path(__file__).parent / "blt"
NAMES = ["Ann ONE", "Bob TWO", "Cy THREE"]
PLAIN_BALLOTS = (((0, 1), 4), ((1,), 3), ((2, 0), 2))


def _read(name: str, reading: blt.Reading = blt.PLAIN) -> Profile:
    """The file as `ballot count` reads it (bytes, UTF-8), by both readers, which agree."""
    text = (DIALECTS / name).read_bytes().decode("utf-8")
    by_lines = blt.parse(text, reading, vectorised=False)
    assert blt.parse(text, reading, vectorised=True) == by_lines
    return by_lines


def _reading(rule: str) -> blt.Reading:
    chosen = resolve(rule)
    return blt.Reading(rule=chosen.name, marks=chosen.marks, fractions=chosen.fractions)


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("comments.blt", "Comments"),
        ("blank_lines.blt", "Blank lines"),
        ("crlf.blt", "CRLF"),
        ("bom.blt", "Byte-order mark"),
        ("trailing_lines.blt", "Trailing lines"),
        ("no_terminator.blt", "No terminating 0"),
        ("ballot_ids.blt", "Ballot ids"),
    ],
)
def test_each_dialect_reads_as_the_plain_file(name: str, title: str) -> None:
    """Comments, blank lines, CRLF, a BOM, trailing lines, no 0, ballot ids: same ballots."""
    profile = _read(name)
    assert [c.name for c in profile.candidates] == NAMES
    assert profile.ballots == PLAIN_BALLOTS
    assert (profile.seats, profile.title) == (2, title)


def test_crlf_file_really_has_crlf_line_ends() -> None:
    """The CRLF test file keeps its CR bytes (git does not normalise the folder)."""
    assert (DIALECTS / "crlf.blt").read_bytes().count(b"\r\n") == 9


def test_bom_file_starts_with_a_byte_order_mark() -> None:
    """The BOM test file starts with the UTF-8 byte-order mark, which is not a name or number."""
    assert (DIALECTS / "bom.blt").read_bytes().startswith(b"\xef\xbb\xbf")


def test_a_lone_carriage_return_ends_a_line_for_both_readers() -> None:
    """Old Mac line ends (CR alone) inside a ballot block are line breaks, never spaces."""
    text = "3 2\n1 1\r2 3\n4 1 2\r\n0\n" + "".join(f'"{n}"\n' for n in NAMES)
    expected = (((0,), 1), ((0, 1), 4), ((2,), 2))  # not "1 1 2 3": one paper 1, 2, 3
    assert blt.parse(text, vectorised=True).ballots == expected
    assert blt.parse(text, vectorised=False).ballots == expected


def test_withdrawn_candidates_as_negative_numbers_are_withdrawn_and_skipped() -> None:
    """A line of negative ids withdraws those candidates; the count passes over them."""
    profile = _read("withdrawn.blt")
    assert [c.withdrawn for c in profile.candidates] == [False, False, False, True]
    result = count(profile, "scottish")
    plain = count(make_profile(NAMES, PLAIN_BALLOTS, seats=2), "scottish")
    assert result.elected_names == plain.elected_names
    assert result.rounds[0].tallies[:3] == plain.rounds[0].tallies
    assert result.rounds[0].tallies[3] is None


def test_quoted_names_and_title_with_doubled_quotes() -> None:
    """``""`` inside a quoted name or title is one quote; several names may share a line."""
    profile = _read("quoted_names.blt")
    assert [c.name for c in profile.candidates] == [
        'Jane SMITH "Independent Party"',
        'Bob "Bobby" TWO',
        "Cy O'THREE",
    ]
    assert profile.title == 'The "Quoted" Ward'
    assert blt.parse(blt.dump(profile)) == profile


def test_equal_preferences_stop_an_stv_paper_and_are_marks_for_bloc() -> None:
    """STV rules: the paper stops before '=' (invalid if first); bloc: every mark counts."""
    stv = _read("equal_preferences.blt", _reading("scottish"))
    assert stv.ballots == (((), 1), ((0, 1), 4), ((1,), 3), ((2,), 2))
    bloc = _read("equal_preferences.blt", _reading("bloc"))
    assert bloc.ballots == (((0, 1), 4), ((0, 1, 2), 1), ((1,), 3), ((2, 0, 1), 2))
    result = count(stv, "scottish")
    assert (result.valid_ballots, result.invalid_ballots) == (9, 1)


def test_skipped_preferences_stop_an_stv_paper_and_are_ignored_by_bloc() -> None:
    """STV rules: the paper stops before '-' (invalid if first); bloc: '-' is no mark."""
    stv = _read("skipped_preferences.blt", _reading("meek"))
    assert stv.ballots == (((), 1), ((0, 1), 4), ((1,), 3), ((2,), 2))
    bloc = _read("skipped_preferences.blt", _reading("bloc"))
    assert bloc.ballots == (((0, 1), 4), ((1,), 3), ((1, 2), 1), ((2, 0), 2))


@pytest.mark.parametrize(
    ("name", "found"),
    [("equal_preferences.blt", "'3'"), ("skipped_preferences.blt", "'-'")],
)
def test_marks_are_refused_naming_the_rule_that_does_not_read_them(name: str, found: str) -> None:
    """A reading that refuses '=' and '-' says which rule, which line, expected and found."""
    text = (DIALECTS / name).read_text(encoding="utf-8")
    with pytest.raises(BltError) as err:
        blt.parse(text, blt.Reading(rule="club-rules", marks="refuse"))
    message = str(err.value)
    assert message.startswith("line 4: rule club-rules does not say how to count")
    assert "expected one candidate per preference, found" in message
    with pytest.raises(BltError, match="a count without a named rule"):
        blt.parse(text)


def test_fractional_weights_are_exact_fractions_for_exact_rules() -> None:
    """'2.5', '1/3', '0.75' are read as exact Fractions and counted exactly by exact-droop."""
    profile = _read("fractional_weights.blt", _reading("exact-droop"))
    assert profile.ballots == (
        ((0, 1), 4),
        ((1,), Fraction(5, 2)),
        ((1, 2), Fraction(3, 4)),
        ((2, 0), Fraction(1, 3)),
    )
    result = count(profile, "exact-droop")
    assert result.valid_ballots == Fraction(91, 12)
    assert result.quota == Fraction(91, 36)
    assert report.to_json(result)["valid_ballots"] == "91/12"


@pytest.mark.parametrize("rule", ["scottish", "ers97", "meek", "bloc"])
def test_fractional_weights_are_refused_by_rules_that_count_whole_papers(rule: str) -> None:
    """Fixed-precision and bloc rules refuse a fractional weight, naming rule, line and weight."""
    text = (DIALECTS / "fractional_weights.blt").read_text(encoding="utf-8")
    with pytest.raises(BltError) as err:
        blt.parse(text, _reading(rule))
    assert str(err.value).startswith(
        f"line 3: rule {rule} counts whole ballot papers: expected a whole-number weight, "
        "found '2.5'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x y\n", "line 1: expected the first line 'candidates seats', found 'x y'"),
        ("0 1\n", "line 1: expected the first line 'candidates seats' (both positive), found"),
        ("2 1\n-3\n1 1 0\n0\nA\nB\n", "line 2: expected withdrawn candidates as negative ids "),
        ("2 1\n1 3 0\n0\nA\nB\n", "line 2: preference 3 is not a candidate: expected 1..2, found"),
        ("2 1\n1 1 x 0\n0\nA\nB\n", "line 2: expected a candidate number 1..2, equal ones"),
        ("2 1\n1 1 0 2 0\n0\nA\nB\n", "line 2: expected the 0 that ends a ballot line only at"),
        ("2 1\n1 1 0\n-1 1 0\n0\nA\nB\n", "line 3: expected a weight of 0 or more, found '-1'"),
        ("2 1\nw 1 0\n0\nA\nB\n", "line 2: expected a weight (a whole number of papers)"),
        ("2 1\n(p1 1 1 0\n0\nA\nB\n", "line 2: expected a ballot id closed by ')', found"),
        ("2 1\n1 1 0\n", "line 2: expected a ballot line or the 0 that ends the ballots, found"),
        ("2 1\n1 1 0\n0\nA\n", "line 4: expected 2 candidate names after the ballots, found 1"),
        ("# c\n2 1\n1 1 0\n1 2\n0\nA\n", "line 6: expected 2 candidate names after the"),
        ('2 1\n1 1 0\n0\n"A\nB\n', "line 4: expected a closing quote, found the end of the line"),
        ('2 1\n1 1 0\n0\n"A" B\nC\n', "line 4: expected a quoted name, found 'B' after"),
        ("2 1\n1 1 0\n0\nA\nA\n", "line 5: expected distinct candidate names, found 'A' twice"),
        ("2 1\n\u00b2 1 0\n0\nA\nB\n", "line 2: expected a weight (a whole number of papers)"),
        ("2 1\n\u0661 1 0\n0\nA\nB\n", "line 2: expected a weight (a whole number of papers)"),
        ("2 1\n1 \u00b2 0\n0\nA\nB\n", "line 2: expected a candidate number 1..2, equal ones"),
        ("2 1\n1 \u0661 0\n0\nA\nB\n", "line 2: expected a candidate number 1..2, equal ones"),
        ("2 1\n1 1=\u00b2 0\n0\nA\nB\n", "line 2: expected a candidate number 1..2, equal"),
        ("2 1\n-\u00b2\n1 1 0\n0\nA\nB\n", "line 2: expected a weight (a whole number"),
        ("\u0662 1\n1 1 0\n0\nA\nB\n", "line 1: expected the first line 'candidates seats'"),
        ("2 1\n" + "9" * 5000 + " 1 0\n0\nA\nB\n", "line 2: expected a weight of at most"),
        ("2 1\n1 " + "1" * 5000 + " 0\n0\nA\nB\n", "line 2: preference 1111111111"),
    ],
)
def test_refusals_name_the_line_what_was_expected_and_what_was_found(
    text: str, message: str
) -> None:
    """Each malformed file is refused with 'line N: expected ..., found ...', by both readers."""
    for vectorised in (True, False):
        with pytest.raises(BltError) as err:
            blt.parse(text, vectorised=vectorised)
        assert str(err.value).startswith(message)
        assert "expected" in str(err.value) and "found" in str(err.value)


def test_cli_refuses_a_file_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot count` says which byte is not UTF-8 instead of a traceback."""
    path = tmp_path / "latin1.blt"
    path.write_bytes(b'1 1\n1 1 0\n0\n"Se\xe1n"\n"T"\n')
    assert ballot_cli.main(["count", str(path), "--rule", "scottish"]) == 2
    assert "expected UTF-8 text, found byte 0xE1 at offset 15" in capsys.readouterr().err


@pytest.mark.parametrize(("rule", "invalid"), [("scottish", 1), ("bloc", 3)])
def test_cli_reads_marks_as_the_chosen_rule_says(
    rule: str, invalid: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ballot count --rule R` reads '=' as R says: STV voids '1=2 3'; bloc sees 3 marks.

    For bloc (2 seats) both papers with '=' mark three candidates: over-votes (clause 1).
    """
    path = DIALECTS / "equal_preferences.blt"
    assert ballot_cli.main(["count", str(path), "--rule", rule, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["invalid_ballots"] == invalid


@pytest.mark.parametrize("rule", ["scottish", "meek", "bloc"])
def test_ballot_export_blt_round_trips_through_ballot_count(
    rule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The counter's BLT export of a contest, given to `ballot count`, counts as the contest.

    BLT carries names, not gender or slate: the expected count leaves those out too.
    """
    log = synthetic.build(voters=60, seed=5, declare=False)
    state = fl.fold(fl.initial(log.election), enumerate(log.entries))
    contest = "youth" if rule == "bloc" else "members"
    profile = fl.profile_of(state, contest)
    profile = replace(
        profile, candidates=tuple(replace(c, gender=None, slate=None) for c in profile.candidates)
    )
    seats = 1 if rule == "bloc" else 3
    path = tmp_path / f"{contest}.blt"
    path.write_text(blt.dump(profile, seats), encoding="utf-8")
    assert ballot_cli.main(["count", str(path), "--rule", rule, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(report.to_json(count(profile, rule, seats))))


_NAME = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\x85"),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_NAME, min_size=1, max_size=5, unique=True), _NAME)
def test_any_names_and_title_round_trip_through_dump_and_parse(
    names: list[str], title: str
) -> None:
    """Quotes, backslashes, '#', spaces: every name and title written is read back as it was."""
    profile = make_profile(names, [((0,), 1)], seats=1, title=title)
    assert blt.parse(blt.dump(profile)) == profile


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 9),
    st.lists(
        st.tuples(
            st.integers(0, 120),
            st.lists(st.integers(1, 9), max_size=9),
            st.booleans(),
        ),
        max_size=60,
    ),
    st.booleans(),
)
def test_numpy_and_line_readers_agree_on_plain_blocks(
    ncand: int, ballots: list[tuple[int, list[int], bool]], crlf: bool
) -> None:
    """The vectorised reader gives the line reader's profile, repeats and all, or steps aside;
    a weight-0 line with no preferences is the bare 0 that ends the ballots, and the lines
    after it names (which may be refused): then both readers refuse alike."""
    lines = [f"{ncand} 1"]
    for weight, prefs, terminated in ballots:
        prefs = [p for p in prefs if p <= ncand]
        lines.append(" ".join([str(weight), *map(str, prefs), *(["0"] if terminated else [])]))
    lines += ["0", *(f"C{i}" for i in range(ncand)), "T"]
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    assert _read_either(text, vectorised=True) == _read_either(text, vectorised=False)


def _read_either(text: str, *, vectorised: bool) -> object:
    try:
        return blt.parse(text, vectorised=vectorised)
    except BltError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize(
    ("ncand", "line"),
    [(9, "3 1 05 0"), (9, "3 1 2 00"), (12, "3 1 2 00"), (12, "3 00 1 0"), (40, "3 07 1 0")],
)
def test_a_preference_with_a_leading_0_is_read_alike_by_both_readers(ncand: int, line: str) -> None:
    """'05' among fewer than 10 candidates, '00' anywhere: refused by the line reader, so by the
    vectorised one too (a large file used to be counted where a small one was refused)."""
    names = "".join(f"C{i}\n" for i in range(ncand))
    text = f"{ncand} 1\n{line}\n007 2 1 0\n0\n{names}T\n"
    assert _read_either(text, vectorised=True) == _read_either(text, vectorised=False)
