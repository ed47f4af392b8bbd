"""The pure election model: eligibility rules, ballot validation, commitments, roll rows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import election as el
from ledger.domain import schemas

CONTEST = el.parse_definition(
    {
        "title": "t",
        "contests": [
            {
                "id": "m",
                "title": "M",
                "seats": 2,
                "method": {"type": "stv", "rule": "scottish", "min_rankings": 2, "max_rankings": 3},
                "candidates": [{"id": x, "name": x.upper()} for x in "abcd"],
            },
            {
                "id": "b",
                "title": "B",
                "seats": 2,
                "method": {"type": "bloc"},
                "candidates": [{"id": x, "name": x.upper()} for x in "xyz"],
            },
        ],
    }
)


@pytest.mark.parametrize(
    ("rule", "attrs", "expected"),
    [
        (None, {}, True),
        ({"attr": "disabled", "eq": True}, {"disabled": True}, True),
        ({"attr": "disabled", "eq": True}, {"disabled": "true"}, False),
        ({"attr": "disabled", "eq": True}, {}, False),
        ({"not": {"attr": "disabled", "eq": True}}, {}, True),
        ({"attr": "age", "lt": 27}, {"age": 26}, True),
        ({"attr": "age", "lt": 27}, {"age": 27}, False),
        ({"attr": "age", "lt": 27}, {"age": "26"}, False),
        ({"attr": "role", "in": ["councillor", "mayor"]}, {"role": "mayor"}, True),
        (
            {"all": [{"attr": "age", "gte": 18}, {"attr": "region", "ne": "x"}]},
            {"age": 18, "region": "y"},
            True,
        ),
        ({"any": [{"attr": "age", "gt": 60}, {"attr": "age", "lte": 20}]}, {"age": 40}, False),
    ],
)
def test_eligibility_rules(rule: Any, attrs: dict[str, Any], expected: bool) -> None:
    """Eligibility rules compare typed attributes; a missing attribute fails a comparison."""
    assert el.eligible(rule, attrs) is expected


@pytest.mark.parametrize(
    ("contest", "selections", "error"),
    [
        ("m", ["a", "q"], el.UnknownCandidate),
        ("m", ["a", "a"], el.DuplicateSelection),
        ("m", ["a", "b", "c", "d"], el.TooManySelections),
        ("m", ["a"], el.TooFewSelections),
        ("b", ["x", "y", "z"], el.TooManySelections),
        ("b", [], el.TooFewSelections),
    ],
)
def test_invalid_selections(contest: str, selections: list[str], error: type[Exception]) -> None:
    """Each kind of invalid ballot raises its own error."""
    with pytest.raises(error):
        el.validate_selections(CONTEST.contest(contest), selections, frozenset())


def test_withdrawn_candidate_and_bloc_order() -> None:
    """A withdrawn candidate cannot be selected; a bloc ballot's order carries no meaning."""
    with pytest.raises(el.CandidateNotStanding):
        el.validate_selections(CONTEST.contest("m"), ["a", "b"], frozenset({"b"}))
    assert el.validate_selections(CONTEST.contest("b"), ["y", "x"], frozenset()) == ("x", "y")
    assert el.validate_selections(CONTEST.contest("m"), ["c", "a"], frozenset()) == ("c", "a")


def test_commitments_hide_and_bind() -> None:
    """Different salts give different commitments; a changed selection does not match."""
    s1, s2 = bytes(32), bytes([1]) * 32
    c1 = el.commitment("e", "m", ["a", "b"], s1)
    assert c1 != el.commitment("e", "m", ["a", "b"], s2)
    assert c1 != el.commitment("e", "m", ["b", "a"], s1)
    assert c1 == el.commitment("e", "m", ["a", "b"], s1)


# Text that often holds a character one-line text refuses: C1, separators, bidi controls.
ODD = "\x85\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069"
texts = st.text(st.one_of(st.characters(), st.sampled_from(ODD)), max_size=130)
scalars = st.one_of(
    st.text(st.one_of(st.characters(), st.sampled_from(ODD)), max_size=5),
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
)
rows = st.one_of(
    st.fixed_dictionaries(
        {"voter_id": st.one_of(texts, st.integers())},
        optional={
            "attributes": st.one_of(
                st.dictionaries(
                    st.from_regex(r"[a-z_0-9A-Z]{0,34}|[a-z]\n", fullmatch=True),
                    scalars,
                    max_size=34,
                ),
                st.lists(st.integers(), max_size=2),
            ),
            "extra": st.integers(),
        },
    ),
    st.lists(st.integers(), max_size=2),
)


@given(rows)
def test_fast_roll_row_check_agrees_with_the_schema(row: Any) -> None:
    """The hand-written roll row check accepts exactly what the JSON Schema accepts."""
    assert el.valid_roll_row(row) == schemas.validator(schemas.ROLL_ROW).is_valid(row)


@pytest.mark.parametrize(
    "change",
    [
        {
            "contests": [
                {
                    "id": "m",
                    "title": "M",
                    "seats": 1,
                    "method": {"type": "stv", "rule": "nope"},
                    "candidates": [{"id": "a", "name": "A"}],
                }
            ]
        },
        {
            "contests": [
                {
                    "id": "m",
                    "title": "M",
                    "seats": 1,
                    "method": {"type": "bloc"},
                    "candidates": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}],
                }
            ]
        },
        {
            "contests": [
                {
                    "id": "m",
                    "title": "M",
                    "seats": 1,
                    "method": {"type": "bloc"},
                    "candidates": [{"id": "a", "name": "A", "gender": "woman"}],
                    "constraints": [{"attribute": "gender", "value": "woman", "min": 2}],
                }
            ]
        },
    ],
)
def test_inconsistent_definitions_are_refused(change: dict[str, Any]) -> None:
    """Unknown rules, duplicate candidates and infeasible minimums are refused."""
    with pytest.raises(el.InvalidDefinition):
        el.parse_definition({"title": "t", **change})


good_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,5}", fullmatch=True)
odd_ids = st.one_of(good_ids, st.from_regex(r"[A-Z]{1,2}|x\n|-a|", fullmatch=True), st.integers())
casts = st.one_of(
    # Mostly well-formed papers, so the fast check accepts often…
    st.fixed_dictionaries(
        {
            "submission_id": st.from_regex(r"[A-Za-z0-9_.:-]{8,12}", fullmatch=True),
            "voter_id": st.text(min_size=1, max_size=12),
            "selections": st.dictionaries(
                good_ids, st.lists(good_ids, max_size=3), min_size=1, max_size=3
            ),
        }
    ),
    # …and papers with something wrong anywhere, so it must also refuse.
    st.fixed_dictionaries(
        {
            "submission_id": st.one_of(
                st.from_regex(r"[A-Za-z0-9_.:-]{6,10}\n?", fullmatch=True), st.integers()
            ),
            "voter_id": st.one_of(texts, st.integers()),
            "selections": st.one_of(
                st.dictionaries(
                    odd_ids, st.one_of(st.lists(odd_ids, max_size=3), odd_ids), max_size=3
                ),
                st.lists(odd_ids, max_size=2),
            ),
        },
        optional={"extra": st.integers()},
    ),
)


@given(casts)
def test_fast_cast_check_agrees_with_the_schema(body: Any) -> None:
    """The ledger's fast cast check accepts exactly what the JSON Schema accepts, now that
    the schema's patterns are matched whole (ECMA-262 ``$``) and voter ids are one line."""
    from ledger.service import plainly_valid_cast

    assert plainly_valid_cast(body) == schemas.validator(schemas.CAST).is_valid(body)
