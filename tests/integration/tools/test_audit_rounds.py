"""`ballot audit` on exports whose release rounds, events or promises were tampered with: the
history rewritten and re-signed with the ledger's own key, as a dishonest ledger could."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ballot.bench import synthetic
from ballot.bench.audit import write_export
from ballot.cli import main
from ledger.domain import election as el
from ledger.format.acceptance import AcceptanceSigner, event_hash
from ledger.format.keys import Signer

KEYS = [
    "--key",
    synthetic.SYNTH_SIGNER.verifier.text(),
    "--counter-key",
    synthetic.COUNTER_SIGNER.verifier.text(),
]


def _build(sealed: bool = False) -> synthetic.SyntheticLog:
    return synthetic.build(voters=200, seed=21, sealed=sealed, round_size=7, declare=False)


def _relog(base: synthetic.SyntheticLog, bodies: list[bytes]) -> synthetic.SyntheticLog:
    """The entries given, renumbered, hashed and signed afresh with the ledger's key."""
    log = synthetic.SyntheticLog(election=base.election, origin=base.origin)
    log.state = el.ElectionState(election_id=base.election)
    for body in bodies:
        v = json.loads(body)
        log.append(v["type"], v["event"], v["time"])
    log.checkpoint()
    return log


def _audit(
    log: synthetic.SyntheticLog,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *more: str,
) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "export.ndjson"
    write_export(log, path)
    code = main(["audit", str(path), *KEYS, "--json", *more])
    return code, json.loads(capsys.readouterr().out)


def _casts(log: synthetic.SyntheticLog) -> list[tuple[int, dict[str, Any]]]:
    found = []
    for i, body in enumerate(log.entries):
        v = json.loads(body)
        if v["type"] == "ballot_cast":
            found.append((i, v))
    return found


def test_a_clean_log_in_rounds_passes_and_lists_its_rounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log released in rounds of at least K passes (exit 0) and the report gives each
    contest's rounds; a contest below K is listed."""
    log = synthetic.build(voters=40, seed=24, round_size=7, declare=False)
    assert _young(log) == 4  # below K: the roll flags youth
    code, report = _audit(log, tmp_path, capsys)
    assert code == 0, report["failure"]
    assert report["round_size"] == 7 and report["below_round_size"] == ["youth"]
    assert report["rounds"]["members"]["rounds"] > 2
    assert report["rounds"]["members"]["smallest"] >= 7
    assert report["rounds"]["youth"]["rounds"] == 1
    assert main(["audit", str(tmp_path / "export.ndjson"), *KEYS]) == 0
    printed = capsys.readouterr().out
    assert "release round(s), the smallest" in printed and "youth: eligible roll below" in printed


def _young(log: synthetic.SyntheticLog) -> int:
    roll = next(json.loads(b) for b in log.entries if b'"type":"roll_published"' in b)
    return int(roll["event"]["contests"]["youth"]["eligible"])


def test_a_round_split_below_k_fails_the_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One ballot of a release round given another time stamp (a round of 1 beside it) fails
    the audit (exit 1) at that round, with K and its size."""
    log = _build()
    casts = _casts(log)
    i, v = casts[0]
    bodies = list(log.entries)
    v["time"] = "2026-11-23T08:59:59.000Z"
    bodies[i] = json.dumps(v).encode()
    code, report = _audit(_relog(log, bodies), tmp_path, capsys)
    assert code == 1
    failure = report["failure"]
    assert failure["message"] == "a release round holds fewer than round_size ballots"
    assert (failure["index"], failure["size"], failure["round_size"]) == (i, 1, 7)


def test_a_replayed_ballot_fails_the_audit_with_both_indices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ballot's event replayed in place of a later ballot of its contest (so every round
    keeps its size) fails the audit with both indices."""
    log = _build()
    casts = [(i, v) for i, v in _casts(log) if v["event"]["contest"] == "members"]
    (first, original), (later, replaced) = casts[0], casts[-1]
    bodies = list(log.entries)
    replaced["event"] = original["event"]
    bodies[later] = json.dumps(replaced).encode()
    code, report = _audit(_relog(log, bodies), tmp_path, capsys)
    assert code == 1
    assert report["failure"]["message"] == "an event appears twice among the ballots"
    assert report["failure"]["indices"] == [first, later]
    assert report["failure"]["event_hash"] == event_hash(original["event"]).hex()


