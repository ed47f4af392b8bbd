"""Acceptance receipts: the ledger's signed promise that an accepted ballot's event will enter
the log before ``poll_closed`` (docs/log-format.md §8, the analogue of an RFC 6962 signed
certificate timestamp).

A cast is not appended when it is accepted: it waits in a private pending store until a release
round appends it among at least K others of its contest. What the voter gets at once is an
acceptance receipt binding the event to come: its *message* is ``ACCEPTANCE_TAG || JCS(fields)``
with ``fields`` = ``{"blind", "checkpoint": {"root", "size"}, "contest", "election",
"event_hash", "origin", "promise", "time"}``, where ``event_hash`` is SHA-256 of the event's
RFC 8785 bytes, ``checkpoint`` the latest signed checkpoint at acceptance, ``promise`` the
literal ``"before poll_closed"`` (a log position, not a clock time) and ``blind`` 32 random
bytes that only this receipt's holder gets.

Receipts are signed a batch at a time, as receipts v2 are: the leaves ``SHA-256(0x00 ||
message)`` of the batch's receipts, in a random order, form an RFC 9162 tree whose root the
ledger key signs as ``ACCEPTANCE_BATCH_TAG || JCS({"root", "size"})``. Each receipt carries the
signature and its inclusion path. The blinds keep the path from saying anything about the other
ballots of the batch: without a leaf's blind, no released event can be matched to a sibling
hash; the random order keeps the position from saying when in the batch a ballot came.

The human code is the first 10 bytes of the *event hash* in base32: it finds the ballot in the
pending store while it waits, and its entry once released.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import DecodeError, ReceiptError, SignatureError
from ledger.format import merkle
from ledger.format.canonical import canonical_bytes
from ledger.format.encoding import b64_strict, hex_strict
from ledger.format.keys import Keyring, Signer
from ledger.format.receipts import BatchProof, batch_paths, batch_root, human_code

ACCEPTANCE_TAG = b"ballot-ledger/acceptance/v1\n"
ACCEPTANCE_BATCH_TAG = b"ballot-ledger/acceptance-batch/v1\n"
PROMISE = "before poll_closed"
STAGE = "accepted"
_SIGNED = ("election", "origin", "contest", "event_hash", "time", "checkpoint", "promise", "blind")
_MEMBERS = frozenset((*_SIGNED, "stage", "key_id", "signature", "code", "batch"))
_EXTRAS = frozenset(("event", "salt"))


def event_hash(event: Any) -> bytes:
    """SHA-256 of the event object's RFC 8785 bytes: what a receipt promises and an entry's
    event must hash to."""
    return hashlib.sha256(canonical_bytes(event)).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptanceReceipt:
    election: str
    origin: str
    contest: str
    event_hash: bytes
    time: str
    checkpoint_size: int
    checkpoint_root: bytes
    blind: bytes
    key_id: bytes
    signature: bytes
    batch: BatchProof
    promise: str = PROMISE

    @property
    def code(self) -> str:
        return human_code(self.event_hash)

    def fields(self) -> dict[str, Any]:
        """The signed fields, as JSON values."""
        return {
            "blind": self.blind.hex(),
            "checkpoint": {"root": self.checkpoint_root.hex(), "size": self.checkpoint_size},
            "contest": self.contest,
            "election": self.election,
            "event_hash": self.event_hash.hex(),
            "origin": self.origin,
            "promise": self.promise,
            "time": self.time,
        }

    def message(self) -> bytes:
        """``ACCEPTANCE_TAG || JCS(fields)``: what the receipt's batch leaf hashes."""
        return ACCEPTANCE_TAG + canonical_bytes(self.fields())

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": STAGE,
            "election": self.election,
            "origin": self.origin,
            "contest": self.contest,
            "event_hash": self.event_hash.hex(),
            "time": self.time,
            "checkpoint": {"size": self.checkpoint_size, "root": self.checkpoint_root.hex()},
            "promise": self.promise,
            "blind": self.blind.hex(),
            "key_id": self.key_id.hex(),
            "signature": base64.b64encode(self.signature).decode(),
            "code": self.code,
            "batch": self.batch.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> AcceptanceReceipt:
        """Parse an acceptance receipt (the unsigned extras ``event`` and ``salt`` are allowed
        and ignored here); every member strict, one spelling per value."""
        if not isinstance(data, dict):
            raise ReceiptError("malformed acceptance receipt: it must be a JSON object")
        missing = sorted(_MEMBERS - data.keys())
        extra = sorted(data.keys() - _MEMBERS - _EXTRAS)
        if missing or extra:
            raise ReceiptError(
                "malformed acceptance receipt: wrong members", missing=missing, unexpected=extra
            )
        if data["stage"] != STAGE:
            raise ReceiptError('malformed acceptance receipt: "stage" must be "accepted"')
        if data["promise"] != PROMISE:
            raise ReceiptError(f'malformed acceptance receipt: "promise" must be "{PROMISE}"')
        for member in ("election", "origin", "contest", "time"):
            if not isinstance(data[member], str):
                raise ReceiptError(f'malformed acceptance receipt: "{member}" must be a string')
        cp = data["checkpoint"]
        if not isinstance(cp, dict) or cp.keys() != {"size", "root"}:
            raise ReceiptError(
                'malformed acceptance receipt: "checkpoint" must have exactly "size" and "root"'
            )
        if type(cp["size"]) is not int or not 0 <= cp["size"] <= 2**53 - 1:
            raise ReceiptError("malformed acceptance receipt: checkpoint size out of range")
        try:
            receipt = cls(
                election=data["election"],
                origin=data["origin"],
                contest=data["contest"],
                event_hash=hex_strict(data["event_hash"], 32, what="event_hash"),
                time=data["time"],
                checkpoint_size=cp["size"],
                checkpoint_root=hex_strict(cp["root"], 32, what="checkpoint root"),
                blind=hex_strict(data["blind"], 32, what="blind"),
                key_id=hex_strict(data["key_id"], 4, what="key_id"),
                signature=b64_strict(data["signature"], 64, what="signature"),
                batch=BatchProof.from_json(data["batch"]),
            )
        except DecodeError as exc:
            raise ReceiptError(f"malformed acceptance receipt: {exc.message}") from exc
        if data["code"] != receipt.code:
            raise ReceiptError("receipt code does not match its event hash", code=data["code"])
        if "event" in data and event_hash(data["event"]) != receipt.event_hash:
            raise ReceiptError("the receipt's event does not hash to its event_hash")
        return receipt


