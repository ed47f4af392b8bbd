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

An *acceptance receipt* (the first stage, ``ledger.format.acceptance``) promises that the
ballot's event enters the log before ``poll_closed``. ``check_acceptance`` verifies its
signature, the latest checkpoint and the history (2, 3, and a consistency proof from the
checkpoint the receipt was given), then says which of three outcomes holds:

- the poll is open and the ledger says the ballot is accepted, not yet released: fine;
- the ballot's entry is in the log (its event hashes to ``event_hash``, at or after the
  receipt's checkpoint, inside a signed checkpoint by an inclusion proof), before
  ``poll_closed`` if the log has it: *in the log and unchanged*;
- a signed checkpoint covers ``poll_closed`` and no entry before it has the event: a *broken
  promise*, with an evidence file (``ledger.format.evidence``) anyone can check offline.

Once the poll is closed the check does not rely on the ledger's word: it reads the whole log up
to the latest checkpoint, rebuilds its root and looks for ``poll_closed`` and the event itself.
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
from ledger.format.acceptance import AcceptanceReceipt, event_hash, verify_acceptance
from ledger.format.checkpoint import Checkpoint, names_election, open_checkpoint
from ledger.format.encoding import hex_strict
from ledger.format.entry import parse_entry
from ledger.format.evidence import broken_promise_evidence, check_evidence, log_state
from ledger.format.keys import Keyring, Verifier
from ledger.format.receipts import Receipt, verify_receipt

ACCEPTED = "accepted, not yet released"
RELEASED = "in the log and unchanged"
BROKEN = "broken promise"
CLOSED_PHASES = ("poll_closed", "declared")
PAGE = 10_000


class HistoryChanged(VerificationError):
    """The log now shows a history that does not extend the one seen before (split view)."""


class ServerError(LedgerError):
    """The ledger did not answer as expected."""


class NotFound(ServerError):
    """The ledger answered 404."""


@dataclass(slots=True)
class Outcome:
    ok: bool = False
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checkpoint_size: int | None = None
    status: str = RELEASED
    """``ACCEPTED``, ``RELEASED`` or ``BROKEN`` (then ``ok`` is False)."""
    index: int | None = None
    evidence: dict[str, Any] | None = None
    """The broken-promise evidence document, when ``status`` is ``BROKEN``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "index": self.index,
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
            if r.status == 404:
                raise NotFound(f"GET {url} answered 404", body=(await r.text())[:300])
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


async def _keyring(
    mine: dict[str, Any], keys: list[str], url: str | None, offline: bool, out: Outcome
) -> Keyring:
    """The pinned ledger keys of an election: given now, pinned before, or (with a warning)
    fetched from the server and pinned on first use."""
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
    return Keyring(Verifier.parse(k) for k in mine["keys"])


async def _consistent(
    session: aiohttp.ClientSession, base: str, old: Checkpoint, cp: Checkpoint, what: str
) -> None:
    """Raise ``HistoryChanged`` unless the log at ``cp`` extends the tree ``old``."""
    if cp.size < old.size:
        raise HistoryChanged(
            f"the log is shorter than {what}", seen_size=old.size, now_size=cp.size
        )
    proof: Any = []
    if 0 < old.size < cp.size:
        proof = await _get(session, f"{base}/proofs/consistency", old=old.size, new=cp.size)
    try:
        merkle.verify_consistency(
            old.size, cp.size, old.root, cp.root, _hashes(proof, "the consistency proof")
        )
    except ProofError as exc:
        raise HistoryChanged(
            f"the log no longer extends {what}",
            seen_size=old.size,
            seen_root=old.root.hex(),
            now_size=cp.size,
            now_root=cp.root.hex(),
        ) from exc


async def _latest(
    session: aiohttp.ClientSession,
    base: str,
    election: str,
    keyring: Keyring,
    mine: dict[str, Any],
    out: Outcome,
) -> tuple[Checkpoint, str]:
    """The latest signed checkpoint of the election's log, checked against the pinned origin
    and consistent with the checkpoint seen before (if any)."""
    note = await _get(session, f"{base}/checkpoint")
    cp = open_checkpoint(note, keyring)
    origin = mine.setdefault("origin", cp.origin)
    if cp.origin != origin or not names_election(origin, election):
        raise VerificationError("checkpoint of another log", expected=origin, found=cp.origin)
    out.steps.append(f"checkpoint at size {cp.size} is signed by a pinned key")
    seen = mine.get("checkpoint")
    if seen is not None:
        old = Checkpoint(
            origin=origin, size=seen["size"], root=_hash(seen["root"], "the saved root")
        )
        await _consistent(session, base, old, cp, "a checkpoint seen before")
        out.steps.append(f"consistent with the checkpoint seen before at size {old.size}")
    return cp, note


async def _begin(
    receipt: Receipt | AcceptanceReceipt,
    state_path: Path,
    keys: list[str],
    url: str | None,
    offline: bool,
    out: Outcome,
) -> tuple[dict[str, Any], dict[str, Any], Keyring]:
    """Load the state, pin the keys and verify the receipt's signature: the state, the
    election's part of it and the keyring."""
    state = load_state(state_path)
    mine: dict[str, Any] = state["elections"].setdefault(receipt.election, {})
    keyring = await _keyring(mine, keys, url, offline, out)
    if isinstance(receipt, AcceptanceReceipt):
        verify_acceptance(receipt, keyring)
    else:
        verify_receipt(receipt, keyring)
    what = "acceptance receipt" if isinstance(receipt, AcceptanceReceipt) else "receipt"
    out.steps.append(
        f"{what} signature verifies (key {receipt.key_id.hex()}, batch of "
        f"{receipt.batch.size}, position {receipt.batch.position})"
    )
    return state, mine, keyring