def _receipt(log: synthetic.SyntheticLog, event: dict[str, Any]) -> dict[str, Any]:
    """The acceptance receipt the ledger signed for ``event`` (its extras too)."""
    signer = AcceptanceSigner(synthetic.SYNTH_SIGNER)
    (receipt,) = signer.sign_batch(
        election=log.election,
        origin=log.origin,
        checkpoint=(1, log.tree.root(1)),
        time="2026-11-23T09:00:00.500000Z",
        items=[(event["contest"], event_hash(event))],
    )
    return {**receipt.to_json(), "event": event}


def test_a_withheld_ballot_is_a_broken_promise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --receipts: a receipt whose ballot is in the log passes; once a ballot is withheld
    (the log rewritten without it, poll_closed in it) its receipt is a broken promise, exit 3,
    naming the receipt; while the poll is open the same receipt is only not yet released."""
    log = _build()
    casts = _casts(log)
    (kept, kept_entry), (gone, gone_entry) = casts[3], casts[-1]
    answer = tmp_path / "answer.json"
    receipts = {"members": _receipt(log, kept_entry["event"])}
    answer.write_text(json.dumps({"submission_id": "s-1", "receipts": receipts}))
    withheld = tmp_path / "withheld.json"
    withheld.write_text(json.dumps(_receipt(log, gone_entry["event"])))
    code, report = _audit(log, tmp_path, capsys, "--receipts", str(answer), str(withheld))
    assert code == 0 and report["ok"]
    assert [r["index"] for r in report["promises"]["released"]] == [kept, gone]
    forged = _relog(log, log.entries[:gone] + log.entries[gone + 1 :])
    code, report = _audit(forged, tmp_path, capsys, "--receipts", str(answer), str(withheld))
    assert code == 3 and report["ok"]
    assert report["promises"]["broken"] == [
        {
            "contest": gone_entry["event"]["contest"],
            "event_hash": event_hash(gone_entry["event"]).hex(),
            "source": str(withheld),
        }
    ]
    path = tmp_path / "export.ndjson"
    assert main(["audit", str(path), *KEYS, "--receipts", str(withheld)]) == 3
    assert "BROKEN PROMISE" in capsys.readouterr().out
    closed = next(i for i, b in enumerate(forged.entries) if b'"type":"poll_closed"' in b)
    still_open = _relog(log, [b for b in forged.entries[:closed] if b'"ballot_cast"' not in b])
    code, report = _audit(still_open, tmp_path, capsys, "--receipts", str(withheld))
    assert code == 0 and len(report["promises"]["not_yet_released"]) == 1


def test_receipts_that_are_not_this_elections_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receipt of another election, a file that is no receipt, or --receipts with
    --hashes-only is a usage error (exit 2)."""
    log = _build()
    path = tmp_path / "export.ndjson"
    write_export(log, path)
    other = tmp_path / "other.json"
    event = _casts(log)[0][1]["event"]
    other.write_text(json.dumps({**_receipt(log, event), "election": "another"}))
    junk = tmp_path / "junk.json"
    junk.write_text('{"index": 3}')
    for args in (
        ["--receipts", str(other)],
        ["--receipts", str(junk)],
        ["--receipts", str(tmp_path / "missing.json")],
        ["--hashes-only", "--receipts", str(other)],
    ):
        assert main(["audit", str(path), *KEYS, *args]) == 2
    assert "not of the export's" in capsys.readouterr().err


def test_a_receipt_not_signed_by_a_pinned_key_fails_the_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receipt signed by another key than the pinned ledger keys is no promise of this
    ledger: the audit fails (exit 1) naming it."""
    log = _build()
    event = _casts(log)[0][1]["event"]
    stranger = AcceptanceSigner(Signer(name=synthetic.SYNTH_SIGNER.name, seed=bytes([9]) * 32))
    (forged,) = stranger.sign_batch(
        election=log.election,
        origin=log.origin,
        checkpoint=(1, log.tree.root(1)),
        time="2026-11-23T09:00:00.500000Z",
        items=[("members", event_hash(event))],
    )
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged.to_json()))
    code, report = _audit(log, tmp_path, capsys, "--receipts", str(path))
    assert code == 1
    assert report["failure"]["message"].startswith("an acceptance receipt does not verify")
    assert report["failure"]["source"] == str(path)
