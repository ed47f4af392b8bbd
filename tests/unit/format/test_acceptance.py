"""Acceptance receipts: batch-signed, blinded and shuffled; strict JSON; any change fails."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ledger.errors import ReceiptError
from ledger.format import merkle
from ledger.format.acceptance import (
    ACCEPTANCE_BATCH_TAG,
    ACCEPTANCE_TAG,
    AcceptanceReceipt,
    CheckpointRef,
    acceptance_message,
    acceptance_texts,
    event_hash,
    sign_acceptances,
    verify_acceptance,
)
from ledger.format.canonical import canonical_bytes
from ledger.format.keys import Keyring, Signer
from ledger.format.receipts import ReceiptSigner, batch_message, human_code
from ledger.http.openapi import bundled

SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(range(32)))
OTHER = Signer(name="ballot-ledger.test/other", seed=bytes(range(1, 33)))
KEYRING = Keyring([SIGNER.verifier])
ORIGIN = "ballot-ledger.test/elections/e1"
CP = CheckpointRef(size=42, root=hashlib.sha256(b"root 42").digest())
TIME = "2026-11-23T05:21:16.123456Z"


def _event(n: int, contest: str = "members") -> dict[str, Any]:
    """An unsealed ballot event with a nonce, as the ledger appends it."""
    nonce = hashlib.sha256(b"nonce %d" % n).hexdigest()
    return {"contest": contest, "selections": [f"c{n % 7:02d}"], "nonce": nonce}


def _batch(k: int, contest: str = "members", first: int = 0) -> list[AcceptanceReceipt]:
    """A signed batch of ``k`` receipts carrying their events."""
    events = [_event(n, contest) for n in range(first, first + k)]
    signed = sign_acceptances(
        SIGNER,
        election="e1",
        origin=ORIGIN,
        checkpoint=CP,
        time=TIME,
        items=[(contest, event_hash(e)) for e in events],
    )
    return [_with(r, event=e) for r, e in zip(signed, events, strict=True)]


def _with(receipt: AcceptanceReceipt, **changes: Any) -> AcceptanceReceipt:
    data = {f: getattr(receipt, f) for f in AcceptanceReceipt.__dataclass_fields__}
    data.update(changes)
    return AcceptanceReceipt(**data)


def _by_position(receipts: list[AcceptanceReceipt]) -> list[AcceptanceReceipt]:
    """The batch in position order: what hypothesis draws from must not depend on the shuffle."""
    return sorted(receipts, key=lambda r: r.batch.position)


def _round_trip(receipt: AcceptanceReceipt) -> AcceptanceReceipt:
    return AcceptanceReceipt.from_json(json.loads(json.dumps(receipt.to_json())))


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=6), inner, max_size=4)
            ),
            max_leaves=12,
        ),
        max_size=6,
    )
)
def test_event_hash_is_sha256_of_the_jcs_of_the_event(event: dict[str, Any]) -> None:
    """event_hash is SHA-256 of the RFC 8785 bytes of the event object alone."""
    assert event_hash(event) == hashlib.sha256(rfc8785.dumps(event)).digest()


def test_every_batch_size_signs_round_trips_and_verifies() -> None:
    """For batch sizes 1..40: one signature over ACCEPTANCE_BATCH_TAG || JCS(root, size), root
    the RFC 9162 root of the leaves SHA-256(0x00 || message) in position order; each receipt's
    path is the inclusion proof of its position; each survives JSON and verifies; receipts come
    back in the order of the items, with the code of their event hash."""
    for k in range(1, 41):
        receipts = _batch(k)
        assert [r.event_hash for r in receipts] == [event_hash(_event(n)) for n in range(k)]
        assert len({r.signature for r in receipts}) == 1
        assert sorted(r.batch.position for r in receipts) == list(range(k))
        by_position = sorted(receipts, key=lambda r: r.batch.position)
        tree = merkle.MemoryTree()
        tree.extend(merkle.leaf_hash(r.message()) for r in by_position)
        SIGNER.verifier.verify(
            batch_message(root=tree.root(), size=k, tag=ACCEPTANCE_BATCH_TAG),
            receipts[0].signature,
        )
        for r in receipts:
            assert r.batch.size == k
            assert list(r.batch.path) == tree.inclusion_proof(r.batch.position)
            assert r.code == human_code(r.event_hash)
            assert r.to_json()["stage"] == "accepted"
            assert r.to_json()["promise"] == "before poll_closed"
            again = _round_trip(r)
            assert again == r
            verify_acceptance(again, KEYRING)


def test_signing_takes_a_signer_or_a_receipt_signer_and_refuses_repeats() -> None:
    """A parsed ReceiptSigner signs as the Signer does; an empty batch signs nothing; an event
    hash twice in one batch is refused; the time defaults to now, one for the whole batch."""
    items = [("members", event_hash(_event(n))) for n in range(5)]
    for signer in (SIGNER, ReceiptSigner(SIGNER)):
        receipts = sign_acceptances(
            signer, election="e1", origin=ORIGIN, checkpoint=CP, items=items
        )
        assert len({r.time for r in receipts}) == 1
        for r in receipts:
            verify_acceptance(r, KEYRING)
        assert sign_acceptances(signer, election="e1", origin=ORIGIN, checkpoint=CP, items=[]) == []
    with pytest.raises(ValueError, match="twice"):
        sign_acceptances(
            SIGNER, election="e1", origin=ORIGIN, checkpoint=CP, items=[*items, items[2]]
        )


@settings(max_examples=60, deadline=None)
@given(
    election=st.text(min_size=1, max_size=10),
    origin=st.text(min_size=1, max_size=20),
    contest=st.text(min_size=1, max_size=10),
    size=st.integers(0, 2**53 - 1),
)
def test_message_is_the_tag_and_jcs_of_its_fields(
    election: str, origin: str, contest: str, size: int
) -> None:
    """The directly written message is byte for byte the tag and RFC 8785 of the signed fields,
    whatever the strings hold."""
    blind, hashed, root = secrets.token_bytes(32), secrets.token_bytes(32), secrets.token_bytes(32)
    fields = {
        "blind": blind.hex(),
        "checkpoint": {"root": root.hex(), "size": size},
        "contest": contest,
        "election": election,
        "event_hash": hashed.hex(),
        "origin": origin,
        "promise": "before poll_closed",
        "time": TIME,
    }
    message = acceptance_message(
        election=election,
        origin=origin,
        contest=contest,
        event_hash=hashed,
        time=TIME,
        checkpoint=CheckpointRef(size=size, root=root),
        blind=blind,
    )
    assert message == ACCEPTANCE_TAG + rfc8785.dumps(fields)
    assert ACCEPTANCE_TAG == b"ballot-ledger/acceptance/v1\n"
    assert batch_message(root=root, size=3, tag=ACCEPTANCE_BATCH_TAG) == (
        b"ballot-ledger/acceptance-batch/v1\n" + canonical_bytes({"root": root.hex(), "size": 3})
    )


def _flip_hex(text: str, draw: st.DataObject) -> str:
    raw = bytearray(bytes.fromhex(text))
    raw[draw.draw(st.integers(0, len(raw) - 1))] ^= 1 << draw.draw(st.integers(0, 7))
    return raw.hex()


def _tamper(data: dict[str, Any], field: str, draw: st.DataObject) -> None:
    """Change ``field`` of an acceptance receipt's JSON to another well-formed value."""
    batch, checkpoint = data["batch"], data["checkpoint"]
    if field in ("event_hash", "blind"):
        data[field] = _flip_hex(data[field], draw)
        data["code"] = human_code(bytes.fromhex(data["event_hash"]))
    elif field in ("election", "origin", "contest"):
        data[field] = data[field] + draw.draw(st.sampled_from(["x", " ", "\u00e9", "2"]))
    elif field == "time":
        data["time"] = data["time"].replace("16.", "17.")
    elif field == "checkpoint.size":
        checkpoint["size"] = draw.draw(st.integers(0, 2**53 - 1).filter(lambda n: n != 42))
    elif field == "checkpoint.root":
        checkpoint["root"] = _flip_hex(checkpoint["root"], draw)
    elif field == "position":
        batch["position"] = draw.draw(st.integers(0, 80).filter(lambda p: p != batch["position"]))
        batch["size"] = max(batch["size"], batch["position"] + 1)
    elif field == "size":
        batch["size"] = draw.draw(st.integers(1, 80).filter(lambda k: k != batch["size"]))
        batch["position"] = min(batch["position"], batch["size"] - 1)
    elif field == "path":
        n = draw.draw(st.integers(0, len(batch["path"]) - 1))
        batch["path"][n] = _flip_hex(batch["path"][n], draw)
    elif field == "event":
        data["event"] = {**data["event"], "selections": ["zz"]}
    else:
        sig = bytearray(base64.b64decode(data["signature"]))
        sig[draw.draw(st.integers(0, 63))] ^= 1 << draw.draw(st.integers(0, 7))
        data["signature"] = base64.b64encode(bytes(sig)).decode()


