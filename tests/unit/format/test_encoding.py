"""ledger.format.encoding: one accepted spelling of each key, signature, root and hash."""

from __future__ import annotations

import base64
import binascii
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import DecodeError
from ledger.format.encoding import b64_strict, hex_strict

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


def _padding_variants(text: str) -> list[str]:
    """The other spellings of ``text`` that differ only in the padding bits of its last
    data character (what a lenient decoder reads as the same bytes)."""
    data = text.rstrip("=")
    unused = {1: 2, 2: 4}.get(text.count("="), 0)  # "=": 2 unused bits, "==": 4
    last = ALPHABET.index(data[-1])
    return [data[:-1] + ALPHABET[last ^ bits] + text[len(data) :] for bits in range(1, 1 << unused)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100))
def test_canonical_base64_round_trips(raw: bytes) -> None:
    """The text base64.b64encode writes decodes to the same bytes, at the right length."""
    text = base64.b64encode(raw).decode()
    assert b64_strict(text) == raw
    assert b64_strict(text, len(raw)) == raw


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=100).filter(lambda b: len(b) % 3))
def test_non_zero_padding_bits_are_refused(raw: bytes) -> None:
    """Every spelling that differs only in the padding bits (which b64decode(validate=True)
    takes for the same bytes) is refused."""
    variants = _padding_variants(base64.b64encode(raw).decode())
    assert variants
    for text in variants:
        assert base64.b64decode(text, validate=True) == raw  # the lenient reading
        with pytest.raises(DecodeError):
            b64_strict(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=ALPHABET + "=-_ \n\t\u00e9", max_size=24))
def test_only_the_canonical_spelling_is_accepted(text: str) -> None:
    """Any text is either refused or exactly the encoding of the bytes it decodes to."""
    try:
        raw = b64_strict(text)
    except DecodeError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return  # not base64 at all
        assert base64.b64encode(raw).decode() != text  # refused: not the canonical spelling
        return
    assert base64.b64encode(raw).decode() == text


@pytest.mark.parametrize(
    "text",
    [
        "AAECAw",  # missing padding
        "AAECAw===",  # too much padding
        "AAEC Aw==",  # white space
        "AAECAw==\n",  # a trailing newline
        "AAEC-w==",  # base64url alphabet
        "AA=CAw==",  # padding inside
    ],
)
def test_malformed_base64_is_refused(text: str) -> None:
    """Missing or extra padding, white space, newlines and the URL alphabet are refused."""
    with pytest.raises(DecodeError):
        b64_strict(text)


def test_base64_length_and_type_are_checked() -> None:
    """A fixed-length value of any other length, or a non-string, is refused."""
    assert b64_strict(base64.b64encode(bytes(32)).decode(), 32) == bytes(32)
    with pytest.raises(DecodeError, match="not 32 bytes"):
        b64_strict(base64.b64encode(bytes(31)).decode(), 32)
    with pytest.raises(DecodeError):
        b64_strict(b"AAAA")
    with pytest.raises(DecodeError):
        b64_strict("AAAA\u00e9")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_hex_is_lower_case_only(raw: bytes) -> None:
    """Lower-case hex round-trips; upper case and white space (bytes.fromhex takes both) do
    not."""
    text = raw.hex()
    assert hex_strict(text, len(raw)) == raw
    if any(c in "abcdef" for c in text):
        with pytest.raises(DecodeError):
            hex_strict(text.upper())
    if raw:
        with pytest.raises(DecodeError):
            hex_strict(text[:2] + " " + text[2:])


@pytest.mark.parametrize("text", ["0", "0g", "00\n", " 00", "０", 12, None])
def test_malformed_hex_is_refused(text: object) -> None:
    """Odd lengths, non-hex digits, newlines, spaces, non-ASCII digits and non-strings fail."""
    with pytest.raises(DecodeError):
        hex_strict(text)


def test_decode_error_is_a_value_error() -> None:
    """Callers that catch ValueError from a decoder still catch the strict one's errors."""
    with pytest.raises(ValueError, match="lower-case hex"):
        hex_strict("zz", 1)
