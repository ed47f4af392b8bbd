"""The BLT ballot format: read and write.

BLT is informal; real counting software (OpenSTV/OpaVote, Droop, OpenTally, eSTV)
and councils' exports write several dialects of it.  This reader accepts all of
the following (``docs/counting.md`` lists them, with a test file for each in
``tests/unit/counting/blt/``)::

    # a comment            "#" lines anywhere; blank lines anywhere; CRLF; a BOM
    7 4                    number of candidates, number of seats
    -2 -5                  optional: withdrawn candidates as negative ids (they may
                           also follow the seats on the first line: "7 4 -2 -5")
    64 1 0                 weight, preferences (1-based candidate ids), 0
    2 1 2                  the terminating 0 may be left out
    (b12) 1 3 2 0          an optional ballot id in parentheses, ignored
    1 1=2 3 0              equal preferences ("=") and skipped ones ("-"): read as the
    1 1 - 3 0              counting rule says (:class:`Reading`), or refused
    0.5 4 0                a fractional weight: exact, where the rule allows it
    0                      end of ballots
    "Barney CROCKETT"      names, one a line, quoted (a quote inside doubled: "")
    Coral DUTHIE           or unquoted; several quoted names may share a line
    "Ward 1"               the title; any lines after it are ignored

A repeated preference is ignored after its first appearance.  Text after ``#`` on
a ballot line is a comment.  Every refusal is a :class:`BltError` naming the
line, what was expected there and what was found.

Speed: a block of plain ballot lines (digits and spaces only, as exports write
a million papers) is read by :mod:`numpy` in a few vectorised passes: each ranking
becomes one integer (its preferences as digits in base ``candidates + 1``, so the
integers sort as the rankings do), identical ones are summed by sorting, and only
the distinct rankings become Python tuples.  Anything else (comments, ids, marks,
fractions, an error) takes the line-by-line reader, which groups identical lines
as text before parsing them; both give the same profile (a property test).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import repeat
from typing import TYPE_CHECKING, Any

from counter.ballots.profile import group
from counter.errors import BltError
from counter.rules.model import Candidate, Profile, Ranking

if TYPE_CHECKING:
    from counter.rules.packed import PackedBallots, PackedProfile

MARKS = ("refuse", "truncate", "set")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What a counting rule makes of BLT ballots that say more than a plain ranking.

    ``marks``: equal (``=``) and skipped (``-``) preferences are ``"refuse"`` d,
    ``"truncate"`` d (the paper stops before the first of them: the rule books'
    non-transferable paper; with no first preference it is invalid), or read as a
    ``"set"`` of marks (bloc: every candidate marked counts, order ignored).
    ``fractions``: fractional weights are counted exactly as ``Fraction`` s, or refused.
    ``rule`` names the rule in refusals.
    """

    rule: str = ""
    marks: str = "refuse"
    fractions: bool = False

    def __post_init__(self) -> None:
        if self.marks not in MARKS:
            raise ValueError(f"marks must be one of {MARKS}")

    def who(self) -> str:
        return f"rule {self.rule}" if self.rule else "a count without a named rule"


PLAIN = Reading()


def _found(text: str) -> str:
    return repr(text) if text else "an empty line"


# -- names and title ------------------------------------------------------------


def _quoted_strings(line: str, lineno: int) -> list[str]:
    """The quoted strings of a line: ``""`` or ``\\"`` is a quote inside, ``\\\\`` a backslash."""
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":  # a comment after the names
            break
        if ch != '"':
            raise BltError(
                f"expected a quoted name, found {_found(line[i:])} after a quoted one",
                line=lineno,
            )
        j = i + 1
        buf: list[str] = []
        while True:
            if j >= n:
                raise BltError(
                    f"expected a closing quote, found the end of the line in {line!r}",
                    line=lineno,
                )
            c = line[j]
            if c == '"':
                if j + 1 < n and line[j + 1] == '"':  # CSV style: a doubled quote
                    buf.append('"')
                    j += 2
                    continue
                break
            if c == "\\" and j + 1 < n and line[j + 1] in '"\\':
                j += 1
                c = line[j]
            buf.append(c)
            j += 1
        out.append("".join(buf))
        i = j + 1
    return out


