"""What the counter's HTML pages show (pure): the election's overview and each contest's sheet.

Built from the stored projection (``counter.service.follower.projection``) and the result
documents (docs/log-format.md §10), never from the database directly, so a test can build a
page model from plain dicts. Contests appear in the definition's order everywhere (the
projection states it: jsonb keeps no key order); candidates in a stage sheet by first
preferences or by final place; figures to two decimals with thousands separators (the exact
values are the result document's, linked from each page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from counter.rules.margins import ordinal
from counter.rules.report import decimal_string, thousands
from counter.tally import summary as sm

BAR_WIDTH = 240
"""Pixels of the longest bar in a transfer chart."""

ORDERS = ("first", "place")
"""How a stage sheet orders its candidates: by first preferences, or by final place."""


_fraction = sm.fraction


def percent(share: Fraction) -> str:
    """A share as a percentage with one decimal, rounded half up (exact arithmetic)."""
    return sm.percent_text(share).removesuffix("%")


def shown(text: Any, decimals: int | None, sign: bool = False) -> str:
    """A figure of a result document as the page shows it: two decimals (truncated, as the
    rules truncate), none for a rule that counts whole votes, thousands separators."""
    value = _fraction(text)
    places = 0 if decimals == 0 else 2
    out = thousands(decimal_string(value, places))
    return f"+{out}" if sign and value > 0 else out


def transfer_bars(transfers: Mapping[str, str]) -> list[dict[str, Any]]:
    """One bar per candidate whose votes moved: gains right of the axis, losses left."""
    moved = [(name, _fraction(v)) for name, v in transfers.items() if _fraction(v) != 0]
    top = max((abs(v) for _, v in moved), default=Fraction(1))
    return [
        {
            "name": name,
            "value": transfers[name],
            "width": max(1, round(abs(v) * BAR_WIDTH / top)),
            "gain": v > 0,
        }
        for name, v in moved
    ]


def contest_order(running: Mapping[str, Any]) -> list[str]:
    """The contests in the definition's order (the projection's ``order``; an older
    projection without it: its contests as listed)."""
    definition = running.get("definition", {})
    order = list(definition.get("order") or definition.get("contests", {}))
    extra = [c for c in running.get("contests", {}) if c not in order]
    return [*order, *extra]


def _in_order(ids: Sequence[str], order: Sequence[str]) -> list[str]:
    return sorted(ids, key=sm.rank(order))


def vacancy_text(document: Mapping[str, Any]) -> str:
    """What the page says about seats left vacant (docs/counting.md, "Empty contests")."""
    vacant = int(document.get("vacant", 0))
    seats = int(document.get("seats") or 0)
    if not vacant:
        return ""
    outcome = str(document.get("outcome", ""))
    if outcome in ("no valid ballots", "no candidates standing"):
        every = "the seat is" if seats == 1 else f"all {seats} seats are"
        return f"{outcome.capitalize()}: no one is elected and {every} vacant."
    return f"Fewer candidates stood than seats: {vacant} of {seats} seats vacant."


def _stages(document: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Each candidate's stage of election and of exclusion."""
    elected: dict[str, int] = {}
    excluded: dict[str, int] = {}
    for r in document.get("rounds", []):
        for name in r.get("elected", []):
            elected.setdefault(name, r["round"])
        for name in r.get("excluded", []):
            excluded.setdefault(name, r["round"])
    return elected, excluded


def stage_label(r: Mapping[str, Any]) -> str:
    """A stage's heading in words: "First preferences", "Surplus of A", "Exclusion of B"."""
    names = ", ".join(r.get("subjects", []))
    action = r.get("action", "")
    if action == "first-preferences":
        return "First preferences"
    if action == "surplus":
        return f"Surplus of {names}"
    if action == "exclusion":
        return f"Exclusion of {names}"
    if action == "constraint-exclusion":
        return f"Exclusion of {names} (minimum)"
    return str(action).capitalize()


