"""Acceptance receipts: the ledger's signed promise that an accepted ballot will enter the log
before ``poll_closed`` (docs/log-format.md §8, the first of a ballot's two receipt stages).

A ballot is accepted into a private pending store and released to the public log later, in a
shuffled round. At acceptance the voter gets an *acceptance receipt*, the analogue of an RFC 6962
signed certificate timestamp: it binds the log's ``origin``, the ``election``, the ``contest``,
``event_hash`` = SHA-256 of the RFC 8785 bytes of the exact event that will be appended, the
acceptance ``time``, the latest signed ``checkpoint`` (size and root) and the ``promise`` that
the entry will precede ``poll_closed``. Its message is

    ACCEPTANCE_TAG || JCS({"blind": hex, "checkpoint": {"root": hex, "size": int},
                           "contest": str, "election": str, "event_hash": hex,
                           "origin": str, "promise": "before poll_closed", "time": str})

and its leaf ``SHA-256(0x00 || message)``. Acceptance receipts are signed a batch at a time as
receipts are (``ledger.format.receipts``): one Ed25519 signature over
``ACCEPTANCE_BATCH_TAG || JCS({"root": hex(R), "size": k})`` where ``R`` is the RFC 9162 root of
the batch's ``k`` leaves, and each receipt carries its position and inclusion path.

A receipt reveals nothing about the other ballots of its batch: every leaf is *blinded* by its
own 32 random bytes (``blind``, given only to that receipt's holder), so a sibling hash on a
published receipt's path cannot be recomputed from a released event, its contest, the batch
time and any checkpoint; and the leaves are *shuffled* (positions drawn with the operating
system's random generator), so a position says nothing about arrival order either.

The receipt also carries two unsigned extras: ``event``, the event object itself (the voter's
app checks at once that it says what they chose and that it hashes to ``event_hash``), and, for
sealed contests, the commitment's ``salt``. The human ``code`` is ``human_code(event_hash)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.errors import DecodeError, EncodingError, ReceiptError
from ledger.format.canonical import canonical_bytes
from ledger.format.encoding import b64_strict, hex_strict
from ledger.format.keys import Keyring, Signer
from ledger.format.receipts import (
    BatchProof,
    ReceiptSigner,
    batch_text,
    human_code,
    utc_now,
    verify_batch_signature,
)

ACCEPTANCE_TAG = b"ballot-ledger/acceptance/v1\n"
ACCEPTANCE_BATCH_TAG = b"ballot-ledger/acceptance-batch/v1\n"
STAGE = "accepted"
PROMISE = "before poll_closed"
BLIND_BYTES = 32
_SAFE_INT = 2**53 - 1
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$")
_REQUIRED = frozenset(
    (
        "stage",
        "election",
        "origin",
        "contest",
        "event_hash",
        "time",
        "checkpoint",
        "promise",
        "blind",
        "key_id",
        "signature",
        "code",
        "batch",
    )
)
_OPTIONAL = frozenset(("event", "salt"))
_CHECKPOINT_MEMBERS = frozenset(("size", "root"))

AcceptanceItem = tuple[str, bytes]
"""What ``sign_acceptances`` signs for each accepted ballot: ``(contest, event_hash)``."""


def event_hash(event: Any) -> bytes:
    """SHA-256 of the RFC 8785 canonical bytes of an event object (not of its entry)."""
    return hashlib.sha256(canonical_bytes(event)).digest()


class SizedRoot(Protocol):
    """A tree head: a ``Checkpoint`` or a ``CheckpointRef``."""

    @property
    def size(self) -> int: ...

    @property
    def root(self) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRef:
    """The size and root of the latest signed checkpoint at acceptance."""

    size: int
    root: bytes

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root.hex()}

    @classmethod
    def from_json(cls, data: Any) -> CheckpointRef:
        if not isinstance(data, dict) or data.keys() != _CHECKPOINT_MEMBERS:
            raise ReceiptError(
                'malformed acceptance receipt: "checkpoint" must be an object with exactly '
                '"size" and "root"'
            )
        size = data["size"]
        if type(size) is not int or not 0 <= size <= _SAFE_INT:
            raise ReceiptError(
                "malformed acceptance receipt: the checkpoint size must be an integer from 0 "
                "to 2**53 - 1",
                size=size,
            )
        try:
            root = hex_strict(data["root"], 32, what="checkpoint root")
        except DecodeError as exc:
            raise ReceiptError(f"malformed acceptance receipt: {exc.message}") from exc
        return cls(size=size, root=root)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptanceReceipt:
    election: str
    origin: str
    contest: str
    event_hash: bytes
    time: str
    checkpoint: CheckpointRef
    blind: bytes
    key_id: bytes
    signature: bytes
    """The Ed25519 signature of the receipt's batch, shared by the batch."""
    batch: BatchProof
    promise: str = PROMISE
    event: dict[str, Any] | None = None
    """Unsigned: the event object, which hashes to ``event_hash``."""
    salt: bytes | None = None
    """Unsigned, sealed contests only: the 32-byte salt of the commitment."""

    @property
    def code(self) -> str:
        return human_code(self.event_hash)

    def message(self) -> bytes:
        return acceptance_message(
            election=self.election,
            origin=self.origin,
            contest=self.contest,
            event_hash=self.event_hash,
            time=self.time,
            checkpoint=self.checkpoint,
            blind=self.blind,
            promise=self.promise,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "stage": STAGE,
            "election": self.election,
            "origin": self.origin,
            "contest": self.contest,
            "event_hash": self.event_hash.hex(),
            "time": self.time,
            "checkpoint": self.checkpoint.to_json(),
            "promise": self.promise,
            "blind": self.blind.hex(),
            "key_id": self.key_id.hex(),
            "signature": base64.b64encode(self.signature).decode(),
            "code": self.code,
            "batch": self.batch.to_json(),
        }
        if self.event is not None:
            data["event"] = self.event
        if self.salt is not None:
            data["salt"] = self.salt.hex()
        return data

    @classmethod
    def from_json(cls, data: Any) -> AcceptanceReceipt:
        """Parse strictly: exactly the members above (``event`` and ``salt`` optional), each
        in its one spelling; raises ``ReceiptError`` naming what is wrong."""
        if not isinstance(data, dict):
            raise ReceiptError("malformed acceptance receipt: it must be a JSON object")
        missing = sorted(_REQUIRED - data.keys())
        extra = sorted(data.keys() - _REQUIRED - _OPTIONAL)
        if missing or extra:
            raise ReceiptError(
                "malformed acceptance receipt: wrong members", missing=missing, unexpected=extra
            )
        if data["stage"] != STAGE:
            raise ReceiptError('malformed acceptance receipt: "stage" must be "accepted"')
        if data["promise"] != PROMISE:
            raise ReceiptError(f'malformed acceptance receipt: "promise" must be "{PROMISE}"')
        for member in ("election", "origin", "contest"):
            if not isinstance(data[member], str) or not data[member]:
                raise ReceiptError(f'malformed acceptance receipt: "{member}" must be a string')
        if not isinstance(data["time"], str) or not _TIME.fullmatch(data["time"]):
            raise ReceiptError(
                'malformed acceptance receipt: "time" must be RFC 3339 UTC with microseconds',
                time=str(data["time"])[:40],
            )
        event = data.get("event")
        if "event" in data and not isinstance(event, dict):
            raise ReceiptError('malformed acceptance receipt: "event" must be an object')
        checkpoint = CheckpointRef.from_json(data["checkpoint"])
        batch = BatchProof.from_json(data["batch"])
        try:
            receipt = cls(
                election=data["election"],
                origin=data["origin"],
                contest=data["contest"],
                event_hash=hex_strict(data["event_hash"], 32, what="event_hash"),
                time=data["time"],
                checkpoint=checkpoint,
                blind=hex_strict(data["blind"], BLIND_BYTES, what="blind"),
                key_id=hex_strict(data["key_id"], 4, what="key_id"),
                signature=b64_strict(data["signature"], 64, what="signature"),
                batch=batch,
                event=event,
                salt=hex_strict(data["salt"], 32, what="salt") if "salt" in data else None,
            )
        except DecodeError as exc:
            raise ReceiptError(f"malformed acceptance receipt: {exc.message}") from exc
        if data["code"] != receipt.code:
            raise ReceiptError(
                "acceptance receipt code does not match its event hash", code=data["code"]
            )
        return receipt


