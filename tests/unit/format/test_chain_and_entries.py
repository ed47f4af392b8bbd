"""Canonical encoding, the entry envelope and the hash chain."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import EncodingError, EntryTooLarge
from ledger.format.canonical import MAX_ENTRY_BYTES, canonical_bytes, parse_canonical
from ledger.format.chain import CHAIN_TAG, GENESIS, chain_fold, chain_next
from ledger.format.entry import entry_time, parse_entry, template, template_of, templates_of

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def test_rfc8785_sorts_members_and_strips_space() -> None:
    """Canonical bytes sort members by UTF-16 code units and use no white space."""
    assert (
        canonical_bytes({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    )
    # RFC 8785 §3.2.3 sorts by UTF-16 code units: U+10000 (surrogates D800…) sorts before U+FFFF.
    assert canonical_bytes({"\uffff": 1, "\U00010000": 2}).startswith('{"\U00010000"'.encode())


def test_entry_size_limit() -> None:
    """Entries over 64 KiB are refused with the size in the error."""
    with pytest.raises(EntryTooLarge) as err:
        canonical_bytes({"x": "a" * MAX_ENTRY_BYTES})
    assert err.value.evidence["size"] > MAX_ENTRY_BYTES


def test_non_canonical_bytes_are_refused() -> None:
    """Bytes with extra space or unsorted members are not a valid entry encoding."""
    with pytest.raises(EncodingError):
        parse_canonical(b'{"b":1, "a":2}')
    with pytest.raises(EncodingError):
        parse_canonical(b'{"b":1,"a":2}')
    assert parse_canonical(b'{"a":2,"b":1}') == {"a": 2, "b": 1}


@given(json_values, st.integers(0, 2**40), st.sampled_from(["ballot_cast", "poll_opened"]))
def test_spliced_entry_equals_canonical_envelope(event: Any, index: int, kind: str) -> None:
    """An entry completed by splicing index and time is byte for byte RFC 8785 of the whole."""
    body = {"payload": event}
    time = entry_time()
    data = template("ne-2026", kind, body).render(index, time)
    expected = rfc8785.dumps(
        {"election": "ne-2026", "event": body, "index": index, "time": time, "type": kind, "v": 1}
    )
    assert data == expected
    parsed = parse_entry(data)
    assert (parsed.index, parsed.kind, parsed.event) == (index, kind, body)


def test_chain_definition() -> None:
    """chain_i = SHA-256(tag || chain_{i-1} || leaf_i) from a zero genesis."""
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    expected = GENESIS
    for leaf in leaves:
        expected = hashlib.sha256(CHAIN_TAG + expected + leaf).digest()
    assert chain_fold(leaves) == expected
    assert chain_next(chain_fold(leaves[:2]), leaves[2]) == expected
    assert CHAIN_TAG == b"ballot-ledger/chain/v1\x00" and bytes(32) == GENESIS


def test_chain_commits_to_order() -> None:
    """Swapping two leaves changes the chain head."""
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    assert chain_fold([a, b]) != chain_fold([b, a])


@given(json_values)
def test_fast_canonical_check_agrees_with_rfc8785(value: Any) -> None:
    """The fast canonical check accepts exactly the bytes RFC 8785 produces, and refuses
    the same value written any other way (sorted differently, spaced, escaped)."""
    data = rfc8785.dumps(value)
    assert parse_canonical(data) == value
    import json as _json

    for other in (
        _json.dumps(value).encode(),
        _json.dumps(value, sort_keys=True, separators=(",", ":")).encode(),
        _json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(),
    ):
        if other != data:
            with pytest.raises(EncodingError):
                parse_canonical(other)


def test_fast_path_refuses_non_canonical_numbers() -> None:
    """Numbers JCS would write differently (1e+16, 1.0) are refused."""
    for text in (b'{"a":1e+16}', b'{"a":1.0}', b'{"a":-0}'):
        with pytest.raises(EncodingError):
            parse_canonical(text)


wide_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=16,
)


@given(wide_values)
def test_canonical_bytes_equal_rfc8785_everywhere(value: Any) -> None:
    """canonical_bytes (with its json.dumps fast path) gives exactly the rfc8785 package's
    bytes, or refuses where it refuses: any keys, strings, big integers, floats."""
    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        with pytest.raises(EncodingError):
            canonical_bytes(value, limit=None)
        return
    assert canonical_bytes(value, limit=None) == expected


def _envelope(**changes: Any) -> bytes:
    value: dict[str, Any] = {
        "election": "e",
        "event": {},
        "index": 1,
        "time": "2026-11-23T09:00:00.000Z",
        "type": "poll_opened",
        "v": 1,
    }
    return canonical_bytes({**value, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {"index": True},
        {"index": -1},
        {"v": True},
        {"election": 5},
        {"type": ["poll_opened"]},
        {"time": 5},
        {"time": "2026-11-23T09:00:00Z"},
        {"time": "2026-11-23T09:00:00.000000Z"},
        {"time": "2026-11-23T09:00:00.000+00:00"},
        {"time": "2026-11-23 09:00:00.000Z"},
        {"time": "2026-02-30T09:00:00.000Z"},
        {"time": "2026-11-23T24:00:00.000Z"},
    ],
)
def test_envelope_members_have_the_form_of_section_2(changes: dict[str, Any]) -> None:
    """§2: `index` is an integer from 0 (a boolean is not), `v` the integer 1, `election` and
    `type` strings, and `time` RFC 3339 UTC with milliseconds, a real day and time."""
    assert parse_entry(_envelope()).index == 1
    with pytest.raises(EncodingError):
        parse_entry(_envelope(**changes))


def test_a_rounds_templates_are_each_ballots_template() -> None:
    """``templates_of`` renders every event exactly as ``template_of`` does, and refuses an
    election id that is not plain ASCII as ``template_of`` does."""
    events = [canonical_bytes({"contest": "c", "commitment": f"{n:064x}"}) for n in range(3)]
    one_by_one = [template_of("e-2026", "ballot_cast", e) for e in events]
    together = templates_of("e-2026", "ballot_cast", events)
    assert [t.render(7, "2026-01-01T00:00:00.000Z") for t in together] == [
        t.render(7, "2026-01-01T00:00:00.000Z") for t in one_by_one
    ]
    with pytest.raises(EncodingError):
        templates_of("e 2026", "ballot_cast", events)