def off_the_paper(candidate: Mapping[str, Any]) -> bool:
    """Whether a result document's candidate was not on the ballot paper: withdrawn, or not
    validly nominated (``status``; a document without it marks both ``withdrawn``)."""
    return bool(candidate.get("withdrawn")) or candidate.get("status") == "not validly nominated"


def stage_sheet(
    document: Mapping[str, Any], constraints: Sequence[Mapping[str, Any]], order: str = "first"
) -> dict[str, Any]:
    """One STV contest's count sheet: candidates as rows, stages as columns (transfer and
    total at each stage), the non-transferable and quota rows, each candidate's outcome and
    place; gender and slate columns where a minimum or a slate exists."""
    d = document.get("decimals")
    rounds = list(document.get("rounds", []))
    candidates = [
        c
        for c in document.get("candidates", [])
        if not off_the_paper(c) and c.get("status") != "returned unopposed"
    ]
    places: Mapping[str, int] = document.get("places", {})
    first = rounds[0].get("tallies", {}) if rounds else {}
    if order == "place":
        candidates.sort(key=lambda c: places.get(c["name"], len(places) + 1))
    else:
        candidates.sort(key=lambda c: -_fraction(first.get(c["name"], 0)))
    elected_at, excluded_at = _stages(document)
    attributes = {str(k.get("attribute")) for k in constraints}
    rows = []
    for c in candidates:
        name = c["name"]
        cells = []
        for r in rounds:
            tally = r.get("tallies", {}).get(name, "0")
            transfer = r.get("transfers", {}).get(name, "0")
            cells.append(
                {
                    "transfer": "" if _fraction(transfer) == 0 else shown(transfer, d, sign=True),
                    "total": shown(tally, d),
                    "exact": tally,
                    "elected": elected_at.get(name) == r["round"],
                    "excluded": excluded_at.get(name) == r["round"],
                }
            )
        if name in elected_at:
            outcome = f"Elected at stage {elected_at[name]}"
        elif name in excluded_at:
            outcome = f"Excluded at stage {excluded_at[name]}"
        else:
            outcome = "Not elected"
        rows.append(
            {
                "name": name,
                "gender": c.get("gender") or "",
                "slate": c.get("slate") or "",
                "cells": cells,
                "outcome": outcome,
                "elected": name in elected_at,
                "place": ordinal(places[name]) if name in places else "",
            }
        )
    return {
        "order": order if order in ORDERS else "first",
        "stages": [
            {"number": r["round"], "label": stage_label(r), "first": i == 0}
            for i, r in enumerate(rounds)
        ],
        "rows": rows,
        "exhausted": [
            {
                "transfer": ""
                if _fraction(r.get("exhausted_change", 0)) == 0
                else shown(r.get("exhausted_change"), d, sign=True),
                "total": shown(r.get("exhausted", 0), d),
                "exact": r.get("exhausted", "0"),
            }
            for r in rounds
        ],
        "quota": [
            {"total": shown(r.get("quota", 0), d), "exact": r.get("quota", "0")} for r in rounds
        ],
        "gender": "gender" in attributes,
        "slate": "slate" in attributes or any(c.get("slate") for c in candidates),
        "chart": votes_chart(document, [c["name"] for c in candidates]),
    }


CHART_W, CHART_H, CHART_PAD = 640, 300, 40
"""The votes-by-stage chart's drawing box (its viewBox; it scales to its container)."""


