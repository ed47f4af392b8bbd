"""An election's summary and its comparison with the predecessor (counter/tally/summary.py)."""

from __future__ import annotations

from typing import Any

from counter.tally import summary as sm


def _cand(cid: str, place: int | None, share: str | None, nominations: int) -> dict[str, Any]:
    return {
        "id": cid,
        "name": cid.title(),
        "place": place,
        "share": share,
        "nominations": nominations,
        "elected": False,
    }


def test_the_change_reads_as_the_seeds_write_it() -> None:
    """'up 9.0% to 33.0%, two places up to 7th'; down, unchanged and new read as such."""
    now = _cand("osamor", 7, "0.3300", 80)
    assert (
        sm.phrase(now, _cand("osamor", 9, "0.2400", 70)) == "up 9.0% to 33.0%, two places up to 7th"
    )
    assert sm.phrase(_cand("black", 1, "0.7600", 0), _cand("black", 1, "0.7700", 0)) == (
        "down 1.0% to 76.0%, still 1st"
    )
    assert sm.phrase(_cand("x", 3, "0.0620", 0), _cand("x", 2, "0.0520", 0)) == (
        "up 1.0% to 6.2%, one place down to 3rd"
    )
    assert sm.phrase(now, None) == "new"


def test_comparison_matches_candidates_by_id_then_name_and_compares_turnout() -> None:
    """Each candidate's previous place, share and nominations with the change; nominations
    totals and turnout by region against last time."""
    previous = {
        "title": "NEC 2024",
        "contests": {
            "members": {
                "bodies": 431,
                "nominations": 2105,
                "candidates": [
                    {
                        "id": "old-id",
                        "name": "Ann",
                        "place": 2,
                        "share": "0.2000",
                        "nominations": 9,
                    },
                    _cand("bob", 1, "0.5000", 20),
                ],
            }
        },
        "turnout": {
            "members": {
                "cast": 50,
                "eligible": 100,
                "by": {"region": {"north": 30, "south": None}},
                "eligible_by": {"region": {"north": 60, "south": None}},
            }
        },
    }
    current = {
        "contests": {
            "members": {
                "title": "Members",
                "bodies": 288,
                "nominations": 1377,
                "candidates": [
                    {**_cand("ann", 1, "0.5500", 12), "name": "Ann"},
                    _cand("bob", 2, "0.4500", 18),
                    _cand("cy", 3, None, 1),
                ],
            }
        },
        "turnout": {
            "members": {
                "cast": 40,
                "eligible": 100,
                "by": {"region": {"north": 21, "south": 19}},
                "eligible_by": {"region": {"north": 60, "south": 40}},
            }
        },
    }
    out = sm.compare(current, previous)
    members = out["contests"]["members"]
    assert (members["previous_nominations"], members["previous_bodies"]) == (2105, 431)
    ann, bob, cy = members["candidates"]
    assert ann["previous"]["place"] == 2 and ann["previous"]["nominations"] == 9
    assert ann["change"] == "up 35.0% to 55.0%, one place up to 1st"
    assert bob["change"] == "down 5.0% to 45.0%, one place down to 2nd"
    assert cy["previous"] is None and cy["change"] == "new"
    assert [r["nominations_change"] for r in (ann, bob, cy)] == ["+3", "\u22122", "new"]
    assert out["turnout"]["members"]["by"]["region"] == [
        {
            "value": "north",
            "cast": 21,
            "eligible": 60,
            "percent": "35.0%",
            "previous": 30,
            "previous_suppressed": False,
            "previous_eligible": 60,
            "previous_percent": "50.0%",
            "change": "down 15.0% to 35.0%",
        },
        {
            "value": "south",
            "cast": 19,
            "eligible": 40,
            "percent": "47.5%",
            "previous": None,
            "previous_suppressed": True,
            "previous_eligible": None,
            "previous_percent": None,
            "change": "",
        },
    ]
    members_turnout = out["turnout"]["members"]
    assert members_turnout["previous_cast"] == 50
    assert (members_turnout["percent"], members_turnout["previous_percent"]) == ("40.0%", "50.0%")
    assert members_turnout["change"] == "down 10.0% to 40.0%"


def test_summary_places_are_the_counts_final_places() -> None:
    """Place: the count's final place (the result's ``places``: an STV candidate elected
    with fewer first preferences is placed above those who were not); share: first-round
    votes / valid ballots."""
    running = {
        "definition": {"title": "T", "contests": {"m": {"title": "M"}}},
        "nominations": {
            "m": {
                "bodies": 3,
                "candidates": [
                    {"candidate": "a", "name": "A", "nominations": 3},
                    {"candidate": "b", "name": "B", "nominations": 2},
                    {"candidate": "c", "name": "C", "nominations": 2},
                ],
            }
        },
    }
    document = {
        "valid_ballots": 4,
        "rounds": [{"tallies": {"A": "2", "B": "1", "C": "1"}}],
        "places": {"A": 1, "C": 2, "B": 3},
        "elected_ids": ["a", "c"],
    }
    a, b, c = sm.summary(running, {"m": document})["contests"]["m"]["candidates"]
    assert [(x["place"], x["share"]) for x in (a, b, c)] == [
        (1, "0.5000"),
        (3, "0.2500"),
        (2, "0.2500"),
    ]


def test_summary_places_and_shares_come_from_the_first_round() -> None:
    """Without the result's places: 1 + those with more first-round votes; share: votes /
    valid ballots, rounded half up to 4 decimals; no place or share in a contest that went to
    no poll."""
    running = {
        "definition": {"title": "T", "contests": {"m": {"title": "M"}, "u": {"title": "U"}}},
        "nominations": {
            "m": {
                "bodies": 3,
                "candidates": [
                    {"candidate": "a", "name": "A", "nominations": 3},
                    {"candidate": "b", "name": "B", "nominations": 2},
                    {"candidate": "c", "name": "C", "nominations": 2},
                ],
            },
            "u": {"bodies": 3, "candidates": [{"candidate": "z", "name": "Z", "nominations": 3}]},
        },
        "contests": {"m": {"eligible": 9, "cast": 3}},
    }
    documents = {
        "m": {
            "valid_ballots": 3,
            "rounds": [{"tallies": {"A": "2", "B": "1", "C": "1"}}],
            "elected_ids": ["a"],
        },
        "u": {"valid_ballots": 0, "rounds": [], "elected_ids": ["z"]},
    }
    out = sm.summary(running, documents)
    a, b, c = out["contests"]["m"]["candidates"]
    assert (a["place"], a["share"], a["elected"]) == (1, "0.6667", True)
    assert (b["place"], c["place"], b["share"]) == (2, 2, "0.3333")
    assert out["contests"]["m"]["nominations"] == 7
    (z,) = out["contests"]["u"]["candidates"]
    assert (z["place"], z["share"], z["elected"]) == (None, None, True)
    assert out["turnout"]["m"] == {"eligible": 9, "cast": 3, "by": {}, "eligible_by": {}}
