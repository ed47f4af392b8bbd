"""The roll file the booth issues codes from: the ledger's CSV roll (``voter_id`` and
attribute columns; ``docs/log-format.md``), read with the ledger's own cell rules."""

from __future__ import annotations

import csv
import io
from typing import Any

from booth.errors import CodesError
from ledger.domain import election as el


def read_roll(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Every member of a CSV roll as ``(voter_id, attributes)``, in file order."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise CodesError("the roll is empty") from None
    header = [h.strip() for h in header]
    if not header or header[0] != "voter_id":
        raise CodesError("the roll's first column must be voter_id")
    if len(set(header)) != len(header) or not all(el.attribute_name(h) for h in header[1:]):
        raise CodesError("the roll's other columns must be distinct attribute names (a-z, 0-9, _)")
    members: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for record in reader:
        line = reader.line_num
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            raise CodesError(f"line {line}: {len(record)} cells, the header has {len(header)}")
        voter = record[0].strip()
        try:
            attributes = {
                name: el.parse_attribute(cell)
                for name, cell in zip(header[1:], record[1:], strict=True)
                if cell.strip()
            }
        except ValueError as exc:
            raise CodesError(f"line {line}: {exc}") from None
        if not el.valid_roll_row({"voter_id": voter, "attributes": attributes}):
            raise CodesError(f"line {line}: not a valid roll row")
        if voter in seen:
            raise CodesError(f"line {line}: voter {voter} appears twice")
        seen.add(voter)
        members.append((voter, attributes))
    return members
