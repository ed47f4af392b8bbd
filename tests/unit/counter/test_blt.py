"""The BLT reader and writer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counter.ballots import blt
from counter.ballots.profile import make_profile
from counter.errors import BltError

SAMPLE = """3 2 -2
# a comment
(b1) 4 1 3 0
2 3 1 1 0
1 2 0
0
"Ann ONE" "Bob TWO"
Cy THREE
"A title"
"""


def test_reads_weights_withdrawn_on_seats_line_quoted_and_unquoted_names() -> None:
    """Weights, ballot ids, repeated preferences, withdrawn ids and both name styles are read."""
    profile = blt.parse(SAMPLE)
    assert [c.name for c in profile.candidates] == ["Ann ONE", "Bob TWO", "Cy THREE"]
    assert [c.withdrawn for c in profile.candidates] == [False, True, False]
    assert profile.seats == 2
    assert profile.title == "A title"
    assert profile.ballots == (((0, 2), 4), ((1,), 1), ((2, 0), 2))


def test_reads_withdrawn_candidates_on_their_own_line() -> None:
    """A line of negative ids after the first line withdraws those candidates."""
    profile = blt.parse("2 1\n-1\n3 1 2 0\n0\nA\nB\nT\n")
    assert [c.withdrawn for c in profile.candidates] == [True, False]


def test_round_trip_preserves_the_profile() -> None:
    """Writing then reading gives back the same candidates, ballots, seats and title."""
    profile = blt.parse(SAMPLE)
    again = blt.parse(blt.dump(profile))
    assert again == profile


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x y\n", "line 1"),
        ("2 1\n1 3 0\n0\nA\nB\n", "preference 3"),
        ("2 1\n1 1 0 2 0\n0\nA\nB\n", "only at its end"),
        ("2 1\n1 1 0\n0\nA\n", "expected 2 candidate names"),
        ("2 1\n1 1 = 2 0\n0\nA\nB\n", "equal"),
        ("2 1\n1 1 0\n", "end of the file"),
    ],
)
def test_malformed_files_are_refused_with_a_line_number(text: str, message: str) -> None:
    """A malformed BLT raises BltError saying what and where."""
    with pytest.raises(BltError, match=message):
        blt.parse(text)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("2 1\n1 1 0\n1 2 0\n1 1 0\n1 3 0\n0\nA\nB\n", 5),
        ("2 1\n1 1 0\n1 2 0\n(b3 1 1 0\n0\nA\nB\n", 4),
        ("2 1\n1 1 0\n1 2 0\n1 x 0\n1 1 0\n0\nA\nB\n", 4),
    ],
)
def test_an_error_deep_in_many_ballot_lines_names_its_own_line(text: str, line: int) -> None:
    """The grouped fast path never hides where a bad line is."""
    with pytest.raises(BltError, match=f"line {line}"):
        blt.parse(text)


_LINE_STYLES = st.sampled_from(["{w} {p} 0", "{w}  {p}   0 ", "(id) {w} {p} 0", "{w} {p} 0 # c"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.lists(st.integers(1, 4), max_size=5),
            _LINE_STYLES,
        ),
        max_size=40,
    ),
    st.sampled_from(["0", "0 ", "0 # end"]),
    st.booleans(),
)
def test_lines_grouped_as_text_read_as_the_same_profile(
    ballots: list[tuple[int, list[int], str]], terminator: str, blank_lines: bool
) -> None:
    """A file of repeated lines, in any spelling, reads as the sum of its ballots.

    The reader groups identical lines before parsing them; the result must equal
    the profile grouped from the ballots one by one, whatever the terminator and
    the spacing, comments and ids of the lines.
    """
    body = []
    for weight, prefs, style in ballots:
        body.append(style.format(w=weight, p=" ".join(map(str, prefs))))
        if blank_lines:
            body.append("")
    text = "\n".join(["4 2", *body, terminator, "A", "B", "C", "D", "T"]) + "\n"
    expected = make_profile(
        "ABCD",
        [(tuple(dict.fromkeys(p - 1 for p in prefs)), w) for w, prefs, _ in ballots],
        seats=2,
        title="T",
    )
    assert blt.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\ufeff", "the file is empty"),
        ("\n  \n\n", "the file is empty"),
        ("# a comment\n\n", "the file holds only blank lines and comments"),
    ],
)
def test_an_empty_file_says_it_is_empty_not_line_0(text: str, message: str) -> None:
    """A BLT with nothing in it is refused as empty, naming no line (it said "line 0")."""
    for vectorised in (False, True):
        with pytest.raises(BltError, match=message) as caught:
            blt.parse(text, vectorised=vectorised)
        assert caught.value.line is None
        assert not str(caught.value).startswith("line")
