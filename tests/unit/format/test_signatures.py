"""Keys, signed-note checkpoints and batch-signed receipts: sign, verify, fail on any change."""

from __future__ import annotations

import base64
import hashlib
import json
import string
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ballot.receipt_check import _hashes
from ledger.errors import (
    CheckpointError,
    KeyFormatError,
    ReceiptError,
    SignatureError,
    VerificationError,
)
from ledger.format import merkle
from ledger.format.canonical import canonical_bytes
from ledger.format.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
)
from ledger.format.keys import Keyring, Signer, Verifier
from ledger.format.receipts import (
    RECEIPT_BATCH_TAG,
    RECEIPT_TAG,
    BatchProof,
    Receipt,
    ReceiptItem,
    ReceiptSigner,
    batch_message,
    batch_root,
    code_prefix,
    human_code,
    receipt_message,
    receipt_texts,
    sign_receipt,
    verify_receipt,
)

SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(range(32)))
OTHER = Signer(name="ballot-ledger.test/other", seed=bytes(range(1, 33)))
KEYRING = Keyring([SIGNER.verifier])
CP = Checkpoint(origin="ballot-ledger.test/elections/e1", size=42, root=bytes(range(32)))
TIME = "2026-11-23T05:21:16.000000Z"


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


def test_any_changed_byte_of_a_checkpoint_fails() -> None:
    """Changing any byte of a signed checkpoint note to any other value makes it fail
    verification: every position, every byte value (each of the ~50,000 changes is tried)."""
    note = sign_checkpoint(CP, [SIGNER]).note.encode()
    accepted = []
    for pos in range(len(note)):
        for new in range(256):
            if new == note[pos]:
                continue
            try:
                text = (note[:pos] + bytes([new]) + note[pos + 1 :]).decode()
            except UnicodeDecodeError:
                continue  # not even text: no verifier would accept it
            try:
                open_checkpoint(text, KEYRING, origin=CP.origin)
            except (CheckpointError, SignatureError):
                continue
            accepted.append((pos, chr(new)))
    assert accepted == []


_B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


def _padding_twin(blob: str) -> str:
    """``blob`` (base64 that ends in padding) with the padding bits of its last data
    character set: another text that a lenient decoder reads as the same bytes."""
    data = blob.rstrip("=")
    twin = data[:-1] + _B64[_B64.index(data[-1]) | 1] + blob[len(data) :]
    assert twin != blob and base64.b64decode(twin) == base64.b64decode(blob)
    return twin


def test_checkpoint_signature_with_padding_bits_set_is_refused() -> None:
    """The signature line's base64 with non-zero padding bits is refused: it would otherwise
    verify, a second text for the same checkpoint (issue 12)."""
    note = sign_checkpoint(CP, [SIGNER]).note
    blob = note.rstrip("\n").rsplit(" ", 1)[1]
    with pytest.raises(CheckpointError, match="malformed signature line"):
        open_checkpoint(note.replace(blob, _padding_twin(blob)), KEYRING, origin=CP.origin)


def test_checkpoint_root_with_padding_bits_set_is_refused() -> None:
    """A checkpoint body whose root has non-zero padding bits does not parse."""
    body = CP.body().decode()
    root = body.split("\n")[2]
    with pytest.raises(CheckpointError, match="canonical base64"):
        parse_checkpoint_body(body.replace(root, _padding_twin(root)))


def test_trusted_signature_of_another_length_is_refused() -> None:
    """A trusted key's signature that is not 64 bytes is refused as malformed."""
    note = sign_checkpoint(CP, [SIGNER]).note
    blob = note.rstrip("\n").rsplit(" ", 1)[1]
    short = base64.b64encode(base64.b64decode(blob)[:-1]).decode()
    with pytest.raises(CheckpointError, match="64 bytes"):
        open_checkpoint(note.replace(blob, short), KEYRING)


def test_key_texts_have_one_spelling() -> None:
    """A key id in upper case, or a key blob that is not canonical base64, is refused."""
    for text, parse in [(SIGNER.verifier.text(), Verifier.parse), (SIGNER.text(), Signer.parse)]:
        head, kid, blob = text.rsplit("+", 2)
        assert parse(f"{head}+{kid}+{blob}") is not None
        with pytest.raises(KeyFormatError):
            parse(f"{head}+{kid.upper()}+{blob}")
        with pytest.raises(KeyFormatError):
            parse(f"{head}+{kid}+{blob}=")
        with pytest.raises(KeyFormatError):
            parse(f"{head}+{kid}+{blob[:-1]}")


def _receipt() -> Receipt:
    return sign_receipt(
        SIGNER,
        election="e1",
        index=7,
        leaf_hash=bytes(range(32)),
        chain_hash=bytes(range(32, 64)),
        time=TIME,
    )


