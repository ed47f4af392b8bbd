"""The ``ballot_cast`` events' direct writer (``election.ballot_event``) against its definition:
the canonical bytes of the event object, the sealed commitment as ``election.commitment``
computes it, and the answer's text as ``json.dumps`` writes the object in JCS order."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import election as el
from ledger.format.canonical import canonical_bytes
from ledger.service.casting import ballot_items

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
BYTES = st.binary(min_size=32, max_size=32)


@settings(max_examples=200, deadline=None)
@given(election=TEXT, contest=TEXT, selections=st.lists(TEXT, max_size=8), salt=BYTES, nonce=BYTES)
def test_the_event_writer_is_its_definition(
    election: str, contest: str, selections: list[str], salt: bytes, nonce: bytes
) -> None:
    """Sealed and unsealed, the written bytes are ``canonical_bytes`` of the event object and
    the written text is ``json.dumps`` of it with its members in JCS order."""
    sealed = {"contest": contest, "commitment": el.commitment(election, contest, selections, salt)}
    unsealed = {"contest": contest, "selections": list(selections), "nonce": nonce.hex()}
    for event, written in (
        (sealed, el.ballot_event(election, contest, selections, salt=salt)),
        (unsealed, el.ballot_event(election, contest, selections, nonce=nonce)),
    ):
        assert written == (canonical_bytes(event), json.dumps(dict(sorted(event.items()))))


def test_ballot_items_carry_the_event_its_hash_and_the_salt() -> None:
    """Each item of a sealed paper holds the event's canonical bytes, their SHA-256, the salt
    that opens its commitment, and the event's text for the answer."""
    (item,) = ballot_items("e-2026", {"members": ("ann", "bob")}, True)
    contest, body, digest, chosen, salt, text = item
    assert salt is not None
    event = json.loads(body)
    assert event == {
        "contest": "members",
        "commitment": el.commitment("e-2026", "members", ("ann", "bob"), salt),
    }
    assert (contest, chosen, body) == ("members", ("ann", "bob"), canonical_bytes(event))
    assert digest == hashlib.sha256(body).digest()
    assert text == json.dumps(dict(sorted(event.items())))