FIELDS = [
    "election",
    "origin",
    "contest",
    "event_hash",
    "time",
    "checkpoint.size",
    "checkpoint.root",
    "blind",
    "position",
    "size",
    "path",
    "signature",
    "event",
]


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 40), data=st.data())
def test_receipt_with_any_field_changed_fails(field: str, k: int, data: st.DataObject) -> None:
    """Changing any signed field, the batch position, size or a path element, a bit of the
    signature, or the event it carries, makes the receipt fail to verify."""
    receipt = data.draw(st.sampled_from(_by_position(_batch(k))))
    changed = receipt.to_json()
    _tamper(changed, field, data)
    with pytest.raises(ReceiptError):
        verify_acceptance(AcceptanceReceipt.from_json(changed), KEYRING)


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 9), data=st.data())
def test_any_changed_byte_of_the_text_fails(k: int, data: st.DataObject) -> None:
    """Any byte of a receipt's compact JSON text, changed to any other byte, makes it fail:
    not JSON, malformed, or not verifying (nothing in it is left unchecked)."""
    receipt = data.draw(st.sampled_from(_by_position(_batch(k))))
    text = bytearray(json.dumps(receipt.to_json(), separators=(",", ":")).encode())
    at = data.draw(st.integers(0, len(text) - 1))
    text[at] = data.draw(st.integers(0, 255).filter(lambda b: b != text[at]))
    with pytest.raises((ValueError, ReceiptError)):
        verify_acceptance(AcceptanceReceipt.from_json(json.loads(bytes(text))), KEYRING)


