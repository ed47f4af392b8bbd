"""The acceptance receipts' fast writers (``ledger.format.acceptance``) against their
definitions: the message is byte for byte ``ACCEPTANCE_TAG || JCS(fields)``, the answer's text
byte for byte ``json.dumps`` of the receipt's JSON with its extras."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.format import merkle
from ledger.format.acceptance import (
    ACCEPTANCE_TAG,
    AcceptanceReceipt,
    AcceptanceSigner,
    acceptance_texts,
    event_hash,
    verify_acceptance,
)
from ledger.format.canonical import canonical_bytes
from ledger.format.keys import Keyring, Signer
from ledger.format.receipts import batch_root

SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(range(32)))
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    election=TEXT,
    origin=TEXT,
    contests=st.lists(TEXT, min_size=1, max_size=9),
    size=st.integers(0, 2**40),
    time=TEXT,
)
def test_the_fast_writers_are_their_definitions(
    election: str, origin: str, contests: list[str], size: int, time: str
) -> None:
    """Each signed receipt's leaf (as the signer built it, folded up its path) is the leaf of
    ``ACCEPTANCE_TAG || JCS(fields)``; its text is ``json.dumps`` of its JSON and extras; it
    verifies; positions are a permutation and the blinds all differ."""
    items = [(c, event_hash({"contest": c, "n": n})) for n, c in enumerate(contests)]
    signed = AcceptanceSigner(SIGNER).sign_batch(
        election=election, origin=origin, checkpoint=(size, bytes(32)), time=time, items=items
    )
    extras = [f', "event": {json.dumps({"contest": c, "n": n})}' for n, (c, _) in enumerate(items)]
    texts = acceptance_texts(signed, extras)
    keyring = Keyring([SIGNER.verifier])
    for (contest, ev), r, extra, text in zip(items, signed, extras, texts, strict=True):
        assert (r.contest, r.event_hash) == (contest, ev)
        assert r.message() == ACCEPTANCE_TAG + canonical_bytes(r.fields())
        verify_acceptance(r, keyring)
        assert batch_root(merkle.leaf_hash(r.message()), r.batch)
        expected = {**r.to_json(), **json.loads("{" + extra[2:] + "}")}
        assert text == json.dumps(expected)
        assert AcceptanceReceipt.from_json(json.loads(text)) == r
    assert sorted(r.batch.position for r in signed) == list(range(len(items)))
    assert len({r.blind for r in signed}) == len(items)
