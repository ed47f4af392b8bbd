"""Ed25519 keys in the C2SP signed-note key formats.

A key has a *name* (e.g. ``ballot-ledger.example/ledger-2026``) and a 4-byte *key id*:
``SHA-256(name || 0x0A || 0x01 || public_key)[:4]`` (C2SP signed-note, algorithm byte 0x01 =
Ed25519). Text forms:

- verifier (public): ``<name>+<8 hex key id>+<base64(0x01 || public key)>``
- signer (private):  ``PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>``

Key ids let keys rotate: a verifier keeps a ``Keyring`` of every key it trusts, and signatures
by keys it does not know are ignored.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import DecodeError, KeyFormatError, SignatureError
from ledger.format.encoding import b64_strict

ALG_ED25519 = 0x01


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise KeyFormatError("a key name is non-empty, with no '+' and no white space", name=name)


@functools.lru_cache(maxsize=64)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    """The parsed key, kept: an audit verifies thousands of checkpoints by one key."""
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True, slots=True)
class Verifier:
    """A public Ed25519 key with its name and id."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def key_id_hex(self) -> str:
        return self.key_id.hex()

    def text(self) -> str:
        """The verifier key text ``name+keyid+base64(0x01||pub)``."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id_hex}+{blob}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyFormatError("verifier key is name+keyid+key", text=text[:80])
        name, hex_id, blob = parts
        _check_name(name)
        try:
            raw = b64_strict(blob, 33, what="verifier key")
        except DecodeError as exc:
            raise KeyFormatError(exc.message, **exc.evidence) from exc
        if raw[0] != ALG_ED25519:
            raise KeyFormatError("verifier key is not an Ed25519 key", length=len(raw))
        verifier = cls(name=name, public_key=raw[1:])
        if verifier.key_id_hex != hex_id:
            raise KeyFormatError(
                "verifier key id is not the key's (8 lower-case hex digits)", given=hex_id
            )
        return verifier

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise ``SignatureError`` unless ``signature`` is this key's over ``message``."""
        try:
            _public_key(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError(key=self.name, key_id=self.key_id_hex) from exc


@dataclass(frozen=True, slots=True)
class Signer:
    """A private Ed25519 key with its name; signs checkpoints, receipts and results."""

    name: str
    seed: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.seed) != 32:
            raise KeyFormatError("an Ed25519 seed is 32 bytes")

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name=name, seed=os.urandom(32))

    @property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> Verifier:
        public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(name=self.name, public_key=public)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def text(self) -> str:
        """The private key text ``PRIVATE+KEY+name+keyid+base64(0x01||seed)``."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id_hex}+{blob}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise KeyFormatError("private key is PRIVATE+KEY+name+keyid+key")
        _, _, name, hex_id, blob = parts
        try:
            raw = b64_strict(blob, 33, what="private key")
        except DecodeError as exc:
            raise KeyFormatError(exc.message) from exc
        if raw[0] != ALG_ED25519:
            raise KeyFormatError("private key is not an Ed25519 key")
        signer = cls(name=name, seed=raw[1:])
        if signer.verifier.key_id_hex != hex_id:
            raise KeyFormatError(
                "private key id is not the key's (8 lower-case hex digits)", given=hex_id
            )
        return signer


class Keyring:
    """The verifier keys someone trusts, looked up by (name, key id)."""

    def __init__(self, verifiers: Iterable[Verifier] = ()) -> None:
        self._keys: dict[tuple[str, bytes], Verifier] = {}
        for v in verifiers:
            self.add(v)

    def add(self, verifier: Verifier) -> None:
        self._keys[(verifier.name, verifier.key_id)] = verifier

    def get(self, name: str, kid: bytes) -> Verifier | None:
        return self._keys.get((name, kid))

    def by_id(self, kid: bytes) -> Verifier | None:
        for (_, k), v in self._keys.items():
            if k == kid:
                return v
        return None

    def __iter__(self) -> Iterator[Verifier]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)