# -- one ballot line -------------------------------------------------------------


_MAX_DIGITS = 4300
"""Most digits of a number in a BLT file (Python's own limit on reading an integer)."""


def _digits(token: str) -> bool:
    """Whether ``token`` is a number in ASCII digits (``str.isdigit`` also takes ``²``)."""
    return token.isascii() and token.isdigit()


def _shown(token: str) -> str:
    """``token`` as a refusal quotes it: whole if short, else its start and its length."""
    return repr(token) if len(token) <= 40 else f"{token[:20]!r}... ({len(token)} characters)"


def _weight(token: str, lineno: int, reading: Reading) -> int | Fraction:
    if len(token) > _MAX_DIGITS:
        raise BltError(
            f"expected a weight of at most {_MAX_DIGITS} digits, found {_shown(token)}",
            line=lineno,
        )
    if _digits(token):
        return int(token)
    try:
        if not token.isascii():
            raise ValueError(token)
        value = Fraction(token)
    except (ValueError, ZeroDivisionError):
        raise BltError(
            f"expected a weight (a whole number of papers) at the start of a ballot line, "
            f"found {token!r}",
            line=lineno,
        ) from None
    if value < 0:
        raise BltError(f"expected a weight of 0 or more, found {token!r}", line=lineno)
    if value.denominator == 1:
        return int(value)
    if not reading.fractions:
        raise BltError(
            f"{reading.who()} counts whole ballot papers: expected a whole-number weight, "
            f"found {token!r} (fractional weights are counted exactly by rules with exact "
            "arithmetic, e.g. exact-droop)",
            line=lineno,
        )
    return value


def _ballot_line(
    content: str, lineno: int, ncand: int, reading: Reading
) -> tuple[Ranking, int | Fraction] | None:
    """``(ranking, weight)`` of one ballot line (comment already removed), or ``None``
    for the bare ``0`` that ends the ballots."""
    had_id = content.startswith("(")
    if had_id:
        close = content.find(")")
        if close < 0:
            raise BltError(f"expected a ballot id closed by ')', found {content!r}", line=lineno)
        content = content[close + 1 :]
    tokens = content.split()
    if not tokens:
        raise BltError("expected a weight after the ballot id, found nothing", line=lineno)
    if tokens == ["0"] and not had_id:
        return None
    weight = _weight(tokens[0], lineno, reading)
    prefs = tokens[1:]
    if prefs and prefs[-1] == "0":
        prefs.pop()  # the terminating 0 (optional)
    groups: list[list[int]] = []  # one group per position; [] is a skipped position
    marked = False
    for t in prefs:
        if _digits(t):
            if len(t) > len(str(ncand)):
                raise BltError(
                    f"preference {t[:10]}... is not a candidate: expected 1..{ncand}, "
                    f"found {_shown(t)}",
                    line=lineno,
                )
            c = int(t)
            if c == 0:
                raise BltError(
                    f"expected the 0 that ends a ballot line only at its end, found {content!r}",
                    line=lineno,
                )
            if c > ncand:
                raise BltError(
                    f"preference {t} is not a candidate: expected 1..{ncand}, found {t!r}",
                    line=lineno,
                )
            groups.append([c - 1])
            continue
        parts = t.split("=")
        if t == "-":
            groups.append([])
        elif len(parts) > 1 and all(
            _digits(p) and len(p) <= len(str(ncand)) and 1 <= int(p) <= ncand for p in parts
        ):
            groups.append([int(p) - 1 for p in parts])
        else:
            raise BltError(
                f"expected a candidate number 1..{ncand}, equal ones joined by '=' (1=2) "
                f"or '-' for a skipped preference, found {_shown(t)}",
                line=lineno,
            )
        marked = True
    if not marked:
        return tuple(g[0] for g in groups), weight
    if reading.marks == "set":
        return tuple(c for g in groups for c in g), weight
    if reading.marks == "truncate":
        ranking: list[int] = []
        for g in groups:
            if len(g) != 1:
                break
            ranking.append(g[0])
        return tuple(ranking), weight
    odd = next(t for t in prefs if not t.isdigit())
    kind = "a skipped preference ('-')" if odd == "-" else "equal preferences ('=')"
    raise BltError(
        f"{reading.who()} does not say how to count {kind}: expected one candidate per "
        f"preference, found {odd!r} (choose a rule that reads them, see docs/counting.md)",
        line=lineno,
    )


