"""schemas/test-vectors.json: up to date, and verifiable from its own contents alone."""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ledger.domain.schemas import SCHEMA_FILES, load
from ledger.format import merkle, vectors
from ledger.format.checkpoint import open_checkpoint
from ledger.format.keys import Keyring, Verifier
from ledger.format.receipts import Receipt, verify_receipt


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("schemas").joinpath("test-vectors.json").read_text()
    )
    return data


def test_vectors_file_is_current() -> None:
    """The published vectors equal what the code generates (regenerate with python -m)."""
    assert _load() == vectors.generate()


def test_vectors_verify_from_first_principles() -> None:
    """Recomputing every hash from the entry text with hashlib alone gives the published values."""
    data = _load()
    tag, chain = bytes.fromhex(data["chain_tag_hex"]), bytes(32)
    leaves = []
    for e in data["entries"]:
        leaf = hashlib.sha256(b"\x00" + e["entry"].encode()).digest()
        chain = hashlib.sha256(tag + chain + leaf).digest()
        assert (leaf.hex(), chain.hex()) == (e["leaf_hash"], e["chain_hash"])
        assert json.loads(e["entry"])["index"] == e["index"]
        leaves.append(leaf)
    for n, root in data["roots"].items():
        tree = merkle.MemoryTree()
        tree.extend(leaves[: int(n)])
        assert tree.root().hex() == root
    for p in data["inclusion"]:
        merkle.verify_inclusion(
            p["index"],
            p["size"],
            leaves[p["index"]],
            [bytes.fromhex(x) for x in p["path"]],
            bytes.fromhex(data["roots"][str(p["size"])]),
        )
    for p in data["consistency"]:
        merkle.verify_consistency(
            p["old"],
            p["new"],
            bytes.fromhex(data["roots"][str(p["old"])]),
            bytes.fromhex(data["roots"][str(p["new"])]),
            [bytes.fromhex(x) for x in p["path"]],
        )
    keyring = Keyring([Verifier.parse(data["key"]["verifier"])])
    cp = open_checkpoint(data["checkpoint"]["note"], keyring, origin=data["origin"])
    assert cp.root.hex() == data["roots"][str(cp.size)]
    verify_receipt(Receipt.from_json(data["receipt"]["json"]), keyring)


def _jcs_ascii(value: dict[str, Any]) -> bytes:
    """RFC 8785 of a flat object of ASCII strings and integers: sorted, no white space."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def test_receipt_batch_vector_from_first_principles() -> None:
    """The receipt batch vector, recomputed with hashlib and the Ed25519 public key alone: each
    message and leaf, the batch root, the signed bytes, the receipt's path and signature."""
    data = _load()
    vector = data["receipt"]
    receipt = vector["json"]
    tag = bytes.fromhex(data["receipt_tag_hex"])
    assert tag == b"ballot-ledger/receipt/v1\n"
    assert bytes.fromhex(data["receipt_batch_tag_hex"]) == b"ballot-ledger/receipt-batch/v1\n"
    leaves = []
    for item in vector["batch_leaves"]:
        entry = data["entries"][item["index"]]
        fields = {
            "chain_hash": entry["chain_hash"],
            "election": data["election"],
            "index": item["index"],
            "leaf_hash": entry["leaf_hash"],
            "time": receipt["time"],
        }
        message = tag + _jcs_ascii(fields)
        assert message.hex() == item["message_hex"]
        leaf = hashlib.sha256(b"\x00" + message).digest()
        assert leaf.hex() == item["leaf_hex"]
        leaves.append(leaf)
    assert [item["index"] for item in vector["batch_leaves"]] == [2, 3, 4]
    node = hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest()
    root = hashlib.sha256(b"\x01" + node + leaves[2]).digest()
    assert root.hex() == vector["batch_root_hex"]
    signed = bytes.fromhex(data["receipt_batch_tag_hex"]) + _jcs_ascii(
        {"root": root.hex(), "size": 3}
    )
    assert signed.hex() == vector["signed_message_hex"]
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(data["key"]["public_key_hex"])).verify(
        base64.b64decode(receipt["signature"]), signed
    )
    assert receipt["index"] == 3 and receipt["key_id"] == data["key"]["key_id_hex"]
    assert receipt["batch"] == {
        "size": 3,
        "position": 1,
        "path": [leaves[0].hex(), leaves[2].hex()],
    }


def test_receipt_vector_matches_the_openapi_receipt_schema() -> None:
    """The published receipt is valid under the OpenAPI Receipt schema, which needs batch."""
    doc = json.loads(resources.files("schemas").joinpath("openapi.json").read_text())
    base = "urn:ballot-ledger:test:openapi"
    registry = Registry().with_resources(
        [
            (base, Resource.from_contents(doc, default_specification=DRAFT202012)),
            *(
                (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
                for schema in (load(name) for name in SCHEMA_FILES)
            ),
        ]
    )
    validator = Draft202012Validator(
        {"$ref": f"{base}#/components/schemas/Receipt"}, registry=registry
    )
    receipt = _load()["receipt"]["json"]
    validator.validate(receipt)
    assert not validator.is_valid({k: v for k, v in receipt.items() if k != "batch"})
    assert not validator.is_valid({**receipt, "batch": {**receipt["batch"], "size": 0}})
