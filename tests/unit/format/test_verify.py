"""The fast hash verifier's pure core: entry lines, spans, and joining them at any cut."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError
from ledger.format import merkle
from ledger.format.chain import GENESIS, chain_next
from ledger.format.export import ExportEntry, ExportError, entry_line, parse_lines
from ledger.format.verify import VerifyError, _parsed_entry, check_lines, join

BODIES = st.one_of(
    st.builds(
        lambda k, v: f'{{"k":"{k}","v":{v}}}'.encode(), st.text("abc", max_size=5), st.integers()
    ),
    st.text(max_size=40).map(str.encode),  # quotes, backslashes, control and non-ASCII
)


def _log(bodies: list[bytes]) -> tuple[list[bytes], merkle.MemoryTree]:
    """Export lines (no newline) for ``bodies``, and the tree of their leaves."""
    tree = merkle.MemoryTree()
    chain = GENESIS
    lines = []
    for i, body in enumerate(bodies):
        leaf = merkle.leaf_hash(body)
        chain = chain_next(chain, leaf)
        tree.append(leaf)
        lines.append(entry_line(i, body, leaf, chain).rstrip(b"\n"))
    return lines, tree


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**9), BODIES)
def test_an_entry_line_gives_back_the_exact_entry_bytes(index: int, body: bytes) -> None:
    """Sliced (plain text) or parsed (anything escaped), the entry's bytes come back exact:
    the leaf hash of what was read is the leaf hash of ``body``, and the chain value is read."""
    leaf, chain = merkle.leaf_hash(body), bytes(range(32))
    line = entry_line(index, body, leaf, chain).rstrip(b"\n")
    span = check_lines([line], index)
    assert (span.first_leaf, span.first_chain, span.size) == (leaf, chain, 1)
    assert _parsed_entry(line, index) == (body, leaf.hex().encode(), chain.hex().encode())


@settings(max_examples=150, deadline=None)
@given(st.lists(BODIES, min_size=1, max_size=70), st.data())
def test_spans_cut_anywhere_join_to_every_root(bodies: list[bytes], data: st.DataObject) -> None:
    """Cut the log into spans at arbitrary points: every checkpoint root still verifies."""
    lines, tree = _log(bodies)
    n = len(lines)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=4)) if n > 1 else []))
    sizes = frozenset(range(n + 1))
    roots = {s: tree.root(s) for s in sizes}
    bounds = [0, *cuts, n]
    spans = [check_lines(lines[a:b], a, sizes) for a, b in pairwise(bounds)]
    join(spans, roots, n)


def test_every_kind_of_tampering_is_caught() -> None:
    """A changed entry, hash, chain value, root, a missing, repeated or moved line: refused."""
    bodies = [f'{{"n":{i},"s":"x\\"y"}}'.encode() for i in range(40)]
    lines, tree = _log(bodies)
    sizes = frozenset({7, 16, 33, 40})
    roots = {s: tree.root(s) for s in sizes}

    def run(ls: list[bytes], rs: dict[int, bytes] = roots, cut: int = 19) -> None:
        join([check_lines(ls[:cut], 0, sizes), check_lines(ls[cut:], cut, sizes)], rs, 40)

    run(lines)
    changed = list(lines)
    changed[5] = changed[5].replace(b'\\"n\\":5', b'\\"n\\":6')
    with pytest.raises(VerifyError, match="leaf hash differs"):
        run(changed)
    for k in (3, 19, 20):  # a forged chain value: inside a span and at a cut
        forged = list(lines)
        forged[k] = forged[k][:-10] + b"000000" + forged[k][-4:]
        with pytest.raises(VerifyError, match="chain value differs"):
            run(forged)
    with pytest.raises(VerifyError):  # a missing line
        run(lines[:10] + lines[11:])
    with pytest.raises(VerifyError):  # two lines swapped
        run([*lines[:10], lines[11], lines[10], *lines[12:]])
    with pytest.raises(VerifyError, match="checkpoint root differs"):
        run(lines, {**roots, 33: bytes(32)})
    with pytest.raises(VerifyError, match="beyond the log"):
        run(lines, {**roots, 41: bytes(32)})
    with pytest.raises(VerifyError, match="malformed entry line"):
        run([*lines[:12], b'{"kind":"entry","index":12,"entry":"{', *lines[13:]])


def test_a_line_of_another_kind_among_the_entries_is_refused() -> None:
    lines, _ = _log([b"{}", b"[]"])
    with pytest.raises(LedgerError, match="checkpoint line among the entries"):
        check_lines([lines[0], b'{"kind":"checkpoint","size":1,"note":""}'], 0)


def test_a_chain_value_in_upper_case_is_refused_wherever_the_file_is_cut() -> None:
    """An entry line's chain value in upper-case hex is refused, also on the first line of a
    span (read as bytes there), so the verdict does not depend on where the file is cut."""
    lines, tree = _log([f'{{"n":{i}}}'.encode() for i in range(24)])
    roots = {24: tree.root()}

    def run(ls: list[bytes], cut: int) -> None:
        join([check_lines(ls[:cut], 0), check_lines(ls[cut:], cut)], roots, 24)

    for k in (0, 3, 19):
        upper = list(lines)
        chain = upper[k][-66:-2]
        upper[k] = upper[k][:-66] + chain.upper() + upper[k][-2:]
        for cut in (k, 12):
            with pytest.raises(VerifyError, match="chain value"):
                run(upper, cut)


@pytest.mark.parametrize("change", [str.upper, lambda h: h[:-2], lambda h: " " + h[1:]])
def test_export_reader_refuses_other_spellings_of_a_hash(change: Any) -> None:
    """parse_lines (what the audit reads) refuses an entry line whose leaf or chain hash is
    not 64 lower-case hex digits, as the fast verifier does."""
    body = b'{"n":1}'
    leaf = merkle.leaf_hash(body)
    line = json.loads(entry_line(0, body, leaf, chain_next(GENESIS, leaf)))
    read = list(parse_lines([json.dumps(line).encode()]))
    assert [e.leaf_hash for e in read if isinstance(e, ExportEntry)] == [leaf]
    for member in ("leaf_hash", "chain_hash"):
        bad = {**line, member: change(line[member])}
        with pytest.raises(ExportError, match=member):
            list(parse_lines([json.dumps(bad).encode()]))


def test_export_reader_refuses_numbers_written_otherwise() -> None:
    """parse_lines reads a header's and a checkpoint line's `size` and an entry line's `index`
    as JSON integers (§12): a string or a boolean is a malformed line, not a number."""
    body = b'{"n":1}'
    leaf = merkle.leaf_hash(body)
    entry = json.loads(entry_line(0, body, leaf, chain_next(GENESIS, leaf)))
    header = {
        "kind": "header",
        "format": "ballot-ledger-export/v1",
        "election": "e",
        "origin": "o/elections/e",
        "size": 1,
        "keys": {"ledger": [], "counter": []},
    }
    checkpoint = {"kind": "checkpoint", "size": 1, "note": "n"}
    for line, member in ((entry, "index"), (header, "size"), (checkpoint, "size")):
        assert len(list(parse_lines([json.dumps(line).encode()]))) == 1
        for wrong in (str(line[member]), True, 1.0):
            with pytest.raises(ExportError):
                list(parse_lines([json.dumps({**line, member: wrong}).encode()]))


def test_hashes_only_reader_refuses_an_index_written_otherwise() -> None:
    """The hashes-only reader, given an entry line not in the plain form, requires its `index`
    to be the JSON integer it expects (§12): `true` or `1.0` is not entry 1."""
    body = b'{"n":1}'
    leaf = merkle.leaf_hash(body)
    line = json.loads(entry_line(1, body, leaf, chain_next(GENESIS, leaf)))
    assert _parsed_entry(json.dumps(line).encode(), 1)[0] == body
    for wrong in (True, 1.0, "1"):
        with pytest.raises(VerifyError):
            _parsed_entry(json.dumps({**line, "index": wrong}).encode(), 1)
