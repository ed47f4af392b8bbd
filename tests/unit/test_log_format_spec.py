"""docs/log-format.md kept honest: the lists it states, read from the document itself, equal
what the code writes and accepts (as tests/unit/test_layers.py reads docs/architecture.md)."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ballot.bench import synthetic
from counter.rules import count
from counter.rules.model import Candidate, Constraint, Profile
from counter.rules.report import decimal_string, to_json
from counter.tally import fold as fl
from ledger.domain import election as el
from ledger.domain import schemas
from ledger.errors import LedgerError
from ledger.format import export as exp
from ledger.format.keys import Signer, Verifier

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "log-format.md").read_text()


def _table_after(caption: str) -> list[str]:
    """The first cell (a backticked name) of every row of the table that follows ``caption``."""
    rest = SPEC.split(f"\n{caption}\n", 1)[1].lstrip("\n")
    names = []
    for line in rest.splitlines()[2:]:  # the header row and the |---| row
        if not line.startswith("|"):
            break
        cell = line.split("|")[1].strip()
        names.append(cell.strip("`"))
    return names


@cache
def _documents() -> dict[str, dict[str, Any]]:
    """The declared result documents of the synthetic log: an STV and a bloc contest."""
    log = synthetic.build(voters=40, seed=3)
    state = fl.fold(fl.initial(log.election), enumerate(log.entries))
    return {c: fl.count_contest(state, c)[1] for c in ("members", "youth")}


def _counted(rule: str) -> dict[str, Any]:
    """A count with a tie and a minimum that acts, as the result document writes it."""
    cands = (
        Candidate(id="a", name="Ann", gender="m"),
        Candidate(id="b", name="Bob", gender="m"),
        Candidate(id="c", name="Cat", gender="f"),
        Candidate(id="d", name="Dan", gender="m", withdrawn=True),
    )
    ballots = (((0,), 4), ((1,), 4), ((2, 0), 1), ((3, 2), 1))
    profile = Profile(candidates=cands, ballots=ballots, seats=2)
    minimum = Constraint(attribute="gender", value="f", minimum=1)
    return to_json(count(profile, rule, 2, [minimum], bytes(32)))


def test_result_document_members_are_the_documented_ones() -> None:
    """§10's table of the result document's members is exactly what the count and the
    declaration put in it (`margins` only for bloc)."""
    documented = _table_after("Members of the result document:")
    docs = _documents()
    assert list(docs["youth"]) == documented  # bloc: every member, in the table's order
    assert list(docs["members"]) == [m for m in documented if m != "margins"]


def test_result_document_parts_are_the_documented_ones() -> None:
    """§10's tables of candidate, round, tie and constraint-action members equal what the
    rules write (`keep_factors` only for the Meek family)."""
    rounds = _table_after("Members of each `rounds` element:")
    candidate = _table_after("Members of each `candidates` element:")
    for doc in _documents().values():
        assert all(list(c) == candidate for c in doc["candidates"])
    for rule in ("scottish", "ers97", "exact-droop", "bloc", "meek"):
        doc = _counted(rule)  # `ballot count --json`: no `status` (docs/counting.md)
        assert [list(c) for c in doc["candidates"]] == [[m for m in candidate if m != "status"]] * 4
        expected = rounds if rule == "meek" else [m for m in rounds if m != "keep_factors"]
        assert all(list(r) == expected for r in doc["rounds"]), rule
        assert all("Dan" not in r["tallies"] for r in doc["rounds"])  # withdrawn: not listed
        for t in doc["ties"]:
            assert list(t) == _table_after("Members of each `ties` element:")
        for a in doc["constraint_actions"]:
            assert list(a) == _table_after("Members of each `constraint_actions` element:")
    assert _counted("scottish")["ties"] and _counted("scottish")["constraint_actions"]
    assert _counted("bloc")["constraint_actions"] and "margins" in _counted("bloc")


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (Fraction(6), 5, "6.00000"),
        (Fraction(12), 0, "12"),
        (Fraction(1, 2), 2, "0.50"),
        (Fraction(15, 2), None, "7.5"),
        (Fraction(10, 3), None, "10/3"),
        (Fraction(-10, 3), None, "-10/3"),
    ],
)
def test_numbers_are_written_as_documented(
    value: Fraction, decimals: int | None, text: str
) -> None:
    """The number examples of §10 ("Numbers") are what the result document writes."""
    assert f'`"{text}"`' in SPEC
    assert decimal_string(value, decimals) == text


def _signer_with_plus() -> Signer:
    """A key whose verifier string has a `+` in its base64 part."""
    for n in range(256):
        signer = Signer(name="example.org/ledger", seed=bytes([n]) * 32)
        if "+" in signer.verifier.text().split("+", 2)[2]:
            return signer
    raise AssertionError("no seed gives a + in the base64")  # pragma: no cover


def test_verifier_string_splits_at_the_first_two_plus_signs() -> None:
    """§6: a verifier string is read by splitting at its first two `+`; the base64 part may
    itself hold `+`."""
    assert "Split the text at its *first two* `+` only" in SPEC
    signer = _signer_with_plus()
    text = signer.verifier.text()
    assert len(text.split("+")) > 3
    parsed = Verifier.parse(text)
    assert parsed == signer.verifier and parsed.text() == text
    name, key_id, blob = text.split("+", 2)
    with pytest.raises(LedgerError):  # the key id checks the other two parts
        Verifier.parse(f"{name}+{key_id.upper()}+{blob}")


def test_verifier_string_white_space_as_documented() -> None:
    """§6: white space around the whole verifier string is stripped; inside it is refused."""
    text = _signer_with_plus().verifier.text()
    assert Verifier.parse(f" {text}\n") == Verifier.parse(text)
    with pytest.raises(LedgerError):
        Verifier.parse(text[:-4] + " " + text[-4:])


def test_hash_only_vectors_are_the_listed_ones() -> None:
    """§9 names the vector entries whose event does not match its schema, and the vector log
    as a whole is not a valid election (the fold refuses entry 0)."""
    listed = re.search(r"Entries whose event does not match its schema[^:]*:\s*([\d, ]+)\.", SPEC)
    assert listed is not None
    vectors = json.loads((ROOT / "schemas" / "test-vectors.json").read_text())
    invalid = []
    for e in vectors["entries"]:
        entry = json.loads(e["entry"])
        try:
            schemas.validate_event(entry["type"], entry["event"])
        except LedgerError:
            invalid.append(e["index"])
    assert invalid == [int(x) for x in listed.group(1).split(",")]
    hash_only = SPEC.split("## 9.", 1)[1].split("### The v2 election", 1)[0]
    rows = re.findall(r"^\| (\d) \| `(\w+)` \|", hash_only, re.M)
    assert [(int(i), k) for i, k in rows] == [
        (e["index"], json.loads(e["entry"])["type"]) for e in vectors["entries"]
    ]
    with pytest.raises(fl.FoldError) as caught:
        fl.apply(fl.initial(vectors["election"]), 0, vectors["entries"][0]["entry"].encode())
    assert caught.value.evidence["index"] == 0


def test_v2_vector_table_is_the_v2_log() -> None:
    """§9's table of the v2 election names each entry's type, index by index, and every v2
    entry is a valid event by the fold (the log as a whole is a valid election)."""
    section = SPEC.split("### The v2 election", 1)[1].split("\n## ", 1)[0]
    listed: list[tuple[int, str]] = []
    for first, last, kind in re.findall(r"^\| (\d+)(?:(?:–|, )(\d+))? \| `(\w+)`", section, re.M):
        listed.extend((i, kind) for i in range(int(first), int(last or first) + 1))
    v2 = json.loads((ROOT / "schemas" / "test-vectors.json").read_text())["v2"]
    entries = [json.loads(e["entry"]) for e in v2["entries"]]
    assert listed == [(e["index"], e["type"]) for e in entries]
    state = fl.initial(v2["election"])
    for e in v2["entries"]:
        state = fl.apply(state, e["index"], e["entry"].encode())
    assert state.phase.phase == "declared"


def _documented_members(kind: str) -> list[str]:
    """The member names, in order (nested ones after their parent), of §12's ``kind`` line."""
    section = SPEC.split("## 12.", 1)[1]
    line = next(
        x.strip() for x in section.splitlines() if x.strip().startswith(f'{{"kind":"{kind}"')
    )
    return re.findall(r'"(\w+)":', line)


