"""Rendering a :class:`~counter.rules.model.CountResult`: JSON, and a readable table.

JSON (``ballot count --json``), every number a decimal string at the rule's
precision (an exact rule shows a terminating decimal in full, otherwise the
fraction ``"p/q"``)::

    {"rule": "scottish", "title": ..., "seats": 3,
     "outcome": "filled" | "seats vacant" | "no valid ballots" | "no candidates standing",
     "vacant": 0,                                     # seats left unfilled
     "valid_ballots": 9,
     "invalid_ballots": 0, "quota": "3.00000", "decimals": 5, "seed": "<hex>",  # "": no lot drawn
     "candidates": [{"name": ..., "gender": ..., "slate": ..., "withdrawn": false}],
     "elected": ["Name as in the BLT", ...],          # in order of election
     "rounds": [{"round": 1, "action": "first-preferences", "subjects": [],
                 "quota": "3.00000", "tallies": {"A": "4.00000", ...},
                 "transfers": {...}, "exhausted": "0.00000",
                 "exhausted_change": "0.00000", "elected": [...], "excluded": [...],
                 "notes": [...], "keep_factors": {...}}],   # keep_factors: Meek only
     "ties": [{"round": 2, "kind": "exclusion", "candidates": [...],
               "method": "look-back" | "lot", "chosen": "B", "detail": ...}],
     "constraint_actions": [{"round": 3, "constraint": "gender=F:2",
                             "action": "excluded", "candidates": [...], "detail": ...}],
     "places": {"A": 1, "C": 2},                       # every standing candidate's place
     "runner_up": {"name": "C", "place": 4, "seat": 3, "holder": "B", "stage": 5,
                   "votes": ..., "holder_votes": ..., "behind": ..., "ties": [...],
                   "text": "C, 4th, 12 behind the 3rd seat (B) at stage 5: 30 to 42"},  # or null
     "margins": {"C": "2"}}                            # bloc only
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from counter.rules import margins
from counter.rules.model import CountResult


def decimal_string(value: Fraction, decimals: int | None) -> str:
    """``value`` as a decimal string: truncated to ``decimals``; exact when None."""
    if decimals is None:
        for d in range(13):
            scaled = value * 10**d
            if scaled.denominator == 1:
                return decimal_string(value, d)
        return f"{value.numerator}/{value.denominator}"
    sign = "-" if value < 0 else ""
    units = abs(value.numerator) * 10**decimals // value.denominator
    if decimals == 0:
        return f"{sign}{units}"
    whole, frac = divmod(units, 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}"


def _papers(value: int | Fraction) -> int | str:
    """A number of ballots: an integer, or (fractional weights) an exact decimal string."""
    if isinstance(value, Fraction) and value.denominator != 1:
        return decimal_string(value, None)
    return int(value)


def to_json(result: CountResult) -> dict[str, Any]:
    """The result as a JSON-ready dict (see the module docstring)."""
    names = [c.name for c in result.candidates]
    d = result.decimals

    def num(v: Fraction) -> str:
        return decimal_string(v, d)

    def per_candidate(values: tuple[Fraction | None, ...]) -> dict[str, str]:
        return {names[i]: num(v) for i, v in enumerate(values) if v is not None}

    rounds = []
    for r in result.rounds:
        entry: dict[str, Any] = {
            "round": r.number,
            "action": r.action,
            "subjects": [names[c] for c in r.subjects],
            "quota": num(r.quota),
            "tallies": per_candidate(r.tallies),
            "transfers": per_candidate(r.transfers),
            "exhausted": num(r.exhausted),
            "exhausted_change": num(r.exhausted_change),
            "elected": [names[c] for c in r.elected],
            "excluded": [names[c] for c in r.excluded],
            "notes": list(r.notes),
        }
        if r.keep_factors is not None:
            entry["keep_factors"] = {
                names[i]: num(k)
                for i, k in enumerate(r.keep_factors)
                if not result.candidates[i].withdrawn
            }
        rounds.append(entry)
    doc: dict[str, Any] = {
        "rule": result.rule,
        "title": result.rule_title,
        "seats": result.seats,
        "outcome": result.outcome,
        "vacant": result.vacant,
        "valid_ballots": _papers(result.valid_ballots),
        "invalid_ballots": _papers(result.invalid_ballots),
        "quota": num(result.quota),
        "decimals": d,
        "seed": result.seed,
        "candidates": [
            {"name": c.name, "gender": c.gender, "slate": c.slate, "withdrawn": c.withdrawn}
            for c in result.candidates
        ],
        "elected": [names[c] for c in result.elected],
        "rounds": rounds,
        "ties": [
            {
                "round": t.round,
                "kind": t.kind,
                "candidates": [names[c] for c in t.candidates],
                "method": t.method,
                "chosen": names[t.chosen],
                "detail": t.detail,
            }
            for t in result.ties
        ],
        "constraint_actions": [
            {
                "round": a.round,
                "constraint": a.constraint,
                "action": a.action,
                "candidates": [names[c] for c in a.candidates],
                "detail": a.detail,
            }
            for a in result.constraint_actions
        ],
    }
    analysed = margins.analyse(result)
    doc["places"] = {names[i]: p for i, p in enumerate(analysed.places) if p is not None}
    doc["runner_up"] = _runner_up(result, analysed.runner_up, num)
    if result.margins is not None:
        doc["margins"] = {names[i]: num(m) for i, m in enumerate(result.margins) if m is not None}
    return doc


def _runner_up(
    result: CountResult, m: margins.Margin | None, num: Callable[[Fraction], str]
) -> dict[str, Any] | None:
    """The runner-up's margin as the document writes it (docs/log-format.md §10)."""
    if m is None:
        return None
    names = [c.name for c in result.candidates]
    return {
        "name": names[m.candidate],
        "place": m.place,
        "seat": m.seat,
        "holder": names[m.holder],
        "stage": m.stage,
        "votes": num(m.votes),
        "holder_votes": num(m.holder_votes),
        "behind": num(m.behind),
        "ties": [t.text for t in m.ties],
        "text": margins.text(result, m),
    }