def votes_chart(document: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """Each candidate's total at each stage as a line (the quota dashed), in a viewBox that
    the page scales to the width of its container."""
    rounds = list(document.get("rounds", []))
    top = max(
        [
            Fraction(1),
            *(_fraction(v) for r in rounds for v in r.get("tallies", {}).values()),
            *(_fraction(r.get("quota", 0)) for r in rounds),
        ]
    )
    n = max(1, len(rounds) - 1)
    inner_w, inner_h = CHART_W - 2 * CHART_PAD, CHART_H - 2 * CHART_PAD

    def x(i: int) -> int:
        return CHART_PAD + round(inner_w * i / n)

    def y(v: Fraction) -> int:
        return CHART_PAD + inner_h - round(inner_h * v / top)

    lines = []
    for k, name in enumerate(names):
        points = " ".join(
            f"{x(i)},{y(_fraction(r.get('tallies', {}).get(name, 0)))}"
            for i, r in enumerate(rounds)
        )
        lines.append({"name": name, "points": points, "colour": PALETTE[k % len(PALETTE)]})
    quota = " ".join(f"{x(i)},{y(_fraction(r.get('quota', 0)))}" for i, r in enumerate(rounds))
    return {
        "width": CHART_W,
        "height": CHART_H,
        "lines": lines,
        "quota": quota,
        "ticks": [{"x": x(i), "label": str(r["round"])} for i, r in enumerate(rounds)],
        "top": shown(top, 0),
        "top_y": y(top),
        "base_y": y(Fraction(0)),
        "left": CHART_PAD,
        "right": CHART_W - CHART_PAD,
    }


PALETTE = (
    "#1b4f72", "#a04000", "#196f3d", "#6c3483", "#7b241c", "#0e6655", "#7d6608", "#515a5a",
    "#2e86c1", "#ca6f1e", "#229954", "#8e44ad", "#c0392b", "#138d75", "#b7950b", "#283747",
)  # fmt: skip


def bloc_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A bloc contest's poll: every candidate by place, votes, and each one not elected
    "8th, 246 behind the 6th seat"."""
    rounds = document.get("rounds") or [{}]
    tallies: Mapping[str, str] = rounds[0].get("tallies", {})
    margins: Mapping[str, str] = document.get("margins", {})
    places: Mapping[str, int] = document.get("places", {})
    elected = list(document.get("elected", []))
    seat = ordinal(len(elected)) if elected else ""
    ranked = sorted(
        tallies.items(), key=lambda kv: (places.get(kv[0], len(tallies) + 1), -_fraction(kv[1]))
    )
    last = min((_fraction(tallies[n]) for n in elected if n in tallies), default=Fraction(0))
    rows = []
    for name, votes in ranked:
        margin = margins.get(name, str(_fraction(votes) - last) if elected else "")
        gap = _fraction(margin)
        if name in elected or not elected:
            words = ""
        elif gap >= 0:
            words = f"{shown(gap, 0)} behind the {seat} seat"
        else:
            words = f"{shown(-gap, 0)} ahead of the {seat} seat"
        rows.append(
            {
                "name": name,
                "votes": shown(votes, 0),
                "elected": name in elected,
                "margin": margin,
                "place": ordinal(places[name]) if name in places else "",
                "words": words,
            }
        )
    return rows


def against_rows(against: Mapping[str, Any] | None, contest: str) -> list[dict[str, Any]]:
    """A contest's candidates against the predecessor (``counter.tally.summary.compare``), as
    the results tables show them: place and share of the first count now and last time, the
    nominations, and the change in words; [] without a predecessor."""
    if not against:
        return []
    rows = []
    for r in against.get("contests", {}).get(contest, {}).get("candidates", []):
        before = r.get("previous") or {}
        rows.append(
            {
                "name": r["name"],
                "place": ordinal(r["place"]) if r.get("place") else "",
                "percent": r.get("percent") or "",
                "nominations": _count(r.get("nominations")),
                "previous_place": ordinal(before["place"]) if before.get("place") else "",
                "previous_percent": before.get("percent") or "",
                "previous_nominations": _count(before.get("nominations")),
                "change": r.get("change", ""),
                "elected": bool(r.get("elected")),
            }
        )
    return rows


def contest_model(
    running: Mapping[str, Any],
    result: Mapping[str, Any],
    order: str = "first",
    against: Mapping[str, Any] | None = None,
    sheet: bool = True,
) -> dict[str, Any]:
    """One contest's declaration sheet (with the predecessor's figures when ``against``, the
    comparison, is given); without ``sheet`` (the overview, which shows no stage sheet),
    the STV stage sheet and its chart are not built."""
    doc = result["result"]
    contest = result["contest"]
    info = running.get("definition", {}).get("contests", {}).get(contest, {})
    constraints = info.get("constraints", [])
    d = doc.get("decimals")
    elected_at, _ = _stages(doc)
    runner = doc.get("runner_up")
    not_standing: Mapping[str, str] = running.get("not_standing", {}).get(contest, {})
    stats = running.get("contests", {}).get(contest, {})
    is_bloc = doc.get("rule") == "bloc"
    polled = bool(doc.get("rounds")) or int(doc.get("polled_seats") or 0) > 0
    return {
        "id": contest,
        "polled": polled,
        "title": info.get("title", contest),
        "rule": doc.get("title", doc.get("rule")),
        "seats": doc.get("seats"),
        "quota": shown(doc.get("quota", 0), d),
        "quota_exact": doc.get("quota"),
        "valid": _count(doc.get("valid_ballots")),
        "rejected": _count(doc.get("invalid_ballots")),
        "eligible": _count(stats.get("eligible")),
        "cast": _count(stats.get("cast")),
        "turnout": percent(Fraction(int(stats["cast"]), int(stats["eligible"])))
        if stats.get("eligible")
        else "",
        "elected": [
            {"name": n, "stage": elected_at.get(n), "place": ordinal(i + 1)}
            for i, n in enumerate(doc.get("elected", []))
        ],
        "runner_up": runner["text"] if runner else "",
        "vacancy": vacancy_text(doc),
        "declared": result["declared"],
        "result_hash": result["result_hash"],
        "counted_size": result["counted_size"],
        "counted_root": result["counted_root"],
        "constraints": [f"at least {_people(k)}" for k in constraints],
        "constraint_actions": doc.get("constraint_actions", []),
        "ties": doc.get("ties", []),
        "is_bloc": is_bloc,
        "sheet": stage_sheet(doc, constraints, order) if sheet and not is_bloc else None,
        "bloc": bloc_rows(doc) if is_bloc else None,
        "not_standing": [
            {"name": c["name"], "why": c.get("status") or not_standing.get(c["name"], "withdrawn")}
            for c in doc.get("candidates", [])
            if off_the_paper(c)
        ],
        **returns_model(doc),
        "against": against_rows(against, contest),
        "against_title": (against or {}).get("title") or "the last election",
        "against_note": "",
    }


def returns_model(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the page says of returns at the close of nominations, unmet minimums and seats
    per slate (the same words as the result document and ``ballot audit``)."""
    returned = [
        f"{r['name']} (under the {r['under'].split('=')[0]} requirement)"
        if r.get("under")
        else r["name"]
        for r in document.get("returned_unopposed", [])
    ]
    return {
        "returned": returned,
        "polled_seats": document.get("polled_seats"),
        "unmet": list(document.get("constraints_adjusted", [])),
        "slate_seats": sorted(document.get("slates", {}).items()),
    }