def acceptance_message(
    *,
    election: str,
    origin: str,
    contest: str,
    event_hash: bytes,
    time: str,
    checkpoint: SizedRoot,
    blind: bytes,
    promise: str = PROMISE,
) -> bytes:
    """``ACCEPTANCE_TAG || JCS(fields)``, the message an acceptance receipt's leaf hashes."""
    if promise != PROMISE:
        fields = {
            "blind": blind.hex(),
            "checkpoint": {"root": checkpoint.root.hex(), "size": checkpoint.size},
            "contest": contest,
            "election": election,
            "event_hash": event_hash.hex(),
            "origin": origin,
            "promise": promise,
            "time": time,
        }
        return ACCEPTANCE_TAG + canonical_bytes(fields)
    return _message_writer(election, origin, checkpoint, time)(blind, contest, event_hash)


def _message_writer(
    election: str, origin: str, checkpoint: SizedRoot, time: str
) -> Callable[[bytes, str, bytes], bytes]:
    """``acceptance_message`` for one batch (its receipts share election, origin, checkpoint,
    time and promise), written in JCS member order directly: byte for byte
    ``canonical_bytes(fields)`` (a test pins it), each shared string encoded once."""
    size = checkpoint.size
    if type(size) is not int or not 0 <= size <= _SAFE_INT:
        raise EncodingError("a checkpoint size is an integer from 0 to 2**53 - 1", size=size)
    middle = b"".join(
        (
            b'","checkpoint":{"root":"',
            checkpoint.root.hex().encode(),
            b'","size":',
            str(size).encode(),
            b'},"contest":',
        )
    )
    tail = b"".join(
        (
            b'","origin":',
            canonical_bytes(origin),
            b',"promise":"',
            PROMISE.encode(),
            b'","time":',
            canonical_bytes(time),
            b"}",
        )
    )
    election_part = b',"election":' + canonical_bytes(election) + b',"event_hash":"'
    contests: dict[str, bytes] = {}

    def write(blind: bytes, contest: str, event_hash: bytes) -> bytes:
        contest_json = contests.get(contest)
        if contest_json is None:
            contest_json = contests[contest] = canonical_bytes(contest)
        return b"".join(
            (
                ACCEPTANCE_TAG,
                b'{"blind":"',
                blind.hex().encode(),
                middle,
                contest_json,
                election_part,
                event_hash.hex().encode(),
                tail,
            )
        )

    return write