def _saved(mine: dict[str, Any], code: str, out: Outcome) -> dict[str, Any] | None:
    """The proof saved for ``code`` by an earlier check; without one, ``out`` says that only
    the signature was checked, and is a success."""
    saved: dict[str, Any] | None = mine.get("receipts", {}).get(code)
    if saved is None:
        out.steps.append("no saved proof for this receipt: only its signature was checked")
        out.ok = True
    return saved


async def check(
    receipt: Receipt,
    *,
    url: str | None,
    state_path: Path,
    keys: list[str],
    offline: bool = False,
) -> Outcome:
    """Check a receipt; raise ``VerificationError`` (or ``HistoryChanged``) with evidence."""
    out = Outcome(index=receipt.index)
    state, mine, keyring = await _begin(receipt, state_path, keys, url, offline, out)
    code = receipt.code
    if offline:
        saved = _saved(mine, code, out)
        if saved is None:
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
        cp, note = await _latest(session, base, receipt.election, keyring, mine, out)
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


def _released_entry(receipt: AcceptanceReceipt, text: Any, index: Any) -> tuple[int, bytes]:
    """``(index, leaf hash)`` of the entry the ledger says holds the receipt's event, after
    checking that it does: the entry of the receipt's election at that index, whose event
    hashes to ``event_hash``, appended at or after the checkpoint the receipt was given."""
    if not isinstance(text, str) or type(index) is not int:
        raise VerificationError("the ledger's answer has no entry text and index")
    try:
        entry = parse_entry(text.encode())
    except LedgerError as exc:
        raise VerificationError(f"the released entry is malformed: {exc.message}") from exc
    if entry.index != index or entry.election != receipt.election:
        raise VerificationError(
            "the released entry is out of place", index=index, found_index=entry.index
        )
    if entry.kind != "ballot_cast" or event_hash(entry.event) != receipt.event_hash:
        raise VerificationError(
            "the released entry is not the ballot the receipt promised",
            index=index,
            event_hash=receipt.event_hash.hex(),
        )
    if index < receipt.checkpoint.size:
        raise VerificationError(
            "the entry is before the checkpoint the receipt was given",
            index=index,
            receipt_size=receipt.checkpoint.size,
        )
    return index, merkle.leaf_hash(text.encode())


