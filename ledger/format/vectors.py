"""Test vectors for outside verifiers: the v1 *hash-only* log (docs/log-format.md §9).

``python -m ballot.vectors > schemas/test-vectors.json`` writes the whole file: these, and the
v2 election of ``ballot.vectors`` (which counts contests, so it cannot live in this pure
format package).

Deterministic: a fixed test key (its seed is published here, so it must never sign anything
real), fixed events and times. The test suite regenerates the file and checks it is unchanged,
and verifies its contents with the verifiers alone.
"""

from __future__ import annotations

from typing import Any

from ledger.format import merkle
from ledger.format.chain import CHAIN_TAG, GENESIS, chain_next
from ledger.format.checkpoint import Checkpoint, election_origin, sign_checkpoint
from ledger.format.entry import template
from ledger.format.keys import Signer
from ledger.format.receipts import (
    RECEIPT_BATCH_TAG,
    RECEIPT_TAG,
    ReceiptSigner,
    batch_message,
    receipt_message,
)

TEST_SIGNER = Signer(name="ballot-ledger.example/test-vectors", seed=bytes(range(32)))
ELECTION = "vectors-2026"
ORIGIN = election_origin("ballot-ledger.example", ELECTION)
TIME = "2026-11-23T09:00:00.000Z"

EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("election_defined", {"title": "Test vectors", "contests": []}),
    ("poll_opened", {}),
    ("ballot_cast", {"contest": "members", "commitment": "00" * 32}),
    ("ballot_cast", {"contest": "members", "selections": ["c2", "c1"]}),
    ("ballot_cast", {"contest": "youth", "selections": ["y1"], "note": "caf\u00e9 \u2713"}),
    ("poll_closed", {}),
    ("ballot_opened", {"contest": "members", "index": 2, "salt": "ab" * 16}),
]


def generate() -> dict[str, Any]:
    tree = merkle.MemoryTree()
    chain = GENESIS
    entries = []
    for index, (kind, event) in enumerate(EVENTS):
        body = template(ELECTION, kind, event).render(index, TIME)
        leaf = merkle.leaf_hash(body)
        chain = chain_next(chain, leaf)
        tree.append(leaf)
        entries.append(
            {
                "index": index,
                "entry": body.decode(),
                "leaf_hash": leaf.hex(),
                "chain_hash": chain.hex(),
            }
        )
    size = tree.size
    checkpoint = sign_checkpoint(
        Checkpoint(origin=ORIGIN, size=size, root=tree.root()), [TEST_SIGNER]
    )
    batch = [
        (
            i,
            bytes.fromhex(str(entries[i]["leaf_hash"])),
            bytes.fromhex(str(entries[i]["chain_hash"])),
        )
        for i in (2, 3, 4)
    ]
    receipts = ReceiptSigner(TEST_SIGNER).sign_batch(
        ELECTION, batch, time="2026-11-23T09:00:00.123456Z"
    )
    messages = [
        receipt_message(
            election=ELECTION, index=i, leaf_hash=leaf, chain_hash=chain, time=receipts[0].time
        )
        for i, leaf, chain in batch
    ]
    batch_tree = merkle.MemoryTree()
    batch_tree.extend(merkle.leaf_hash(m) for m in messages)
    signed = batch_message(root=batch_tree.root(), size=batch_tree.size)
    return {
        "description": "ballot-ledger log format test vectors; see docs/log-format.md",
        "chain_tag_hex": CHAIN_TAG.hex(),
        "genesis_hex": GENESIS.hex(),
        "receipt_tag_hex": RECEIPT_TAG.hex(),
        "receipt_batch_tag_hex": RECEIPT_BATCH_TAG.hex(),
        "key": {
            "name": TEST_SIGNER.name,
            "seed_hex": TEST_SIGNER.seed.hex(),
            "public_key_hex": TEST_SIGNER.verifier.public_key.hex(),
            "key_id_hex": TEST_SIGNER.verifier.key_id_hex,
            "verifier": TEST_SIGNER.verifier.text(),
        },
        "election": ELECTION,
        "origin": ORIGIN,
        "entries": entries,
        "roots": {str(n): tree.root(n).hex() for n in range(size + 1)},
        "inclusion": [
            {"index": i, "size": n, "path": [p.hex() for p in tree.inclusion_proof(i, n)]}
            for i, n in [(0, 1), (2, 7), (3, 7), (6, 7), (4, 5)]
        ],
        "consistency": [
            {"old": m, "new": n, "path": [p.hex() for p in tree.consistency_proof(m, n)]}
            for m, n in [(1, 7), (2, 7), (3, 7), (4, 7), (6, 7), (3, 5)]
        ],
        "checkpoint": {"size": size, "root_hex": tree.root().hex(), "note": checkpoint.note},
        "receipt": {
            "batch_leaves": [
                {"index": i, "message_hex": m.hex(), "leaf_hex": merkle.leaf_hash(m).hex()}
                for (i, _, _), m in zip(batch, messages, strict=True)
            ],
            "batch_root_hex": batch_tree.root().hex(),
            "signed_message_hex": signed.hex(),
            "json": receipts[1].to_json(),
        },
    }
