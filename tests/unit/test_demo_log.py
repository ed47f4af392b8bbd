"""The demo's log reads as prose: contests, eligibility, minimums, turnout and margins."""

from __future__ import annotations

import random

from ballot import demo
from counter.rules import count, report

from .counter.test_margins import DISABLED


def test_contests_are_described_in_words_with_correct_plurals() -> None:
    """Each contest is one sentence: no Python dict for eligibility, "at least 1 woman" and
    "at least 5 women"."""
    words = [demo.contest_words(c) for c in demo.definition()["contests"]]
    assert words == [
        "Members' section: 9 seats (STV), 18 candidates; at least 5 women.",
        "Councillors' section: 2 seats (vote for up to 2), 5 candidates; voters: role is "
        "councillor; at least 1 woman.",
        "Disabled members' seat: 1 seat (STV), 3 candidates; voters: disabled.",
        "Youth seat: 1 seat (STV), 4 candidates; voters: age under 27.",
    ]
    assert not any("{" in w for w in words)


def test_eligibility_words_cover_every_operator() -> None:
    """Every comparison and combination of an eligibility rule reads as words."""
    lapsed = {"not": {"attr": "lapsed", "eq": True}}
    either = {"any": [{"attr": "region", "in": ["Wales", "East"]}, lapsed]}
    rule = {"all": [{"attr": "age", "gte": 16}, either]}
    assert demo.eligibility_words(rule) == (
        "age at least 16 and region one of Wales, East or not (lapsed)"
    )


def test_what_was_sent_is_one_sentence_and_not_called_turnout() -> None:
    """The demo's own count of what it sent is said as such (members who sent a paper),
    never as a turnout figure beside the ledger's published one."""
    people = demo.members(200, random.Random(1))
    papers = [{"region": m.region} for m in people[:50]]
    (line,) = demo.turnout_words(people, papers)
    assert line.startswith("Sent: 50 of 200 members sent a paper (25.0%), ")
    assert "turnout is the ledger's, published after the close" in line


def test_result_lines_carry_the_counters_margin() -> None:
    """The demo prints the counter's margin: on the disabled members' seat, Xena Xu 2nd, 195
    behind at stage 2 (where the old demo named Zara Zane, 207 behind at stage 1)."""
    doc = report.to_json(count(DISABLED, "scottish"))
    assert demo.result_words(doc) == [
        "1,493 valid ballots, 0 rejected; quota 747.00000.",
        "Runner-up: Xena Xu, 2nd, 195 behind the 1st seat (Yusuf Yates) at stage 2: 592 to 787.",
    ]
    assert not hasattr(demo, "_stv_margin")


def test_the_demo_names_an_imported_predecessor_and_reads_the_comparison_as_prose() -> None:
    """The demo's definition imports a predecessor summary the definition schema accepts
    (places by share, the seats elected, regions with eligible voters); the comparison is
    printed in the seeds' words: share with its change, nominations and turnout against
    last time."""
    from counter.tally import summary as sm
    from ledger.domain import election as el

    people = demo.members(3000, random.Random(1))
    previous = demo.previous_summary(people, 300, 2024)
    d = el.parse_definition(demo.definition(300, previous))
    assert d.document["predecessor"]["title"] == demo.PREVIOUS_TITLE
    members = previous["results"]["contests"]["members"]["candidates"]
    assert [r["place"] for r in members] == list(range(1, len(members) + 1))
    shares = [float(r["share"]) for r in members]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 1) < 0.001
    assert sum(r["elected"] for r in members) == 9
    regions = previous["results"]["turnout"]["members"]
    shown = {k: v for k, v in regions["by"]["region"].items() if v is not None}
    assert shown and all(regions["eligible_by"]["region"][k] > v for k, v in shown.items())

    now = {
        "contests": {
            "members": {
                "title": "Members' section",
                "bodies": 312,
                "nominations": 900,
                "candidates": [
                    {**r, "share": "0.3300" if i == 0 else r["share"]}
                    for i, r in enumerate(members)
                ],
            }
        },
        "turnout": {"members": {"cast": 900, "eligible": 3000, "by": {}}},
    }
    against = sm.compare(now, previous["results"] | {"title": previous["title"]})
    lines = demo.against_words(against, {"members": "Members' section"})
    first = members[0]
    change = sm.phrase({**first, "share": "0.3300"}, first)
    assert lines[0] == f"Against {demo.PREVIOUS_TITLE}:"
    assert lines[1].startswith(
        f"  Members' section: 900 nominations from 312 bodies, against "
        f"{previous['results']['contests']['members']['nominations']:,} from 402; turnout "
    )
    assert f"Elected: {first['name']} {change}; " in lines[1] and "to 33.0%" in change


def test_the_final_turnout_report_reads_as_eligible_voted_and_turnout_by_region() -> None:
    """After the close the demo prints the ledger's final report: each section's voters of
    its eligible members, and by region voted of eligible with the turnout, or "suppressed"
    where the rule withholds a group; every region suppressed is said in words; a section
    returned unopposed had no poll."""
    report = {
        "contests": {
            "youth": {"cast": 30, "eligible": 100, "by": {"region": {"East": None}}},
            "members": {
                "cast": 600,
                "eligible": 2000,
                "by": {"region": {"East": 200, "Wales": 400, "Tiny": None}},
                "eligible_by": {"region": {"East": 800, "Wales": 1200, "Tiny": None}},
            },
        }
    }
    titles = {"members": "Members' section", "youth": "Youth seat"}
    assert demo.final_turnout_words(report, titles, no_poll=["youth"])[2] == (
        "  Youth seat: no poll (100 eligible members)."
    )
    assert demo.final_turnout_words(report, titles) == [
        "Turnout as the ledger published it after the close:",
        "  Members' section: 600 of 2,000 voted (30.0%); by region: Wales 33.3% (400 of "
        "1,200); East 25.0% (200 of 800); Tiny suppressed.",  # the roll's order of regions
        "  Youth seat: 30 of 100 voted (30.0%); every region suppressed (too few voters or "
        "non-voters in some group).",
    ]
