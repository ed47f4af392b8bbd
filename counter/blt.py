"""The BLT ballot format: read and write.

Dialect read (and written, see ``docs/counting.md``)::

    7 4                 number of candidates, number of seats
    -2 -5               optional: withdrawn candidates as negative ids; they may
                        also follow the seats on the first line ("7 4 -2 -5")
    64 1 0              weight, preferences (1-based candidate ids), 0 terminator
    2 1 2 0
    0                   end of ballots
    "Barney CROCKETT"   candidate names, one a line, quoted or unquoted
    Coral DUTHIE
    "Ward 1"            the title

Several quoted names may share a line.  A ballot line may start with a ballot id
in parentheses, ``(b12) 1 3 2 0``, which is ignored.  A repeated preference is
ignored after its first appearance.  ``-`` (a skipped rank) and ``=`` (equal
ranks) are refused.  For ``bloc``, a ballot line lists the candidates marked
and their order is ignored.  Text after ``#`` on a ballot line is a comment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from counter.errors import BltError
from counter.profile import group
from counter.rules.model import Candidate, Profile, Ranking


def _quoted_strings(line: str, lineno: int) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch.isspace():
            i += 1
            continue
        if ch != '"':
            raise BltError("expected a quoted name", line=lineno)
        j = i + 1
        buf: list[str] = []
        while j < len(line) and line[j] != '"':
            if line[j] == "\\" and j + 1 < len(line):
                j += 1
            buf.append(line[j])
            j += 1
        if j >= len(line):
            raise BltError("unterminated quoted name", line=lineno)
        out.append("".join(buf))
        i = j + 1
    return out


def _values(line: str, lineno: int) -> list[int]:
    """The integers of one ballot line (its ``(id)`` prefix dropped)."""
    if line.startswith("("):
        close = line.find(")")
        if close < 0:
            raise BltError("unterminated ballot id", line=lineno)
        line = line[close + 1 :].strip()
    tokens = line.split()
    if "-" in tokens or any("=" in t for t in tokens):
        raise BltError("skipped ('-') or equal ('=') ranks are not supported", line=lineno)
    try:
        return [int(t) for t in tokens]
    except ValueError:
        raise BltError(f"not a ballot line: {line!r}", line=lineno) from None


def _ballot(values: list[int], lineno: int, ncand: int) -> tuple[Ranking, int]:
    """``(ranking, weight)`` from a ballot line's integers: weight, preferences, 0."""
    if len(values) < 2 or values[-1] != 0:
        raise BltError("a ballot line is: weight preferences... 0", line=lineno)
    weight, prefs = values[0], values[1:-1]
    if weight < 0:
        raise BltError("a ballot weight must not be negative", line=lineno)
    for p in prefs:
        if not 1 <= p <= ncand:
            raise BltError(f"preference {p} is not a candidate (1..{ncand})", line=lineno)
    return tuple(p - 1 for p in prefs), weight


def _ballot_block(
    lines: list[str], start: int, ncand: int
) -> tuple[list[tuple[Ranking, int]], int] | None:
    """The ballot lines from ``start`` to a bare ``0`` line, grouped as text first.

    A file of a million one-paper lines repeats far fewer distinct lines: they are
    counted by ``Counter`` (hashing in C) and only the distinct ones are parsed,
    each weight multiplied by how often its line occurs.  Returns the ballots and
    the index after the ``0`` line, or ``None`` when the block is not plain (no bare
    ``0`` line, a line that is itself a terminator, or any error): the caller then
    reads line by line, which reports the error with its line number.
    """
    try:
        end = lines.index("0", start)
    except ValueError:
        return None
    out: list[tuple[Ranking, int]] = []
    to_index = (-1).__add__  # 1-based candidate ids to 0-based indices, in C
    try:
        for text, times in Counter(lines[start:end]).items():
            if "#" in text or "(" in text:  # a comment or a ballot id: the full reader
                content = text.split("#", 1)[0].strip()
                values = _values(content, 0) if content else []
            else:
                values = list(map(int, text.split()))  # "-" and "=" raise ValueError
            if not values:
                continue  # a blank line
            if len(values) < 2 or values[-1] != 0 or values[0] < 0:
                return None  # an earlier terminator ("0 ") or a malformed line
            prefs = values[1:-1]
            if prefs and (min(prefs) < 1 or max(prefs) > ncand):
                return None
            out.append((tuple(map(to_index, prefs)), values[0] * times))
    except (BltError, ValueError):
        return None
    return out, end + 1


