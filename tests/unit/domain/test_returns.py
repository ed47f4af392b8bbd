"""Returns at the close of nominations, per-contest nomination rules, and declaration on
approval, in the pure election fold (ledger/domain/election.py, ledger/domain/returns.py)."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain import election as el
from ledger.domain import returns as rt


def _candidates(*genders: str) -> list[dict[str, Any]]:
    return [{"id": f"c{i}", "name": f"C {i}", "gender": g} for i, g in enumerate(genders)]


def _definition(**contest: Any) -> dict[str, Any]:
    base = {
        "id": "exec",
        "title": "Executive",
        "seats": 3,
        "method": {"type": "bloc"},
        "candidates": _candidates("woman", "man", "man", "man", "woman"),
        "constraints": [{"attribute": "gender", "value": "woman", "min": 1}],
    }
    return {"title": "T", "nomination_threshold": 1, "contests": [{**base, **contest}]}


def _closed(doc: dict[str, Any], nominated: list[str]) -> el.ElectionState:
    state = el.apply(
        el.ElectionState(election_id="e"),
        "election_defined",
        {"definition": doc, "keys": {"ledger": ["k"]}},
    )
    state = el.apply(state, "nominations_opened", {})
    for cid in nominated:
        event = {"contest": "exec", "candidate": cid, "body": "b1"}
        state = el.apply(state, "nomination_recorded", event)
    return el.apply(state, "nominations_closed", el.standing_event(state))


def test_a_contest_with_no_more_candidates_than_seats_is_returned_unopposed() -> None:
    """Three validly nominated for three seats, the minimum met: all returned unopposed, in
    definition order, the contest off the ballot paper (a ballot in it is refused)."""
    state = _closed(_definition(), ["c0", "c1", "c4"])
    ret = state.returns["exec"]
    # c0 and c4 are both women: more than the minimum, so none is returned "under" it.
    assert ret.unopposed == (("c0", None), ("c1", None), ("c4", None))
    assert (ret.polled_seats, ret.vacant, ret.unmet) == (0, 0, ())
    assert not state.polled("exec")
    with pytest.raises(el.ContestNotPolled):
        el.validate_selections(
            state.require_definition().contest("exec"), ["c1"], state.not_standing("exec")
        )


def test_the_only_woman_is_returned_under_the_requirement_and_the_rest_polled() -> None:
    """A 3-seat section requiring a woman, where one woman is validly nominated: she is
    returned unopposed under the gender requirement; 2 seats go to the poll among the men,
    who may take at most 2 marks; she is not on the paper and cannot withdraw."""
    state = _closed(_definition(), ["c0", "c1", "c2", "c3"])
    ret = state.returns["exec"]
    assert ret.unopposed == (("c0", "gender=woman"),) and ret.polled_seats == 2
    assert el.standing_event(state)["returns"]["exec"] == {
        "unopposed": [{"candidate": "c0", "under": "gender=woman"}],
        "polled_seats": 2,
        "vacant": 0,
        "unmet": [],
    }
    contest = state.require_definition().contest("exec")
    assert contest.max_selections == 2
    with pytest.raises(el.CandidateNotStanding):
        el.validate_selections(contest, ["c0"], state.not_standing("exec"))
    assert el.validate_selections(contest, ["c2", "c1"], state.not_standing("exec")) == (
        "c1",
        "c2",
    )
    with pytest.raises(el.TooManySelections):
        el.validate_selections(contest, ["c1", "c2", "c3"], state.not_standing("exec"))
    with pytest.raises(el.WrongPhase):
        el.apply(
            state,
            "candidate_withdrawn",
            {"contest": "exec", "candidate": "c0", "reason": "withdrawn"},
        )


@pytest.mark.parametrize(
    ("policy", "polled", "vacant", "unmet_vacant"),
    [("vacant", 0, 1, 1), ("as_far_as_standing", 1, 0, 0)],
)
def test_an_unmeetable_minimum_is_flagged_at_the_close_under_each_policy(
    policy: str, polled: int, vacant: int, unmet_vacant: int
) -> None:
    """Two seats, at least two women, one woman nominated: flagged at the close. ``vacant``
    leaves the second reserved seat vacant (no poll: the men cannot take it);
    ``as_far_as_standing`` polls the other seat among the men."""
    doc = _definition(seats=2, constraints=[{"attribute": "gender", "value": "woman", "min": 2}])
    doc["unmet_minimum"] = policy
    state = _closed(doc, ["c0", "c1", "c2"])
    ret = state.returns["exec"]
    assert ret.unopposed == (("c0", "gender=woman"),)
    assert (ret.polled_seats, ret.vacant) == (polled, vacant)
    (unmet,) = ret.unmet
    assert (unmet.min, unmet.standing, unmet.policy, unmet.vacant) == (2, 1, policy, unmet_vacant)


def test_the_default_unmet_minimum_policy_is_vacant() -> None:
    """The documented default: reserved seats that cannot be filled stay vacant."""
    d = el.parse_definition(_definition())
    assert d.unmet_minimum == rt.DEFAULT_POLICY == "vacant"
    assert d.document["unmet_minimum"] == "vacant"


def test_an_ordinary_contest_has_no_return() -> None:
    """More candidates than seats and the minimum exceeded: no return, a poll for every seat."""
    state = _closed(_definition(), ["c0", "c1", "c2", "c3", "c4"])
    assert state.returns == {} and "returns" not in el.standing_event(state)
    assert state.polled("exec")


def test_thresholds_per_contest_absolute_or_as_a_share_and_kinds_of_body() -> None:
    """A contest's threshold: absolute, or a share of the bodies of the kinds that may
    nominate in it, rounded up; a body of another kind is refused."""
    doc = _definition(nominations={"share": "0.1", "by": ["branch"]})
    doc["nominating_bodies"] = {"branch": 41, "affiliate": 12}
    d = el.parse_definition(doc)
    contest = d.contest("exec")
    assert (contest.nomination_threshold, contest.nominators) == (5, ("branch",))
    assert d.document["contests"][0]["nominations"]["threshold"] == 5
    assert el.parse_definition(d.document).contest("exec").nomination_threshold == 5
    with pytest.raises(el.InvalidDefinition):
        el.parse_definition(_definition(nominations={"share": "0.1"}))  # no bodies counted
    state = el.apply(
        el.ElectionState(election_id="e"),
        "election_defined",
        {"definition": doc, "keys": {"ledger": ["k"]}},
    )
    state = el.apply(state, "nominations_opened", {})
    with pytest.raises(el.NominatorNotAllowed):
        el.apply(
            state,
            "nomination_recorded",
            {"contest": "exec", "candidate": "c0", "body": "u", "kind": "affiliate"},
        )
    event = {"contest": "exec", "candidate": "c0", "body": "b", "kind": "branch"}
    assert el.apply(state, "nomination_recorded", event).nomination_counts("exec")["c0"] == 1


def _poll_closed(declare: str) -> el.ElectionState:
    doc = {**_definition(), "nomination_threshold": 0, "declare": declare}
    state = el.apply(
        el.ElectionState(election_id="e"),
        "election_defined",
        {"definition": doc, "keys": {"ledger": ["k"]}},
    )
    state = el.apply(
        state,
        "roll_published",
        {"voters": 1, "contests": {"exec": {"eligible": 1, "roll_hash": "0" * 64}}},
    )
    state = el.apply(state, "poll_opened", {})
    return el.apply(state, "poll_closed", {})


def test_on_approval_a_declaration_needs_the_officers_approval_of_its_hash() -> None:
    """``declare: on_approval``: result_declared is refused until a result_approved of the
    same contest and result hash; then it declares. ``automatic`` takes no approval."""
    state = _poll_closed("on_approval")
    declaration = {"contest": "exec", "result_hash": "ab" * 32}
    with pytest.raises(el.NotApproved):
        el.apply(state, "result_declared", declaration)
    other = el.apply(state, "result_approved", {"contest": "exec", "result_hash": "cd" * 32})
    with pytest.raises(el.NotApproved):
        el.apply(other, "result_declared", declaration)
    approved = el.apply(state, "result_approved", {"contest": "exec", "result_hash": "ab" * 32})
    with pytest.raises(el.AlreadyDeclared):
        el.apply(approved, "result_approved", {"contest": "exec", "result_hash": "ab" * 32})
    assert el.apply(approved, "result_declared", declaration).phase == "declared"
    automatic = _poll_closed("automatic")
    assert el.apply(automatic, "result_declared", declaration).phase == "declared"
    with pytest.raises(el.WrongPhase):
        el.apply(automatic, "result_approved", {"contest": "exec", "result_hash": "ab" * 32})
