"""The counter's page models (counter.http.pages): stage sheets, bloc polls, order, standing."""

from __future__ import annotations

import dataclasses
from typing import Any

from counter.http import pages
from counter.rules import count, report
from counter.rules.model import Candidate, Profile

from .test_margins import THREE_LEFT


def _result(contest: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "contest": contest,
        "result": doc,
        "declared": True,
        "result_hash": "ab" * 32,
        "counted_size": 10,
        "counted_root": "cd" * 32,
    }


def _youth() -> dict[str, Any]:
    slated = tuple(
        dataclasses.replace(c, slate="Left" if i < 2 else None)
        for i, c in enumerate(THREE_LEFT.candidates)
    )
    return report.to_json(count(dataclasses.replace(THREE_LEFT, candidates=slated), "scottish"))


RUNNING: dict[str, Any] = {
    "definition": {
        "title": "NEC",
        "order": ["youth", "bloc"],
        "contests": {
            "bloc": {"title": "Councillors", "constraints": []},
            "youth": {
                "title": "Youth seat",
                "constraints": [{"attribute": "gender", "value": "woman", "min": 1}],
            },
        },
    },
    "contests": {"bloc": {"cast": 30, "eligible": 40}, "youth": {"cast": 3280, "eligible": 9000}},
    "nominations": {
        "bloc": {"bodies": 2, "threshold": 1, "candidates": [], "slates": {}},
        "youth": {"bodies": 2, "threshold": 1, "candidates": [], "slates": {}},
    },
}


def test_stage_sheet_has_candidates_as_rows_and_transfer_and_total_per_stage() -> None:
    """The youth seat's sheet: first-preference order, two decimals with separators, the
    transfer beside each total from stage 2, non-transferable and quota rows, outcome with its
    stage, place, and gender and slate columns (a gender minimum, slates present)."""
    sheet = pages.stage_sheet(_youth(), RUNNING["definition"]["contests"]["youth"]["constraints"])
    assert [r["name"] for r in sheet["rows"]] == ["Abi Amos", "Ben Bloom", "Cara Cho", "Dan Drew"]
    assert [s["label"] for s in sheet["stages"]] == [
        "First preferences",
        "Exclusion of Dan Drew",
        "Exclusion of Cara Cho",
    ]
    abi = sheet["rows"][0]
    assert [(c["transfer"], c["total"]) for c in abi["cells"]] == [
        ("+1,500.00", "1,500.00"),
        ("+40.00", "1,540.00"),
        ("+150.00", "1,690.00"),
    ]
    assert abi["cells"][2]["exact"] == "1690.00000"
    assert (abi["outcome"], abi["place"]) == ("Elected at stage 3", "1st")
    assert sheet["rows"][2]["outcome"] == "Excluded at stage 3"
    assert [c["total"] for c in sheet["exhausted"]] == ["0.00", "24.00", "432.00"]
    assert [c["transfer"] for c in sheet["exhausted"]] == ["", "+24.00", "+408.00"]
    assert [c["total"] for c in sheet["quota"]] == ["1,641.00"] * 3
    assert sheet["gender"] and sheet["slate"]
    by_place = pages.stage_sheet(_youth(), [], order="place")
    assert [r["name"] for r in by_place["rows"]] == [
        "Abi Amos",
        "Ben Bloom",
        "Cara Cho",
        "Dan Drew",
    ]
    assert not by_place["gender"]


def test_sheet_order_by_final_place_differs_from_first_preferences() -> None:
    """Ordered by place, a candidate who overtook on transfers comes first."""
    # A 5 first preferences, B 4, C 3 (all to B): B elected, A runner-up.
    cands = tuple(Candidate(id=f"c{i}", name=n) for i, n in enumerate("ABC"))
    profile = Profile(candidates=cands, ballots=(((0,), 5), ((1,), 4), ((2, 1), 3)), seats=1)
    doc = report.to_json(count(profile, "scottish"))
    assert [r["name"] for r in pages.stage_sheet(doc, [])["rows"]] == ["A", "B", "C"]
    assert [r["name"] for r in pages.stage_sheet(doc, [], "place")["rows"]] == ["B", "A", "C"]


