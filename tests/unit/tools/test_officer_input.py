"""The officer's input files: every refusal names the line (and the field or the column)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ballot.api_client import describe_problem
from ballot.officer import roll_refusal, status_lines
from ballot.officer_input import (
    InputError,
    Located,
    check_definition,
    dotted,
    located_problems,
    read_document,
    read_json,
    read_nominations,
    read_yaml,
)

ROOT = Path(__file__).resolve().parents[3]

YAML = """\
title: Branch committee
nomination_threshold: 1
contests:
  - id: chair
    title: Chair
    seats: 1
    method: {type: stv, rule: scottish}
    candidates:
      - {id: ann, name: Ann Able, gender: woman}
      - {id: bob, name: Bob Baker, gender: man}
  - id: members
    title: Members
    seats: 2
    method:
      type: bloc
      max_marks: 2
    candidates:
      - id: cat
        name: Cat Cole
      - id: dan
        name: Dan Dee
"""


def refusal(located: Located) -> list[str]:
    with pytest.raises(InputError) as caught:
        check_definition(located)
    return caught.value.problems


def test_a_valid_yaml_definition_passes_with_its_values() -> None:
    """A correct YAML definition is accepted as the document it spells."""
    located = read_yaml(YAML, "d.yaml")
    check_definition(located)
    assert located.document["contests"][1]["method"] == {"type": "bloc", "max_marks": 2}


def test_yaml_schema_error_names_the_line_and_the_field() -> None:
    """seats: 0 on line 13 of contest 1: 'd.yaml line 13: contests[1].seats: must be at least 1'."""
    text = YAML.replace("    seats: 2\n", "    seats: 0\n")
    assert refusal(read_yaml(text, "d.yaml")) == [
        "d.yaml line 13: contests[1].seats: must be at least 1"
    ]


def test_yaml_unknown_field_points_at_its_own_line() -> None:
    """A misspelt field is named at the line where it is written."""
    text = YAML.replace("      max_marks: 2\n", "      max_mark: 2\n")
    assert refusal(read_yaml(text, "d.yaml")) == [
        "d.yaml line 16: contests[1].method.max_mark: "
        "not a field of this object (a typing mistake?)"
    ]


def test_yaml_every_schema_error_is_listed() -> None:
    """Several mistakes: each with its own line, in document order."""
    text = YAML.replace("id: chair", "id: Chair").replace("name: Dan Dee", "name: ''")
    assert refusal(read_yaml(text, "d.yaml")) == [
        'd.yaml line 4: contests[0].id: "Chair" is not an id: 1-63 of a-z, 0-9, _ and -, '
        "starting with a letter or digit",
        "d.yaml line 21: contests[1].candidates[1].name: must not be empty",
    ]


def test_yaml_missing_field_names_the_object() -> None:
    """A required field that is absent is named, at the line of the object that lacks it."""
    text = YAML.replace("    title: Members\n", "")
    assert refusal(read_yaml(text, "d.yaml")) == ["d.yaml line 11: contests[1]: missing title"]


def test_consistency_error_is_located_at_its_contest() -> None:
    """A rule the schema cannot express (a minimum above the seats) points at the constraint."""
    text = YAML.replace(
        "    candidates:\n      - {id: ann",
        "    constraints:\n      - {attribute: gender, value: woman, min: 2}\n"
        "    candidates:\n      - {id: ann",
    )
    assert refusal(read_yaml(text, "d.yaml")) == [
        "d.yaml line 4: contests[0]: a minimum exceeds the seats"
    ]


def test_unknown_counting_rule_points_at_the_rule() -> None:
    """An STV rule the counter does not know is refused at method.rule's line."""
    text = YAML.replace("rule: scottish", "rule: scotish")
    (problem,) = refusal(read_yaml(text, "d.yaml"))
    assert problem.startswith("d.yaml line 7: contests[0].method.rule: unknown STV rule")