def _items(k: int, first: int = 7, salt: bytes = b"") -> list[ReceiptItem]:
    """``k`` receipt items for consecutive indices from ``first``."""
    return [
        (
            first + n,
            hashlib.sha256(b"leaf" + salt + n.to_bytes(4, "big")).digest(),
            hashlib.sha256(b"chain" + salt + n.to_bytes(4, "big")).digest(),
        )
        for n in range(k)
    ]


def _round_trip(receipt: Receipt) -> Receipt:
    return Receipt.from_json(json.loads(json.dumps(receipt.to_json())))


def test_receipt_round_trip_and_code() -> None:
    """A receipt survives JSON, verifies, and its code maps back to its leaf prefix; a receipt
    signed alone is a batch of one whose root is its own leaf."""
    receipt = _receipt()
    again = _round_trip(receipt)
    assert again == receipt
    verify_receipt(again, KEYRING)
    assert receipt.code == human_code(receipt.leaf_hash)
    assert code_prefix(receipt.code.lower()) == receipt.leaf_hash[:10]
    assert receipt.batch == BatchProof(size=1, position=0, path=())
    assert receipt.to_json()["batch"] == {"size": 1, "position": 0, "path": []}
    leaf = merkle.leaf_hash(
        receipt_message(
            election="e1",
            index=7,
            leaf_hash=receipt.leaf_hash,
            chain_hash=receipt.chain_hash,
            time=TIME,
        )
    )
    SIGNER.verifier.verify(batch_message(root=leaf, size=1), receipt.signature)


def test_receipt_message_is_the_jcs_of_its_fields() -> None:
    """The directly written message is byte for byte the tag and RFC 8785 of the fields, and
    the batch message is the batch tag and RFC 8785 of root and size."""
    for election, index in [("e1", 0), ('caf\u00e9-\u2713 "q"', 7), ("e", 2**53 - 1)]:
        fields = {
            "chain_hash": bytes(range(32, 64)).hex(),
            "election": election,
            "index": index,
            "leaf_hash": bytes(range(32)).hex(),
            "time": TIME,
        }
        message = receipt_message(
            election=election,
            index=index,
            leaf_hash=bytes(range(32)),
            chain_hash=bytes(range(32, 64)),
            time=TIME,
        )
        assert message == RECEIPT_TAG + canonical_bytes(fields)
    root = bytes(range(32))
    assert batch_message(root=root, size=3) == (
        b"ballot-ledger/receipt-batch/v1\n" + b'{"root":"' + root.hex().encode() + b'","size":3}'
    )
    assert RECEIPT_BATCH_TAG == b"ballot-ledger/receipt-batch/v1\n"


def test_every_receipt_of_every_batch_size_verifies() -> None:
    """For every batch size 1..70: one signature, over RECEIPT_BATCH_TAG || JCS(root, size)
    where root is the RFC 9162 root of the receipts' message leaves in index order; each
    receipt's path is merkle's inclusion proof of its position, and it survives JSON and
    verifies."""
    signer = ReceiptSigner(SIGNER)
    for k in range(1, 71):
        items = _items(k)
        receipts = signer.sign_batch("e1", items, TIME)
        assert [r.index for r in receipts] == [i for i, _, _ in items]
        assert len({r.signature for r in receipts}) == 1
        tree = merkle.MemoryTree()
        tree.extend(
            merkle.leaf_hash(
                receipt_message(election="e1", index=i, leaf_hash=h, chain_hash=c, time=TIME)
            )
            for i, h, c in items
        )
        SIGNER.verifier.verify(batch_message(root=tree.root(), size=k), receipts[0].signature)
        for position, receipt in enumerate(receipts):
            assert receipt.batch.size == k and receipt.batch.position == position
            assert list(receipt.batch.path) == tree.inclusion_proof(position)
            leaf = tree.nodes[(0, position)]
            merkle.verify_inclusion(position, k, leaf, receipt.batch.path, tree.root())
            assert batch_root(leaf, receipt.batch) == tree.root()
            again = _round_trip(receipt)
            assert again == receipt
            verify_receipt(again, KEYRING)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.data())
def test_batch_items_in_any_order(k: int, data: st.DataObject) -> None:
    """Items given in any order are signed in index order and returned in the order given."""
    items = _items(k, first=data.draw(st.integers(0, 10**6)))
    shuffled = data.draw(st.permutations(items))
    receipts = ReceiptSigner(SIGNER).sign_batch("e1", shuffled, TIME)
    assert [(r.index, r.leaf_hash, r.chain_hash) for r in receipts] == list(shuffled)
    ordered = sorted(receipts, key=lambda r: r.index)
    assert [r.batch.position for r in ordered] == list(range(k))
    assert ordered == ReceiptSigner(SIGNER).sign_batch("e1", items, TIME)
    for receipt in receipts:
        verify_receipt(receipt, KEYRING)


