"""The returning officer's input files, read so that every refusal points at a line.

- An election definition in YAML or JSON (``ballot election create``): the document, and where
  each of its fields is (``Located``), so that a schema or consistency error reads
  ``definition.yaml line 12: contests[1].seats: must be at least 1``. YAML lines come from
  PyYAML's node marks; JSON lines from a scan of the text beside the strict reader.
- The branches' nomination returns as CSV (``ballot election nominations``): one nomination a
  row, refused with the line and the column of the cell at fault.

Pure: no network, no service. The checks are the ledger's own (``ledger.domain``), run here
before anything is sent.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import ValidationError
from jsonschema.exceptions import best_match

from ledger.domain import election as el
from ledger.domain import schemas, strict_json
from ledger.errors import CliError, LedgerError

Path_ = tuple[str | int, ...]
"""Where a value is in a document: object keys and array indexes from the root."""
ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
"""An id of the ledger's (an election, a contest, a candidate)."""
ID_RULE = "1-63 of a-z, 0-9, _ and -, starting with a letter or digit"
"""``ID`` in words."""


class InputError(CliError):
    """The file is refused; each line of the message names a place in it."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def dotted(path: Path_) -> str:
    """``contests[1].seats`` for ``("contests", 1, "seats")``; ``(document)`` for the root."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(document)"