def test_yaml_syntax_error_names_line_and_column() -> None:
    """Text that is not YAML: the line and the column where the parser stopped."""
    with pytest.raises(InputError) as caught:
        read_yaml("title: x\ncontests: [\n  {id: a\n", "d.yaml")
    assert re.fullmatch(r"d\.yaml line 4, column 1: not YAML: .+", str(caught.value))


def test_yaml_key_given_twice_is_refused_with_both_lines() -> None:
    """PyYAML would keep the last of two equal keys; the file is refused instead."""
    text = YAML.replace("    seats: 2\n", "    seats: 2\n    seats: 3\n")
    with pytest.raises(InputError) as caught:
        read_yaml(text, "d.yaml")
    assert str(caught.value) == "d.yaml line 14: contests[1].seats: given twice (first on line 13)"


def test_yaml_times_stay_text() -> None:
    """A schedule time in YAML stays the RFC 3339 text the schema asks for (not a datetime)."""
    text = YAML + "schedule:\n  poll_close: 2026-05-07T22:00:00Z\n"
    located = read_yaml(text, "d.yaml")
    check_definition(located)
    assert located.document["schedule"] == {"poll_close": "2026-05-07T22:00:00Z"}


def test_json_schema_error_names_the_line_and_the_field() -> None:
    """The same checks on JSON: the line of the member at fault."""
    doc = read_yaml(YAML, "d.yaml").document
    doc["contests"][1]["seats"] = 0
    text = json.dumps(doc, indent=2)
    line = text.splitlines().index('      "seats": 0,') + 1
    assert refusal(read_json(text, "d.json")) == [
        f"d.json line {line}: contests[1].seats: must be at least 1"
    ]


def test_json_lines_of_array_items_and_compact_text() -> None:
    """Items of arrays, several on one line or one a line, each at its own line."""
    text = '{"title": "t",\n "contests": [\n  {"id": "a"},\n  {"id": "b",\n   "seats": 1}]}'
    located = read_json(text, "d.json")
    assert located.line_of(("contests", 0)) == 3
    assert located.line_of(("contests", 1, "seats")) == 5
    assert located.line_of(("contests", 1, "method", "type")) == 4  # absent: its object's line


def test_json_syntax_error_names_line_and_column() -> None:
    """Text that is not JSON: the line and the column of the first mistake."""
    with pytest.raises(InputError) as caught:
        read_json('{"title": "t",\n "contests": [1,,2]}', "d.json")
    assert str(caught.value) == "d.json line 2, column 17: not JSON: Expecting value"


def test_json_key_given_twice_is_refused_with_both_lines() -> None:
    """Two equal keys in one JSON object: refused, both lines named."""
    with pytest.raises(InputError) as caught:
        read_json('{"title": "t",\n "title": "u"}', "d.json")
    assert str(caught.value) == "d.json line 2: title: given twice (first on line 1)"


def test_the_ledgers_refusal_is_located_in_the_file() -> None:
    """A schema violation from the ledger (JSON pointers) is placed at the file's lines."""
    located = read_yaml(YAML, "d.yaml")
    problem = {"detail": "x", "errors": [{"path": "/contests/1/candidates/0", "message": "bad"}]}
    assert located_problems(located, "x", problem) == [
        "d.yaml line 18: contests[1].candidates[0]: bad"
    ]


def test_read_document_chooses_the_reader_by_suffix(tmp_path: Path) -> None:
    """.yaml and .yml are YAML, .json is JSON; a file that is neither UTF-8 is refused."""
    (tmp_path / "a.yml").write_text(YAML)
    (tmp_path / "a.json").write_text(json.dumps(read_yaml(YAML, "x").document))
    (tmp_path / "b.yaml").write_bytes(b"title: \xff\n")
    assert read_document(tmp_path / "a.yml").document == read_document(tmp_path / "a.json").document
    with pytest.raises(InputError, match=r"b\.yaml: not UTF-8 \(byte 7\)"):
        read_document(tmp_path / "b.yaml")