def sign_acceptances(
    signer: Signer | ReceiptSigner,
    *,
    election: str,
    origin: str,
    checkpoint: SizedRoot,
    items: Sequence[AcceptanceItem],
    time: str | None = None,
) -> list[AcceptanceReceipt]:
    """Sign one batch of acceptance receipts, one per ``(contest, event_hash)`` of ``items``
    (event hashes distinct), returned in the order of ``items``. Each leaf gets a fresh blind
    (``secrets.token_bytes``); the leaves are placed in the batch tree in an order drawn with
    ``secrets.SystemRandom``; one signature covers the batch root. ``time`` (RFC 3339 UTC with
    microseconds) defaults to now; ``event`` and ``salt`` are for the caller to attach."""
    if not items:
        return []
    if len({h for _, h in items}) != len(items):
        raise ValueError("an event hash appears twice in one acceptance batch")
    receipt_signer = signer if isinstance(signer, ReceiptSigner) else ReceiptSigner(signer)
    stamp = time or utc_now()
    ref = CheckpointRef(size=checkpoint.size, root=checkpoint.root)
    write = _message_writer(election, origin, ref, stamp)
    order = list(range(len(items)))  # order[p]: the item at batch position p
    secrets.SystemRandom().shuffle(order)
    # BLIND_BYTES random bytes per leaf, from one read of the operating system's generator.
    pool = secrets.token_bytes(BLIND_BYTES * len(items))
    blinds = [pool[k : k + BLIND_BYTES] for k in range(0, len(pool), BLIND_BYTES)]
    signature, proofs = receipt_signer.sign_messages(
        [write(blinds[n], *items[n]) for n in order], tag=ACCEPTANCE_BATCH_TAG
    )
    signed: list[AcceptanceReceipt | None] = [None] * len(items)
    for position, n in enumerate(order):
        contest, hashed = items[n]
        signed[n] = AcceptanceReceipt(
            election=election,
            origin=origin,
            contest=contest,
            event_hash=hashed,
            time=stamp,
            checkpoint=ref,
            blind=blinds[n],
            key_id=receipt_signer.key_id,
            signature=signature,
            batch=proofs[position],
        )
    return [r for r in signed if r is not None]