def test_batch_edge_cases() -> None:
    """An empty batch signs nothing; an index twice in a batch is refused; the time defaults
    to now, the same for the whole batch."""
    signer = ReceiptSigner(SIGNER)
    assert signer.sign_batch("e1", []) == []
    with pytest.raises(ValueError, match="twice"):
        signer.sign_batch("e1", [*_items(3), _items(1, first=8, salt=b"x")[0]])
    receipts = signer.sign_batch("e1", _items(5))
    assert len({r.time for r in receipts}) == 1
    for receipt in receipts:
        verify_receipt(receipt, KEYRING)


def _tamper(data: dict[str, Any], field: str, draw: st.DataObject) -> None:
    """Change ``field`` of a receipt's JSON (or of its batch) to another valid-looking value."""
    batch = data["batch"]
    if field == "index":
        data["index"] = draw.draw(st.integers(0, 2**53 - 1).filter(lambda i: i != data["index"]))
    elif field in ("leaf_hash", "chain_hash"):
        raw = bytearray(bytes.fromhex(data[field]))
        raw[draw.draw(st.integers(0, 31))] ^= 1 << draw.draw(st.integers(0, 7))
        data[field] = raw.hex()
    elif field == "time":
        data["time"] = data["time"].replace("16.", "17.")
    elif field == "election":
        data["election"] = draw.draw(st.sampled_from(["e2", "e1 ", "E1", "e1x"]))
    elif field == "position":
        batch["position"] = draw.draw(st.integers(0, 80).filter(lambda p: p != batch["position"]))
    elif field == "size":
        batch["size"] = draw.draw(st.integers(1, 80).filter(lambda k: k != batch["size"]))
    elif field == "path":
        n = draw.draw(st.integers(0, len(batch["path"]) - 1))
        raw = bytearray(bytes.fromhex(batch["path"][n]))
        raw[draw.draw(st.integers(0, 31))] ^= 1 << draw.draw(st.integers(0, 7))
        batch["path"][n] = raw.hex()
    else:
        sig = bytearray(base64.b64decode(data["signature"]))
        sig[draw.draw(st.integers(0, 63))] ^= 1 << draw.draw(st.integers(0, 7))
        data["signature"] = base64.b64encode(bytes(sig)).decode()


FIELDS = [
    "election",
    "index",
    "leaf_hash",
    "chain_hash",
    "time",
    "position",
    "size",
    "path",
    "signature",
]


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 70), data=st.data())
def test_receipt_with_any_field_changed_fails(field: str, k: int, data: st.DataObject) -> None:
    """Changing any signed field, the batch position, size or a path element, or a bit of the
    signature, makes the receipt fail (malformed, or its signature does not verify)."""
    if field == "path":
        assume(k > 1)
    receipts = ReceiptSigner(SIGNER).sign_batch("e1", _items(k), TIME)
    receipt = data.draw(st.sampled_from(receipts))
    changed = receipt.to_json()
    del changed["code"]
    _tamper(changed, field, data)
    with pytest.raises(ReceiptError):
        verify_receipt(Receipt.from_json(changed), KEYRING)


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 70), other=st.integers(1, 70), data=st.data())
def test_receipt_moved_into_another_batch_fails(k: int, other: int, data: st.DataObject) -> None:
    """A receipt under another batch's signature fails, even with that batch's size and the
    path of the receipt at its position there."""
    signer = ReceiptSigner(SIGNER)
    mine = signer.sign_batch("e1", _items(k), TIME)
    theirs = signer.sign_batch("e1", _items(other, first=7 + k), TIME)
    receipt = data.draw(st.sampled_from(mine))
    host = data.draw(st.sampled_from(theirs))
    moved = receipt.to_json()
    moved["signature"] = host.to_json()["signature"]
    with pytest.raises(ReceiptError, match="does not verify"):
        verify_receipt(Receipt.from_json(moved), KEYRING)
    moved["batch"] = host.to_json()["batch"]
    with pytest.raises(ReceiptError, match="does not verify"):
        verify_receipt(Receipt.from_json(moved), KEYRING)