def _members(value: dict[str, Any]) -> list[str]:
    """The member names of a parsed line, in order, nested objects' after their parent."""
    out = []
    for key, inner in value.items():
        out.append(key)
        if isinstance(inner, dict):
            out.extend(_members(inner))
    return out


def test_export_lines_are_as_documented() -> None:
    """§12's header, checkpoint and entry lines have the members, in the order, that the
    export writes; each is one line; an entry line's `entry` is the entry's exact text."""
    header = exp.Header(election="e", origin="o/elections/e", size=1, ledger_keys=("k",))
    body = '{"note":"caf\u00e9 \\"x\\"\\n"}'.encode()
    lines = {
        "header": exp.header_line(header),
        "checkpoint": exp.checkpoint_line(1, "o/elections/e\n1\nroot\n\n\u2014 k sig\n"),
        "entry": exp.entry_line(0, body, bytes(32), bytes(32)),
    }
    for kind, raw in lines.items():
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1, kind
        assert _members(json.loads(raw)) == _documented_members(kind), kind
    assert json.loads(lines["entry"])["entry"].encode() == body
    assert "caf\u00e9".encode() in lines["entry"]  # non-ASCII written as itself


def test_nominations_closed_lists_every_contest_sorted_withdrawn_included() -> None:
    """§10: `nominations_closed` has every contest, its candidates with at least `threshold`
    nominations in ascending order, withdrawn ones included; any other content is refused."""
    state = el.apply(
        el.ElectionState(election_id="e"),
        "election_defined",
        {"definition": synthetic.definition(), "keys": {"ledger": ["k"]}},
    )
    state = el.apply(state, "nominations_opened", {})
    for cand in ("c03", "c01", "c00"):
        state = el.apply(
            state, "nomination_recorded", {"contest": "members", "candidate": cand, "body": "b"}
        )
    state = el.apply(
        state,
        "candidate_withdrawn",
        {"contest": "members", "candidate": "c01", "reason": "withdrawn"},
    )
    # Two stand (c01 withdrew) for 3 seats, and no one in the youth seat: both are returned
    # at the close (the one woman under the minimum), with no poll.
    returns = {
        "members": {
            "unopposed": [
                {"candidate": "c00", "under": "gender=woman"},
                {"candidate": "c03", "under": None},
            ],
            "polled_seats": 0,
            "vacant": 1,
            "unmet": [],
        },
        "youth": {"unopposed": [], "polled_seats": 0, "vacant": 1, "unmet": []},
    }
    expected = {
        "threshold": 1,
        "standing": {"members": ["c00", "c01", "c03"], "youth": []},
        "returns": returns,
    }
    assert el.standing_event(state) == expected
    for wrong in (
        {"threshold": 1, "standing": {"members": ["c03", "c01", "c00"], "youth": []}},
        {"threshold": 1, "standing": {"members": ["c00", "c03"], "youth": []}},
        {"threshold": 1, "standing": {"members": ["c00", "c01", "c03"]}},
        {"threshold": 0, "standing": expected["standing"]},
        {"threshold": 1, "standing": expected["standing"]},
    ):
        with pytest.raises(el.InvalidDefinition):
            el.apply(state, "nominations_closed", wrong)
    assert el.apply(state, "nominations_closed", expected).phase == "ready"