def test_unknown_key_and_another_batchs_signature_fail() -> None:
    """A key not in the keyring fails; a receipt under another batch's signature fails."""
    mine, theirs = _batch(5), _batch(5, first=5)
    with pytest.raises(ReceiptError, match="unknown key"):
        verify_acceptance(mine[0], Keyring([OTHER.verifier]))
    moved = _with(mine[0], signature=theirs[0].signature)
    with pytest.raises(ReceiptError, match="does not verify"):
        verify_acceptance(moved, KEYRING)


def _good() -> dict[str, Any]:
    receipt = _batch(3)[1]
    return _with(receipt, salt=bytes(range(32))).to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("blind"), "wrong members"),
        (lambda d: d.pop("code"), "wrong members"),
        (lambda d: d.update(index=3), "wrong members"),
        (lambda d: d.update(stage="released"), "stage"),
        (lambda d: d.update(promise="before the close"), "promise"),
        (lambda d: d.update(time="2026-11-23T05:21:16.123Z"), "time"),
        (lambda d: d.update(time="2026-11-23T05:21:16.123456+00:00"), "time"),
        (lambda d: d.update(election=""), "election"),
        (lambda d: d.update(contest=7), "contest"),
        (lambda d: d.update(event_hash=d["event_hash"].upper()), "event_hash"),
        (lambda d: d.update(blind=d["blind"][:-2]), "blind"),
        (lambda d: d.update(key_id=d["key_id"].upper()), "key_id"),
        (lambda d: d.update(signature=d["signature"].rstrip("=")), "signature"),
        (lambda d: d.update(salt="00" * 31), "salt"),
        (lambda d: d.update(event=["members"]), "event"),
        (lambda d: d.update(code="AAAA-AAAA-AAAA-AAAA"), "code"),
        (lambda d: d.update(checkpoint={"size": 1}), "checkpoint"),
        (lambda d: d.update(checkpoint={"size": -1, "root": "00" * 32}), "checkpoint size"),
        (lambda d: d.update(checkpoint={"size": 1.0, "root": "00" * 32}), "checkpoint size"),
        (lambda d: d.update(checkpoint={"size": 1, "root": "AB" * 32}), "checkpoint root"),
        (lambda d: d["batch"].update(position=3), "outside the batch"),
        (lambda d: d.update(batch=None), "batch"),
    ],
)
def test_malformed_receipts_are_refused(change: Any, message: str) -> None:
    """Missing or extra members, another stage or promise, another time format, other
    spellings of a hash, key id, signature or salt, a bad code, checkpoint or batch: refused."""
    data = _good()
    AcceptanceReceipt.from_json(json.loads(json.dumps(data)))
    change(data)
    with pytest.raises(ReceiptError, match=message):
        AcceptanceReceipt.from_json(data)
    with pytest.raises(ReceiptError, match="JSON object"):
        AcceptanceReceipt.from_json([data])


