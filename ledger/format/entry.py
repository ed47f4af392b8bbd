"""Log entries: the envelope every event is wrapped in before it is hashed.

An entry is the RFC 8785 canonical JSON of::

    {"election": <election id>, "event": <event object>, "index": <position in the log>,
     "time": <RFC 3339 UTC, milliseconds, the time of the batch that appended it>,
     "type": <event type>, "v": 1}

The index and election bind each entry to its place, so an entry cannot be replayed at
another position or into another election's log. The event object is canonicalised once,
before the sequencer takes the lock; inside the lock the entry is completed by splicing the
index and time in, which gives byte for byte the canonical encoding of the whole envelope
(JCS sorts the members as listed above), at a fraction of the cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ledger.errors import EncodingError, EntryTooLarge
from ledger.format.canonical import MAX_ENTRY_BYTES, canonical_bytes, parse_canonical

ENTRY_VERSION = 1
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


@lru_cache(maxsize=4096)
def valid_time(text: str) -> bool:
    """§2: ``YYYY-MM-DDTHH:MM:SS.mmmZ``, a real day and time (no leap second). Cached: the
    entries of a batch or a round share one time."""
    if not _TIME.fullmatch(text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class EntryTemplate:
    """An entry with its index and time still to fill in."""

    kind: str
    head: bytes
    """``{"election":…,"event":…,"index":``"""

    def render(self, index: int, time: str) -> bytes:
        data = b"".join(
            (
                self.head,
                str(index).encode(),
                b',"time":"',
                time.encode(),
                b'","type":"',
                self.kind.encode(),
                b'","v":1}',
            )
        )
        if len(data) > MAX_ENTRY_BYTES:
            raise EntryTooLarge(size=len(data), limit=MAX_ENTRY_BYTES)
        return data


def _plain(text: str, what: str) -> None:
    if not text or not all(c.isascii() and (c.isalnum() or c in "_-:.+") for c in text):
        raise EncodingError(f"{what} must be plain ASCII", value=text[:80])


def template(election: str, kind: str, event: dict[str, Any]) -> EntryTemplate:
    """Canonicalise ``event`` now; the index and time come at append time."""
    return template_of(election, kind, canonical_bytes(event))


def template_of(election: str, kind: str, event: bytes) -> EntryTemplate:
    """The template of an event already in its canonical bytes (a ballot kept pending as the
    very bytes its acceptance receipt's event hash covers)."""
    return templates_of(election, kind, [event])[0]


def templates_of(election: str, kind: str, events: Sequence[bytes]) -> list[EntryTemplate]:
    """The templates of events already in their canonical bytes, the envelope's ids checked
    and encoded once for the whole round rather than once per ballot."""
    _plain(election, "election id")
    _plain(kind, "event type")
    prefix = b'{"election":' + json.dumps(election).encode() + b',"event":'
    return [EntryTemplate(kind=kind, head=prefix + event + b',"index":') for event in events]


def entry_time(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-23T05:21:16.123Z``."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """A parsed entry."""

    election: str
    index: int
    kind: str
    time: str
    event: dict[str, Any]


def parse_entry(data: bytes) -> Entry:
    """Parse entry bytes, checking they are canonical and have the envelope's shape."""
    value = parse_canonical(data)
    if not isinstance(value, dict) or set(value) != {
        "election",
        "event",
        "index",
        "time",
        "type",
        "v",
    }:
        raise EncodingError("entry envelope has the wrong members")
    if type(value["v"]) is not int or value["v"] != ENTRY_VERSION:
        raise EncodingError("unknown entry version", v=value["v"])
    index, election, kind, time = value["index"], value["election"], value["type"], value["time"]
    if type(index) is not int or index < 0 or not isinstance(value["event"], dict):
        raise EncodingError("entry index must be an integer from 0 and event an object")
    if not isinstance(election, str) or not isinstance(kind, str):
        raise EncodingError("entry election and type must be strings")
    if not isinstance(time, str) or not valid_time(time):
        raise EncodingError(
            "entry time must be RFC 3339 UTC with milliseconds, YYYY-MM-DDTHH:MM:SS.mmmZ",
            time=time,
        )
    return Entry(election=election, index=index, kind=kind, time=time, event=value["event"])
