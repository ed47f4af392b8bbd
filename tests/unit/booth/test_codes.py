"""Voting codes: entropy, alphabet, grouping, typing leniency, keyed hashes."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from booth.domain import codes

SECRET = bytes(range(32))


def test_codes_have_at_least_80_bits_and_no_look_alikes() -> None:
    """A code is 20 characters of a 30-character alphabet (98 bits) without 0, O, 1, I, L, U."""
    assert codes.BITS >= 80
    assert math.isclose(codes.BITS, 20 * math.log2(30))
    assert not set("0O1ILU") & set(codes.ALPHABET)
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET) == 30


def test_a_new_code_is_five_groups_of_four() -> None:
    """Codes are grouped XXXX-XXXX-XXXX-XXXX-XXXX for reading and typing."""
    made = {codes.new_code() for _ in range(200)}
    assert len(made) == 200
    for code in made:
        assert re.fullmatch(r"([2-9A-HJKMNP-TV-Z]{4}-){4}[2-9A-HJKMNP-TV-Z]{4}", code)


@given(st.sampled_from(["", " ", "-", "  -"]), st.booleans())
def test_case_spaces_and_dashes_do_not_matter(sep: str, lower: bool) -> None:
    """A code typed in lower case, with spaces or without dashes, is the same code."""
    code = codes.new_code()
    raw = code.replace("-", "")
    typed = sep.join(raw[i : i + 4] for i in range(0, 20, 4))
    assert codes.normalise(typed.lower() if lower else typed) == code


def test_impossible_codes_are_refused_before_any_lookup() -> None:
    """A typed code of the wrong length or with a character no code has is not a code."""
    good = codes.new_code()
    assert codes.normalise(good[:-1]) is None
    assert codes.normalise(good + "A") is None
    assert codes.normalise("O" + good[1:]) is None
    assert codes.normalise("\u0661" * 20) is None


def test_the_keyed_hash_depends_on_the_secret_and_the_code() -> None:
    """The stored hash is HMAC-SHA256 under the booth's secret: another secret or code differs."""
    code = codes.new_code()
    h = codes.code_hash(SECRET, code)
    assert len(h) == 32 and code.encode() not in h
    assert h == codes.code_hash(SECRET, code)
    assert h != codes.code_hash(bytes(32), code)
    assert h != codes.code_hash(SECRET, codes.new_code())
