"""Voter rolls as they are uploaded: CSV (a header with ``voter_id`` and attribute names) or
NDJSON rows, streamed, size-limited and checked row by row. Every refusal names the line (and
the column)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from ledger.domain import election as el
from ledger.domain import schemas, strict_json
from ledger.errors import (
    InvalidRoll,
    PayloadTooLarge,
    UnsupportedMediaType,
)


async def parse_roll(
    content_type: str, chunks: AsyncIterator[bytes], limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """Parse a streamed roll into (voter id, attributes), checking every row."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        if len(buf) > limit:
            raise PayloadTooLarge("the roll is larger than allowed", limit=limit)
    try:
        text = buf.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRoll("the roll is not UTF-8") from exc
    rows: list[tuple[str, dict[str, Any]]] = []
    if content_type in ("text/csv", "application/csv"):
        rows = _parse_csv_roll(text)
    elif content_type in ("application/x-ndjson", "application/jsonl"):
        for line, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = strict_json.loads(raw)
            except strict_json.JsonRefused as exc:
                raise InvalidRoll(f"a line is refused: {exc}", line=line) from exc
            if not el.valid_roll_row(row):
                raise _roll_row_refused(row, line)
            try:
                json.dumps(row, ensure_ascii=False).encode()
            except UnicodeEncodeError as exc:
                raise InvalidRoll("a row holds text that is not valid Unicode", line=line) from exc
            rows.append((row["voter_id"], row.get("attributes", {})))
    else:
        raise UnsupportedMediaType(
            "a roll is text/csv or application/x-ndjson", content_type=content_type
        )
    seen: set[str] = set()
    for number, (vid, _) in enumerate(rows, start=1):
        if vid in seen:
            raise InvalidRoll("a voter id appears twice", row=number)
        seen.add(vid)
    return rows


def _parse_csv_roll(text: str) -> list[tuple[str, dict[str, Any]]]:
    """A CSV roll: a header with ``voter_id`` and attribute names, then one voter a record.
    A refusal names the physical line (1 is the header) and the column (the header name, and
    its 1-based number)."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines)
    rows: list[tuple[str, dict[str, Any]]] = []
    header: list[str] = []
    start = 0
    try:
        for record in reader:
            line, start = start + 1, reader.line_num
            if not record:  # a blank line
                continue
            if not header:
                header = record
                _check_csv_header(header)
            else:
                rows.append(_csv_row(header, record, line))
    except csv.Error as exc:
        raw = "".join(lines[start : reader.line_num])
        number = _csv_column_over(raw, csv.field_size_limit())
        where: dict[str, Any] = {"line": start + 1}
        if number is not None:
            where.update(column_number=number)
            if number <= len(header):
                where.update(column=header[number - 1])
        raise InvalidRoll(f"the CSV cannot be read: {exc}", **where) from exc
    if not header:
        raise InvalidRoll("the CSV header must have a voter_id column")
    return rows


def _check_csv_header(header: list[str]) -> None:
    if "voter_id" not in header:
        raise InvalidRoll("the CSV header must have a voter_id column", line=1)
    for number, name in enumerate(header, start=1):
        if name != "voter_id" and not el.attribute_name(name):
            raise InvalidRoll(
                "an attribute name is 1-32 of a-z, 0-9 and _, starting with a letter",
                line=1,
                column=name,
                column_number=number,
            )
    if len(set(header)) != len(header):
        raise InvalidRoll("a column name appears twice in the CSV header", line=1)


def _csv_row(header: list[str], record: list[str], line: int) -> tuple[str, dict[str, Any]]:
    """One voter of a CSV roll whose header passed ``_check_csv_header``: every cell one line
    of text, attributes typed by ``parse_attribute``, then the rest of ``$defs/roll_row``."""
    if len(record) > len(header):
        raise InvalidRoll("a row has more cells than the header", line=line)
    clean = el.one_line("".join(record))
    voter = ""
    attributes: dict[str, Any] = {}
    for number, (name, cell) in enumerate(zip(header, record, strict=False), start=1):
        if not clean and not el.one_line(cell):
            raise InvalidRoll(
                "a cell holds a control character, a line break or a bidirectional control",
                line=line,
                column=name,
                column_number=number,
            )
        if name == "voter_id":
            voter = cell.strip()
        elif cell:
            try:
                attributes[name] = el.parse_attribute(cell)
            except ValueError as exc:
                raise InvalidRoll(
                    f"a cell is {exc}", line=line, column=name, column_number=number
                ) from exc
    if not 1 <= len(voter) <= 128 or len(attributes) > 32:  # the rest of $defs/roll_row
        raise _roll_row_refused({"voter_id": voter, "attributes": attributes}, line)
    return voter, attributes


def _roll_row_refused(row: Any, line: int) -> InvalidRoll:
    """The refusal of a roll row the fast check refused, with the schema's own words for
    what is wrong (``errors``: path and message, as a schema violation has)."""
    message = "a row does not match the roll row schema"
    try:
        schemas.validate(schemas.ROLL_ROW, row)
    except schemas.SchemaViolation as exc:
        return InvalidRoll(message, line=line, **exc.evidence)
    return InvalidRoll(message, line=line)


def _csv_column_over(raw: str, limit: int) -> int | None:
    """The 1-based column of the first field of the CSV record ``raw`` longer than ``limit``
    (what the csv module refuses), read as the module does: commas, double quotes, ``""``."""
    number, size, quoted, i = 1, 0, False, 0
    while i < len(raw):
        ch = raw[i]
        i += 1
        if quoted:
            if ch != '"':
                size += 1
            elif raw[i : i + 1] == '"':  # "" is one quote
                size, i = size + 1, i + 1
            else:
                quoted = False
        elif ch == '"' and size == 0:
            quoted = True
        elif ch == ",":
            number, size = number + 1, 0
        elif ch in "\r\n":
            break
        else:
            size += 1
        if size > limit:
            return number
    return None
