"""Golden files: each small BLT in golden/, counted by each rule, gives exactly the stored report.

Regenerate after a deliberate change with ``UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from ballot.count import parse_min
from counter.ballots import blt
from counter.rules import count, report
from counter.rules.model import Profile

GOLDEN = Path(__file__).parent / "golden"
CASES = json.loads((GOLDEN / "cases.json").read_text(encoding="utf-8"))
PARAMS = [(case, rule) for case, spec in CASES.items() for rule in spec["rules"]]


def _profile(case: str) -> Profile:
    profile = blt.parse((GOLDEN / f"{case}.blt").read_text(encoding="utf-8"))
    genders = CASES[case].get("genders", {})
    return dataclasses.replace(
        profile,
        candidates=tuple(
            dataclasses.replace(c, gender=genders.get(c.name)) for c in profile.candidates
        ),
    )


def _render(case: str, rule: str) -> str:
    constraints = [parse_min(m) for m in CASES[case].get("min", [])]
    result = count(_profile(case), rule, constraints=constraints)
    return json.dumps(report.to_json(result), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(("case", "rule"), PARAMS, ids=[f"{c}-{r}" for c, r in PARAMS])
def test_round_report_matches_golden_file(case: str, rule: str) -> None:
    """The full round-by-round JSON report equals the reviewed golden file exactly."""
    path = GOLDEN / f"{case}.{rule}.json"
    got = _render(case, rule)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


def test_every_stv_rule_has_ties_exhaustion_withdrawal_and_an_acting_constraint() -> None:
    """The golden set covers every STV rule with each required situation."""
    for rule in ("scottish", "ers97", "meek", "exact-droop"):
        reports = {
            case: json.loads((GOLDEN / f"{case}.{rule}.json").read_text(encoding="utf-8"))
            for case in ("ties", "exhausted", "withdrawn", "constraint")
        }
        assert reports["ties"]["ties"], rule
        assert reports["exhausted"]["rounds"][-1]["exhausted"] not in ("0", "0.00", "0.00000")
        assert any(c["withdrawn"] for c in reports["withdrawn"]["candidates"])
        assert reports["constraint"]["constraint_actions"], rule
        assert any(
            c["name"] in reports["constraint"]["elected"]
            for c in reports["constraint"]["candidates"]
            if c["gender"] == "F"
        )
    bloc = json.loads((GOLDEN / "bloc.bloc.json").read_text(encoding="utf-8"))
    assert bloc["constraint_actions"]
    assert bloc["ties"]