def acceptance_batch_message(*, root: bytes, size: int) -> bytes:
    """What an acceptance batch signature covers."""
    return ACCEPTANCE_BATCH_TAG + canonical_bytes({"root": root.hex(), "size": size})


def _message_writer(
    *, election: str, origin: str, checkpoint: tuple[int, bytes], time: str
) -> Callable[[bytes, str, bytes], bytes]:
    """``AcceptanceReceipt.message`` for one batch (its receipts share the election, origin,
    checkpoint and time): the JCS members written in their order directly, each shared string
    encoded once by ``canonical_bytes``; byte for byte ``ACCEPTANCE_TAG +
    canonical_bytes(fields)`` (a test pins it), at a fraction of its cost."""
    size, root = checkpoint
    middle = b"".join(
        (
            b'","checkpoint":{"root":"',
            root.hex().encode(),
            b'","size":',
            str(size).encode(),
            b'},"contest":',
        )
    )
    after_election = (
        b',"event_hash":"',
        b'","origin":' + canonical_bytes(origin) + b',"promise":' + canonical_bytes(PROMISE),
    )
    tail = b',"time":' + canonical_bytes(time) + b"}"
    election_json = canonical_bytes(election)
    contests: dict[str, bytes] = {}

    def write(blind: bytes, contest: str, ev: bytes) -> bytes:
        cj = contests.get(contest)
        if cj is None:
            cj = contests[contest] = canonical_bytes(contest)
        return b"".join(
            (
                ACCEPTANCE_TAG,
                b'{"blind":"',
                blind.hex().encode(),
                middle,
                cj,
                b',"election":',
                election_json,
                after_election[0],
                ev.hex().encode(),
                after_election[1],
                tail,
            )
        )

    return write


