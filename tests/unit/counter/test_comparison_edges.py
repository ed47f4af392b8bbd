"""The comparison with the last election at its edges: rounding once, changes that agree with
the figures shown, matching contests and candidates, older summaries, partial returns on the
stage sheet, and the demo's invented predecessor (issue 16, items 6 and 8)."""

from __future__ import annotations

import random
from typing import Any

from ballot import demo
from counter.tally import summary as sm


def _running(votes: dict[str, int]) -> dict[str, Any]:
    return {
        "definition": {"title": "T", "contests": {"m": {"title": "M"}}},
        "nominations": {
            "m": {
                "bodies": 1,
                "candidates": [
                    {"candidate": n.lower(), "name": n, "nominations": 1} for n in votes
                ],
            }
        },
    }


def test_share_percent_is_not_rounded_twice() -> None:
    """56 of 101 valid ballots is 55.4% (55.4455...), not 55.5% (0.5545 rounded again)."""
    votes = {"A": 56, "B": 45}
    document = {
        "valid_ballots": 101,
        "rounds": [{"tallies": {k: str(v) for k, v in votes.items()}}],
        "places": {"A": 1, "B": 2},
        "elected_ids": ["a"],
    }
    now = sm.summary(_running(votes), {"m": document})
    out = sm.compare(now, {"contests": {}})
    a = out["contests"]["m"]["candidates"][0]
    assert a["percent"] == "55.4%"


def test_change_agrees_with_the_percentages_shown() -> None:
    """Shown 24.1% last time and 33.3% now, the change reads 9.2 points, not 9.3."""
    now = {"share": "0.3333", "place": 1}
    before = {"share": "0.2405", "place": 1}
    assert sm.percent_text(sm.fraction(before["share"])) == "24.1%"
    assert sm.phrase(now, before).startswith("up 9.2% to 33.3%")


def test_contests_match_by_name_when_ids_differ() -> None:
    """compare()'s docstring: "Contests and candidates are matched by id, then by name". A
    predecessor whose contest id differs but whose title is the same is still matched."""
    cand = {"id": "a", "name": "A", "place": 1, "share": "0.5000", "nominations": 3}
    current = {"contests": {"members": {"title": "Members' section", "candidates": [cand]}}}
    previous = {
        "contests": {
            "nec-members": {"title": "Members' section", "nominations": 2, "candidates": [cand]}
        }
    }
    row = sm.compare(current, previous)["contests"]["members"]["candidates"][0]
    assert row["previous"] is not None


def test_candidate_id_reused_for_someone_else_does_not_take_their_history() -> None:
    """An imported predecessor where id 'c1' was another person and this person stood under
    another id: matched by id, Bob gets Ann's record although Bob's own is there by name."""
    previous = {
        "contests": {
            "m": {
                "candidates": [
                    {"id": "c1", "name": "Ann", "place": 1, "share": "0.6000", "nominations": 9},
                    {"id": "c2", "name": "Bob", "place": 2, "share": "0.4000", "nominations": 4},
                ]
            }
        }
    }
    current = {
        "contests": {
            "m": {
                "candidates": [
                    {"id": "c1", "name": "Bob", "place": 1, "share": "0.5000", "nominations": 5}
                ]
            }
        }
    }
    row = sm.compare(current, previous)["contests"]["m"]["candidates"][0]
    assert row["previous"]["share"] == "0.4000"


def test_demo_predecessor_regions_add_up_to_its_totals() -> None:
    """The demo's invented predecessor: where every region is shown, the regions' eligible
    add up to the section's eligible (docs/log-format.md §10) and their voters to at most its
    cast; else the page shows region turnouts the section total contradicts."""
    rng = random.Random(7)
    people = demo.members(3000, rng)
    prev = demo.previous_summary(people, 300, 5)["results"]["turnout"]
    bad = []
    for cid, t in prev.items():
        by, eligible_by = t["by"]["region"], t["eligible_by"]["region"]
        if None in by.values():
            continue
        if sum(eligible_by.values()) != t["eligible"] or sum(by.values()) > t["cast"]:
            bad.append((cid, sum(eligible_by.values()), t["eligible"], sum(by.values()), t["cast"]))
    assert bad == []