async def _log_texts(session: aiohttp.ClientSession, base: str, size: int) -> list[str]:
    """The exact texts of entries ``0 … size-1``, page by page (checked later, by root)."""
    texts: list[str] = []
    while len(texts) < size:
        page = await _get(
            session, f"{base}/entries", start=len(texts), limit=min(PAGE, size - len(texts))
        )
        items = page.get("entries") if isinstance(page, dict) else None
        if not items:
            raise VerificationError("the feed ends before the checkpoint", at=len(texts), size=size)
        for item in items[: size - len(texts)]:
            if item.get("index") != len(texts) or not isinstance(item.get("entry"), str):
                raise VerificationError("the feed's entries are out of order", at=len(texts))
            texts.append(item["entry"])
    return texts


async def check_acceptance(
    receipt: AcceptanceReceipt,
    *,
    url: str | None,
    state_path: Path,
    keys: list[str],
    offline: bool = False,
) -> Outcome:
    """Check an acceptance receipt and say which stage it is at (module docstring). Raises
    ``VerificationError`` (or ``HistoryChanged``) with evidence; a broken promise is an
    outcome (``status == BROKEN``, ``evidence`` set), not an exception."""
    out = Outcome(status=ACCEPTED)
    state, mine, keyring = await _begin(receipt, state_path, keys, url, offline, out)
    if receipt.event is not None:
        out.steps.append("the event it carries hashes to its event_hash")
    code = receipt.code
    if offline:
        saved = _saved(mine, code, out)
        if saved is None:
            return out
        cp = open_checkpoint(saved["checkpoint"]["note"], keyring, origin=receipt.origin)
        index, leaf = _released_entry(receipt, saved.get("entry"), saved.get("index"))
        merkle.verify_inclusion(
            index, cp.size, leaf, _hashes(saved["proof"], "the saved inclusion proof"), cp.root
        )
        out.steps.append(f"saved inclusion proof of entry {index} verifies at size {cp.size}")
        out.status, out.index, out.checkpoint_size, out.ok = RELEASED, index, cp.size, True
        return out
    if url is None:
        raise VerificationError("--url is needed unless --offline")
    base = f"{url}/v1/elections/{receipt.election}"
    saved_proof: dict[str, Any] | None = None
    async with aiohttp.ClientSession() as session:
        mine.setdefault("origin", receipt.origin)
        cp, note = await _latest(session, base, receipt.election, keyring, mine, out)
        if cp.origin != receipt.origin:
            raise VerificationError(
                "the receipt is for another log", receipt=receipt.origin, log=cp.origin
            )
        promised = Checkpoint(
            origin=cp.origin, size=receipt.checkpoint.size, root=receipt.checkpoint.root
        )
        await _consistent(session, base, promised, cp, "the checkpoint the receipt was given")
        out.steps.append(
            f"consistent with the checkpoint the receipt was given at size {promised.size}"
        )
        election = await _get(session, base)
        phase = election.get("phase") if isinstance(election, dict) else None
        if phase in CLOSED_PHASES:
            texts = await _log_texts(session, base, cp.size)
            found = log_state(receipt, cp, texts)
            out.steps.append(f"the {cp.size} entries of the log rebuild the checkpoint's root")
            if found.broken:
                out.status = BROKEN
                out.evidence = broken_promise_evidence(receipt, mine["keys"], note, texts)
                verdict = check_evidence(out.evidence, keyring)
                if not verdict.proven:  # cannot happen: the same checks, made again
                    raise VerificationError(verdict.reason, **verdict.details)
                out.steps.append(
                    f"poll_closed is entry {found.closed_at} and no entry before it holds "
                    "the accepted ballot"
                )
            elif found.kept and found.found_at is not None:
                tree = merkle.MemoryTree()
                tree.extend(merkle.leaf_hash(t.encode()) for t in texts)
                index, _ = _released_entry(receipt, texts[found.found_at], found.found_at)
                out.status, out.index = RELEASED, index
                saved_proof = {
                    "index": index,
                    "entry": texts[index],
                    "proof": [p.hex() for p in tree.inclusion_proof(index)],
                }
                where = (
                    "before poll_closed" if found.closed_at is not None else "(no poll_closed yet)"
                )
                out.steps.append(f"the ballot's entry is {index}, {where}")
            else:
                out.warnings.append(
                    "the poll is closed but no signed checkpoint covers poll_closed yet: "
                    "check again later"
                )
        else:
            try:
                answer = await _get(session, f"{base}/receipts/{receipt.event_hash.hex()}")
            except NotFound as exc:
                raise VerificationError(
                    "the ledger does not know this accepted ballot", code=code
                ) from exc
            status = answer.get("status") if isinstance(answer, dict) else None
            if status == "accepted":
                out.steps.append("the ledger holds the ballot, not yet released")
            elif status == "released":
                index, leaf = _released_entry(receipt, answer.get("entry"), answer.get("index"))
                if index >= cp.size:
                    out.warnings.append(
                        f"released as entry {index}, not yet covered by a signed checkpoint: "
                        "check again later"
                    )
                else:
                    proof = await _get(
                        session, f"{base}/proofs/inclusion", index=index, size=cp.size
                    )
                    path = _hashes(proof, "the inclusion proof")
                    merkle.verify_inclusion(index, cp.size, leaf, path, cp.root)
                    out.steps.append(
                        f"entry {index} holds the ballot; its inclusion proof verifies"
                    )
                    out.status, out.index = RELEASED, index
                    saved_proof = {
                        "index": index,
                        "entry": answer["entry"],
                        "proof": [p.hex() for p in path],
                    }
            else:
                raise ServerError("the receipt lookup answered no known status", status=status)
    mine["checkpoint"] = _checkpoint_json(cp, note)
    if saved_proof is not None:
        mine.setdefault("receipts", {})[code] = {
            "checkpoint": _checkpoint_json(cp, note),
            **saved_proof,
        }
    save_state(state_path, state)
    out.checkpoint_size, out.ok = cp.size, out.status != BROKEN
    return out


