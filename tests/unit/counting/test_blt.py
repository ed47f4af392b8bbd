"""The BLT reader and writer."""

from __future__ import annotations

import pytest

from counter import blt
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
        ("2 1\n1 1\n0\nA\nB\n", "0"),
        ("2 1\n1 1 0\n0\nA\n", "expected 2 candidate names"),
        ("2 1\n1 1 = 2 0\n0\nA\nB\n", "equal"),
        ("2 1\n1 1 0\n", "end of file"),
    ],
)
def test_malformed_files_are_refused_with_a_line_number(text: str, message: str) -> None:
    """A malformed BLT raises BltError saying what and where."""
    with pytest.raises(BltError, match=message):
        blt.parse(text)