class AcceptanceSigner:
    """Signs batches of acceptance receipts with one ledger key, parsed once (a service keeps
    one): ``sign_acceptances`` with the checkpoint given as ``(size, root)``."""

    __slots__ = ("_signer",)

    def __init__(self, signer: Signer) -> None:
        self._signer = ReceiptSigner(signer)

    @property
    def key_id(self) -> bytes:
        return self._signer.key_id

    def sign_batch(
        self,
        *,
        election: str,
        origin: str,
        checkpoint: tuple[int, bytes],
        items: Sequence[AcceptanceItem],
        time: str | None = None,
    ) -> list[AcceptanceReceipt]:
        size, root = checkpoint
        return sign_acceptances(
            self._signer,
            election=election,
            origin=origin,
            checkpoint=CheckpointRef(size=size, root=root),
            items=items,
            time=time,
        )


def verify_acceptance(receipt: AcceptanceReceipt, keyring: Keyring) -> None:
    """Raise ``ReceiptError`` unless the receipt is in a batch signed by a trusted ledger key
    (its leaf, folded up its batch path, gives the root the signature covers) and its
    ``event``, if it carries one, hashes to its ``event_hash``."""
    verify_batch_signature(
        keyring,
        message=receipt.message(),
        batch=receipt.batch,
        key_id=receipt.key_id,
        signature=receipt.signature,
        tag=ACCEPTANCE_BATCH_TAG,
        what="acceptance receipt",
        election=receipt.election,
        contest=receipt.contest,
        code=receipt.code,
    )
    if receipt.event is not None:
        try:
            found = event_hash(receipt.event)
        except EncodingError as exc:
            raise ReceiptError(f"the receipt's event is not canonical JSON: {exc}") from exc
        if found != receipt.event_hash:
            raise ReceiptError(
                "the receipt's event does not hash to its event_hash",
                event_hash=receipt.event_hash.hex(),
                found=found.hex(),
            )


def acceptance_texts(
    receipts: Sequence[AcceptanceReceipt],
    event_texts: Sequence[str | None] | None = None,
    salts: Sequence[bytes | None] | None = None,
) -> list[str]:
    """``json.dumps(r.to_json())`` of each receipt, written directly (a test pins the
    equality): the members a batch shares are encoded once.

    The cast path attaches the unsigned extras here rather than to the receipts:
    ``event_texts[n]``, if given and not None, is the JSON text of receipt ``n``'s event (e.g.
    its canonical bytes, decoded) and ``salts[n]`` its salt; the text is then that of the
    receipt with ``event`` and ``salt`` set, as JSON (the event's spelling is the one given)."""
    n_receipts = len(receipts)
    if (event_texts is not None and len(event_texts) != n_receipts) or (
        salts is not None and len(salts) != n_receipts
    ):
        raise ValueError("one event text and one salt per receipt")
    hexes: dict[bytes, str] = {}
    common: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    contests: dict[str, str] = {}
    out: list[str] = []
    for n, r in enumerate(receipts):
        key = (
            r.election,
            r.origin,
            r.time,
            r.checkpoint,
            r.promise,
            r.key_id,
            r.signature,
            r.batch.size,
        )
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
                + str(r.checkpoint.size)
                + ', "root": "'
                + r.checkpoint.root.hex()
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
        contest = contests.get(r.contest)
        if contest is None:
            contest = contests[r.contest] = json.dumps(r.contest)
        text = (
            f'{shared[0]}{contest}, "event_hash": "{r.event_hash.hex()}"{shared[1]}'
            f'{r.blind.hex()}{shared[2]}{human_code(r.event_hash)}", "batch": '
            + batch_text(r.batch, hexes)
        )
        event = event_texts[n] if event_texts is not None else None
        if event is None and r.event is not None:
            event = json.dumps(r.event)
        if event is not None:
            text += ', "event": ' + event
        salt = salts[n] if salts is not None else r.salt
        if salt is not None:
            text += f', "salt": "{salt.hex()}"'
        out.append(text + "}")
    return out