def _action_label(result: CountResult, index: int) -> str:
    r = result.rounds[index]
    names = ", ".join(result.candidates[c].name for c in r.subjects)
    if r.action == "first-preferences":
        return "first preferences"
    if r.action == "surplus" and names:
        return f"surplus of {names}"
    if r.action == "exclusion":
        return f"exclusion of {names}"
    if r.action == "constraint-exclusion":
        return f"exclusion of {names} (minimum representation)"
    return r.action


def thousands(text: str) -> str:
    """A decimal string with ``,`` between groups of three digits of its whole part."""
    sign = "-" if text.startswith("-") else ""
    whole, dot, rest = text.lstrip("-").partition(".")
    if not whole.isdigit():
        return text  # an exact rule's p/q
    return f"{sign}{int(whole):,}{dot}{rest}"


def _stage_groups(name_width: int, widths: list[int], width: int) -> list[list[int]]:
    """Stage columns split into runs that each fit ``width`` beside the name column (at
    least one stage per run, however narrow the terminal)."""
    groups: list[list[int]] = [[]]
    used = name_width
    for i, w in enumerate(widths):
        if groups[-1] and used + 2 + w > width:
            groups.append([])
            used = name_width
        groups[-1].append(i)
        used += 2 + w
    return groups


def render_table(result: CountResult, width: int | None = None) -> str:
    """The count as text that fits ``width`` columns (default: the terminal's, or
    ``$COLUMNS``): candidates as rows with their full names, stages as columns, figures
    with thousands separators at the rule's precision; stages that do not fit beside the
    names go on to a further block. Then the stages in words, the elected, the runner-up's
    margin, ties and constraint actions."""
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns
    width = max(width, 20)
    d = result.decimals
    status: dict[int, tuple[int, str]] = {}
    for r in result.rounds:
        for c in r.elected:
            status[c] = (r.number, " *")
        for c in r.excluded:
            status[c] = (r.number, " x")
    rows: list[tuple[str, list[str]]] = []
    for i, cand in enumerate(result.candidates):
        if cand.withdrawn:
            continue
        cells = []
        for r in result.rounds:
            v = r.tallies[i]
            mark = status.get(i, (0, ""))
            text = "" if v is None else thousands(decimal_string(v, d))
            cells.append(text + (mark[1] if mark[0] == r.number else "  "))
        rows.append((cand.name, cells))
    if result.rule != "bloc":
        rows.append(
            (
                "Non-transferable",
                [thousands(decimal_string(r.exhausted, d)) + "  " for r in result.rounds],
            )
        )
        rows.append(
            ("Quota", [thousands(decimal_string(r.quota, d)) + "  " for r in result.rounds])
        )
    header = ["Votes  "] if result.rule == "bloc" else [f"{r.number}  " for r in result.rounds]
    name_width = max([len("Candidate"), *(len(n) for n, _ in rows)])
    widths = [
        max(len(header[k]), *(len(cells[k]) for _, cells in rows)) for k in range(len(header))
    ]
    stages = "stage" if result.rule != "bloc" else "poll"
    lines = [f"{result.rule_title}: {result.seats} seat{'s' if result.seats != 1 else ''}"]
    groups = _stage_groups(name_width, widths, width)
    for g in groups:
        if len(groups) > 1:
            span = f"{g[0] + 1} to {g[-1] + 1}" if len(g) > 1 else f"{g[0] + 1}"
            lines.append(f"Stage{'s' if len(g) > 1 else ''} {span} of {len(header)}")
        lines.append(
            "Candidate".ljust(name_width)
            + "".join("  " + header[k].rjust(widths[k]) for k in g).rstrip()
        )
        for name, cells in rows:
            lines.append(
                name.ljust(name_width)
                + "".join("  " + cells[k].rjust(widths[k]) for k in g).rstrip()
            )
        lines.append("")
    if result.rule != "bloc":
        words = "; ".join(f"{k + 1} {_action_label(result, k)}" for k in range(len(header)))
        lines += textwrap.wrap(
            f"Stages: {words}", width, break_on_hyphens=False, subsequent_indent="  "
        ) or [""]
        lines.append(f"(* elected at that {stages}, x excluded at that {stages})")
    else:
        lines.append("(* elected)")
    quota = (
        "" if result.rule == "bloc" else f"; quota: {thousands(decimal_string(result.quota, d))}"
    )
    lines.append(
        f"Valid ballots: {_count_text(result.valid_ballots)}; "
        f"invalid: {_count_text(result.invalid_ballots)}{quota}"
    )
    lines.append("Elected, in order: " + (", ".join(result.elected_names) or "no one"))
    if result.vacant:
        lines.append(f"Outcome: {result.outcome}; {result.vacant} of {result.seats} seat(s) vacant")
    analysed = margins.analyse(result)
    if analysed.runner_up is not None:
        lines.append("Runner-up: " + margins.text(result, analysed.runner_up))
    if result.margins is not None:
        behind = [
            f"{result.candidates[i].name} {thousands(decimal_string(m, d))}"
            for i, m in enumerate(result.margins)
            if m is not None
        ]
        if behind:
            lines.append("Margins (votes behind the last elected): " + "; ".join(behind))
    for t in result.ties:
        tied = ", ".join(result.candidates[c].name for c in t.candidates)
        lines.append(
            f"Tie ({t.kind}, stage {t.round}) among {tied}: {t.method} chose "
            f"{result.candidates[t.chosen].name} ({t.detail})"
        )
    for a in result.constraint_actions:
        lines.append(f"Constraint {a.constraint} acted at stage {a.round}: {a.detail}")
    lines.append(f"Lot seed: {result.seed}" if result.seed else "Lot seed: none (no lot drawn)")
    out = []
    for line in lines:
        # Prose lines wrap to the width; table lines are already as narrow as they can be.
        if len(line) > width and not line.startswith(("Candidate", " ")) and "  " not in line:
            out += textwrap.wrap(
                line,
                width,
                break_on_hyphens=False,
                break_long_words=False,
                subsequent_indent="  ",
            )
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _count_text(value: int | Fraction) -> str:
    """A number of ballots with thousands separators (a fractional one exactly)."""
    papers = _papers(value)
    return f"{papers:,}" if isinstance(papers, int) else papers
