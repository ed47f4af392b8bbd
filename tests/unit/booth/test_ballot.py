"""The ballot form: who sees which contest, and the form's rules in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from booth.domain import ballot
from booth.domain.roll import read_roll
from booth.errors import CodesError

DEFINITION: dict[str, Any] = {
    "title": "Executive 2026",
    "contests": [
        {
            "id": "exec",
            "title": "Executive",
            "seats": 2,
            "method": {"type": "stv", "rule": "scottish", "min_rankings": 2, "max_rankings": 4},
            "candidates": [
                {"id": "ann", "name": "Ann", "statement": "One.\n\nTwo."},
                {"id": "bob", "name": "Bob"},
                {"id": "cat", "name": "Cat"},
                {"id": "dan", "name": "Dan"},
                {"id": "eve", "name": "Eve"},
            ],
        },
        {
            "id": "board",
            "title": "Board",
            "seats": 2,
            "method": {"type": "bloc"},
            "candidates": [
                {"id": "fay", "name": "Fay"},
                {"id": "gus", "name": "Gus"},
                {"id": "hal", "name": "Hal"},
            ],
        },
        {
            "id": "youth",
            "title": "Youth",
            "seats": 1,
            "method": {"type": "bloc"},
            "candidates": [{"id": "ida", "name": "Ida"}, {"id": "jo", "name": "Jo"}],
            "eligibility": {"attr": "age", "lt": 27},
        },
    ],
}


ALL = ("ann", "bob", "cat", "dan", "eve")


def _views(age: int = 30, **withdrawn: list[str]) -> tuple[ballot.ContestView, ...]:
    return ballot.contests_for(DEFINITION, None, withdrawn, {"age": age})


def test_a_member_sees_only_the_contests_they_may_vote_in() -> None:
    """The youth contest (age < 27) is shown to a 20-year-old and to no 30-year-old."""
    assert [c.id for c in _views(30)] == ["exec", "board"]
    assert [c.id for c in _views(20)] == ["exec", "board", "youth"]
    assert [c.id for c in ballot.contests_for(DEFINITION, None, {}, {})] == ["exec", "board"]


def test_withdrawn_and_not_standing_candidates_are_not_shown() -> None:
    """Only candidates who stand appear; statements come from the definition, by paragraph."""
    (ex, *_) = ballot.contests_for(
        DEFINITION, {"exec": ["ann", "bob", "cat"], "board": ["fay"]}, {"exec": ["cat"]}, {}
    )
    assert [c.id for c in ex.candidates] == ["ann", "bob"]
    assert ex.candidates[0].statement == ("One.", "Two.")
    assert ex.max_selections == 2


def test_contests_and_candidates_returned_unopposed_are_off_the_paper() -> None:
    """The close of nominations' returns: a contest with no poll is not shown; a candidate
    returned unopposed is not on the paper; a bloc contest takes its polled seats' marks."""
    returns = {
        "exec": {"unopposed": [], "polled_seats": 0, "vacant": 0, "unmet": []},
        "board": {
            "unopposed": [{"candidate": "fay", "under": "gender=woman"}],
            "polled_seats": 1,
            "vacant": 0,
            "unmet": [],
        },
    }
    (board,) = ballot.contests_for(DEFINITION, None, {}, {"age": 30}, returns)
    assert board.id == "board" and [c.id for c in board.candidates] == ["gus", "hal"]
    assert board.max_selections == 1


def test_a_bloc_contest_with_seats_returned_asks_for_no_more_marks_than_it_polls() -> None:
    """ "Vote for 2, at least 2" with one seat returned unopposed: the paper asks for exactly
    one mark, as the ledger's ballot paper does (the booth had kept "at least 2", so no one
    could vote in it)."""
    definition = {
        **DEFINITION,
        "contests": [
            {**c, "method": {"type": "bloc", "min_marks": 2, "max_marks": 2}}
            for c in DEFINITION["contests"]
            if c["id"] == "board"
        ],
    }
    returns = {
        "board": {
            "unopposed": [{"candidate": "fay", "under": None}],
            "polled_seats": 1,
            "vacant": 0,
            "unmet": [],
        }
    }
    (board,) = ballot.contests_for(definition, None, {}, {}, returns)
    assert (board.min_selections, board.max_selections) == (1, 1)


def test_instructions_say_up_to_and_at_least_in_plain_words() -> None:
    """Bloc: 'Choose up to N'; STV: number 1, 2, ..., 'Rank at least N', 'up to M'."""
    ex, board = _views()
    assert "Choose up to 2 candidates." in board.instructions
    assert "1 for your first choice" in ex.instructions
    assert "Rank at least 2 candidates." in ex.instructions
    assert "You may rank up to 4." in ex.instructions


def test_a_filled_form_gives_the_selections() -> None:
    """Ranks in order give the STV ranking; ticked boxes give the bloc marks; blanks abstain."""
    form = {"rank-exec-cat": ["1"], "rank-exec-ann": ["2"], "rank-exec-bob": [""]}
    form["bloc-board"] = ["hal", "fay"]
    selections, errors = ballot.read_form(_views(), form)
    assert errors == []
    assert selections == {"exec": ["cat", "ann"], "board": ["fay", "hal"]}
    selections, errors = ballot.read_form(_views(), {"bloc-board": ["gus"]})
    assert errors == [] and selections == {"board": ["gus"]}


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"bloc-board": ["fay", "gus", "hal"]}, "bloc-board-fay", "choose up to 2 candidates"),
        ({"bloc-board": ["zed"]}, "bloc-board-fay", "only candidates from the list"),
        ({"rank-exec-ann": ["1"]}, "rank-exec-bob", "rank at least 2 candidates"),
        ({"rank-exec-ann": ["1"], "rank-exec-bob": ["1"]}, "rank-exec-bob", "the same number"),
        ({"rank-exec-ann": ["1"], "rank-exec-bob": ["3"]}, "rank-exec-bob", "no 2nd choice"),
        ({"rank-exec-ann": ["x"]}, "rank-exec-ann", "a number from the list"),
        (
            {f"rank-exec-{c}": [str(n)] for n, c in enumerate(ALL, 1)},
            "rank-exec-eve",
            "rank up to 4",
        ),
        ({}, "rank-exec-ann", "not voted in any contest"),
    ],
)
def test_each_mistake_is_told_in_plain_words_at_its_field(
    form: dict[str, list[str]], field: str, words: str
) -> None:
    """A form that breaks a rule gives one error naming the contest, tied to the field."""
    _, errors = ballot.read_form(_views(), form)
    assert len(errors) == 1
    (error,) = errors
    assert error.field == field
    assert words in error.message


def test_fields_for_contests_not_shown_are_ignored() -> None:
    """A forged field for a contest the member may not vote in selects nothing there."""
    forged = {"bloc-youth": ["ida"], "bloc-board": ["fay"]}
    selections, errors = ballot.read_form(_views(30), forged)
    assert errors == [] and selections == {"board": ["fay"]}


def test_the_roll_is_read_with_the_ledgers_cell_rules() -> None:
    """voter_id first; integers and booleans as the ledger reads them; blank lines skipped."""
    rows = read_roll("\ufeffvoter_id,age,region,disabled\nv1,20,north,true\n\nv2,41,,false\n")
    assert rows == [
        ("v1", {"age": 20, "region": "north", "disabled": True}),
        ("v2", {"age": 41, "disabled": False}),
    ]
    for bad in ("name,age\nv1,2\n", "voter_id,age\nv1,2\nv1,3\n", "voter_id,age\nv1,--5\n", ""):
        with pytest.raises(CodesError):
            read_roll(bad)
