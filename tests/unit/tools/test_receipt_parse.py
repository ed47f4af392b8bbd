"""What `ballot receipt check` reads: a v1 receipt, an acceptance receipt or a cast answer."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from ballot.receipt_check import parse_receipts
from ledger.errors import ReceiptError, VerificationError
from ledger.format.acceptance import AcceptanceReceipt, CheckpointRef, sign_acceptances
from ledger.format.keys import Signer
from ledger.format.receipts import Receipt, sign_receipt

SIGNER = Signer(name="ballot-ledger.test/ledger", seed=bytes(range(32)))


def _acceptance(contest: str) -> AcceptanceReceipt:
    return sign_acceptances(
        SIGNER,
        election="e1",
        origin="ballot-ledger.test/elections/e1",
        checkpoint=CheckpointRef(size=0, root=hashlib.sha256(b"").digest()),
        items=[(contest, hashlib.sha256(contest.encode()).digest())],
    )[0]


def test_each_shape_is_read_with_its_contest() -> None:
    """A v1 receipt (no contest), an acceptance receipt (its contest), a cast answer (each
    receipt under its contest), as JSON or base64 JSON."""
    v1 = sign_receipt(SIGNER, election="e1", index=3, leaf_hash=bytes(32), chain_hash=bytes(32))
    assert parse_receipts(json.dumps(v1.to_json())) == [(None, v1)]
    one = _acceptance("members")
    assert parse_receipts(json.dumps(one.to_json())) == [("members", one)]
    two = _acceptance("youth")
    answer = {"submission_id": "s", "receipts": {"members": one.to_json(), "youth": two.to_json()}}
    text = json.dumps(answer)
    assert parse_receipts(text) == [("members", one), ("youth", two)]
    assert parse_receipts(base64.b64encode(text.encode()).decode()) == parse_receipts(text)
    assert isinstance(parse_receipts(json.dumps(v1.to_json()))[0][1], Receipt)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"submission_id": "s", "receipts": {}}', VerificationError),
        ('{"submission_id": "s", "receipts": []}', VerificationError),
        ('{"stage": "accepted"}', ReceiptError),
        ("not json", VerificationError),
    ],
)
def test_what_is_no_receipt_is_refused(text: str, error: type[Exception]) -> None:
    """A cast answer with no receipts, a malformed acceptance receipt, or no JSON: refused."""
    with pytest.raises(error):
        parse_receipts(text)
