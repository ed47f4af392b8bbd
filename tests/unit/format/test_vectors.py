"""schemas/test-vectors.json: up to date, and verifiable from its own contents alone."""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ballot import vectors
from counter.tally.audit import audit, promises_from_json
from ledger.domain.schemas import SCHEMA_FILES, load
from ledger.format import merkle
from ledger.format.acceptance import AcceptanceReceipt, verify_acceptance
from ledger.format.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from ledger.format.export import parse_lines
from ledger.format.keys import Keyring, Verifier
from ledger.format.receipts import Receipt, verify_receipt

DATA = Path(__file__).parent / "data"


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


def _openapi_validator(component: str) -> Draft202012Validator:
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
    return Draft202012Validator(
        {"$ref": f"{base}#/components/schemas/{component}"}, registry=registry
    )


def test_receipt_vector_matches_the_openapi_receipt_schema() -> None:
    """The published receipt is valid under the OpenAPI Receipt schema, which needs batch."""
    validator = _openapi_validator("Receipt")
    receipt = _load()["receipt"]["json"]
    validator.validate(receipt)
    assert not validator.is_valid({k: v for k, v in receipt.items() if k != "batch"})
    assert not validator.is_valid({**receipt, "batch": {**receipt["batch"], "size": 0}})


# --- the v2 election (docs/log-format.md §9, "The v2 election") --------------------------------


def _jcs(value: Any) -> bytes:
    """RFC 8785 of a value whose strings are ASCII and whose numbers are integers (all of the
    v2 vectors' are): members sorted, no white space."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _root(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH, written out (§5)."""
    if not leaves:
        return _sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _sha(b"\x01" + _root(leaves[:k]) + _root(leaves[k:]))