def test_receipt_signature_flip_and_unknown_key_fail() -> None:
    """A flipped signature bit, or a key not in the keyring, fails."""
    data = _receipt().to_json()
    sig = bytearray(base64.b64decode(data["signature"]))
    sig[0] ^= 1
    data["signature"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(ReceiptError, match="signature does not verify"):
        verify_receipt(Receipt.from_json(data), KEYRING)
    with pytest.raises(ReceiptError, match="unknown key"):
        verify_receipt(_receipt(), Keyring([OTHER.verifier]))


@pytest.mark.parametrize(
    ("member", "spelling"),
    [
        ("signature", _padding_twin),
        ("signature", lambda t: t.rstrip("=")),
        ("leaf_hash", str.upper),
        ("chain_hash", str.upper),
        ("key_id", str.upper),
        ("leaf_hash", lambda t: t[:2] + " " + t[2:]),
        ("index", str),
        ("index", float),
        ("election", lambda t: ["e1"]),
    ],
)
def test_receipt_fields_have_one_spelling(member: str, spelling: Any) -> None:
    """Another spelling of a receipt's signature (padding bits, missing padding), hashes or key
    id (upper case, white space) or index (a string, a float) is refused: it would otherwise
    verify as the same receipt."""
    data = _receipt().to_json()
    data.pop("code")
    data[member] = spelling(data[member])
    with pytest.raises(ReceiptError, match="malformed receipt"):
        Receipt.from_json(data)


def test_path_of_the_wrong_length_fails() -> None:
    """A path one element too long or too short for its position and size is refused."""
    receipt = ReceiptSigner(SIGNER).sign_batch("e1", _items(5), TIME)[2]
    longer = receipt.to_json()
    longer["batch"]["path"].append("00" * 32)
    with pytest.raises(ReceiptError, match="too long"):
        verify_receipt(Receipt.from_json(longer), KEYRING)
    shorter = receipt.to_json()
    shorter["batch"]["path"].pop()
    with pytest.raises(ReceiptError, match="too short"):
        verify_receipt(Receipt.from_json(shorter), KEYRING)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (None, "malformed receipt batch"),
        ([], "malformed receipt batch"),
        ({"size": 1, "position": 0}, "malformed receipt batch"),
        ({"size": 1, "position": 0, "path": [], "root": "00"}, "malformed receipt batch"),
        ({"size": 0, "position": 0, "path": []}, "size"),
        ({"size": True, "position": 0, "path": []}, "size"),
        ({"size": "3", "position": 0, "path": []}, "size"),
        ({"size": 2**53, "position": 0, "path": []}, "size"),
        ({"size": 3, "position": -1, "path": []}, "position"),
        ({"size": 3, "position": 1.0, "path": []}, "position"),
        ({"size": 3, "position": 3, "path": []}, "outside the batch"),
        ({"size": 3, "position": 0, "path": "00" * 32}, "path"),
        ({"size": 3, "position": 0, "path": ["00" * 32] * 65}, "path"),
        ({"size": 3, "position": 0, "path": ["00" * 31]}, "path element"),
        ({"size": 3, "position": 0, "path": ["zz" * 32]}, "path element"),
        ({"size": 3, "position": 0, "path": [7]}, "path element"),
        ({"size": 3, "position": 0, "path": ["AB" * 32]}, "path element"),
        ({"size": 3, "position": 0, "path": [" " + "ab" * 32]}, "path element"),
    ],
)
def test_malformed_batch_is_refused(batch: Any, message: str) -> None:
    """A receipt whose batch object is missing or malformed is refused with a clear error."""
    data = _receipt().to_json()
    data["batch"] = batch
    with pytest.raises(ReceiptError, match=message):
        Receipt.from_json(data)
    del data["batch"]
    with pytest.raises(ReceiptError, match="batch"):
        Receipt.from_json(data)
    with pytest.raises(ReceiptError, match="JSON object"):
        Receipt.from_json([data])


def test_bad_code_is_refused() -> None:
    """A malformed human code is a clear error."""
    with pytest.raises(ReceiptError):
        code_prefix("ABCD-EFGH")


@settings(max_examples=60, deadline=None)
@given(
    st.text(min_size=1, max_size=12),
    st.lists(st.integers(0, 2**40), min_size=1, max_size=70, unique=True),
)
def test_receipt_texts_are_json_dumps_of_the_receipts(election: str, indices: list[int]) -> None:
    """The service writes each receipt's JSON directly; it must be ``json.dumps(to_json())``."""
    items = [
        (i, hashlib.sha256(b"l%d" % i).digest(), hashlib.sha256(b"c%d" % i).digest())
        for i in indices
    ]
    signed = ReceiptSigner(SIGNER).sign_batch(election, items, TIME)
    assert receipt_texts(signed) == [json.dumps(r.to_json()) for r in signed]


def test_receipt_check_reads_proofs_and_saved_roots_strictly() -> None:
    """``ballot receipt check`` reads the server's proofs and its saved roots as 32-byte
    lower-case hex, in the published ``{"proof": [...]}`` or a saved bare list."""
    good = bytes(range(32)).hex()
    assert _hashes({"proof": [good]}, "proof") == [bytes(range(32))]
    assert _hashes([good, good], "proof") == [bytes(range(32))] * 2
    for bad in ([good.upper()], [good[:-2]], [" " + good[1:]], [7], good, {"proof": None}):
        with pytest.raises(VerificationError, match="proof"):
            _hashes(bad, "proof")
