"""schemas/test-vectors.json: up to date, and verifiable from its own contents alone."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any

from ledger import merkle, vectors
from ledger.checkpoint import open_checkpoint
from ledger.keys import Keyring, Verifier
from ledger.receipts import Receipt, verify_receipt


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