def _ed25519(public_hex: str, signature: bytes, message: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(signature, message)


def test_v2_log_hashes_rounds_and_roll_from_first_principles() -> None:
    """The v2 log recomputed with hashlib alone: leaves, chain, signed roots; its rounds are
    the maximal runs of one contest and one time, each of at least round_size or the
    contest's only round at the close; the flags and roll commitments follow §10."""
    data = _load()
    v2 = data["v2"]
    tag, chain, leaves = bytes.fromhex(data["chain_tag_hex"]), bytes(32), []
    events = []
    for i, e in enumerate(v2["entries"]):
        body = e["entry"].encode()
        parsed = json.loads(body)
        assert _jcs(parsed) == body and parsed["index"] == i == e["index"]
        assert parsed["v"] == 1 and parsed["election"] == v2["election"]
        leaf = _sha(b"\x00" + body)
        chain = _sha(tag + chain + leaf)
        assert (leaf.hex(), chain.hex()) == (e["leaf_hash"], e["chain_hash"])
        leaves.append(leaf)
        events.append(parsed)
    keyring = Keyring([Verifier.parse(data["key"]["verifier"])])
    for cp in v2["checkpoints"]:
        opened = open_checkpoint(cp["note"], keyring, origin=v2["origin"])
        assert opened.size == cp["size"] and opened.root == _root(leaves[: cp["size"]])
    assert v2["checkpoints"][-1]["size"] == len(leaves)
    # Rounds: maximal runs of ballot_cast with one contest and one time.
    runs: list[dict[str, Any]] = []
    for i, ev in enumerate(events):
        if ev["type"] != "ballot_cast":
            continue
        key = (ev["event"]["contest"], ev["time"])
        last = runs[-1] if runs else None
        if last and (last["contest"], last["time"]) == key and last["first"] + last["size"] == i:
            last["size"] += 1
            last["event_hashes"].append(_sha(_jcs(ev["event"])).hex())
        else:
            runs.append(
                {
                    "contest": key[0],
                    "time": key[1],
                    "first": i,
                    "size": 1,
                    "event_hashes": [_sha(_jcs(ev["event"])).hex()],
                }
            )
    assert runs == v2["rounds"]
    closed = v2["poll_closed_index"]
    assert events[closed]["type"] == "poll_closed"
    k = events[0]["event"]["definition"]["round_size"]
    for r in runs:
        only = sum(x["contest"] == r["contest"] for x in runs) == 1
        at_close = all(events[i]["type"] == "ballot_cast" for i in range(r["first"], closed))
        assert r["size"] >= k or (only and at_close), r
    assert any(r["size"] < k for r in runs)  # the youth contest: below round_size
    hashes = [h for r in runs for h in r["event_hashes"]]
    assert len(set(hashes)) == len(hashes)
    assert all(len(ev["event"]["nonce"]) == 64 for ev in events if ev["type"] == "ballot_cast")
    # A ballot released after the withdrawal of a candidate it ranks, accepted before it.
    withdrawn = next(i for i, ev in enumerate(events) if ev["type"] == "candidate_withdrawn")
    gone = events[withdrawn]["event"]["candidate"]
    assert any(
        ev["type"] == "ballot_cast" and gone in ev["event"]["selections"]
        for ev in events[withdrawn:]
    )
    roll = events[1]["event"]
    salt = bytes.fromhex(v2["roll"]["salt_hex"])
    for contest, spec in v2["roll"]["contests"].items():
        ids = "\n".join(sorted(spec["ids"])).encode()
        digest = _sha(b"ballot-ledger/roll/v1\n" + salt + ids).hex()
        assert digest == spec["roll_hash"] == roll["contests"][contest]["roll_hash"]
        assert roll["contests"][contest]["eligible"] == len(spec["ids"])
        flagged = roll["contests"][contest].get("below_round_size", False)
        assert flagged is (len(spec["ids"]) < k)


def test_v2_acceptance_receipt_from_first_principles() -> None:
    """The acceptance batch recomputed with hashlib and the Ed25519 key alone (§8): each
    message, leaf and the batch root; the signed bytes; the receipt's path, code and event."""
    data = _load()
    v2 = data["v2"]
    batch, receipt = v2["acceptance"]["batch"], v2["acceptance"]["receipt"]
    leaves = []
    for position, leaf in enumerate(batch["leaves"]):
        assert leaf["position"] == position
        message = bytes.fromhex(leaf["message_hex"])
        assert message.startswith(b"ballot-ledger/acceptance/v1\n")
        fields = json.loads(message[len(b"ballot-ledger/acceptance/v1\n") :])
        assert _jcs(fields) == message[len(b"ballot-ledger/acceptance/v1\n") :]
        assert sorted(fields) == [
            "blind",
            "checkpoint",
            "contest",
            "election",
            "event_hash",
            "origin",
            "promise",
            "time",
        ]
        leaves.append(_sha(b"\x00" + message))
        assert leaves[-1].hex() == leaf["leaf_hex"]
    root = _root(leaves)
    assert root.hex() == batch["root_hex"]
    signed = b"ballot-ledger/acceptance-batch/v1\n" + _jcs({"root": root.hex(), "size": 3})
    assert signed.hex() == batch["signed_message_hex"]
    _ed25519(data["key"]["public_key_hex"], base64.b64decode(receipt["signature"]), signed)
    mine = {k: receipt[k] for k in ("blind", "contest", "election", "event_hash", "origin")}
    mine |= {"checkpoint": {"root": receipt["checkpoint"]["root"], "size": 3}}
    mine |= {"promise": "before poll_closed", "time": receipt["time"]}
    message = b"ballot-ledger/acceptance/v1\n" + _jcs(mine)
    position = receipt["batch"]["position"]
    assert batch["leaves"][position]["message_hex"] == message.hex()
    siblings = {0: [leaves[1], leaves[2]], 1: [leaves[0], leaves[2]], 2: [_root(leaves[:2])]}
    assert receipt["batch"] == {
        "size": 3,
        "position": position,
        "path": [x.hex() for x in siblings[position]],
    }
    event_hash = bytes.fromhex(receipt["event_hash"])
    assert _sha(_jcs(receipt["event"])) == event_hash
    code = base64.b32encode(event_hash[:10]).decode()
    assert receipt["code"] == "-".join(code[i : i + 4] for i in range(0, 16, 4))
    assert (
        receipt["checkpoint"]["root"]
        == _root([bytes.fromhex(e["leaf_hash"]) for e in v2["entries"][:3]]).hex()
    )
    keyring = Keyring([Verifier.parse(data["key"]["verifier"])])
    verify_acceptance(AcceptanceReceipt.from_json(receipt), keyring)
    _openapi_validator("AcceptanceReceipt").validate(receipt)


def test_v2_released_entry_keeps_the_promise() -> None:
    """The second stage: the entry the receipt finds has its event hash, lies after the
    receipt's checkpoint and before poll_closed, is in the final checkpoint, and that
    checkpoint is consistent with the receipt's."""
    data = _load()
    v2 = data["v2"]
    receipt, found = v2["acceptance"]["receipt"], v2["released"]
    assert found["status"] == "released" and found["event_hash"] == receipt["event_hash"]
    entry = v2["entries"][found["index"]]
    assert {k: found[k] for k in entry} == entry
    body = json.loads(found["entry"])
    assert body["type"] == "ballot_cast" and body["event"] == receipt["event"]
    assert _sha(_jcs(body["event"])).hex() == receipt["event_hash"]
    head = b'{"election":"' + v2["election"].encode() + b'","event":'
    raw = found["entry"].encode()
    assert _sha(raw[len(head) : raw.rindex(b',"index":')]).hex() == receipt["event_hash"]
    assert receipt["checkpoint"]["size"] <= found["index"] < v2["poll_closed_index"]
    final = v2["checkpoints"][-1]
    keyring = Keyring([Verifier.parse(data["key"]["verifier"])])
    cp = open_checkpoint(final["note"], keyring, origin=receipt["origin"])
    proof = found["inclusion"]
    assert proof["size"] == cp.size
    merkle.verify_inclusion(
        found["index"],
        cp.size,
        bytes.fromhex(found["leaf_hash"]),
        [bytes.fromhex(x) for x in proof["path"]],
        cp.root,
    )
    consistency = found["consistency"]
    assert (consistency["old"], consistency["new"]) == (receipt["checkpoint"]["size"], cp.size)
    merkle.verify_consistency(
        consistency["old"],
        cp.size,
        bytes.fromhex(receipt["checkpoint"]["root"]),
        cp.root,
        [bytes.fromhex(x) for x in consistency["path"]],
    )
    _openapi_validator("ReceiptStatus").validate(
        {k: found[k] for k in ("status", "index", "entry", "leaf_hash", "chain_hash", "event_hash")}
    )


def test_v2_declared_results_hash_and_sign_their_documents() -> None:
    """Each declared result: result_hash is SHA-256 of the JCS of its document, which names
    the counted size and root; the entry's declaration carries it, and the counter key's
    signature covers the result tag and the JCS of every member but the signature."""
    data = _load()
    v2 = data["v2"]
    counted = v2["counted"]
    assert counted["size"] == v2["poll_closed_index"] + 1
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in v2["entries"]]
    assert _root(leaves[: counted["size"]]).hex() == counted["root_hex"]
    for d in v2["declared"]:
        doc = d["document"]
        assert _sha(_jcs(doc)).hex() == d["result_hash"]
        assert (doc["counted_size"], doc["counted_root"], doc["seed"]) == (
            counted["size"],
            counted["root_hex"],
            counted["root_hex"],
        )
        event = json.loads(v2["entries"][d["index"]]["entry"])["event"]
        assert event == {
            "contest": d["contest"],
            "result_hash": d["result_hash"],
            "counted_size": counted["size"],
            "counted_root": counted["root_hex"],
            "elected": doc["elected_ids"],
            "key": v2["counter_key"]["verifier"],
            "signature": event["signature"],
        }
        message = b"ballot-ledger/result/v1\n" + _jcs(
            {k: v for k, v in event.items() if k != "signature"}
        )
        assert message.hex() == d["signed_message_hex"]
        _ed25519(v2["counter_key"]["public_key_hex"], base64.b64decode(event["signature"]), message)
    board = v2["declared"][0]["document"]
    assert [r["action"] for r in board["rounds"]] == ["first-preferences", "exclusion"]
    assert board["elected_ids"] == ["b"]