def test_definition_defaults_are_the_documented_ones() -> None:
    """§10 (`election_defined`): the defaults the ledger fills in are the ones listed."""
    for text in (
        "`sealed` true",
        '`revote_policy` `"once"`',
        "`nomination_threshold` 0",
        "`reporting_dimensions` `[]`",
        "`min_group_size` 10",
        "`turnout.every` 600",
        "`round_size` 50",
        "`schedule` `{}`",
        '`declare` `"on_approval"`',
        '`unmet_minimum` `"vacant"`',
        "bloc `max_marks` = the seats and `min_marks` = 1",
        "`max_rankings` = the number of the contest's candidates",
        "`min_rankings` = 1",
    ):
        assert text in " ".join(SPEC.split()), text
    candidates = [{"id": f"x{i}", "name": f"X {i}"} for i in range(4)]
    d = el.parse_definition(
        {
            "title": "T",
            "contests": [
                {
                    "id": "b",
                    "title": "B",
                    "seats": 2,
                    "method": {"type": "bloc"},
                    "candidates": candidates,
                },
                {
                    "id": "s",
                    "title": "S",
                    "seats": 2,
                    "method": {"type": "stv", "rule": "scottish"},
                    "candidates": candidates,
                },
            ],
        }
    )
    top = {k: v for k, v in d.document.items() if k not in ("title", "contests")}
    assert top == {
        "sealed": True,
        "revote_policy": "once",
        "nomination_threshold": 0,
        "reporting_dimensions": [],
        "min_group_size": 10,
        "turnout": {"every": 600},
        "round_size": 50,
        "schedule": {},
        "declare": "on_approval",
        "unmet_minimum": "vacant",
    }
    bloc, stv = d.document["contests"]
    assert bloc["method"] == {"type": "bloc", "max_marks": 2, "min_marks": 1}
    assert stv["method"] == {
        "type": "stv",
        "rule": "scottish",
        "max_rankings": 4,
        "min_rankings": 1,
    }


def test_result_declared_requires_elected() -> None:
    """§10: a `result_declared` without `elected` is refused by its schema (the fold and the
    ledger refuse it, not only the audit)."""
    v2 = json.loads((ROOT / "schemas" / "test-vectors.json").read_text())["v2"]
    event = json.loads(v2["entries"][v2["declared"][0]["index"]]["entry"])["event"]
    schemas.validate_event("result_declared", event)
    with pytest.raises(LedgerError):
        schemas.validate_event(
            "result_declared", {k: v for k, v in event.items() if k != "elected"}
        )
