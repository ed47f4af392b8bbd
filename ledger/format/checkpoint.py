"""Checkpoints: the C2SP tlog-checkpoint body inside a C2SP signed note.

Body (each line ends with ``\\n``)::

    <origin>
    <tree size, decimal, no leading zeros>
    <root hash, standard base64 with padding>

followed by a blank line and one or more signature lines
``— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>``
(the line starts with U+2014 EM DASH and a space). Each signature is over the body bytes
exactly, including the final newline of the body. A verifier accepts a checkpoint when at least
one signature is by a key it trusts and verifies; signatures by unknown keys are ignored, a
signature by a trusted key that does not verify is an error. Roots and signatures are read as
canonical base64 (``ledger.format.encoding``): one spelling per value, so that the signed note of a
checkpoint has one text.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ledger.errors import CheckpointError, DecodeError, SignatureError
from ledger.format.encoding import b64_strict
from ledger.format.keys import Keyring, Signer

_SIG_PREFIX = "\u2014 "
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


def election_origin(prefix: str, election: str) -> str:
    """The origin line of an election's log (docs/log-format.md §6): ``<prefix>/elections/<id>``."""
    return f"{prefix}/elections/{election}"


def names_election(origin: str, election: str) -> bool:
    """Whether ``origin`` is the origin of ``election``'s log (§6): one that ends with
    ``/elections/<election>``, so another log's checkpoints cannot pass for this one's."""
    return origin.endswith(f"/elections/{election}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> bytes:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("origin must be one non-empty line", origin=self.origin)
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\n".encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str
    """The whole signed note text, as published."""


def sign_checkpoint(checkpoint: Checkpoint, signers: list[Signer]) -> SignedCheckpoint:
    """Sign ``checkpoint`` with each of ``signers`` and return the signed note."""
    body = checkpoint.body()
    lines = []
    for signer in signers:
        blob = base64.b64encode(signer.verifier.key_id + signer.sign(body)).decode()
        lines.append(f"{_SIG_PREFIX}{signer.name} {blob}\n")
    return SignedCheckpoint(checkpoint=checkpoint, note=body.decode() + "\n" + "".join(lines))


def parse_checkpoint_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("checkpoint body needs origin, size and root lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise CheckpointError("empty origin")
    if not _SIZE.fullmatch(size_text):
        raise CheckpointError("tree size is not a decimal number", size=size_text)
    try:
        root = b64_strict(root_text, 32, what="root")
    except DecodeError as exc:
        raise CheckpointError(exc.message, root=root_text[:80]) from exc
    return Checkpoint(origin=origin, size=int(size_text), root=root)


def open_checkpoint(note: str, keyring: Keyring, *, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note against trusted keys and return its checkpoint.

    Raises ``CheckpointError`` (malformed, wrong origin, no trusted signature) or
    ``SignatureError`` (a trusted key's signature that does not verify), with the evidence.
    """
    sep = note.rfind("\n\n")
    if sep < 0:
        raise CheckpointError("signed note has no blank line before its signatures")
    body_text, sig_text = note[: sep + 1], note[sep + 2 :]
    if not sig_text.endswith("\n"):
        raise CheckpointError("signature block must end with a newline")
    checkpoint = parse_checkpoint_body(body_text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(
            "checkpoint for another log", expected=origin, found=checkpoint.origin
        )
    body = body_text.encode()
    verified = 0
    for line in sig_text[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError("malformed signature line", line=line[:80])
        try:
            name, blob = line[len(_SIG_PREFIX) :].split(" ")
            raw = b64_strict(blob, what="signature")
        except ValueError as exc:  # DecodeError is a ValueError
            raise CheckpointError("malformed signature line", line=line[:80]) from exc
        if len(raw) < 5:
            raise CheckpointError("signature too short", key=name)
        verifier = keyring.get(name, raw[:4])
        if verifier is None:
            continue  # C2SP signed-note: signatures by unknown keys are ignored.
        if len(raw) != 4 + 64:
            raise CheckpointError("an Ed25519 signature is 64 bytes", key=name, length=len(raw) - 4)
        try:
            verifier.verify(body, raw[4:])
        except SignatureError as exc:
            raise SignatureError(
                "checkpoint signature does not verify",
                key=name,
                key_id=raw[:4].hex(),
                size=checkpoint.size,
                root=checkpoint.root.hex(),
            ) from exc
        verified += 1
    if verified == 0:
        raise CheckpointError("no signature by a trusted key", size=checkpoint.size)
    return checkpoint