def _people(k: Mapping[str, Any]) -> str:
    """ "1 woman", "5 women", "2 candidates of the slate Left"."""
    n = int(k.get("min", 0))
    value = str(k.get("value", ""))
    if k.get("attribute") == "gender":
        plural = {"woman": "women", "man": "men"}.get(value, f"{value}s")
        return f"{n} {value if n == 1 else plural}"
    return f"{n} candidate{'s' if n != 1 else ''} of the slate {value}"


def _count(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _group_rows(
    values: Mapping[str, int | None],
    eligible: Mapping[str, int | None],
    cast: int,
    before: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """A turnout dimension's rows: each group's eligible, voted, turnout and share of the
    section's voters (null where the final report suppressed it), and last time's."""
    rows = []
    for value, n in sorted(values.items(), key=lambda kv: kv[0]):
        e = eligible.get(value)
        old = before.get(value, {})
        rows.append(
            {
                "value": value,
                "eligible": _count(e),
                "cast": None if n is None else f"{n:,}",
                "percent": percent(Fraction(n, e)) if n is not None and e else "",
                "share": None if n is None or not cast else percent(Fraction(n, cast)),
                "previous": "suppressed"
                if old.get("previous_suppressed")
                else _count(old.get("previous")),
                "previous_percent": (old.get("previous_percent") or "").removesuffix("%"),
                "change": old.get("change", ""),
            }
        )
    return rows


def page_model(
    eid: str,
    running: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    against: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the election's overview shows, from the projection and the results; with
    ``against`` (``counter.tally.summary.compare``), last time's figures beside this time's in
    the results, turnout and nominations tables."""
    definition = running.get("definition", {})
    titles = definition.get("contests", {})
    order = contest_order(running)
    by_id = {r["contest"]: r for r in results}
    contests = [
        contest_model(running, by_id[c], against=against, sheet=False)
        for c in _in_order(list(by_id), order)
    ]
    then_turnout = (against or {}).get("turnout", {})
    then_contests = (against or {}).get("contests", {})
    counted = {c["id"]: c for c in contests}
    by_dimension = running.get("turnout_by_dimension", {})
    running_contests = running.get("contests", {})
    turnout = []
    for cid in _in_order(list(running_contests), order):
        c = running_contests[cid]
        eligible = int(c.get("eligible", 0))
        cast = int(c.get("cast", 0))
        report = by_dimension.get(cid, {})
        then = then_turnout.get(cid, {})
        turnout.append(
            {
                "id": cid,
                "title": titles.get(cid, {}).get("title", cid),
                "cast": f"{cast:,}",
                "eligible": f"{eligible:,}",
                "percent": percent(Fraction(cast, eligible) if eligible else Fraction(0)),
                "valid": counted[cid]["valid"] if cid in counted else "",
                "rejected": counted[cid]["rejected"] if cid in counted else "",
                "previous_percent": (then.get("previous_percent") or "").removesuffix("%"),
                "change": then.get("change", ""),
                "polled": counted[cid]["polled"] if cid in counted else True,
                "dimensions": {
                    dim: _group_rows(
                        values,
                        report.get("eligible_by", {}).get(dim, {}),
                        cast,
                        {r["value"]: r for r in then.get("by", {}).get(dim, [])},
                    )
                    for dim, values in report.get("by", {}).items()
                },
            }
        )
    nominations_view = running.get("nominations", {})
    not_standing = running.get("not_standing", {})
    nominations = [
        {
            "id": cid,
            "title": titles.get(cid, {}).get("title", cid),
            "bodies": n.get("bodies", 0),
            "threshold": n.get("threshold", 0),
            "previous_nominations": _count(then_contests.get(cid, {}).get("previous_nominations")),
            "previous_bodies": _count(then_contests.get(cid, {}).get("previous_bodies")),
            "candidates": [
                {
                    **row,
                    "percent": percent(_fraction(row["share"])),
                    "status": not_standing.get(cid, {}).get(
                        row["name"],
                        "validly nominated" if row.get("valid") else "not validly nominated",
                    ),
                    **_nominations_then(then_contests.get(cid, {}), row["name"]),
                }
                for row in n.get("candidates", [])
            ],
            "slates": sorted(n.get("slates", {}).items()),
            "full_slates": sorted(n.get("full_slates", {}).items()),
            "by": n.get("by"),
            "returns": n.get("returns"),
            "notes": n.get("notes", []),
        }
        for cid in _in_order(list(nominations_view), order)
        for n in [nominations_view[cid]]
    ]
    return {
        "election": eid,
        "title": definition.get("title", eid),
        "phase": running.get("phase", "unknown"),
        "size": running.get("size", 0),
        "root": running.get("root", ""),
        "time": running.get("time", ""),
        "contests": contests,
        "turnout": turnout,
        "nominations": nominations,
        "against": bool(against),
        "against_title": (against or {}).get("title") or "the last election",
        "against_note": "",
    }


def _nominations_then(contest: Mapping[str, Any], name: str) -> dict[str, str]:
    """A candidate's nominations last time and the change, by name in the comparison."""
    for r in contest.get("candidates", []):
        if r["name"] == name:
            before = r.get("previous") or {}
            return {
                "previous_nominations": _count(before.get("nominations")),
                "nominations_change": r.get("nominations_change", ""),
            }
    return {"previous_nominations": "", "nominations_change": ""}