def from_pointer(pointer: str) -> Path_:
    """A JSON pointer (``/contests/1/seats``, RFC 6901) as a path; digits are array indexes."""
    parts: list[str | int] = []
    for raw in pointer.split("/")[1:]:
        if raw == "":
            continue
        token = raw.replace("~1", "/").replace("~0", "~")
        parts.append(int(token) if token.isdigit() else token)
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class Located:
    """A document read from a file, and the line (1-based) where each of its values starts."""

    name: str
    document: Any
    lines: Mapping[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest enclosing value that has one."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None

    def at(self, path: Path_, message: str) -> str:
        """``NAME line N: PATH: MESSAGE``."""
        line = self.line_of(path)
        where = f"{self.name} line {line}" if line is not None else self.name
        return f"{where}: {dotted(path)}: {message}"


# --- YAML ----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML without implicit time stamps: ``2026-05-07T22:00:00Z`` stays the string the schema
    expects (PyYAML would make it a ``datetime``)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_lines(node: yaml.Node, name: str) -> dict[Path_, int]:
    """Walk the composed nodes beside the document: the line of every value (a mapping's
    member: the line of its key). A key given twice is refused (PyYAML keeps the last)."""
    lines: dict[Path_, int] = {(): node.start_mark.line + 1}
    stack: list[tuple[yaml.Node, Path_]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in current.value:
                k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
                line = key.start_mark.line + 1
                if k in seen:
                    raise InputError(
                        [
                            f"{name} line {line}: {dotted((*path, k))}: given twice "
                            f"(first on line {seen[k]})"
                        ]
                    )
                seen[k] = line
                lines[(*path, k)] = line
                stack.append((value, (*path, k)))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                lines[(*path, i)] = item.start_mark.line + 1
                stack.append((item, (*path, i)))
    return lines


def read_yaml(text: str, name: str) -> Located:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError([f"{name}: the file is empty"])
        lines = _yaml_lines(node, name)
        document = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{name} line {mark.line + 1}, column {mark.column + 1}" if mark else name
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise InputError([f"{where}: not YAML: {what}"]) from exc
    except yaml.YAMLError as exc:
        raise InputError([f"{name}: not YAML: {exc}"]) from exc
    finally:
        loader.dispose()
    return Located(name, document, lines)


# --- JSON ----------------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")


def _json_lines(text: str, name: str) -> dict[Path_, int]:
    """The line of every value of a JSON text ``json.loads`` accepted (a member: the line of
    its key). A key given twice in one object is refused with both lines."""
    decoder = json.JSONDecoder()
    starts = [m.end() for m in re.finditer("\n", text)]

    def line(pos: int) -> int:
        return bisect.bisect_right(starts, pos) + 1

    lines: dict[Path_, int] = {}

    def skip(pos: int) -> int:
        return _WS.match(text, pos).end()  # type: ignore[union-attr]  # always matches

    def value(pos: int, path: Path_) -> int:
        pos = skip(pos)
        lines.setdefault(path, line(pos))
        if text[pos] == "{":
            pos = skip(pos + 1)
            seen: dict[str, int] = {}
            if text[pos] == "}":
                return pos + 1
            while True:
                key, after = json.decoder.scanstring(text, pos + 1)  # type: ignore[attr-defined]
                if key in seen:
                    raise InputError(
                        [
                            f"{name} line {line(pos)}: {dotted((*path, key))}: given twice "
                            f"(first on line {seen[key]})"
                        ]
                    )
                seen[key] = line(pos)
                lines[(*path, key)] = line(pos)
                pos = skip(skip(after) + 1)  # past the colon
                pos = skip(value(pos, (*path, key)))
                if text[pos] == "}":
                    return pos + 1
                pos = skip(pos + 1)  # past the comma
        if text[pos] == "[":
            pos = skip(pos + 1)
            if text[pos] == "]":
                return pos + 1
            i = 0
            while True:
                lines[(*path, i)] = line(skip(pos))
                pos = skip(value(pos, (*path, i)))
                if text[pos] == "]":
                    return pos + 1
                pos, i = pos + 1, i + 1
        _, end = decoder.raw_decode(text, pos)
        return int(end)

    value(0, ())
    return lines


def read_json(text: str, name: str) -> Located:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{name} line {exc.lineno}, column {exc.colno}"
        raise InputError([f"{where}: not JSON: {exc.msg}"]) from exc
    except RecursionError as exc:
        raise InputError([f"{name}: the document is nested too deeply"]) from exc
    try:
        lines = _json_lines(text, name)
    except RecursionError as exc:
        raise InputError([f"{name}: the document is nested too deeply"]) from exc
    try:
        document = strict_json.loads(text)
    except strict_json.JsonRefused as exc:
        raise InputError([f"{name}: {exc}"]) from exc
    return Located(name, document, lines)


def read_text(path: Path) -> str:
    """A file's UTF-8 text (a byte order mark dropped), or a message saying why not."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise CliError(f"no such file: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InputError([f"{path.name}: not UTF-8 (byte {exc.start})"]) from exc
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from exc


def read_document(path: Path) -> Located:
    """A YAML or JSON file (by its suffix; otherwise JSON when it starts with ``{``)."""
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix not in (".yaml", ".yml") and text.lstrip().startswith("{")):
        return read_json(text, path.name)
    return read_yaml(text, path.name)


# --- the definition's checks, in plain words ------------------------------------------------

_TYPES = {
    "object": "an object (fields)",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "boolean": "true or false",
    "number": "a number",
}


def _one_of(error: ValidationError) -> tuple[Path_, str] | None:
    """A ``oneOf`` refusal (a counting method, an eligibility rule) explained by the one
    alternative the value is meant to be: the one whose ``const`` members it has (``type:
    stv``), else the one whose required members it has (``attr``, ``all``, …)."""
    options, value = error.validator_value, error.instance
    if not isinstance(value, dict) or not isinstance(options, list):
        return None
    path: Path_ = tuple(error.absolute_path)
    consts = [
        {k: p["const"] for k, p in o.get("properties", {}).items() if "const" in p} for o in options
    ]
    fitting = [
        i for i, c in enumerate(consts) if c and all(value.get(k) == v for k, v in c.items())
    ]
    if not fitting and all(consts):
        key = next(iter(consts[0]))
        allowed = ", ".join(json.dumps(c[key]) for c in consts if key in c)
        return (*path, key), f"must be one of {allowed}"
    if not fitting:
        fitting = [
            i for i, o in enumerate(options) if all(k in value for k in o.get("required", []))
        ]
    if len(fitting) != 1:
        return None
    errors = [e for e in error.context or [] if e.schema_path and e.schema_path[0] == fitting[0]]
    if not errors:
        return None
    return _plain(min(errors, key=lambda e: (len(e.absolute_path), str(e.validator))))


def _plain(error: ValidationError) -> tuple[Path_, str]:
    """Where a schema error is and what it says, in the words an officer would use."""
    path: Path_ = tuple(error.absolute_path)
    kind, limit = error.validator, error.validator_value
    if kind in ("oneOf", "anyOf") and error.context:
        return _one_of(error) or _plain(best_match(error.context))
    if kind == "minimum":
        return path, f"must be at least {limit}"
    if kind == "maximum":
        return path, f"must be at most {limit}"
    if kind == "type":
        wanted = limit if isinstance(limit, list) else [limit]
        return path, "must be " + " or ".join(_TYPES.get(str(t), str(t)) for t in wanted)
    if kind == "required":
        missing = [k for k in limit if k not in error.instance]
        return path, "missing " + ", ".join(missing) if missing else error.message
    if kind == "additionalProperties":
        extra = sorted(k for k in error.instance if k not in error.schema.get("properties", {}))
        if extra:
            return (*path, extra[0]), "not a field of this object (a typing mistake?)"
    if kind == "minItems":
        return path, f"must list at least {limit}"
    if kind == "maxItems":
        return path, f"must list at most {limit}"
    if kind == "minLength":
        return path, "must not be empty" if limit == 1 else f"must be at least {limit} characters"
    if kind == "maxLength":
        return path, f"must be at most {limit} characters"
    if kind == "uniqueItems":
        return path, "lists a value twice"
    if kind == "const":
        return path, f"must be {json.dumps(limit)}"
    if kind == "enum":
        return path, "must be one of " + ", ".join(json.dumps(v) for v in limit)
    if kind == "pattern":
        defs = schemas.load("definition.schema.json")["$defs"]
        if limit == defs["attribute"]["pattern"]:
            return path, (
                f"{json.dumps(error.instance)} is not an attribute name: 1-32 of a-z, 0-9 and _, "
                "starting with a letter"
            )
        if limit == defs["id"]["pattern"]:
            return path, f"{json.dumps(error.instance)} is not an id: {ID_RULE}"
        return path, f"{json.dumps(error.instance)} holds a character that is not allowed"
    if kind in ("minProperties", "maxProperties") and "attr" in error.schema.get("required", []):
        return path, "must compare one attribute: attr and one of eq, ne, lt, lte, gt, gte, in"
    return path, error.message


def _contest_index(doc: Any, contest: Any) -> int | None:
    if isinstance(doc, dict) and isinstance(doc.get("contests"), list):
        for i, c in enumerate(doc["contests"]):
            if isinstance(c, dict) and c.get("id") == contest:
                return i
    return None


def definition_problem_path(doc: Any, evidence: Mapping[str, Any]) -> Path_:
    """Where a consistency refusal (``InvalidDefinition``) is, from its evidence."""
    i = _contest_index(doc, evidence.get("contest"))
    if i is None and "rule" in evidence:
        for j, c in enumerate(doc.get("contests", []) if isinstance(doc, dict) else []):
            if isinstance(c, dict) and c.get("method", {}).get("rule") == evidence["rule"]:
                return ("contests", j, "method", "rule")
    if i is None:
        return ("contests",) if "contest" in evidence else ()
    base: Path_ = ("contests", i)
    contest = doc["contests"][i]
    if "attribute" in evidence:
        for k, c in enumerate(contest.get("constraints", [])):
            if c.get("attribute") == evidence["attribute"] and c.get("value") == evidence.get(
                "value"
            ):
                return (*base, "constraints", k)
    if "rule" in evidence:
        return (*base, "method", "rule")
    return base


def check_definition(located: Located) -> None:
    """The ledger's own checks of a definition (schema, then consistency), every refusal
    located; ``InputError`` lists them."""
    doc = located.document
    try:
        errors = sorted(
            schemas.validator(schemas.DEFINITION).iter_errors(doc),
            key=lambda e: [str(p) for p in e.absolute_path],
        )
    except RecursionError as exc:
        raise InputError([f"{located.name}: the document is nested too deeply"]) from exc
    if errors:
        raise InputError([located.at(*_plain(e)) for e in errors[:20]])
    try:
        el.parse_definition(doc)
    except schemas.SchemaViolation as exc:
        raise InputError(located_problems(located, exc.message, exc.evidence)) from exc
    except LedgerError as exc:
        path = definition_problem_path(doc, exc.evidence)
        raise InputError([located.at(path, exc.message)]) from exc


def located_problems(located: Located, detail: str, evidence: Mapping[str, Any]) -> list[str]:
    """A refusal of the document (the ledger's problem, or a local one) as located lines:
    one per ``errors`` item (JSON pointer and message), else one from its other evidence."""
    items = evidence.get("errors")
    if isinstance(items, list) and items:
        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                out.append(located.at(from_pointer(item["path"]), str(item.get("message"))))
        if out:
            return out
    return [located.at(definition_problem_path(located.document, evidence), detail)]


# --- nomination returns (CSV) ----------------------------------------------------------------

NOMINATION_COLUMNS = ("contest", "candidate", "body")


@dataclass(frozen=True, slots=True)
class Nomination:
    line: int
    contest: str
    candidate: str
    body: str

    def request(self) -> dict[str, str]:
        return {"contest": self.contest, "candidate": self.candidate, "body": self.body}


@dataclass(frozen=True, slots=True)
class NominationReturns:
    rows: tuple[Nomination, ...]
    ignored_columns: tuple[str, ...] = ()


def _records(text: str, name: str) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the record starts, cells) of each non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = f"{name} line {reader.line_num}"
            raise InputError([f"{where}: the CSV cannot be read: {exc}"]) from exc
        if record and any(cell.strip() for cell in record):
            yield start, record
        start = reader.line_num + 1


def read_nominations(text: str, name: str) -> NominationReturns:
    """Nomination returns: a header naming ``contest``, ``candidate`` and ``body`` (the
    nominating branch), in any order, other columns ignored; then one nomination a row. Every
    refusal names the line and the column (``InputError`` lists them all)."""
    problems: list[str] = []
    records = _records(text, name)
    try:
        first = next(records, None)
        if first is None:
            raise InputError([f"{name}: the file is empty (a header line is expected)"])
        header_line, header = first
        names = [h.strip().lower() for h in header]
        missing = [c for c in NOMINATION_COLUMNS if c not in names]
        if missing:
            raise InputError(
                [
                    f"{name} line {header_line}: the header must name the columns "
                    f"{', '.join(NOMINATION_COLUMNS)} (missing: {', '.join(missing)})"
                ]
            )
        for c in NOMINATION_COLUMNS:
            if names.count(c) > 1:
                second = [i for i, n in enumerate(names) if n == c][1]
                problems.append(
                    f"{name} line {header_line}, column {second + 1}: {c} is named twice"
                )
        where = {c: names.index(c) for c in NOMINATION_COLUMNS}
        rows: list[Nomination] = []
        seen: dict[tuple[str, str, str], int] = {}
        for line, record in records:
            row_problems = []
            if len(record) > len(names):
                row_problems.append(
                    f"{name} line {line}: {len(record)} cells, the header names {len(names)}"
                )
            cells: dict[str, str] = {}
            for column, index in where.items():
                cell = record[index].strip() if index < len(record) else ""
                at = f"{name} line {line}, column {index + 1} ({column})"
                if not cell:
                    row_problems.append(f"{at}: empty")
                elif column != "body" and not ID.fullmatch(cell):
                    row_problems.append(f"{at}: {json.dumps(cell)} is not an id ({ID_RULE})")
                elif column == "body" and (len(cell) > 128 or not el.one_line(cell)):
                    row_problems.append(
                        f"{at}: a nominating body is one line of at most 128 characters"
                    )
                cells[column] = cell
            if row_problems:
                problems += row_problems
                continue
            key = (cells["contest"], cells["candidate"], cells["body"])
            if key in seen:
                problems.append(
                    f"{name} line {line}: the same nomination as line {seen[key]} "
                    f"({cells['body']} nominates {cells['candidate']} in {cells['contest']})"
                )
                continue
            seen[key] = line
            rows.append(Nomination(line, **cells))
    except InputError as exc:
        raise InputError([*problems, *exc.problems]) from exc
    if problems:
        raise InputError(problems)
    ignored = tuple(str(h) for h in header if h.strip().lower() not in NOMINATION_COLUMNS)
    return NominationReturns(tuple(rows), ignored)