def test_v2_export_audits_with_the_receipt_released() -> None:
    """The v2 export file (§12) is the log's entries and checkpoints, and `ballot audit` with
    the vector keys pinned and the acceptance receipt given passes: every round, flag and
    recount holds, and the receipt's event is released at the published index."""
    v2 = _load()["v2"]
    lines = v2["export"].encode().splitlines(keepends=True)
    assert all(line.endswith(b"\n") for line in lines)
    records = list(parse_lines(lines))
    assert [r.body.decode() for r in records if hasattr(r, "body")] == [
        e["entry"] for e in v2["entries"]
    ]
    report = audit(
        records,
        ledger_keys=[_load()["key"]["verifier"]],
        counter_keys=[v2["counter_key"]["verifier"]],
        promises=promises_from_json(v2["acceptance"]["receipt"]),
    )
    assert report.ok, report.failure
    assert report.rounds is not None and report.rounds.below_round_size == ("youth",)
    assert [(p.event_hash.hex(), i) for p, i in report.rounds.released] == [
        (v2["released"]["event_hash"], v2["released"]["index"])
    ]
    for d in v2["declared"]:
        result = report.results[d["contest"]]
        assert result["result_hash"] == d["result_hash"] and result["matches_declaration"]


def test_audit_refuses_an_origin_that_is_not_the_elections_log() -> None:
    """§6: the audit takes the origin from the export's header and requires it to end with
    `/elections/<election>`; a log whose checkpoints all name another origin is refused even
    though every signature verifies."""
    v2 = _load()["v2"]
    lines = v2["export"].encode().splitlines(keepends=True)
    header = json.loads(lines[0])
    origin = "ballot-ledger.example/elections/another-election"
    signer = vectors.LEDGER_SIGNER
    out = [(json.dumps({**header, "origin": origin}) + "\n").encode()]
    for line in lines[1:]:
        obj = json.loads(line)
        if obj["kind"] == "checkpoint":
            old = open_checkpoint(obj["note"], Keyring([signer.verifier]), origin=v2["origin"])
            cp = Checkpoint(origin=origin, size=old.size, root=old.root)
            obj["note"] = sign_checkpoint(cp, [signer]).note
            line = (json.dumps(obj) + "\n").encode()
        out.append(line)
    keys = {
        "ledger_keys": [signer.verifier.text()],
        "counter_keys": [v2["counter_key"]["verifier"]],
    }
    assert audit(parse_lines(lines), **keys).ok
    report = audit(parse_lines(out), **keys)
    assert not report.ok and report.failure is not None
    assert report.failure["origin"] == origin