def test_chart_is_drawn_in_a_viewbox_not_a_fixed_width() -> None:
    """The votes-by-stage chart is a viewBox the page scales, one line per candidate."""
    chart = pages.stage_sheet(_youth(), [])["chart"]
    assert (chart["width"], chart["height"]) == (pages.CHART_W, pages.CHART_H)
    assert len(chart["lines"]) == 4 and all(len(x["points"].split()) == 3 for x in chart["lines"])


def test_bloc_poll_in_the_seeds_words() -> None:
    """A bloc poll lists each candidate by place, with "246 behind the 6th seat"."""
    votes = [1000, 990, 980, 970, 960, 950, 900, 704]
    cands = tuple(Candidate(id=f"c{i}", name=n) for i, n in enumerate("ABCDEFGH"))
    profile = Profile(candidates=cands, ballots=tuple(((i,), v) for i, v in enumerate(votes)))
    doc = report.to_json(count(profile, "bloc", seats=6))
    rows = pages.bloc_rows(doc)
    assert [(r["place"], r["name"], r["votes"]) for r in rows][-2:] == [
        ("7th", "G", "900"),
        ("8th", "H", "704"),
    ]
    assert rows[-1]["words"] == "246 behind the 6th seat"
    assert rows[0]["words"] == "" and rows[0]["elected"]


def test_sections_in_the_definitions_order_everywhere() -> None:
    """Results, turnout and nominations follow the definition's order, whatever order the
    results and the stored (jsonb) projection list them in."""
    cands = tuple(Candidate(id=f"c{i}", name=n) for i, n in enumerate("AB"))
    bloc = report.to_json(count(Profile(candidates=cands, ballots=(((0,), 2),)), "bloc", seats=1))
    page = pages.page_model("e", RUNNING, [_result("bloc", bloc), _result("youth", _youth())])
    assert [c["id"] for c in page["contests"]] == ["youth", "bloc"]
    assert [t["id"] for t in page["turnout"]] == ["youth", "bloc"]
    assert [n["id"] for n in page["nominations"]] == ["youth", "bloc"]
    youth = page["turnout"][0]
    assert (youth["eligible"], youth["cast"], youth["percent"]) == ("9,000", "3,280", "36.4")
    assert (youth["valid"], youth["rejected"]) == ("3,280", "0")


def test_not_validly_nominated_is_distinct_from_withdrawn() -> None:
    """A candidate left out at the close of nominations is "not validly nominated"; one who
    withdrew is "withdrawn"; both on the contest page and in the nominations table."""
    cands = (
        Candidate(id="a", name="Ann"),
        Candidate(id="b", name="Bob", withdrawn=True),
        Candidate(id="c", name="Cy", withdrawn=True),
    )
    doc = report.to_json(count(Profile(candidates=cands, ballots=(((0,), 2),)), "scottish", 1))
    running = {
        **RUNNING,
        "not_standing": {"youth": {"Bob": "withdrawn", "Cy": "not validly nominated"}},
        "nominations": {
            "youth": {
                "bodies": 3,
                "threshold": 2,
                "candidates": [
                    {"name": "Ann", "share": "1.0000", "valid": True, "nominations": 3},
                    {"name": "Bob", "share": "0.6667", "valid": True, "nominations": 2},
                    {"name": "Cy", "share": "0.3333", "valid": False, "nominations": 1},
                ],
                "slates": {},
            }
        },
    }
    model = pages.contest_model(running, _result("youth", doc))
    assert model["not_standing"] == [
        {"name": "Bob", "why": "withdrawn"},
        {"name": "Cy", "why": "not validly nominated"},
    ]
    page = pages.page_model("e", running, [_result("youth", doc)])
    assert [c["status"] for c in page["nominations"][0]["candidates"]] == [
        "validly nominated",
        "withdrawn",
        "not validly nominated",
    ]