def _candidate_leaves(
    events: list[dict[str, Any]], blinds: list[bytes], checkpoints: list[CheckpointRef]
) -> set[bytes]:
    """Every leaf an observer can build from released events, the batch's time and origin,
    each checkpoint and each guess at a blind."""
    out = set()
    for e in events:
        for cp in checkpoints:
            for blind in blinds:
                out.add(
                    merkle.leaf_hash(
                        acceptance_message(
                            election="e1",
                            origin=ORIGIN,
                            contest=e["contest"],
                            event_hash=event_hash(e),
                            time=TIME,
                            checkpoint=cp,
                            blind=blind,
                        )
                    )
                )
    return out


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 40), data=st.data())
def test_a_published_receipt_reveals_no_other_leaf_of_its_batch(
    k: int, data: st.DataObject
) -> None:
    """Given one published receipt and every released event, no other receipt leaf of its
    batch, and no sibling hash on its path, is any SHA-256(0x00 || message) built from a
    released event with the batch time, any checkpoint and any blind but the holders' own
    (none, zeros, the published receipt's); with the holders' blinds every leaf is rebuilt,
    so the blind is what hides them."""
    receipts = _batch(k)
    events = [r.event for r in receipts if r.event is not None]
    published = data.draw(st.sampled_from(receipts))
    others = {merkle.leaf_hash(r.message()) for r in receipts if r is not published}
    checkpoints = [
        CP,
        CheckpointRef(size=0, root=merkle.EMPTY_ROOT),
        CheckpointRef(size=41, root=CP.root),
    ]
    guesses = [bytes(32), published.blind, b""]
    found = _candidate_leaves(events, guesses, checkpoints)
    assert not found & others
    assert not found & set(published.batch.path)
    holders = _candidate_leaves(events, [r.blind for r in receipts], [CP])
    assert others <= holders


def test_batch_order_is_not_the_order_of_items_and_blinds_are_fresh() -> None:
    """Positions are a random permutation of the items (not their order, different from one
    signing to the next) and the same items signed twice get other blinds and another root."""
    first, second = _batch(64), _batch(64)
    positions = [r.batch.position for r in first]
    assert positions != list(range(64))
    assert positions != [r.batch.position for r in second]
    assert {r.blind for r in first}.isdisjoint(r.blind for r in second)
    assert len({r.blind for r in first}) == 64
    assert first[0].signature != second[0].signature


@settings(max_examples=40, deadline=None)
@given(
    election=st.text(min_size=1, max_size=8),
    contests=st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=30),
    sealed=st.booleans(),
)
def test_acceptance_texts_are_json_dumps_of_the_receipts(
    election: str, contests: list[str], sealed: bool
) -> None:
    """The service writes each receipt's JSON directly; it must be ``json.dumps(to_json())``;
    with the events' canonical texts (and salts) attached at writing, the same JSON value as
    the receipts with their event (and salt)."""
    events = [_event(n, c) for n, c in enumerate(contests)]
    signed = sign_acceptances(
        SIGNER,
        election=election,
        origin=ORIGIN,
        checkpoint=CP,
        time=TIME,
        items=[(c, event_hash(e)) for c, e in zip(contests, events, strict=True)],
    )
    salt = bytes(range(32)) if sealed else None
    receipts = [_with(r, event=e, salt=salt) for r, e in zip(signed, events, strict=True)]
    assert acceptance_texts(receipts) == [json.dumps(r.to_json()) for r in receipts]
    assert acceptance_texts(signed) == [json.dumps(r.to_json()) for r in signed]
    canonical = [canonical_bytes(e).decode() for e in events]
    spliced = acceptance_texts(receipts, canonical)
    assert [json.loads(t) for t in spliced] == [r.to_json() for r in receipts]
    attached = acceptance_texts(signed, canonical, [salt] * len(signed))
    assert [json.loads(t) for t in attached] == [r.to_json() for r in receipts]
    with pytest.raises(ValueError, match="one event text"):
        acceptance_texts(signed, canonical[1:])


def _documented(name: str) -> Draft202012Validator:
    """A validator for the component ``name`` of the served OpenAPI document."""
    doc = bundled()
    return Draft202012Validator({**doc, "$ref": f"#/components/schemas/{name}"})


def test_the_openapi_document_describes_acceptance_receipts() -> None:
    """schemas/openapi.json's AcceptanceReceipt accepts what the code writes (with and without
    its unsigned extras) and refuses a receipt without its blind or with another stage."""
    validator = _documented("AcceptanceReceipt")
    receipt = _batch(3)[0]
    assert validator.is_valid(receipt.to_json())
    assert validator.is_valid(_with(receipt, event=None).to_json())
    assert validator.is_valid(_with(receipt, salt=bytes(32)).to_json())
    data = receipt.to_json()
    del data["blind"]
    assert not validator.is_valid(data)
    assert not validator.is_valid({**receipt.to_json(), "stage": "released"})
    lookup = _documented("ReceiptStatus")
    assert lookup.is_valid({"status": "accepted"})
    released = {"status": "released", "index": 4, "entry": "{}", "leaf_hash": "00" * 32}
    assert lookup.is_valid({**released, "chain_hash": "11" * 32, "event_hash": "22" * 32})
    assert not lookup.is_valid(released)