# -- the whole file ----------------------------------------------------------------


def _content(raw: str) -> str:
    """A header or ballot line without its comment."""
    return raw.split("#", 1)[0].strip()


@dataclass(slots=True)
class _Header:
    ncand: int
    seats: int
    withdrawn: set[int]


def _header_numbers(content: str, lineno: int) -> _Header:
    try:
        tokens = content.split()
        if not all(_digits(t.removeprefix("-")) for t in tokens):
            raise ValueError(content)
        numbers = [int(t) for t in tokens]
    except ValueError:
        raise BltError(
            f"expected the first line 'candidates seats', found {content!r}", line=lineno
        ) from None
    if len(numbers) < 2 or numbers[0] < 1 or numbers[1] < 1:
        raise BltError(
            f"expected the first line 'candidates seats' (both positive), found {content!r}",
            line=lineno,
        )
    header = _Header(numbers[0], numbers[1], set())
    _add_withdrawn(header, numbers[2:], lineno)
    return header


def _add_withdrawn(header: _Header, values: list[int], lineno: int) -> None:
    for v in values:
        if v >= 0 or -v > header.ncand:
            raise BltError(
                f"expected withdrawn candidates as negative ids -1..-{header.ncand}, found {v}",
                line=lineno,
            )
        header.withdrawn.add(-v - 1)


def _withdrawn_line(content: str) -> list[int] | None:
    """The ids of a line of negative numbers (withdrawn candidates), else ``None``."""
    tokens = content.split()
    if not tokens or not all(t.startswith("-") and _digits(t[1:]) for t in tokens):
        return None
    return [int(t) for t in tokens]


def _names(lines: Iterator[tuple[int, str]], header: _Header, last: int) -> list[str]:
    strings: list[str] = []
    lineno = last
    for lineno, raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            strings.extend(_quoted_strings(line, lineno))
        else:
            strings.append(line)
        if len(strings) > header.ncand:
            break  # the title read: anything after it is ignored
    if len(strings) < header.ncand:
        raise BltError(
            f"expected {header.ncand} candidate names after the ballots, found {len(strings)}",
            line=lineno,
        )
    names = strings[: header.ncand]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BltError(f"expected distinct candidate names, found {name!r} twice", line=lineno)
        seen.add(name)
    return strings


def _profile(
    header: _Header, strings: list[str], ballots: tuple[tuple[Ranking, Any], ...]
) -> Profile:
    candidates = tuple(
        Candidate(id=str(i + 1), name=name, withdrawn=i in header.withdrawn)
        for i, name in enumerate(strings[: header.ncand])
    )
    return Profile(
        candidates=candidates,
        ballots=ballots,
        seats=header.seats,
        title=strings[header.ncand] if len(strings) > header.ncand else "",
        grouped=True,
    )


