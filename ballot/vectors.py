"""schemas/test-vectors.json: the test vectors of docs/log-format.md §9.

``python -m ballot.vectors > schemas/test-vectors.json`` writes them.

Two logs. ``ledger.format.vectors`` gives the v1 *hash-only* log (bytes, hashes, proofs,
checkpoint, a receipt batch; not a valid election). :func:`v2` gives a small election that is
valid by §10 from its first entry to its declared results: a release round during the poll, a
withdrawal after which a ballot accepted before it is released, the close's rounds (one of them
a contest below ``round_size``), ``poll_closed`` and a declared result per contest; with an
acceptance receipt for one ballot (both stages: the receipt, and the entry it finds), and the
whole log as an export file (§12). It lives here, not in ``ledger.format``, because it counts
the contests (``counter.tally``).

Deterministic: the keys' seeds are published (never sign anything real with them), and the
nonces, the roll's salt, the blinds and the acceptance batch's order, which the ledger draws at
random, are fixed here (``_fixed``: SHA-256 of a label) so that the file is reproducible.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

from ballot.bench.synthetic import SyntheticLog, sign_declaration
from counter.tally import fold as fl
from ledger.domain import election as el
from ledger.format import merkle
from ledger.format import vectors as format_vectors
from ledger.format.acceptance import ACCEPTANCE_BATCH_TAG, ACCEPTANCE_TAG, PROMISE
from ledger.format.canonical import canonical_bytes
from ledger.format.export import Header, checkpoint_line, entry_line, header_line
from ledger.format.keys import Signer
from ledger.format.receipts import batch_paths, human_code

LEDGER_SIGNER = format_vectors.TEST_SIGNER
COUNTER_SIGNER = Signer(
    name="ballot-ledger.example/test-vectors-counter", seed=bytes(range(32, 64))
)
ELECTION = "vectors-v2-2026"
ORIGIN = f"ballot-ledger.example/elections/{ELECTION}"
ROUND_SIZE = 3

SETUP = "2026-11-23T09:00:00.000Z"
ACCEPTED = "2026-11-23T10:02:31.123456Z"  # the acceptance batch (microseconds, §8)
ROUND = "2026-11-23T10:15:07.250Z"  # the release round during the poll
WITHDRAWN = "2026-11-23T12:00:00.000Z"
CLOSE = "2026-11-23T18:00:00.000Z"  # the close's rounds and poll_closed: one time stamp
DECLARED = "2026-11-23T18:05:00.000Z"

DEFINITION: dict[str, Any] = {
    "title": "Test vectors, log format v2",
    "sealed": False,
    "round_size": ROUND_SIZE,
    "declare": "automatic",  # declared as counted (no result_approved)
    "contests": [
        {
            "id": "board",
            "title": "Board",
            "seats": 1,
            "method": {"type": "stv", "rule": "scottish"},
            "candidates": [
                {"id": "a", "name": "Ann Ash"},
                {"id": "b", "name": "Ben Birch"},
                {"id": "c", "name": "Cai Cedar"},
                {"id": "d", "name": "Dee Dogwood"},
            ],
        },
        {
            "id": "youth",
            "title": "Youth seat",
            "seats": 1,
            "method": {"type": "bloc"},
            "candidates": [{"id": "y1", "name": "Yan Yew"}, {"id": "y2", "name": "Yola Yarrow"}],
            "eligibility": {"attr": "age", "lt": 27},
        },
    ],
}
ROLL = {"board": ["v01", "v02", "v03", "v04", "v05", "v06"], "youth": ["v05", "v06"]}

# (voter, contest, selections): the ballots, by label. The voter is only a label for the
# nonce; no voter id is ever logged.
ROUND_ONE = [("v03", "board", ["b", "a"]), ("v01", "board", ["b"]), ("v02", "board", ["a", "b"])]
CLOSE_BOARD = [
    ("v05", "board", ["a"]),
    ("v04", "board", ["d", "c", "b"]),
    ("v06", "board", ["b", "c"]),
]
CLOSE_YOUTH = [("v06", "youth", ["y1"]), ("v05", "youth", ["y1"])]
# The acceptance batch: v01's, v02's and v03's board ballots, accepted in that order, their
# leaves at these (shuffled) positions; the published receipt is v02's.
BATCH = ["v01", "v02", "v03"]
POSITIONS = [2, 0, 1]
HOLDER = "v02"


def _fixed(label: str) -> bytes:
    """32 bytes the ledger would draw at random, fixed here by a label."""
    return hashlib.sha256(b"ballot-ledger test vectors\n" + label.encode()).digest()


def _ballot(voter: str, contest: str, selections: list[str]) -> dict[str, Any]:
    return {
        "contest": contest,
        "selections": selections,
        "nonce": _fixed(f"nonce {voter} {contest}").hex(),
    }


def _log() -> SyntheticLog:
    """An empty log of the v2 election, appended to as the ledger appends (its fold checks
    every event)."""
    return SyntheticLog(
        election=ELECTION, origin=ORIGIN, state=el.ElectionState(election_id=ELECTION)
    )


def _checkpoint(log: SyntheticLog) -> tuple[int, bytes]:
    """Sign a checkpoint at the log's size with the vectors' ledger key."""
    log.checkpoint(LEDGER_SIGNER)
    return log.tree.size, log.tree.root()


def _checkpoints(log: SyntheticLog) -> list[tuple[int, str]]:
    """Each signed note with its size (the note's second line)."""
    return [(int(note.split("\n")[1]), note) for note in log.checkpoints]


def _entry_json(log: SyntheticLog, index: int) -> dict[str, Any]:
    body = log.entries[index]
    return {
        "index": index,
        "entry": body.decode(),
        "leaf_hash": merkle.leaf_hash(body).hex(),
        "chain_hash": log.chains[index].hex(),
    }


def _acceptance(checkpoint: tuple[int, bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The acceptance batch of ``BATCH``'s board ballots (§8): each leaf's message, the batch
    root and signed bytes, and the holder's receipt as the ledger answers it."""
    size, root = checkpoint
    events = {v: _ballot(v, c, s) for v, c, s in ROUND_ONE}
    leaves: list[bytes | None] = [None] * len(BATCH)
    items: list[dict[str, Any]] = []
    for voter, position in zip(BATCH, POSITIONS, strict=True):
        fields = {
            "blind": _fixed(f"blind {voter}").hex(),
            "checkpoint": {"root": root.hex(), "size": size},
            "contest": "board",
            "election": ELECTION,
            "event_hash": hashlib.sha256(canonical_bytes(events[voter])).hexdigest(),
            "origin": ORIGIN,
            "promise": PROMISE,
            "time": ACCEPTED,
        }
        message = ACCEPTANCE_TAG + canonical_bytes(fields)
        leaves[position] = merkle.leaf_hash(message)
        items.append({"position": position, "fields": fields, "message_hex": message.hex()})
    tree = merkle.MemoryTree()
    tree.extend(leaf for leaf in leaves if leaf is not None)
    signed = ACCEPTANCE_BATCH_TAG + canonical_bytes({"root": tree.root().hex(), "size": tree.size})
    signature = base64.b64encode(LEDGER_SIGNER.sign(signed)).decode()
    paths = batch_paths(tree)
    mine = next(i for i in items if i["fields"]["blind"] == _fixed(f"blind {HOLDER}").hex())
    f = mine["fields"]
    receipt = {
        "stage": "accepted",
        "election": ELECTION,
        "origin": ORIGIN,
        "contest": "board",
        "event_hash": f["event_hash"],
        "time": ACCEPTED,
        "checkpoint": {"size": size, "root": root.hex()},
        "promise": PROMISE,
        "blind": f["blind"],
        "key_id": LEDGER_SIGNER.verifier.key_id_hex,
        "signature": signature,
        "code": human_code(bytes.fromhex(f["event_hash"])),
        "batch": {
            "size": tree.size,
            "position": mine["position"],
            "path": [p.hex() for p in paths[mine["position"]]],
        },
        "event": dict(sorted(events[HOLDER].items())),
    }
    batch = {
        "leaves": [
            {
                "position": i["position"],
                "message_hex": i["message_hex"],
                "leaf_hex": merkle.leaf_hash(bytes.fromhex(i["message_hex"])).hex(),
            }
            for i in sorted(items, key=lambda i: i["position"])
        ],
        "root_hex": tree.root().hex(),
        "signed_message_hex": signed.hex(),
    }
    return batch, receipt


def v2() -> dict[str, Any]:
    """The v2 election log and what a verifier checks of it (docs/log-format.md §9)."""
    log = _log()
    definition = el.parse_definition(DEFINITION).document
    log.append(
        "election_defined",
        {"definition": dict(definition), "keys": {"ledger": [LEDGER_SIGNER.verifier.text()]}},
        SETUP,
    )
    salt = _fixed("roll salt")
    contests: dict[str, Any] = {}
    for contest, ids in ROLL.items():
        contests[contest] = {"eligible": len(ids), "roll_hash": el.roll_hash(salt, ids)}
        if len(ids) < ROUND_SIZE:
            contests[contest]["below_round_size"] = True
    log.append("roll_published", {"voters": len(ROLL["board"]), "contests": contests}, SETUP)
    log.append("poll_opened", {}, SETUP)
    accepted_at = _checkpoint(log)  # the latest signed checkpoint when the batch is accepted
    batch, receipt = _acceptance(accepted_at)
    rounds: list[dict[str, Any]] = []
    round_one = [log.append("ballot_cast", _ballot(*b), ROUND) for b in ROUND_ONE]
    log.append(
        "candidate_withdrawn",
        {"contest": "board", "candidate": "d", "reason": "withdrawn"},
        WITHDRAWN,
    )
    close_board = [log.append("ballot_cast", _ballot(*b), CLOSE) for b in CLOSE_BOARD]
    close_youth = [log.append("ballot_cast", _ballot(*b), CLOSE) for b in CLOSE_YOUTH]
    closed = log.append("poll_closed", {}, CLOSE)
    _checkpoint(log)
    for contest, time, indices in (
        ("board", ROUND, round_one),
        ("board", CLOSE, close_board),
        ("youth", CLOSE, close_youth),
    ):
        rounds.append(
            {
                "contest": contest,
                "time": time,
                "first": indices[0],
                "size": len(indices),
                "event_hashes": [
                    hashlib.sha256(canonical_bytes(json.loads(log.entries[i])["event"])).hexdigest()
                    for i in indices
                ],
            }
        )
    state = fl.fold(fl.initial(ELECTION), enumerate(log.entries))
    assert state.counted_at is not None  # the poll is closed and nothing is sealed
    counted_size, counted_root = state.counted_at
    declared = []
    for contest in ("board", "youth"):
        _, document = fl.count_contest(state, contest)
        body = sign_declaration(fl.declaration_for(document), COUNTER_SIGNER)
        message = el.declaration_message(body)
        index = log.append("result_declared", body, DECLARED)
        declared.append(
            {
                "contest": contest,
                "index": index,
                "document": document,
                "result_hash": fl.result_hash(document),
                "signed_message_hex": message.hex(),
            }
        )
    size, _ = _checkpoint(log)
    released = receipt["event_hash"]
    found = next(
        r["first"] + n for r in rounds for n, h in enumerate(r["event_hashes"]) if h == released
    )
    header = Header(
        election=ELECTION,
        origin=ORIGIN,
        size=size,
        ledger_keys=(LEDGER_SIGNER.verifier.text(),),
        counter_keys=(COUNTER_SIGNER.verifier.text(),),
    )
    export = header_line(header)
    export += b"".join(checkpoint_line(n, note) for n, note in _checkpoints(log))
    export += b"".join(
        entry_line(i, body, merkle.leaf_hash(body), log.chains[i])
        for i, body in enumerate(log.entries)
    )
    return {
        "election": ELECTION,
        "origin": ORIGIN,
        "counter_key": {
            "name": COUNTER_SIGNER.name,
            "seed_hex": COUNTER_SIGNER.seed.hex(),
            "public_key_hex": COUNTER_SIGNER.verifier.public_key.hex(),
            "key_id_hex": COUNTER_SIGNER.verifier.key_id_hex,
            "verifier": COUNTER_SIGNER.verifier.text(),
        },
        "roll": {
            "salt_hex": salt.hex(),
            "contests": {
                c: {"ids": ids, "roll_hash": contests[c]["roll_hash"]} for c, ids in ROLL.items()
            },
        },
        "entries": [_entry_json(log, i) for i in range(size)],
        "checkpoints": [{"size": n, "note": note} for n, note in _checkpoints(log)],
        "rounds": rounds,
        "poll_closed_index": closed,
        "counted": {"size": counted_size, "root_hex": counted_root.hex()},
        "acceptance": {"batch": batch, "receipt": receipt},
        "released": {
            "status": "released",
            "event_hash": released,
            **_entry_json(log, found),
            "inclusion": {
                "size": size,
                "path": [p.hex() for p in log.tree.inclusion_proof(found, size)],
            },
            "consistency": {
                "old": accepted_at[0],
                "new": size,
                "path": [p.hex() for p in log.tree.consistency_proof(accepted_at[0], size)],
            },
        },
        "declared": declared,
        "export": export.decode(),
    }


def generate() -> dict[str, Any]:
    """The whole file: the v1 hash-only vectors and the v2 election."""
    return {**format_vectors.generate(), "v2": v2()}


def main() -> None:
    json.dump(generate(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
