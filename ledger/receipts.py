"""Receipts: the ledger's signed promise that a ballot's entry is in the log (DESIGN §5).

The signed message is ``RECEIPT_TAG || JCS(fields)`` where ``fields`` is the JSON object
``{"chain_hash": hex, "election": str, "index": int, "leaf_hash": hex, "time": str}`` encoded
with RFC 8785; ``time`` is RFC 3339 UTC with microseconds (``2026-11-23T05:21:16.123456Z``).
The signature is Ed25519 by the ledger key whose 4-byte id is ``key_id``.

The human code is the first 10 bytes of the leaf hash in RFC 4648 base32 (16 letters and
digits), in four groups of four joined by ``-``: short enough to read out, and 80 bits, enough
to find the entry in a log.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.canonical import canonical_bytes
from ledger.errors import ReceiptError, SignatureError
from ledger.keys import Keyring, Signer

RECEIPT_TAG = b"ballot-ledger/receipt/v1\n"
CODE_BYTES = 10
_CODE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$")
_SAFE_INT = 2**53 - 1


def human_code(leaf: bytes) -> str:
    """The short human code of a leaf hash, e.g. ``MFRG-GZDF-MZTW-Q2LK``."""
    text = base64.b32encode(leaf[:CODE_BYTES]).decode()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def code_prefix(code: str) -> bytes:
    """The leaf-hash prefix that a human code stands for (inverse of ``human_code``)."""
    norm = code.strip().upper()
    if not _CODE.match(norm):
        raise ReceiptError("a receipt code is four groups of four base32 characters", code=code)
    return base64.b32decode(norm.replace("-", ""))


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    election: str
    index: int
    leaf_hash: bytes
    chain_hash: bytes
    time: str
    key_id: bytes
    signature: bytes

    @property
    def code(self) -> str:
        return human_code(self.leaf_hash)

    def to_json(self) -> dict[str, Any]:
        return {
            "election": self.election,
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "chain_hash": self.chain_hash.hex(),
            "time": self.time,
            "key_id": self.key_id.hex(),
            "signature": base64.b64encode(self.signature).decode(),
            "code": self.code,
        }

    @classmethod
    def from_json(cls, data: Any) -> Receipt:
        try:
            receipt = cls(
                election=str(data["election"]),
                index=int(data["index"]),
                leaf_hash=bytes.fromhex(data["leaf_hash"]),
                chain_hash=bytes.fromhex(data["chain_hash"]),
                time=str(data["time"]),
                key_id=bytes.fromhex(data["key_id"]),
                signature=base64.b64decode(data["signature"], validate=True),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ReceiptError(f"malformed receipt: {exc}") from exc
        if len(receipt.leaf_hash) != 32 or len(receipt.chain_hash) != 32:
            raise ReceiptError("receipt hashes must be 32 bytes")
        if "code" in data and data["code"] != receipt.code:
            raise ReceiptError("receipt code does not match its leaf hash", code=data["code"])
        return receipt


def receipt_message(
    *, election: str, index: int, leaf_hash: bytes, chain_hash: bytes, time: str
) -> bytes:
    """``RECEIPT_TAG || JCS(fields)``. The members are written in their JCS order directly
    (the hashes are lower-case hex, the strings are encoded by ``canonical_bytes``), which is
    byte for byte ``canonical_bytes(fields)`` at a fraction of its cost; an index outside the
    exact integer range goes the long way and is refused there."""
    if type(index) is not int or not 0 <= index <= _SAFE_INT:
        fields = {
            "chain_hash": chain_hash.hex(),
            "election": election,
            "index": index,
            "leaf_hash": leaf_hash.hex(),
            "time": time,
        }
        return RECEIPT_TAG + canonical_bytes(fields)
    return b"".join(
        (
            RECEIPT_TAG,
            b'{"chain_hash":"',
            chain_hash.hex().encode(),
            b'","election":',
            canonical_bytes(election),
            b',"index":',
            str(index).encode(),
            b',"leaf_hash":"',
            leaf_hash.hex().encode(),
            b'","time":',
            canonical_bytes(time),
            b"}",
        )
    )


class ReceiptSigner:
    """Signs receipts with one ledger key, holding the parsed private key and its key id:
    building them from the seed costs more than the Ed25519 signature itself."""

    __slots__ = ("_key", "key_id")

    def __init__(self, signer: Signer) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(signer.seed)
        self.key_id = signer.verifier.key_id

    def sign(
        self,
        *,
        election: str,
        index: int,
        leaf_hash: bytes,
        chain_hash: bytes,
        time: str | None = None,
    ) -> Receipt:
        stamp = time or utc_now()
        message = receipt_message(
            election=election, index=index, leaf_hash=leaf_hash, chain_hash=chain_hash, time=stamp
        )
        return Receipt(
            election=election,
            index=index,
            leaf_hash=leaf_hash,
            chain_hash=chain_hash,
            time=stamp,
            key_id=self.key_id,
            signature=self._key.sign(message),
        )


def sign_receipt(
    signer: Signer,
    *,
    election: str,
    index: int,
    leaf_hash: bytes,
    chain_hash: bytes,
    time: str | None = None,
) -> Receipt:
    """Sign one receipt (a service keeps a ``ReceiptSigner`` instead, to parse the key once)."""
    return ReceiptSigner(signer).sign(
        election=election, index=index, leaf_hash=leaf_hash, chain_hash=chain_hash, time=time
    )


def verify_receipt(receipt: Receipt, keyring: Keyring) -> None:
    """Raise ``ReceiptError`` unless the receipt is signed by a trusted ledger key."""
    verifier = keyring.by_id(receipt.key_id)
    if verifier is None:
        raise ReceiptError("receipt signed by an unknown key", key_id=receipt.key_id.hex())
    message = receipt_message(
        election=receipt.election,
        index=receipt.index,
        leaf_hash=receipt.leaf_hash,
        chain_hash=receipt.chain_hash,
        time=receipt.time,
    )
    try:
        verifier.verify(message, receipt.signature)
    except SignatureError as exc:
        raise ReceiptError(
            "receipt signature does not verify",
            election=receipt.election,
            index=receipt.index,
            key_id=receipt.key_id.hex(),
        ) from exc