def parse(text: str) -> Profile:
    """Parse BLT text into a grouped :class:`Profile`."""
    lines = text.splitlines()
    idx = 0

    def next_content() -> tuple[int, str]:
        nonlocal idx
        while idx < len(lines):
            raw = lines[idx]
            idx += 1
            content = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith('"') else raw
            if content.strip():
                return idx, content.strip()
        raise BltError("unexpected end of file", line=idx)

    lineno, head = next_content()
    try:
        numbers = [int(t) for t in head.split()]
    except ValueError:
        raise BltError("first line must be: candidates seats", line=lineno) from None
    if len(numbers) < 2 or numbers[0] < 1 or numbers[1] < 1:
        raise BltError("first line must be: candidates seats (both positive)", line=lineno)
    ncand, seats = numbers[0], numbers[1]
    withdrawn: set[int] = set()

    def add_withdrawn(values: Iterable[int], at: int) -> None:
        for v in values:
            if v >= 0 or -v > ncand:
                raise BltError(f"withdrawn candidate {v} is not a negative id", line=at)
            withdrawn.add(-v - 1)

    add_withdrawn(numbers[2:], lineno)
    ballots: list[tuple[Ranking, int]] = []
    lineno, line = next_content()
    values = _values(line, lineno)
    if values and all(v < 0 for v in values):  # the withdrawn candidates' own line
        add_withdrawn(values, lineno)
        lineno, line = next_content()
        values = _values(line, lineno)
    block_tried = False
    while values != [0]:
        ballots.append(_ballot(values, lineno, ncand))
        if not block_tried:  # once: on failure, line by line to the end of the ballots
            block_tried = True
            block = _ballot_block(lines, idx, ncand)
            if block is not None:
                ballots.extend(block[0])
                idx = block[1]
                break
        lineno, line = next_content()
        values = _values(line, lineno)
    strings: list[str] = []
    while idx < len(lines) and len(strings) < ncand + 1:
        raw = lines[idx].strip()
        idx += 1
        if not raw:
            continue
        if raw.startswith('"'):
            strings.extend(_quoted_strings(raw, idx))
        else:
            strings.append(raw)
    if len(strings) < ncand:
        raise BltError(f"expected {ncand} candidate names, found {len(strings)}", line=idx)
    names = strings[:ncand]
    if len(set(names)) != len(names):
        raise BltError("two candidates have the same name", line=idx)
    title = strings[ncand] if len(strings) > ncand else ""
    candidates = tuple(
        Candidate(id=str(i + 1), name=name, withdrawn=i in withdrawn)
        for i, name in enumerate(names)
    )
    return Profile(
        candidates=candidates,
        ballots=group(ballots, ncand),
        seats=seats,
        title=title,
        grouped=True,
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump(profile: Profile, seats: int | None = None) -> str:
    """Write a profile as BLT: grouped ballots, withdrawn on their own line, names quoted."""
    n = len(profile.candidates)
    s = seats if seats is not None else profile.seats
    if s is None:
        raise BltError("the number of seats is needed to write a BLT file")
    out = [f"{n} {s}"]
    withdrawn = [str(-(i + 1)) for i, c in enumerate(profile.candidates) if c.withdrawn]
    if withdrawn:
        out.append(" ".join(withdrawn))
    for ranking, weight in group(profile.ballots):
        out.append(" ".join([str(weight), *(str(c + 1) for c in ranking), "0"]))
    out.append("0")
    out.extend(_quote(c.name) for c in profile.candidates)
    out.append(_quote(profile.title))
    return "\n".join(out) + "\n"