def test_predecessor_from_an_older_counter_returned_unopposed_has_no_turnout() -> None:
    """A summary exported before ``polled`` existed (predecessor imports are older by
    nature): a contest returned unopposed last time (no ballots, no shares) had no poll, so
    its 0 cast is no 0.0% turnout and the change is not "up 36.4% to 36.4%"."""
    cand = {"id": "a", "name": "A", "place": None, "share": None, "nominations": 3}
    previous = {
        "contests": {"m": {"title": "M", "ballots": 0, "candidates": [cand]}},
        "turnout": {"m": {"cast": 0, "eligible": 500, "by": {}}},
    }
    current = {
        "contests": {"m": {"title": "M", "polled": True, "candidates": []}},
        "turnout": {"m": {"cast": 364, "eligible": 1000, "by": {}}},
    }
    t = sm.compare(current, previous)["turnout"]["m"]
    assert t["previous_percent"] is None and t["change"] != "up 36.4% to 36.4%"


def test_stage_sheet_does_not_call_a_candidate_returned_unopposed_not_elected() -> None:
    """A partial return in an STV contest (one seat returned unopposed, one polled): the
    returned candidate was never on the ballot paper; the stage sheet must not list her as
    "Not elected" with 0.00 at every stage (pages.off_the_paper ignores ``status``
    "returned unopposed")."""
    import dataclasses

    from counter.http import pages
    from counter.rules import count, report
    from counter.rules.model import Candidate, Profile

    cands = (
        Candidate(id="r", name="Rita", withdrawn=True),
        *(Candidate(id=f"c{i}", name=n) for i, n in enumerate("ABC")),
    )
    profile = Profile(candidates=cands, ballots=(((1,), 5), ((2,), 4), ((3, 2), 3)), seats=1)
    res = count(profile, "scottish")
    # as counter.tally.fold.count_contest does for those returned unopposed
    res = dataclasses.replace(
        res,
        seats=2,
        elected=(0, *res.elected),
        candidates=tuple(
            dataclasses.replace(x, withdrawn=False) if x.id == "r" else x for x in res.candidates
        ),
    )
    doc = report.to_json(res)
    for c in doc["candidates"]:
        c["status"] = "returned unopposed" if c["name"] == "Rita" else "standing"
    rows = {r["name"]: r for r in pages.stage_sheet(doc, [])["rows"]}
    assert "Rita" not in rows and set(rows) == {"A", "B", "C"}


def test_demo_prose_for_a_section_returned_unopposed() -> None:
    """With few branches (issue 16: --branches 50) a section is returned unopposed; the
    demo's comparison must still read as prose, not "turnout no poll this time"."""
    current = {
        "contests": {
            "members": {
                "title": "M",
                "polled": False,
                "nominations": 30,
                "bodies": 9,
                "candidates": [],
            }
        },
        "turnout": {"members": {"cast": 0, "eligible": 100, "by": {}}},
    }
    previous = {
        "title": "Last",
        "contests": {"members": {"title": "M", "nominations": 40, "bodies": 12, "candidates": []}},
        "turnout": {"members": {"cast": 30, "eligible": 100, "by": {}}},
    }
    (_, line) = demo.against_words(sm.compare(current, previous), {"members": "Members' section"})
    assert "turnout no poll" not in line and line.endswith("; no poll this time.")


def test_those_not_on_the_paper_say_why_instead_of_a_change() -> None:
    """Returned unopposed, not validly nominated or withdrawn this time: the comparison says
    so, with last time's place, never "stood last time" or "new" as if they had polled."""
    before = {
        "contests": {
            "m": {
                "candidates": [
                    {"id": "a", "name": "A", "place": 3, "share": "0.2000", "nominations": 4},
                    {"id": "b", "name": "B", "place": None, "share": None, "nominations": 2},
                ]
            }
        }
    }
    rows = [
        {"id": "a", "name": "A", "place": None, "share": None, "status": "returned unopposed"},
        {"id": "b", "name": "B", "place": None, "share": None, "status": "not validly nominated"},
        {"id": "c", "name": "C", "place": None, "share": None, "status": "withdrawn"},
        {"id": "d", "name": "D", "place": 1, "share": "1.0000", "status": "standing"},
    ]
    now = {"contests": {"m": {"candidates": [{**r, "nominations": 1} for r in rows]}}}
    out = sm.compare(now, before)["contests"]["m"]["candidates"]
    assert [r["change"] for r in out] == [
        "returned unopposed; 3rd last time",
        "not validly nominated; stood last time",
        "withdrawn; new",
        "new",
    ]