def test_a_log_declared_before_candidate_status_still_audits() -> None:
    """The v2 election as the vectors held it before result documents gave each candidate a
    ``status`` (data/v2-before-status.export, declared by that counter) audits: the recount
    matches its declarations in their older form, and the report says which form it was."""
    v2 = _load()["v2"]
    lines = (DATA / "v2-before-status.export").read_bytes().splitlines(keepends=True)
    report = audit(
        parse_lines(lines),
        ledger_keys=[_load()["key"]["verifier"]],
        counter_keys=[v2["counter_key"]["verifier"]],
    )
    assert report.ok, report.failure
    for contest in ("board", "youth"):
        result = report.results[contest]
        assert result["matches_declaration"]
        assert result["document_form"] == "before candidate status"
    current = audit(
        parse_lines(v2["export"].encode().splitlines(keepends=True)),
        ledger_keys=[_load()["key"]["verifier"]],
        counter_keys=[v2["counter_key"]["verifier"]],
    )
    assert current.ok and "document_form" not in current.results["board"]


def test_ballot_audit_says_a_declaration_is_of_the_older_form(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`ballot audit` of the pre-status export passes and says, per contest, that the recount
    matches a declaration of the older document form."""
    from ballot.cli import main as ballot

    v2 = _load()["v2"]
    argv = ["audit", str(DATA / "v2-before-status.export"), "--key", _load()["key"]["verifier"]]
    assert ballot([*argv, "--counter-key", v2["counter_key"]["verifier"]]) == 0
    out = " ".join(capsys.readouterr().out.split())
    said = "matches the declaration, declared in the document form before candidate status"
    assert out.count(said) == 2 and "board: elected" in out and "youth: elected" in out
