"""Keys, signed-note checkpoints and receipts: sign, verify, and fail on any change."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.errors import CheckpointError, KeyFormatError, ReceiptError, SignatureError
from ledger.keys import Keyring, Signer, Verifier
from ledger.receipts import Receipt, code_prefix, human_code, sign_receipt, verify_receipt

SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(range(32)))
OTHER = Signer(name="ballot-ledger.test/other", seed=bytes(range(1, 33)))
KEYRING = Keyring([SIGNER.verifier])
CP = Checkpoint(origin="ballot-ledger.test/elections/e1", size=42, root=bytes(range(32)))


def test_key_texts_round_trip() -> None:
    """Verifier and private key texts parse back to the same key, with a checked key id."""
    text = SIGNER.verifier.text()
    assert Verifier.parse(text) == SIGNER.verifier
    assert Signer.parse(SIGNER.text()) == SIGNER
    _, kid, _ = text.split("+", 2)
    wrong = text.replace(kid, "00000000")
    with pytest.raises(KeyFormatError):
        Verifier.parse(wrong)


def test_checkpoint_note_format() -> None:
    """The note is origin, size, base64 root, a blank line, then em-dash signature lines."""
    note = sign_checkpoint(CP, [SIGNER]).note
    lines = note.split("\n")
    assert lines[:4] == [CP.origin, "42", base64.b64encode(CP.root).decode(), ""]
    assert lines[4].startswith("\u2014 ballot-ledger.test/ledger ")
    sig = base64.b64decode(lines[4].split(" ")[2])
    assert sig[:4] == SIGNER.verifier.key_id and len(sig) == 68
    assert open_checkpoint(note, KEYRING, origin=CP.origin) == CP


def test_unknown_keys_are_ignored_but_one_trusted_is_needed() -> None:
    """Signatures by unknown keys are skipped; a note with none by a trusted key is refused."""
    both = sign_checkpoint(CP, [OTHER, SIGNER]).note
    assert open_checkpoint(both, KEYRING) == CP
    only_other = sign_checkpoint(CP, [OTHER]).note
    with pytest.raises(CheckpointError):
        open_checkpoint(only_other, KEYRING)


def test_wrong_origin_refused() -> None:
    """A checkpoint of another log is refused when the origin is pinned."""
    with pytest.raises(CheckpointError):
        open_checkpoint(sign_checkpoint(CP, [SIGNER]).note, KEYRING, origin="elsewhere")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_changed_byte_of_a_checkpoint_fails(data: st.DataObject) -> None:
    """Changing any byte of a signed checkpoint note makes it fail verification."""
    note = sign_checkpoint(CP, [SIGNER]).note.encode()
    pos = data.draw(st.integers(0, len(note) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != note[pos]))
    changed = note[:pos] + bytes([new]) + note[pos + 1 :]
    try:
        text = changed.decode()
    except UnicodeDecodeError:
        return  # not even text: no verifier would accept it
    # Even a change that decodes to the same root (base64 padding bits) changes the signed
    # body bytes, so the signature must fail.
    with pytest.raises((CheckpointError, SignatureError)):
        open_checkpoint(text, KEYRING, origin=CP.origin)


def _receipt() -> Receipt:
    return sign_receipt(
        SIGNER,
        election="e1",
        index=7,
        leaf_hash=bytes(range(32)),
        chain_hash=bytes(range(32, 64)),
        time="2026-11-23T05:21:16.000000Z",
    )


def test_receipt_round_trip_and_code() -> None:
    """A receipt survives JSON, verifies, and its code maps back to its leaf prefix."""
    receipt = _receipt()
    again = Receipt.from_json(receipt.to_json())
    assert again == receipt
    verify_receipt(again, KEYRING)
    assert receipt.code == human_code(receipt.leaf_hash)
    assert code_prefix(receipt.code.lower()) == receipt.leaf_hash[:10]


@pytest.mark.parametrize("field", ["election", "index", "leaf_hash", "chain_hash", "time"])
def test_receipt_with_any_field_changed_fails(field: str) -> None:
    """Changing any signed field of a receipt makes its signature fail."""
    data = _receipt().to_json()
    del data["code"]
    if field == "index":
        data["index"] = 8
    elif field in ("leaf_hash", "chain_hash"):
        data[field] = "ff" + data[field][2:]
    else:
        data[field] = data[field] + "x"
    with pytest.raises(ReceiptError):
        verify_receipt(Receipt.from_json(data), KEYRING)


def test_receipt_signature_flip_and_unknown_key_fail() -> None:
    """A flipped signature bit, or a key not in the keyring, fails."""
    data = _receipt().to_json()
    sig = bytearray(base64.b64decode(data["signature"]))
    sig[0] ^= 1
    data["signature"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(ReceiptError):
        verify_receipt(Receipt.from_json(data), KEYRING)
    with pytest.raises(ReceiptError):
        verify_receipt(_receipt(), Keyring([OTHER.verifier]))


def test_bad_code_is_refused() -> None:
    """A malformed human code is a clear error."""
    with pytest.raises(ReceiptError):
        code_prefix("ABCD-EFGH")
