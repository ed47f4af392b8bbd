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

import io
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
    names = [result.candidates[c].name for c in r.subjects]
    if r.action == "first-preferences":
        return "first prefs"
    if r.action == "surplus" and names:
        return "surplus " + ", ".join(names) if len(names) == 1 else "surpluses"
    if r.action in ("exclusion", "constraint-exclusion"):
        prefix = "excl. " if r.action == "exclusion" else "constraint excl. "
        return prefix + ", ".join(names)
    return r.action


def render_table(result: CountResult, width: int = 200) -> str:
    """A readable round-by-round table, then the elected, ties and constraint actions."""
    from rich.console import Console
    from rich.table import Table

    d = result.decimals
    table = Table(title=f"{result.rule_title}: {result.seats} seats", show_lines=False)
    table.add_column("Candidate", no_wrap=True)
    for r in result.rounds:
        table.add_column(f"{r.number}", justify="right", no_wrap=True)
    table.add_row("", *(_action_label(result, i) for i in range(len(result.rounds))))
    status: dict[int, tuple[int, str]] = {}
    for r in result.rounds:
        for c in r.elected:
            status[c] = (r.number, "elected")
        for c in r.excluded:
            status[c] = (r.number, "excluded")
    for i, cand in enumerate(result.candidates):
        if cand.withdrawn:
            table.add_row(f"{cand.name} (withdrawn)", *["" for _ in result.rounds])
            continue
        cells = []
        for r in result.rounds:
            v = r.tallies[i]
            text = "" if v is None else decimal_string(v, d)
            if status.get(i) == (r.number, "elected"):
                text += " *"
            elif status.get(i) == (r.number, "excluded"):
                text += " x"
            cells.append(text)
        table.add_row(cand.name, *cells)
    if result.rule != "bloc":
        table.add_row("Non-transferable", *(decimal_string(r.exhausted, d) for r in result.rounds))
        table.add_row("Quota", *(decimal_string(r.quota, d) for r in result.rounds))
    buf = io.StringIO()
    console = Console(file=buf, width=width, no_color=True, highlight=False)
    console.print(table)
    lines = [buf.getvalue().rstrip("\n")]
    quota = "" if result.rule == "bloc" else f"; quota: {decimal_string(result.quota, d)}"
    lines.append(f"Valid ballots: {result.valid_ballots}; invalid: {result.invalid_ballots}{quota}")
    lines.append("Elected, in order: " + (", ".join(result.elected_names) or "no one"))
    if result.vacant:
        lines.append(f"Outcome: {result.outcome}; {result.vacant} of {result.seats} seat(s) vacant")
    lines.append("(* elected at that round, x excluded at that round)")
    if result.margins is not None:
        behind = [
            f"{result.candidates[i].name} {decimal_string(m, d)}"
            for i, m in enumerate(result.margins)
            if m is not None
        ]
        if behind:
            lines.append("Margins (votes behind the last elected): " + "; ".join(behind))
    for t in result.ties:
        tied = ", ".join(result.candidates[c].name for c in t.candidates)
        lines.append(
            f"Tie ({t.kind}, round {t.round}) among {tied}: {t.method} chose "
            f"{result.candidates[t.chosen].name} ({t.detail})"
        )
    for a in result.constraint_actions:
        lines.append(f"Constraint {a.constraint} acted at round {a.round}: {a.detail}")
    lines.append(f"Lot seed: {result.seed}" if result.seed else "Lot seed: none (no lot drawn)")
    return "\n".join(lines) + "\n"
