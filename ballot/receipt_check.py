"""Checking a receipt against the ledger, trusting nothing the server says that can be checked.

1. The receipt's signature, by a pinned ledger key: the receipt's leaf, folded up its batch
   path, gives the batch root that the signature covers (docs/log-format.md §8).
2. The latest signed checkpoint (signature by a pinned key, origin of this election's log).
3. If a checkpoint was seen before (the state file remembers it): a consistency proof from it
   to the new one. A server that now shows another history cannot produce one: that is a
   *split view*, reported as such.
4. The inclusion proof of the receipt's leaf at its index in the new checkpoint's tree.
5. The entry itself at that index: its leaf hash and chain value equal the receipt's.

The state file keeps, per election: the pinned keys, the origin, the last checkpoint seen, and
each checked receipt's proof, so that ``--offline`` can re-verify without the server.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ledger.errors import DecodeError, LedgerError, ProofError, VerificationError
from ledger.format import merkle
from ledger.format.checkpoint import Checkpoint, open_checkpoint
from ledger.format.encoding import hex_strict
from ledger.format.keys import Keyring, Verifier
from ledger.format.receipts import Receipt, verify_receipt


class HistoryChanged(VerificationError):
    """The log now shows a history that does not extend the one seen before (split view)."""


class ServerError(LedgerError):
    """The ledger did not answer as expected."""


@dataclass(slots=True)
class Outcome:
    ok: bool = False
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checkpoint_size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "steps": self.steps,
            "warnings": self.warnings,
            "checkpoint_size": self.checkpoint_size,
        }


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"elections": {}}
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LedgerError(f"cannot read the state file {path}: {exc}") from exc
    data.setdefault("elections", {})
    return data


def save_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


async def _get(session: aiohttp.ClientSession, url: str, **params: Any) -> Any:
    try:
        async with session.get(url, params={k: str(v) for k, v in params.items()}) as r:
            if r.status != 200:
                raise ServerError(f"GET {url} answered {r.status}", body=(await r.text())[:300])
            if r.content_type == "application/json":
                return await r.json()
            return await r.text()
    except aiohttp.ClientError as exc:
        raise ServerError(f"GET {url} failed: {exc}") from exc


def _hash(text: Any, what: str) -> bytes:
    try:
        return hex_strict(text, 32)
    except DecodeError as exc:
        raise VerificationError(f"{what} is not a 32-byte hash in lower-case hex") from exc


def _hashes(proof: Any, what: str) -> list[bytes]:
    """The hashes of a proof as the ledger publishes it, ``{"proof": [hex, ...]}`` or the
    bare list: each exactly 32 bytes in lower-case hex."""
    items = proof.get("proof") if isinstance(proof, dict) else proof
    if not isinstance(items, list):
        raise VerificationError(f"{what} is not a list of hashes")
    return [_hash(p, what) for p in items]


def _checkpoint_json(cp: Checkpoint, note: str) -> dict[str, Any]:
    return {"size": cp.size, "root": cp.root.hex(), "note": note}


async def check(
    receipt: Receipt,
    *,
    url: str | None,
    state_path: Path,
    keys: list[str],
    offline: bool = False,
) -> Outcome:
    """Check a receipt; raise ``VerificationError`` (or ``HistoryChanged``) with evidence."""
    out = Outcome()
    state = load_state(state_path)
    mine: dict[str, Any] = state["elections"].setdefault(receipt.election, {})
    if keys:
        mine["keys"] = keys
    if not mine.get("keys"):
        if offline or url is None:
            raise VerificationError("no pinned ledger key: give --key")
        async with aiohttp.ClientSession() as session:
            published = await _get(session, f"{url}/v1/keys")
        mine["keys"] = list(published["ledger"])
        out.warnings.append(
            "ledger keys fetched from the server and pinned on first use: compare them with "
            "the keys your organisation published"
        )
    keyring = Keyring(Verifier.parse(k) for k in mine["keys"])
    verify_receipt(receipt, keyring)
    out.steps.append(
        f"receipt signature verifies (key {receipt.key_id.hex()}, batch of "
        f"{receipt.batch.size}, position {receipt.batch.position})"
    )
    code = receipt.code
    if offline:
        saved = mine.get("receipts", {}).get(code)
        if saved is None:
            out.steps.append("no saved proof for this receipt: only its signature was checked")
            out.ok = True
            return out
        cp = open_checkpoint(saved["checkpoint"]["note"], keyring)
        merkle.verify_inclusion(
            receipt.index,
            cp.size,
            receipt.leaf_hash,
            _hashes(saved["proof"], "the saved inclusion proof"),
            cp.root,
        )
        out.steps.append(f"saved inclusion proof verifies against the checkpoint at {cp.size}")
        out.checkpoint_size, out.ok = cp.size, True
        return out
    if url is None:
        raise VerificationError("--url is needed unless --offline")
    base = f"{url}/v1/elections/{receipt.election}"
    async with aiohttp.ClientSession() as session:
        note = await _get(session, f"{base}/checkpoint")
        cp = open_checkpoint(note, keyring)
        origin = mine.setdefault("origin", cp.origin)
        if cp.origin != origin or not origin.endswith(f"/elections/{receipt.election}"):
            raise VerificationError("checkpoint of another log", expected=origin, found=cp.origin)
        out.steps.append(f"checkpoint at size {cp.size} is signed by a pinned key")
        seen = mine.get("checkpoint")
        if seen is not None:
            old = Checkpoint(
                origin=origin, size=seen["size"], root=_hash(seen["root"], "the saved root")
            )
            if cp.size < old.size:
                raise HistoryChanged(
                    "the log is shorter than a checkpoint seen before",
                    seen_size=old.size,
                    now_size=cp.size,
                )
            proof = await _get(session, f"{base}/proofs/consistency", old=old.size, new=cp.size)
            try:
                merkle.verify_consistency(
                    old.size, cp.size, old.root, cp.root, _hashes(proof, "the consistency proof")
                )
            except ProofError as exc:
                raise HistoryChanged(
                    "the log no longer extends the checkpoint seen before",
                    seen_size=old.size,
                    seen_root=old.root.hex(),
                    now_size=cp.size,
                    now_root=cp.root.hex(),
                ) from exc
            out.steps.append(f"consistent with the checkpoint seen before at size {old.size}")
        if receipt.index >= cp.size:
            raise VerificationError(
                "the latest checkpoint does not cover the receipt yet",
                index=receipt.index,
                size=cp.size,
            )
        proof = await _get(session, f"{base}/proofs/inclusion", index=receipt.index, size=cp.size)
        path = _hashes(proof, "the inclusion proof")
        merkle.verify_inclusion(receipt.index, cp.size, receipt.leaf_hash, path, cp.root)
        out.steps.append(f"inclusion proof of entry {receipt.index} verifies")
        page = await _get(session, f"{base}/entries", start=receipt.index, limit=1)
        if not page["entries"]:
            raise VerificationError("the entry is missing from the feed", index=receipt.index)
        entry = page["entries"][0]
        leaf = merkle.leaf_hash(entry["entry"].encode())
        if leaf != receipt.leaf_hash or entry["chain_hash"] != receipt.chain_hash.hex():
            raise VerificationError(
                "the entry at the receipt's index is another one",
                index=receipt.index,
                expected=receipt.leaf_hash.hex(),
                found=leaf.hex(),
            )
        out.steps.append("the entry's leaf hash and chain value equal the receipt's")
    mine["checkpoint"] = _checkpoint_json(cp, note)
    mine.setdefault("receipts", {})[code] = {
        "checkpoint": _checkpoint_json(cp, note),
        "proof": [p.hex() for p in path],
    }
    save_state(state_path, state)
    out.checkpoint_size, out.ok = cp.size, True
    return out


def parse_receipt(text: str) -> Receipt:
    """A receipt from its JSON, or from a base64 of that JSON (as an app might show it)."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        try:
            stripped = base64.b64decode(stripped, validate=True).decode()
        except ValueError as exc:
            raise VerificationError("the receipt is neither JSON nor base64 JSON") from exc
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise VerificationError(f"the receipt is not JSON: {exc}") from exc
    return Receipt.from_json(data)
