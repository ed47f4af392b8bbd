"""One election's follower: refold the mirror, follow the feed, verify, fold, persist, count
and declare."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import asyncpg
import structlog

from counter.ballots import blt
from counter.errors import CounterError
from counter.runtime import metrics
from counter.service.client import FeedEntry, LedgerUnreachable, Source
from counter.storage.store import CounterStore, MirrorEntry, Progress, ResultMismatch
from counter.tally import fold as fl
from ledger.domain import election as el
from ledger.errors import VerificationError
from ledger.format import merkle
from ledger.format.checkpoint import Checkpoint, open_checkpoint
from ledger.format.keys import Keyring, Signer

log = structlog.get_logger(__name__)


class Halted(VerificationError):
    """The election's fold stopped: the log did not verify (see the alert's evidence)."""


def sign_declaration(document: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """The ``result_declared`` request body of a counted result, signed by ``signer``."""
    body = {**fl.declaration_for(document), "key": signer.verifier.text()}
    body["signature"] = base64.b64encode(signer.sign(el.declaration_message(body))).decode()
    return body


def progress_of(
    state: fl.FoldState, origin: str, checkpoint: tuple[int, bytes, str | None]
) -> Progress:
    size, root, note = checkpoint
    return Progress(
        election_id=state.election,
        origin=origin,
        size=state.size,
        chain_head=state.chain_head,
        root=state.root,
        checkpoint_size=size,
        checkpoint_root=root,
        checkpoint_note=note,
        stopped=None,
    )


def projection(state: fl.FoldState) -> dict[str, Any]:
    """The stored projection: the fold's running tallies, plus the definition's titles."""
    out = fl.running(state)
    d = state.phase.definition
    if d is not None:
        out["definition"] = {
            "title": d.title,
            "sealed": d.sealed,
            "declare": d.declare,
            "predecessor": d.document.get("predecessor"),
            # jsonb keeps no key order: the definition's order of contests is stated.
            "order": [c.id for c in d.contests],
            "contests": {
                c.id: {
                    "title": c.title,
                    "seats": c.seats,
                    "method": c.method,
                    "rule": c.rule,
                    "constraints": [
                        {"attribute": k.attribute, "value": k.value, "min": k.min}
                        for k in c.constraints
                    ],
                }
                for c in d.contests
            },
        }
        out["not_standing"] = not_standing(state)
    return out


def not_standing(state: fl.FoldState) -> dict[str, dict[str, str]]:
    """Per contest, each candidate not standing and why: ``withdrawn`` (a
    ``candidate_withdrawn``) or ``not validly nominated`` (left out by
    ``nominations_closed``)."""
    d = state.phase.definition
    out: dict[str, dict[str, str]] = {}
    if d is None:
        return out
    for c in d.contests:
        status = fl.statuses(state, c)
        out[c.id] = {
            x.name: status[x.id]
            for x in c.candidates
            if status[x.id] in ("withdrawn", "not validly nominated")
        }
    return out


def _age(entry_time: str) -> float:
    try:
        then = datetime.fromisoformat(entry_time).timestamp()
    except ValueError:
        return 0.0
    return max(0.0, time.time() - then)


# --- one election ------------------------------------------------------------------------------


class Follower:
    """Follows one election: restore from the mirror, then verify-fold-commit batch by batch."""

    def __init__(
        self,
        *,
        election: str,
        origin: str,
        pool: asyncpg.Pool,
        store: CounterStore,
        source: Source,
        keyring: Keyring,
        signer: Signer | None,
        batch: int = 1000,
        wait: int = 25,
        retry: float = 1.0,
    ) -> None:
        self.election = election
        self.retry = retry
        self.origin = origin
        self.pool = pool
        self.store = store
        self.source = source
        self.keyring = keyring
        self.signer = signer
        self.batch = batch
        self.wait = wait
        self.state = fl.initial(election)
        self.progress: Progress | None = None
        self.declared_at: dict[str, int] = {}
        self.posted: set[str] = set()
        self.uncountable: set[str] = set()  # contests whose count failed: alerted once
        self.status = "starting"
        self.reason: str | None = None
        """Why the follow failed (status ``failed``)."""
        self.ledger_size = 0
        self.caught_up = False
        self.log = log.bind(election_id=election)

    # --- state ----------------------------------------------------------------------------

    def _apply(self, state: fl.FoldState, e: FeedEntry | MirrorEntry) -> fl.FoldState:
        new = fl.apply(state, e.index, e.body, leaf_hash=e.leaf_hash, chain_hash=e.chain_hash)
        if len(new.declarations) != len(state.declarations):
            for contest in set(new.declarations) - set(state.declarations):
                self.declared_at[contest] = e.index
        return new

    async def restore(self) -> None:
        """Rebuild the fold from the local mirror and check it reaches the stored progress."""
        async with self.pool.acquire() as conn:
            progress = await self.store.ensure_progress(conn, self.election, self.origin)
            state = fl.initial(self.election)
            self.declared_at = {}
            try:
                async for e in self.store.mirror(conn, self.election):
                    state = self._apply(state, e)
            except fl.FoldError as exc:
                await self._halt(conn, "the local mirror does not refold", exc.evidence)
        self.state = state
        self.progress = progress
        if progress.origin != self.origin:
            await self._halt_new(
                "the ledger's origin changed", {"stored": progress.origin, "now": self.origin}
            )
        if (state.size, state.chain_head, state.root) != (
            progress.size,
            progress.chain_head,
            progress.root,
        ):
            await self._halt_new(
                "the local mirror disagrees with the stored progress",
                {
                    "mirror_size": state.size,
                    "progress_size": progress.size,
                    "mirror_chain_head": state.chain_head.hex(),
                    "progress_chain_head": progress.chain_head.hex(),
                },
            )
        if progress.stopped:
            self.status = "stopped"
            raise Halted(progress.stopped, election=self.election)
        self.ledger_size = max(self.ledger_size, state.size)
        metrics.SIZE.labels(self.election).set(state.size)
        self.log.info("fold_restored", size=state.size)

    async def _halt(
        self, conn: asyncpg.Connection, message: str, evidence: Mapping[str, Any]
    ) -> NoReturn:
        await self.store.alert(conn, self.election, message, dict(evidence))
        await self.store.stop(conn, self.election, message)
        metrics.ALERTS.labels(self.election).inc()
        self.status = "stopped"
        self.log.error("fold_stopped", reason=message, **{k: str(v) for k, v in evidence.items()})
        raise Halted(message, election=self.election, **evidence)

    async def _halt_new(self, message: str, evidence: Mapping[str, Any]) -> NoReturn:
        async with self.pool.acquire() as conn:
            await self._halt(conn, message, evidence)

    async def fail(self, reason: str, exc: asyncpg.DataError) -> None:
        """Stop following after the store refused the election's data (``data_fault``): one
        alert, status ``failed`` with the reason. The log is not judged (progress is not
        marked stopped): a counter restarted after a fix tries again."""
        self.status, self.reason = "failed", reason
        metrics.ERRORS.labels("data").inc()
        self.log.error("follow_failed", reason=reason, sqlstate=exc.sqlstate)
        evidence = {"sqlstate": exc.sqlstate, "error": type(exc).__name__, "size": self.state.size}
        try:
            async with self.pool.acquire() as conn:
                await self.store.alert(
                    conn,
                    self.election,
                    f"the counter cannot store this election: {reason}",
                    evidence,
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            self.log.error("alert_failed", error=str(err))
            return
        metrics.ALERTS.labels(self.election).inc()

    # --- one batch ------------------------------------------------------------------------

    async def step(self, wait: int | None = None) -> int:
        """Read, verify, fold and commit one batch; return how many entries it held."""
        assert self.progress is not None, "restore() first"
        old = self.progress
        start = self.state.size
        got = await self.source.entries(
            self.election, start, self.batch, self.wait if wait is None else wait
        )
        if not got:
            self.caught_up = True
            self.ledger_size = max(self.ledger_size, start)
            self._lag()
            return 0
        began = time.perf_counter()
        sizes = await self.source.checkpoint_sizes(self.election)
        state = self.state
        folded: list[MirrorEntry] = []
        roots: dict[int, bytes] = {}
        wanted = {s for s in sizes if start < s <= start + len(got)}
        failure: tuple[str, dict[str, Any]] | None = None
        for e in got:
            try:
                state = self._apply(state, e)
            except fl.FoldError as exc:
                failure = (exc.message, dict(exc.evidence))
                break
            folded.append(
                MirrorEntry(
                    index=e.index, body=e.body, leaf_hash=e.leaf_hash, chain_hash=e.chain_hash
                )
            )
            if state.size in wanted:
                roots[state.size] = state.root
        checkpoint = (old.checkpoint_size, old.checkpoint_root, old.checkpoint_note)
        try:
            checkpoint = await self._check_checkpoints(checkpoint, roots, sizes)
        except VerificationError as exc:
            failure = failure or (exc.message, dict(exc.evidence))
            folded, state = [], self.state  # nothing of a batch that fails a checkpoint
        new = progress_of(state, self.origin, checkpoint)
        running = projection(state)
        async with self.pool.acquire() as conn:
            if folded or new != old:
                await self.store.commit_batch(
                    conn, old=old, new=new, entries=folded, running=running
                )
            self.state, self.progress = state, new
            metrics.FOLDED.labels(self.election).inc(len(folded))
            metrics.BATCHES.labels(self.election).inc()
            metrics.SIZE.labels(self.election).set(state.size)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - began)
            if failure is not None:
                await self._halt(conn, failure[0], failure[1])
        self.caught_up = len(got) < self.batch
        self.ledger_size = max(self.ledger_size, state.size, max(sizes, default=0))
        self._lag()
        self.log.debug("batch_folded", size=state.size, entries=len(folded))
        return len(folded)

    async def _check_checkpoints(
        self,
        last: tuple[int, bytes, str | None],
        roots: Mapping[int, bytes],
        sizes: Sequence[int],
    ) -> tuple[int, bytes, str | None]:
        """Verify the checkpoints this batch reached (roots must match) and the newest one
        (consistent with the last verified); return the new last verified checkpoint."""
        for size in sorted(roots):
            cp, note = await self._open(size)
            if cp.root != roots[size]:
                raise VerificationError(
                    "the log's root differs from the signed checkpoint",
                    size=size,
                    checkpoint_root=cp.root.hex(),
                    folded_root=roots[size].hex(),
                )
            last = (size, cp.root, note)
        newest = max(sizes, default=0)
        if newest > last[0]:
            cp, note = await self._open(newest)
            proof = await self.source.consistency(self.election, last[0], newest)
            try:
                merkle.verify_consistency(last[0], newest, last[1], cp.root, proof)
            except VerificationError as exc:
                raise VerificationError(
                    "a newer checkpoint is not consistent with the last verified one",
                    old=last[0],
                    old_root=last[1].hex(),
                    new=newest,
                    new_root=cp.root.hex(),
                    proof=[p.hex() for p in proof],
                ) from exc
            last = (newest, cp.root, note)
        return last

    async def _open(self, size: int) -> tuple[Checkpoint, str]:
        note = await self.source.checkpoint_note(self.election, size)
        cp = open_checkpoint(note, self.keyring, origin=self.origin)
        if cp.size != size:
            raise VerificationError("checkpoint of another size", asked=size, found=cp.size)
        return cp, note

    def _lag(self) -> None:
        behind = 0 if self.caught_up else max(0, self.ledger_size - self.state.size)
        metrics.LAG_ENTRIES.labels(self.election).set(behind)
        seconds = 0.0 if self.caught_up else _age(self.state.last_time)
        metrics.LAG_SECONDS.labels(self.election).set(seconds)
        self.status = "caught_up" if self.caught_up else "following"

    # --- results --------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Count, store and declare the final results once the log allows it."""
        state = self.state
        if state.counted_at is None:
            return
        d = state.phase.require_definition()
        async with self.pool.acquire() as conn:
            stored = {r.contest_id: r for r in await self.store.results(conn, self.election)}
            for c in d.contests:
                if c.id not in stored and c.id not in self.uncountable:
                    try:
                        _, document = fl.count_contest(state, c.id)
                    except CounterError as exc:
                        # The count cannot run (e.g. no valid rule input): say so loudly, keep
                        # following, count the other contests, and take in their declarations.
                        # One alert per contest, not one per pass.
                        self.uncountable.add(c.id)
                        metrics.ERRORS.labels("count").inc()
                        self.log.error("contest_count_failed", contest=c.id, error=str(exc))
                        await self.store.alert(
                            conn,
                            self.election,
                            f"contest {c.id} cannot be counted: {exc}",
                            {"contest": c.id},
                        )
                        continue
                    text = blt.dump(fl.profile_of(state, c.id), c.seats)
                    try:
                        await self.store.save_result(
                            conn, self.election, document, fl.result_hash(document), text
                        )
                    except ResultMismatch as exc:
                        await self._halt(conn, exc.message, exc.evidence)
                    self.log.info("contest_counted", contest=c.id, size=document["counted_size"])
            stored = {r.contest_id: r for r in await self.store.results(conn, self.election)}
            for c in d.contests:
                mine = stored.get(c.id)
                if mine is None:
                    continue  # not countable (alerted above): nothing to declare or compare
                declared = state.declarations.get(c.id)
                if declared is not None:
                    if declared.get("result_hash") != mine.result_hash:
                        await self._halt(
                            conn,
                            "the declared result differs from the recount",
                            {
                                "contest": c.id,
                                "declared_hash": declared.get("result_hash"),
                                "recounted_hash": mine.result_hash,
                                "declared_index": self.declared_at.get(c.id),
                            },
                        )
                    if not mine.declared:
                        await self.store.mark_declared(
                            conn, self.election, c.id, self.declared_at.get(c.id)
                        )
                        self.log.info("result_declaration_verified", contest=c.id)
                elif self.signer is not None and c.id not in self.posted:
                    await self._declare(conn, c.id, mine.document)

    async def _declare(self, conn: asyncpg.Connection, contest: str, document: Any) -> None:
        assert self.signer is not None
        body = sign_declaration(document, self.signer)
        status, answer = await self.source.declare(self.election, body)
        if status in (200, 201):
            self.posted.add(contest)
            self.log.info("result_declared", contest=contest, result_hash=body["result_hash"])
        elif status == 202:
            # Held by the ledger as the provisional result until the returning officer
            # approves it; the feed brings the declaration then.
            self.posted.add(contest)
            self.log.info("result_awaiting_approval", contest=contest)
        elif status == 409:
            self.posted.add(contest)  # declared already: the feed will bring it, then compare
            self.log.info("result_already_declared", contest=contest)
        elif status >= 500:
            metrics.ERRORS.labels("declare").inc()
            self.log.warning("declaration_failed", contest=contest, status=status)
        else:
            self.posted.add(contest)
            metrics.ERRORS.labels("declare").inc()
            await self.store.alert(
                conn,
                self.election,
                "the ledger refused the result declaration",
                {"contest": contest, "status": status, "problem": answer},
            )
            self.log.error("declaration_refused", contest=contest, status=status)

    # --- the loop -------------------------------------------------------------------------

    async def follow(self) -> None:
        """Restore, then verify-fold-commit forever (until halted or cancelled)."""
        await self.restore()
        await self.reconcile()
        while True:
            try:
                n = await self.step(wait=self.wait if self.caught_up else 0)
                if n or self.state.counted_at is not None:
                    await self.reconcile()
            except LedgerUnreachable as exc:
                # The polling fallback: the long-poll failed; try again shortly.
                metrics.ERRORS.labels("ledger_unreachable").inc()
                self.status = "retrying"
                self.log.warning("ledger_unreachable", error=str(exc))
                await asyncio.sleep(self.retry)


# --- the service -------------------------------------------------------------------------------