def test_dotted_paths() -> None:
    """Paths read as JSONPath-like text; odd keys are quoted."""
    assert dotted(("contests", 1, "seats")) == "contests[1].seats"
    assert dotted(()) == "(document)"
    assert dotted(("a b",)) == '["a b"]'


def test_the_walkthroughs_example_error_is_what_the_command_says() -> None:
    """docs/running-an-election.md quotes the error for seats: 0: the quote is exact."""
    doc = (ROOT / "docs" / "running-an-election.md").read_text()
    yaml_text = doc.split("cat > riverside-2027.yaml <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    quoted = re.search(r"`ballot election: (riverside-2027\.yaml line \d+: [^`]+)`", doc)
    assert quoted is not None
    broken = yaml_text.replace("seats: 2\n", "seats: 0\n", 1)
    assert refusal(read_yaml(broken, "riverside-2027.yaml")) == [quoted.group(1)]


# --- nominations CSV ----------------------------------------------------------------------------


def nominations_refusal(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        read_nominations(text, "n.csv")
    return caught.value.problems


def test_nominations_rows_keep_their_lines() -> None:
    """Blank lines and a quoted cell over two lines: each row keeps its first physical line."""
    text = (
        "Contest,body,candidate,note\n"
        "chair,north,ann,x\n"
        "\n"
        'chair,south,bob,"two\nlines"\n'
        "members,east,cat,\n"
    )
    returns = read_nominations(text, "n.csv")
    assert [(r.line, r.contest, r.candidate, r.body) for r in returns.rows] == [
        (2, "chair", "ann", "north"),
        (4, "chair", "bob", "south"),
        (6, "members", "cat", "east"),
    ]
    assert returns.ignored_columns == ("note",)
    broken = text.replace("members,east", 'members,"ea\nst"')
    assert nominations_refusal(broken) == [
        "n.csv line 6, column 2 (body): a nominating body is one line of at most 128 characters"
    ]


def test_nominations_header_must_name_the_columns() -> None:
    """A header without body: refused at line 1, naming what is missing."""
    assert nominations_refusal("contest,candidate\nchair,ann\n") == [
        "n.csv line 1: the header must name the columns contest, candidate, body (missing: body)"
    ]


def test_nominations_cell_errors_name_line_and_column() -> None:
    """Bad ids, empty cells, extra cells and a repeated row: every one, with line and column."""
    text = (
        "contest,candidate,body\n"
        "chair,Ann,north\n"
        "chair,ann,\n"
        "chair,bob,north,extra\n"
        "chair,bob,south\n"
        "chair,bob,south\n"
    )
    assert nominations_refusal(text) == [
        'n.csv line 2, column 2 (candidate): "Ann" is not an id (1-63 of a-z, 0-9, _ and -, '
        "starting with a letter or digit)",
        "n.csv line 3, column 3 (body): empty",
        "n.csv line 4: 4 cells, the header names 3",
        "n.csv line 6: the same nomination as line 5 (south nominates bob in chair)",
    ]


def test_nominations_unreadable_csv_names_the_line() -> None:
    """A quote that never closes: the CSV reader's refusal, with its line."""
    assert nominations_refusal('contest,candidate,body\nchair,ann,"north\n') == [
        "n.csv line 2: the CSV cannot be read: unexpected end of data"
    ]


def test_an_empty_nominations_file_is_refused() -> None:
    """No header at all: refused, saying a header is expected."""
    assert nominations_refusal("\n\n") == ["n.csv: the file is empty (a header line is expected)"]


# --- the ledger's answers in plain words --------------------------------------------------------


def test_roll_refusal_names_line_and_column() -> None:
    """The ledger's invalid-roll problem reads as a place in the file."""
    problem = {
        "type": "urn:ballot-ledger:problem:invalid-roll",
        "detail": "a cell is not an integer",
        "line": 5,
        "column": "age",
        "column_number": 3,
    }
    assert roll_refusal("roll.csv", problem) == (
        "roll.csv line 5, column 3 (age): a cell is not an integer"
    )


def test_problem_is_described_with_status_type_detail_and_evidence() -> None:
    """A problem+json answer: status, type slug, detail, then its evidence."""
    problem = {
        "type": "urn:ballot-ledger:problem:wrong-phase",
        "title": "Not allowed in this phase",
        "status": 409,
        "detail": "the poll cannot close in phase setup",
        "instance": "/v1/elections/e/poll/close",
        "request_id": "abc",
        "phase": "setup",
    }
    assert describe_problem(409, "Conflict", problem) == (
        "409 wrong-phase: the poll cannot close in phase setup (phase=setup)"
    )


def test_status_shows_ballots_waiting_to_be_released() -> None:
    """With the officer's pending counts, status says how many accepted ballots wait to be
    released and the round size; without them, that only the officer can see it."""
    info = {
        "election": "e",
        "phase": "poll_open",
        "size": 9,
        "definition": {"title": "T", "contests": [{"id": "a"}, {"id": "b"}]},
        "declared": {},
        "withdrawn": {"a": ["x"]},
    }
    pending = {"round_size": 50, "pending": {"a": 3, "b": 1}}
    lines = status_lines(info, None, {"results": []}, pending=pending)
    assert "  waiting to be released to the public log: 4 accepted ballot(s) (a 3, b 1)" in lines
    assert (
        "    released in rounds of at least 50 per contest while the poll is open; the rest at "
        "the close" in lines
    )
    assert "  withdrawn from a: x" in lines
    waits = "not counted yet (waits for the close and the opening of every sealed ballot)"
    assert f"    a: {waits}" in lines
    lines = status_lines(info, None, None)
    assert "  waiting to be released: known to the officer only (set BALLOT_ADMIN_TOKEN)" in lines


def test_status_shows_a_counter_that_stopped_and_why() -> None:
    """A counter that halted (a verification failure) is shown with its reason and its lag."""
    info = {
        "election": "e",
        "phase": "poll_closed",
        "size": 90,
        "definition": {"title": "T", "contests": [{"id": "a"}]},
        "declared": {},
        "unopened": 4,
    }
    follow = {"status": "failed", "reason": "chain mismatch at 41", "size": 41, "lag_entries": 49}
    lines = status_lines(info, None, {"results": [], "follow": follow})
    assert "  waiting to be opened: 4 sealed ballot(s)" in lines
    assert (
        "  counter: failed: chain mismatch at 41; has verified 41 of the log's entries, 49 to go"
        in (lines)
    )
    assert "    a: waiting to be counted" in lines


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("{type: stv}", "contests[0].method: missing rule"),
        ("{type: bloc, max_marks: 0}", "contests[0].method.max_marks: must be at least 1"),
        ("{type: approval}", 'contests[0].method.type: must be one of "bloc", "stv"'),
    ],
)
def test_a_method_is_judged_as_the_kind_it_names(method: str, expected: str) -> None:
    """A counting method's mistakes are told against the method its type names."""
    text = YAML.replace("method: {type: stv, rule: scottish}", f"method: {method}")
    assert refusal(read_yaml(text, "d.yaml")) == [f"d.yaml line 7: {expected}"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "{attr: age}",
            "contests[0].eligibility: must compare one attribute: attr and one of "
            "eq, ne, lt, lte, gt, gte, in",
        ),
        ("{attr: age, lt: '27'}", "contests[0].eligibility.lt: must be a whole number"),
        (
            "{all: [{attr: Age, eq: 1}]}",
            'contests[0].eligibility.all[0].attr: "Age" is not an '
            "attribute name: 1-32 of a-z, 0-9 and _, starting with a letter",
        ),
    ],
)
def test_an_eligibility_rule_is_judged_as_the_kind_it_is(rule: str, expected: str) -> None:
    """An eligibility rule's mistakes are told against the kind of rule it is (attr, all, …)."""
    text = YAML.replace(
        "    candidates:\n      - {id: ann",
        f"    eligibility: {rule}\n    candidates:\n      - {{id: ann",
        1,
    )
    assert refusal(read_yaml(text, "d.yaml")) == [f"d.yaml line 8: {expected}"]