AnyReceipt = Receipt | AcceptanceReceipt


def parse_receipts(text: str) -> list[tuple[str | None, AnyReceipt]]:
    """The receipts in ``text``, each with its contest if known: a receipt (a v1 receipt or an
    acceptance receipt, by its ``stage``), or a whole cast answer ``{"submission_id": …,
    "receipts": {contest: receipt, …}}``; as JSON, or as base64 of that JSON."""
    data = _json(text)
    if isinstance(data, dict) and "receipts" in data and "submission_id" in data:
        receipts = data["receipts"]
        if not isinstance(receipts, dict) or not receipts:
            raise VerificationError("the cast answer holds no receipts")
        return [(str(contest), _one(r)) for contest, r in receipts.items()]
    one = _one(data)
    return [(one.contest if isinstance(one, AcceptanceReceipt) else None, one)]


def _one(data: Any) -> AnyReceipt:
    if isinstance(data, dict) and "stage" in data:
        return AcceptanceReceipt.from_json(data)
    return Receipt.from_json(data)


def _json(text: str) -> Any:
    """JSON, or base64 of JSON (as an app might show it)."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        try:
            stripped = base64.b64decode(stripped, validate=True).decode()
        except ValueError as exc:
            raise VerificationError("the receipt is neither JSON nor base64 JSON") from exc
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise VerificationError(f"the receipt is not JSON: {exc}") from exc