def _numbered(lines: list[str], start: int, first: int = 0) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` from ``lines[start]``; ``first``: lines before ``lines[0]``."""
    for i in range(start, len(lines)):
        yield first + i + 1, lines[i]


def parse(text: str, reading: Reading = PLAIN, *, vectorised: bool | None = None) -> Profile:
    """Parse BLT text into a grouped :class:`Profile`, as ``reading`` (a rule) reads it.

    ``vectorised``: read a plain ballot block with numpy (True), line by line
    (False), or by size (None: numpy from :data:`FAST_FROM` characters).  The
    result is the same.
    """
    # Reading allocates a tuple per distinct ranking, all acyclic: the cyclic
    # collector's passes over them find nothing and cost a third of a large read.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, reading, vectorised)
    finally:
        if collecting:
            gc.enable()


def _parse(text: str, reading: Reading, vectorised: bool | None) -> Profile:
    text = text.removeprefix("\ufeff")
    if vectorised or (vectorised is None and len(text) >= FAST_FROM):
        fast = _parse_fast(text)
        if fast is not None:
            return fast
    lines = text.splitlines()
    numbered = _numbered(lines, 0)
    header: _Header | None = None
    ballots: list[tuple[Ranking, Any]] = []
    lineno = 0
    for lineno, raw in numbered:
        content = _content(raw)
        if not content:
            continue
        if header is None:
            header = _header_numbers(content, lineno)
            continue
        if not ballots:
            negatives = _withdrawn_line(content)
            if negatives is not None:
                _add_withdrawn(header, negatives, lineno)
                continue
        ballot = _ballot_line(content, lineno, header.ncand, reading)
        if ballot is None:
            break
        ballots.append(ballot)
        if len(ballots) == 1:  # once: the whole block grouped as text, if it is plain
            block = _grouped_block(lines, lineno - 1, header.ncand, reading)
            if block is not None:
                ballots = block[0]
                numbered = _numbered(lines, block[1])
                break
    else:
        if header is None:  # no line but blank ones and comments: there is no line to name
            what = "is empty" if not text.strip() else "holds only blank lines and comments"
            raise BltError(f"the file {what}: expected a first line 'candidates seats'")
        expected = "a ballot line or the 0 that ends the ballots"
        raise BltError(f"expected {expected}, found the end of the file", line=lineno)
    assert header is not None
    strings = _names(numbered, header, lineno)
    return _profile(header, strings, group(ballots, header.ncand))


def _grouped_block(
    lines: list[str], start: int, ncand: int, reading: Reading
) -> tuple[list[tuple[Ranking, Any]], int] | None:
    """The ballot lines from ``start`` to a bare ``0`` line, grouped as text first.

    Identical lines are counted by ``Counter`` (hashing in C) and only the distinct
    ones are parsed, each weight multiplied by how often its line occurs.  Returns
    the ballots and the index after the ``0`` line, or ``None`` when the block is
    not plain (no bare ``0`` line, or any error): the caller then reads line by
    line, which reports the error with its line number.
    """
    try:
        end = lines.index("0", start)
    except ValueError:
        return None
    totals: dict[Ranking, Any] = {}
    try:
        for text, times in Counter(lines[start:end]).items():
            content = _content(text)
            if not content:
                continue  # a blank or comment line
            ballot = _ballot_line(content, 0, ncand, reading)
            if ballot is None:
                return None  # an earlier terminator ("0 ")
            ranking = tuple(dict.fromkeys(ballot[0]))  # a repeated preference: its first place
            totals[ranking] = totals.get(ranking, 0) + ballot[1] * times
    except BltError:
        return None
    return list(totals.items()), end + 1


# -- the vectorised reader of plain ballot blocks ------------------------------------

FAST_FROM = 1 << 16  # characters of ballots from which the numpy reader pays
_PLAIN_BYTES = b"0123456789 \t\r\n"


def _fast_header(text: str) -> tuple[_Header, int, int] | None:
    """The header and withdrawn lines of the common shape: ``(header, offset of the
    first ballot line, lines before it)``, or ``None`` if they are not plain."""
    pos, lineno = 0, 0
    header: _Header | None = None
    while True:  # the header and the withdrawn line: short plain lines
        nl = text.find("\n", pos)
        if nl < 0:
            return None
        raw = text[pos:nl]
        pos, lineno = nl + 1, lineno + 1
        content = _content(raw)
        if not content:
            continue
        if header is None:
            try:
                header = _header_numbers(content, lineno)
            except BltError:
                return None
            continue
        negatives = _withdrawn_line(content)
        if negatives is None:
            pos -= len(raw) + 1
            lineno -= 1
            break
        try:
            _add_withdrawn(header, negatives, lineno)
        except BltError:
            return None
    if not text[:pos].isascii():
        return None  # byte and character offsets would differ
    return header, pos, lineno


def _numpy() -> Any:
    # The process sets OPENBLAS_NUM_THREADS (ballot/cli.py): the reader uses no BLAS.
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return None
    return np


def _parse_fast(text: str) -> Profile | None:
    """The common shape, fast: plain header lines, then a block of plain ballot lines.

    ``None`` whenever anything is not plain (the line-by-line reader then reads the
    whole file, and reports any error with its line).
    """
    start = _fast_header(text)
    if start is None:
        return None
    header, pos, lineno = start
    if header.ncand > 62:
        return None  # a preference's bit must fit in an int64 (repeats are found by bits)
    np = _numpy()
    if np is None:  # pragma: no cover
        return None
    block = _numpy_block(np, text.encode("utf-8"), pos, header.ncand)
    if block is None:
        return None
    ballots, end, lines_read = block
    return _profile(header, _names_after(text, end, header, lineno + lines_read), ballots)


def _names_after(text: str, end: int, header: _Header, lineno: int) -> list[str]:
    """The names and title from offset ``end`` on (line ``lineno`` ends just before)."""
    rest = text[end:].splitlines()  # the block is ASCII: byte offset = character offset
    return _names(_numbered(rest, 0, lineno), header, lineno)


def _plain_block(raw: bytes, pos: int) -> int | None:
    """The end of the plain ballot lines from byte ``pos`` (the offset of the bare
    ``0`` line that ends them), or ``None`` if there is none or a line is not plain."""
    # The bare 0 line that ends the ballots, searched from the end (the names are
    # short): an earlier one would be a plain line holding only a 0, which both
    # readers refuse (the line reader then reads the file and stops at the first).
    stop = raw.rfind(b"\n0", pos - 1)
    while stop >= pos and raw[stop + 2 : stop + 3] != b"\n" and raw[stop + 2 : stop + 4] != b"\r\n":
        stop = raw.rfind(b"\n0", pos - 1, stop + 1)
    if stop < pos:
        return None
    block_end = stop + 1  # the block's lines, each with its newline
    # Plain: the whole file's non-plain bytes are all outside the block (no copy of it).
    outside = len(raw[:pos].translate(None, _PLAIN_BYTES))
    outside += len(raw[block_end:].translate(None, _PLAIN_BYTES))
    if len(raw.translate(None, _PLAIN_BYTES)) != outside:
        return None  # a comment, an id, a mark, a fraction: the line reader
    if raw.find(b"\r", pos, block_end) >= 0 and raw.count(b"\r", pos, block_end) != raw.count(
        b"\r\n", pos, block_end
    ):
        return None  # a lone CR ends a line too (old Mac files): the line reader
    return block_end


def _numpy_block(
    np: Any, raw: bytes, pos: int, ncand: int
) -> tuple[tuple[tuple[Ranking, int], ...], int, int] | None:
    """The plain ballot lines of ``raw`` from byte ``pos`` to the bare ``0`` line, by numpy.

    Returns the grouped ballots (as :func:`counter.ballots.profile.group` would give them),
    the offset after the ``0`` line and the number of lines read; ``None`` if the
    block is not plain.  Each pass is over bytes, tokens or lines, never per token
    in Python.
    """
    block_end = _plain_block(raw, pos)
    if block_end is None:
        return None
    data = np.frombuffer(raw, dtype=np.uint8, count=block_end - pos, offset=pos)
    isdigit = (data - np.uint8(48)) < 10
    last_digit = isdigit.copy()
    last_digit[:-1] &= ~isdigit[1:]
    ends = np.flatnonzero(last_digit)  # the last digit of each token
    del last_digit
    if not len(ends):
        return None
    # Token values, one pass per digit place (tokens are short).  ends - k < 0 wraps
    # to the block's last byte, a newline: no digit.
    values = (data[ends] - np.uint8(48)).astype(np.int32)
    at = np.flatnonzero(isdigit[ends - 1])  # tokens of two digits or more
    where = ends[at] - 1
    leading: list[Any] = []  # tokens of two digits or more that start with a 0
    for k in range(1, 10):
        if not len(at):
            break
        if k == 9:
            return None  # a number of ten digits or more
        values[at] += (data[where] - np.uint8(48)).astype(np.int32) * np.int32(10**k)
        going = isdigit[where - 1]
        leading.append(at[~going & (data[where] == 48)])
        longer = np.flatnonzero(going)
        at, where = at[longer], where[longer] - 1
    del isdigit
    # Lines: how many tokens each holds; blank lines carry no ballot.
    newlines = np.flatnonzero(data == 10)
    upto = np.searchsorted(ends, newlines)
    per_line = np.diff(upto, prepend=0)
    used = np.flatnonzero(per_line)
    per_line = per_line[used]
    first = (upto[used] - per_line).astype(np.int64)
    lead = np.concatenate(leading) if leading else ends[:0]
    if len(lead) and not np.isin(lead, first).all():
        return None  # a preference with a leading 0 ("05", "00"): the line reader
    weights = values[first]
    last = values[first + per_line - 1]
    if np.any(last[per_line == 1] == 0):
        return None  # a bare 0 spelled otherwise (" 0"): an earlier end of the ballots
    n_prefs = per_line - 1 - ((per_line > 1) & (last == 0))
    width = int(n_prefs.max())
    base = ncand + 1
    if base**width >= 1 << 62:
        return None
    # Each ranking as one integer: its preferences as digits in base ncand + 1,
    # padded with zeros to ``width`` places, so the integers sort as the rankings.
    # Lines go longest first, so the lines still holding a j-th preference are a
    # prefix: Horner's rule on that prefix, then the padding places.  ``seen``
    # holds each line's candidates as bits: a repeat shows in its count.
    by_length = np.argsort((width - n_prefs).astype(np.uint8), kind="stable")  # radix sort
    n_prefs, first, weights = n_prefs[by_length], first[by_length], weights[by_length]
    longer_than = np.searchsorted(-n_prefs, -np.arange(width), side="left").tolist()
    keys = np.zeros(len(used), dtype=np.int64)
    seen = np.zeros(len(used), dtype=np.int64)
    highest = 0
    for j in range(width):
        m = longer_than[j]  # the lines with more than j preferences
        column = values[first[:m] + (1 + j)].astype(np.int64)
        highest = max(highest, int(column.max()))
        if highest > ncand:
            return None  # not a candidate: the line reader says where
        seen[:m] |= np.left_shift(np.int64(1), column)
        head = keys[:m]
        head *= base
        head += column
    keys *= (base ** np.arange(width + 1, dtype=np.int64))[width - n_prefs]
    if np.any(seen & 1) or not np.array_equal(np.bitwise_count(seen), n_prefs):
        return None  # a 0 inside a line, or a repeated preference: the line reader
    if int(weights.min()) == 1 == int(weights.max()):
        sorted_keys = np.sort(keys)
        starts = np.flatnonzero(np.diff(sorted_keys, prepend=np.int64(-1)))
        sums = np.diff(starts, append=len(sorted_keys))
    else:
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.diff(sorted_keys, prepend=np.int64(-1)))
        sums = np.add.reduceat(weights[order].astype(np.int64), starts)
    distinct = sorted_keys[starts]
    keep = sums > 0
    distinct, sums = distinct[keep], sums[keep]
    # Back to rankings: the digits of each distinct key, as bytes (numpy drops the
    # padding zeros), shifted to 0-based indices, then tuples.
    if width:
        digits = np.empty((len(distinct), width), dtype=np.uint8)
        rest = distinct.copy()
        for j in range(width - 1, -1, -1):
            rest, digit = np.divmod(rest, base)
            digits[:, j] = digit
        rows = digits.view(f"S{width}").ravel().tolist()
    else:
        rows = [b""] * len(distinct)
    rankings = map(tuple, map(bytes.translate, rows, repeat(_MINUS_ONE)))
    ballots = tuple(zip(rankings, sums.tolist(), strict=True))
    end = raw.index(b"\n", block_end) + 1
    return ballots, end, len(newlines) + 1


_MINUS_ONE = bytes([0, *range(255)])  # bytes.translate table: 1-based ids to 0-based


# -- packed: the papers as arrays, never as tuples --------------------------------------


def parse_packed(
    text: str, reading: Reading = PLAIN, *, data: bytes | None = None
) -> PackedProfile | None:
    """The common shape (plain header lines, then plain ballot lines: preferences of
    one or two digits, weights of up to ten) read into arrays for
    :func:`counter.rules.packed.count_packed`; ``None`` for anything else (then
    :func:`parse`).  ``data``: the UTF-8 bytes of ``text``, if at hand.

    The packed profile's ``unpack`` is :func:`parse` of the same text, so whatever
    needs the tuples (another rule, the default lot seed) gets exactly them.
    """
    text = text.removeprefix("\ufeff")
    raw = text.encode("utf-8") if data is None else data.removeprefix(b"\xef\xbb\xbf")
    start = _fast_header(text)
    if start is None or start[0].ncand > 254:
        return None
    header, pos, lineno = start
    np = _numpy()
    if np is None:  # pragma: no cover
        return None
    from counter.rules.packed import PackedProfile

    block = _packed_block(np, raw, pos, header.ncand)
    if block is None:
        return None
    ballots, end, lines_read = block
    shape = _profile(header, _names_after(text, end, header, lineno + lines_read), ())
    return PackedProfile(
        candidates=shape.candidates,
        ballots=ballots,
        seats=shape.seats,
        title=shape.title,
        unpack=lambda: parse(text, reading),
    )


_SLICE = 1 << 20  # bytes of ballot lines read at a time by the packed reader


def _slice_papers(np: Any, data: Any, ncand: int) -> tuple[Any, Any, Any, int] | None:
    """The papers of whole lines ``data`` (from a newline on, to just before the next):
    ``(prefs, starts, weights, newlines)`` as in :class:`PackedBallots`, and how many
    newlines ``data`` holds; ``None`` if the lines are not the packed reader's shape."""
    digit = data - np.uint8(48)  # a digit's value; any other byte wraps to 10 or more
    isdigit = digit < 10
    # Byte by byte: at a token's last digit, the value of its last two digits (tens
    # from the byte before); at a newline 255.  Then one gather at those places.
    # (Plain ufuncs only: ``where`` and masked assignment are ten times slower here.)
    newline = data == 10
    number = isdigit[:-1] * np.uint8(10)
    number *= digit[:-1]
    number += digit[1:]
    number |= newline[1:].view(np.uint8) * np.uint8(255)  # number[i]: byte i + 1
    mark = isdigit[1:] & ~np.append(isdigit[2:], False)  # the last digit of each token
    long_ends = np.flatnonzero(isdigit[2:] & isdigit[1:-1] & isdigit[:-2] & mark[1:]) + 2
    mark |= newline[1:]
    at = np.flatnonzero(mark)
    # A token of two digits that starts with a 0 ("05", "00"): the line reader refuses
    # it as a preference where it is too long or 0; a weight may be one (see below).
    leading = np.flatnonzero((data.take(at) == 48) & isdigit.take(at + 1) & ~isdigit.take(at - 1))
    # Each token and newline in order; data[0] is a newline, and one more after the
    # last line (the next slice's first byte, or an empty line at the block's end).
    value = np.empty(len(at) + 2, dtype=np.uint8)
    value[0] = value[-1] = 255
    number.take(at, out=value[1:-1])
    newlines = np.flatnonzero(value == 255)
    tokens = np.diff(newlines) - 1  # on each line
    used = np.flatnonzero(tokens)  # blank lines carry no ballot
    weight_at = newlines[used] + 1
    weights = value[weight_at].astype(np.int64)
    if len(leading) and not np.isin(leading + 1, weight_at).all():
        return None  # a preference with a leading 0: the line reader says what it is
    if len(long_ends):
        # Numbers of three digits or more, whole, one digit place at a time; only a
        # weight may be one here (else the other readers).
        whole = digit[long_ends].astype(np.int64)
        place, reach = long_ends - 1, np.arange(len(long_ends))
        for k in range(1, 10):
            whole[reach] += digit[place].astype(np.int64) * 10**k
            going = isdigit[place - 1]
            reach, place = reach[going], place[going] - 1
            if not len(reach):
                break
        else:
            return None  # eleven digits or more: the other readers
        where = np.searchsorted(at, long_ends - 1) + 1  # their places among the tokens
        line = np.searchsorted(weight_at, where)
        if np.any(line >= len(weight_at)) or np.any(
            weight_at[np.minimum(line, len(used) - 1)] != where
        ):
            return None  # a preference of three digits: the other readers
        weights[line] = whole
        value[where] = 1  # not a 0: a weight's place ends a paper below anyway
    last = value[newlines[used + 1] - 1]
    if np.any(last[tokens[used] == 1] == 0):
        return None  # a bare 0 spelled otherwise (" 0"): an earlier end of the ballots
    # Preferences 1..ncand become 0-based indices (value - 1); a 0 becomes 255, a
    # newline 254, and so does each weight's place: both end a paper.
    prefs = value
    prefs -= np.uint8(1)
    prefs[weight_at] = 254
    if np.any((prefs[:-1] == 255) & (prefs[1:] != 254)):
        return None  # a 0 inside a line: the line reader says where
    if np.any((prefs >= ncand) & (prefs < 254)):
        return None  # not a candidate: the line reader says where
    np.minimum(prefs, np.uint8(ncand), out=prefs)  # every end of a paper: ncand
    return prefs, weight_at + 1, weights, len(newlines) - 1


def _packed_block(
    np: Any, raw: bytes, pos: int, ncand: int
) -> tuple[PackedBallots, int, int] | None:
    """The plain ballot lines of ``raw`` from byte ``pos`` as :class:`PackedBallots`.

    A few byte-wide passes find each token's last digit and each newline, and one
    gather reads their values (two digits; a longer number, which only a weight may
    be here, is read apart).  The papers' preferences stay where the lines put
    them, each paper ending at its terminating ``0`` or its newline; weights'
    places read as ends too.  A preference repeated on a line needs no care: a
    paper reaches its second mention only once that candidate has been elected or
    excluded, and then passes it.  The lines are read in slices of about
    :data:`_SLICE` bytes, each from a newline to the next slice's one, so that the
    passes stay in cache and memory stays small.  Returns the ballots, the offset
    after the ``0`` line and the lines read.
    """
    from counter.rules.packed import PackedBallots

    block_end = _plain_block(raw, pos)
    if block_end is None:
        return None
    parts: list[tuple[Any, Any, Any, int]] = []
    start, offset, lines = pos - 1, 0, 0  # from the newline before the block
    while start < block_end:
        stop = raw.find(b"\n", min(start + _SLICE, block_end))
        stop = block_end if stop < 0 or stop >= block_end else stop
        part = _slice_papers(np, np.frombuffer(raw, np.uint8, stop - start, start), ncand)
        if part is None:
            return None
        prefs, starts, weights, newlines = part
        starts += offset
        parts.append((prefs, starts, weights, newlines))
        offset += len(prefs)
        lines += newlines
        start = stop + (stop == block_end)
    if not sum(len(p[1]) for p in parts):
        return None
    ballots = PackedBallots(
        prefs=np.concatenate([p[0] for p in parts]),
        starts=np.concatenate([p[1] for p in parts]),
        weights=np.concatenate([p[2] for p in parts]),
    )
    end = raw.index(b"\n", block_end) + 1
    return ballots, end, lines


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'


def dump(profile: Profile, seats: int | None = None) -> str:
    """Write a profile as BLT: grouped ballots, withdrawn on their own line, names quoted.

    A quote inside a name or the title is doubled (``""``), as CSV and most
    counting software write it.
    """
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