class AcceptanceSigner:
    """Signs acceptance receipts a batch at a time with one ledger key."""

    __slots__ = ("_key", "key_id")

    def __init__(self, signer: Signer) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(signer.seed)
        self.key_id = signer.verifier.key_id

    def sign_batch(
        self,
        *,
        election: str,
        origin: str,
        checkpoint: tuple[int, bytes],
        time: str,
        items: Sequence[tuple[str, bytes]],
    ) -> list[AcceptanceReceipt]:
        """Sign ``items`` (``(contest, event_hash)``) as one batch, each with a fresh blind,
        the leaves in a random order; the receipts come back in the order of ``items``."""
        if not items:
            return []
        order = list(range(len(items)))
        secrets.SystemRandom().shuffle(order)
        # 32 random bytes per receipt from one read of the operating system's generator.
        pool = secrets.token_bytes(32 * len(items))
        blinds = [pool[k : k + 32] for k in range(0, len(pool), 32)]
        message = _message_writer(
            election=election, origin=origin, checkpoint=checkpoint, time=time
        )
        tree = merkle.MemoryTree()
        for n in order:
            contest, ev = items[n]
            tree.append(merkle.leaf_hash(message(blinds[n], contest, ev)))
        signature = self._key.sign(acceptance_batch_message(root=tree.root(), size=tree.size))
        paths = batch_paths(tree)
        size, root = checkpoint
        out: list[AcceptanceReceipt | None] = [None] * len(items)
        for position, n in enumerate(order):
            contest, ev = items[n]
            out[n] = AcceptanceReceipt(
                election=election,
                origin=origin,
                contest=contest,
                event_hash=ev,
                time=time,
                checkpoint_size=size,
                checkpoint_root=root,
                blind=blinds[n],
                key_id=self.key_id,
                signature=signature,
                batch=BatchProof(size=tree.size, position=position, path=tuple(paths[position])),
            )
        return [r for r in out if r is not None]


def acceptance_texts(receipts: Sequence[AcceptanceReceipt], events: Sequence[str]) -> list[str]:
    """``json.dumps`` of each receipt's ``to_json()`` with its unsigned extras, byte for byte
    (a test pins it), written directly: the members a batch shares are encoded once.
    ``events`` holds, for each receipt, the extras' text already written: ``, "event": {...}``
    and, for a sealed contest, ``, "salt": "..."``."""
    hexes: dict[bytes, str] = {}
    common: dict[tuple[str, str, str, bytes], tuple[str, str, str]] = {}
    out: list[str] = []
    for r, extra in zip(receipts, events, strict=True):
        key = (r.election, r.origin, r.time, r.signature)
        shared = common.get(key)
        if shared is None:
            shared = (
                '{"stage": "accepted", "election": '
                + json.dumps(r.election)
                + ', "origin": '
                + json.dumps(r.origin)
                + ', "contest": ',
                ', "time": '
                + json.dumps(r.time)
                + ', "checkpoint": {"size": '
                + str(r.checkpoint_size)
                + ', "root": "'
                + r.checkpoint_root.hex()
                + '"}, "promise": '
                + json.dumps(r.promise)
                + ', "blind": "',
                '", "key_id": "'
                + r.key_id.hex()
                + '", "signature": "'
                + base64.b64encode(r.signature).decode()
                + '", "code": "',
            )
            common[key] = shared
        path = []
        for node in r.batch.path:
            h = hexes.get(node)
            if h is None:
                h = hexes[node] = node.hex()
            path.append(h)
        out.append(
            f'{shared[0]}{json.dumps(r.contest)}, "event_hash": "{r.event_hash.hex()}"'
            f'{shared[1]}{r.blind.hex()}{shared[2]}{r.code}", "batch": '
            f'{{"size": {r.batch.size}, "position": {r.batch.position}, "path": '
            + ('["' + '", "'.join(path) + '"]' if path else "[]")
            + f"}}{extra}}}"
        )
    return out


def verify_acceptance(receipt: AcceptanceReceipt, keyring: Keyring) -> None:
    """Raise ``ReceiptError`` unless the receipt is in a batch signed by a trusted ledger key."""
    verifier = keyring.by_id(receipt.key_id)
    if verifier is None:
        raise ReceiptError("receipt signed by an unknown key", key_id=receipt.key_id.hex())
    root = batch_root(merkle.leaf_hash(receipt.message()), receipt.batch)
    try:
        verifier.verify(
            acceptance_batch_message(root=root, size=receipt.batch.size), receipt.signature
        )
    except SignatureError as exc:
        raise ReceiptError(
            "acceptance receipt signature does not verify over its batch root",
            election=receipt.election,
            code=receipt.code,
        ) from exc
