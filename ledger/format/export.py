"""The export file: an election's whole public log as NDJSON, one JSON object a line
(specified in docs/log-format.md §12).

    {"kind": "header", "format": "ballot-ledger-export/v1", "election": …, "origin": …,
     "size": N, "keys": {"ledger": [verifier, …], "counter": [verifier, …]}}
    {"kind": "checkpoint", "size": n, "note": "<signed note text>"}
    …                                                   (every checkpoint, by size; the last at N)
    {"kind": "entry", "index": 0, "entry": "<the entry's exact text>", "leaf_hash": hex,
     "chain_hash": hex}
    …                                                   (entries 0 … N-1, in order)

Checkpoints come before the entries so that a verifier streaming a long log knows every size
at which it must compare its recomputed root.

The keys in the header are what the server says; an auditor should pin keys it got elsewhere
(``ballot audit --key``). Everything else in the file is recomputed by the audit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import LedgerError
from ledger.format.encoding import hex_strict

FORMAT = "ballot-ledger-export/v1"


class ExportError(LedgerError):
    """The export file is malformed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    election: str
    origin: str
    size: int
    ledger_keys: tuple[str, ...] = ()
    counter_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportEntry:
    index: int
    body: bytes
    leaf_hash: bytes
    chain_hash: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportCheckpoint:
    size: int
    note: str


@dataclass(slots=True)
class Export:
    header: Header
    entries: list[ExportEntry] = field(default_factory=list)
    checkpoints: list[ExportCheckpoint] = field(default_factory=list)


def header_line(header: Header) -> bytes:
    return _line(
        {
            "kind": "header",
            "format": FORMAT,
            "election": header.election,
            "origin": header.origin,
            "size": header.size,
            "keys": {"ledger": list(header.ledger_keys), "counter": list(header.counter_keys)},
        }
    )


def entry_line(index: int, body: bytes, leaf_hash: bytes, chain_hash: bytes) -> bytes:
    return _line(
        {
            "kind": "entry",
            "index": index,
            "entry": body.decode(),
            "leaf_hash": leaf_hash.hex(),
            "chain_hash": chain_hash.hex(),
        }
    )


def checkpoint_line(size: int, note: str) -> bytes:
    return _line({"kind": "checkpoint", "size": size, "note": note})


def _line(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _integer(value: Any) -> int:
    """A JSON integer from 0 (§12): not a string, a boolean or a fraction that looks like one."""
    if type(value) is not int or value < 0:
        raise TypeError(f"{value!r} is not an integer from 0")
    return value


def parse_lines(lines: Iterable[bytes]) -> Iterator[Header | ExportEntry | ExportCheckpoint]:
    """Parse an export file line by line (streaming), with a clear error for a bad line."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            kind = obj["kind"]
            if kind == "header":
                if obj.get("format") != FORMAT:
                    raise ExportError("unknown export format", line=number)
                yield Header(
                    election=str(obj["election"]),
                    origin=str(obj["origin"]),
                    size=_integer(obj["size"]),
                    ledger_keys=tuple(obj["keys"].get("ledger", [])),
                    counter_keys=tuple(obj["keys"].get("counter", [])),
                )
            elif kind == "entry":
                yield ExportEntry(
                    index=_integer(obj["index"]),
                    body=str(obj["entry"]).encode(),
                    leaf_hash=hex_strict(obj["leaf_hash"], 32, what="leaf_hash"),
                    chain_hash=hex_strict(obj["chain_hash"], 32, what="chain_hash"),
                )
            elif kind == "checkpoint":
                yield ExportCheckpoint(size=_integer(obj["size"]), note=str(obj["note"]))
            else:
                raise ExportError("unknown line kind", line=number, kind=kind)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # DecodeError too
            raise ExportError(
                f"line {number} is not a valid export line: {exc}", line=number
            ) from exc
