"""Casting: each paper is checked, queued on its election's ``Sequencer`` and committed in a
group with others.

A cast is *accepted*, not appended (DESIGN §6): its ``ballot_cast`` event waits in the private
pending store until a release round (``ledger.service.rounds``) appends it among at least K
others of its contest. A batch is two round trips: one read of the election's phase and version,
the roll rows, earlier submissions and votes and the latest checkpoint; then, after checking each
paper against them and the rest of the batch, building the events and signing every acceptance
receipt with one signature (``ledger.format.acceptance``), one statement that holds the election
row ``FOR SHARE``, refuses unless the poll is open at the version checked, and inserts the pending
ballots, who voted and the answers, in one transaction with one fsync. The close takes that row
``FOR UPDATE``, so no acceptance commits after it. Receipts are answered only after their batch
commits.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as encode_string
from typing import Any

import asyncpg

from ledger.domain import election as el
from ledger.domain import schemas
from ledger.errors import (
    AlreadyVoted,
    LedgerError,
    NotEligible,
    NotFound,
    NotOnRoll,
    SubmissionConflict,
    Unavailable,
)
from ledger.format import merkle
from ledger.format.acceptance import acceptance_texts
from ledger.format.canonical import canonical_bytes
from ledger.format.receipts import utc_now
from ledger.runtime import metrics
from ledger.service.base import LedgerBase, Q, log
from ledger.service.sequencer import BallotItem, CastJob, InFlight, Sequencer

_SUBMISSION_ID = re.compile(r"[A-Za-z0-9_.:-]{8,128}")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CAST_MEMBERS = frozenset(("submission_id", "voter_id", "selections"))


def plainly_valid_cast(body: Any) -> bool:
    """A sufficient condition for ``schemas.CAST`` (requests.schema.json ``$defs/cast``),
    checked in a few microseconds instead of the validator's few hundred: exactly the three
    members, a submission id of 8-128 of ``[A-Za-z0-9_.:-]``, a voter id of 1-128 characters
    of one-line text (``election.one_line``: no control character, line separator or
    bidirectional control), 1-50 contests with ``$defs/id`` names, each a list of at most
    200 ``$defs/id`` strings, every pattern matched whole. A body it refuses goes to the full
    validator, which decides and says what is wrong."""
    if type(body) is not dict or body.keys() != _CAST_MEMBERS:
        return False
    sub, voter, selections = body["submission_id"], body["voter_id"], body["selections"]
    if type(sub) is not str or _SUBMISSION_ID.fullmatch(sub) is None:
        return False
    if type(voter) is not str or not 1 <= len(voter) <= 128 or not el.one_line(voter):
        return False
    if type(selections) is not dict or not 1 <= len(selections) <= 50:
        return False
    for contest, chosen in selections.items():
        if type(contest) is not str or _ID.fullmatch(contest) is None:
            return False
        if type(chosen) is not list or len(chosen) > 200:
            return False
        for candidate in chosen:
            if type(candidate) is not str or _ID.fullmatch(candidate) is None:
                return False
    return True


def ballot_items(
    eid: str, selections: Mapping[str, tuple[str, ...]], sealed: bool
) -> list[BallotItem]:
    """The ``ballot_cast`` events of one paper, in their canonical bytes with their event hashes:
    a commitment with a fresh 32-byte salt when the election is sealed, the selections with a
    fresh 32-byte nonce otherwise (either makes the event, and so its hash, unique)."""
    items: list[BallotItem] = []
    for contest_id, chosen in selections.items():
        salt: bytes | None = None
        if sealed:
            salt = secrets.token_bytes(32)
            body, text = el.ballot_event(eid, contest_id, chosen, salt=salt)
        else:
            body, text = el.ballot_event(eid, contest_id, chosen, nonce=secrets.token_bytes(32))
        # ``text``: the event as the answer's JSON shows it (JCS order, json.dumps spacing),
        # what the voter's app checks at once, with the salt.
        items.append((contest_id, body, hashlib.sha256(body).digest(), chosen, salt, text))
    return items


class Casting(LedgerBase):
    """Ballot papers from front-ends, committed in groups."""

    # --- casting ----------------------------------------------------------------------------

    async def cast(self, eid: str, body: Any) -> tuple[str, bool]:
        """Validate one voter's ballot paper and queue it for the next batch.

        Returns (response, replayed): the JSON text of the response (``submission_id`` and
        the receipts by contest), the very text kept for retries, which is the HTTP body; and
        whether this is an idempotent replay.
        """
        if not plainly_valid_cast(body):
            schemas.validate(schemas.CAST, body)
        # The early checks use the cached state when there is one (it is refreshed by every
        # batch and every event this process appends); the batch checks again under the lock.
        cached = self._states.get(eid)
        state = cached[1] if cached is not None else await self.state(eid)
        # Who stands is left to the batch, after its look-up of the submission id: a paper
        # accepted before its candidate withdrew, sent again, gets its first answer back.
        selections: dict[str, tuple[str, ...]] = {}
        for contest_id, chosen in body["selections"].items():
            contest = state.require_definition().contest(contest_id)
            selections[contest_id] = el.validate_selections(contest, chosen, frozenset())
        mac = hmac.digest(self._mac_key, canonical_bytes(body), "sha256")
        job = CastJob(
            election=eid,
            submission_id=body["submission_id"],
            voter_id=body["voter_id"],
            selections=selections,
            mac=mac,
        )
        if state.definition is not None:
            sealed = state.definition.sealed
            job.prepared = (sealed, ballot_items(eid, selections, sealed))
        return await self.sequencer(eid).submit(job)

    def sequencer(self, eid: str) -> Sequencer:
        """The election's sequencer, started on first use."""
        seq = self._sequencers.get(eid)
        if seq is None:
            seq = self._sequencers[eid] = Sequencer(self, eid)
        return seq

    async def commit_batch(
        self,
        eid: str,
        jobs: list[CastJob],
        base: InFlight | None = None,
        mine: InFlight | None = None,
    ) -> list[CastJob]:
        """One group commit in two round trips: read everything the batch is checked against
        (the election's phase and version, the roll rows, earlier submissions and votes, the
        latest checkpoint); check, build the events and sign every acceptance receipt with one
        signature; then one statement that, holding the election row ``FOR SHARE`` and only
        while the poll is open at the version checked, puts the ballots in the private pending
        store and records who voted and the answers (one transaction, one fsync). If the
        election changed in between (a withdrawal, a report, the close), nothing was written
        and the batch is checked again. Every job is answered only once its batch has committed.

        With ``base``, a batch still committing: its voters count as voted (a refusal resting
        on them waits for it to commit) and a retry of one of its submissions is deferred to a
        later batch, which is returned."""
        results: dict[int, tuple[str, bool] | LedgerError] = {}
        deferred: list[int] = []
        mine = mine if mine is not None else InFlight()
        started = time.perf_counter()
        pending: dict[int, int] = {}
        try:
            async with self.pool.acquire() as conn:
                for attempt in range(8):
                    if attempt == 0:
                        done = await self._attempt(conn, eid, jobs, results, base, deferred, mine)
                    else:
                        # Checked again, this time holding the election's acceptance lock
                        # exclusively: every other acceptance statement takes it shared, so
                        # none can write between this check and this write.
                        async with conn.transaction():
                            await conn.execute(Q["lock_acceptance"], eid)
                            done = await self._attempt(
                                conn, eid, jobs, results, base, deferred, mine
                            )
                    if done is None:
                        base = None  # what the refusals rested on did not commit
                        continue
                    pending = done
                    if done is not _CHANGED:
                        break
                    log.info("batch_checked_again", election_id=eid, attempt=attempt)
                else:
                    raise Unavailable("the election kept changing under a batch")
            mine.committed.set_result(True)
        finally:
            mine.sent.set()
            if not mine.committed.done():
                mine.committed.set_result(False)
        for i, job in enumerate(jobs):
            if i in deferred:
                continue
            first = pending.get(i)
            outcome = results[first] if first is not None else results[i]
            if first is not None and isinstance(outcome, tuple):
                outcome = (outcome[0], True)
            if not job.future.done():
                if isinstance(outcome, LedgerError):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)
        metrics.BATCH_SIZE.observe(len(jobs) - len(deferred))
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        return [jobs[i] for i in deferred]

    async def _attempt(
        self,
        conn: asyncpg.Connection,
        eid: str,
        jobs: list[CastJob],
        results: dict[int, tuple[str, bool] | LedgerError],
        base: InFlight | None,
        deferred: list[int],
        mine: InFlight,
    ) -> dict[int, int] | None:
        """Check the batch and write what it accepts: the duplicates in the batch (mapped to
        the job whose answer they share) once done; ``_CHANGED`` if nothing was written because
        the election changed or another writer took a voter or submission first (check again);
        None if a refusal rested on ``base`` and it did not commit (check again without it)."""
        results.clear()
        deferred.clear()
        checked = await self._check_batch(conn, eid, jobs, results, base, deferred)
        if checked.rests_on_base and base is not None and not await asyncio.shield(base.committed):
            return None
        if not checked.accepted:
            mine.sent.set()
            return checked.pending
        try:
            if await self._accept(conn, eid, checked, jobs, results, mine):
                return checked.pending
        except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
            if conn.is_in_transaction():
                # Checked again under the exclusive acceptance lock: no other acceptance can
                # write meanwhile, so a unique violation here is a fault, not a race.
                raise
            # Another ledger process took the same voter or submission first and has
            # committed (or the two writes met in a deadlock and this one was rolled back).
        return _CHANGED

    async def _check_batch(
        self,
        conn: asyncpg.Connection,
        eid: str,
        jobs: list[CastJob],
        results: dict[int, tuple[str, bool] | LedgerError],
        base: InFlight | None = None,
        deferred: list[int] | None = None,
    ) -> Checked:
        """Decide each job against one read of the database and ``base``, a batch still
        committing (its voters; a retry of one of its submissions goes in ``deferred``)."""
        sub_ids = list({j.submission_id for j in jobs})
        voter_ids = list({j.voter_id for j in jobs})
        contest_ids = list({c for j in jobs for c in j.selections})
        existing: dict[str, Any] = {}
        roll: dict[str, Any] = {}
        voted: set[tuple[str, str]] = set()
        rows = await conn.fetch(Q["batch_reads"], eid, sub_ids, voter_ids, contest_ids)
        row = next((r for r in rows if r["kind"] == "h"), None)
        if row is None:
            raise NotFound("no such election", election=eid)
        checkpoint = (0, merkle.EMPTY_ROOT)
        state = await self._state_at(conn, eid, row["version"])
        in_flight: set[str] = set()
        from_base: set[tuple[str, str]] = set()
        if base is not None:
            from_base = set(base.voted)
            in_flight = set(base.submissions)
        for r in rows:
            kind = r["kind"]
            if kind == "s":
                existing[r["a"]] = r
            elif kind == "r":
                roll[r["a"]] = json.loads(r["doc"])
            elif kind == "v":
                voted.add((r["a"], r["b"]))
            elif kind == "c":
                checkpoint = (r["size"], bytes(r["mac"]))
        checked = Checked(
            version=row["version"], origin=row["a"], checkpoint=checkpoint, state=state
        )
        first_of: dict[str, int] = {}
        for i, job in enumerate(jobs):
            prior = existing.get(job.submission_id)
            if prior is not None:
                if hmac.compare_digest(bytes(prior["mac"]), job.mac):
                    results[i] = (prior["doc"], True)
                else:
                    results[i] = SubmissionConflict(submission_id=job.submission_id)
                continue
            if job.submission_id in in_flight and deferred is not None:
                deferred.append(i)  # answered by the batch still committing: ask again after
                continue
            if job.submission_id in first_of:
                j = first_of[job.submission_id]
                if hmac.compare_digest(jobs[j].mac, job.mac):
                    checked.pending[i] = j
                else:
                    results[i] = SubmissionConflict(submission_id=job.submission_id)
                continue
            try:
                if state.phase != "poll_open":
                    raise el.WrongPhase(
                        f"ballots are not accepted in phase {state.phase}", phase=state.phase
                    )
                d = state.require_definition()
                attrs = roll.get(job.voter_id)
                if attrs is None:
                    raise NotOnRoll()
                for contest_id, chosen in job.selections.items():
                    contest = d.contest(contest_id)
                    if not el.eligible(contest.eligibility, attrs):
                        raise NotEligible(contest=contest_id)
                    if (contest_id, job.voter_id) in voted:
                        raise AlreadyVoted(contest=contest_id)
                    if (contest_id, job.voter_id) in from_base:
                        checked.rests_on_base = True
                        raise AlreadyVoted(contest=contest_id)
                    el.validate_selections(contest, chosen, state.not_standing(contest_id))
            except LedgerError as exc:
                results[i] = exc
                continue
            voted.update((c, job.voter_id) for c in job.selections)
            first_of[job.submission_id] = i
            checked.accepted.append(i)
        return checked

    async def _accept(
        self,
        conn: asyncpg.Connection,
        eid: str,
        checked: Checked,
        jobs: list[CastJob],
        jobs_results: dict[int, tuple[str, bool] | LedgerError],
        mine: InFlight,
    ) -> bool:
        """Put the accepted papers in the pending store and answer them; False (nothing
        written) if the election is no longer open at the version they were checked at."""
        sealed = checked.state.require_definition().sealed
        items: list[tuple[int, BallotItem]] = []
        for i in checked.accepted:
            job = jobs[i]
            prepared = job.prepared
            if prepared is None or prepared[0] != sealed:
                prepared = (sealed, ballot_items(eid, job.selections, sealed))
            items.extend((i, item) for item in prepared[1])
        signed = self.acceptances.sign_batch(
            election=eid,
            origin=checked.origin,
            checkpoint=checked.checkpoint,
            time=utc_now(),
            items=[(item[0], item[2]) for _, item in items],
        )
        receipts: dict[int, list[str]] = defaultdict(list)
        rows: list[tuple[str, bytes, bytes, str | None, bytes | None]] = []
        texts = acceptance_texts(
            signed, [item[5] for _, item in items], [item[4] for _, item in items]
        )
        for (i, (contest_id, body, _, chosen, salt, _)), receipt, text in zip(
            items, signed, texts, strict=True
        ):
            receipts[i].append(f"{encode_string(contest_id)}: {text}")
            rows.append(
                (
                    contest_id,
                    receipt.event_hash,
                    body,
                    json.dumps(list(chosen)) if salt is not None else None,
                    salt,
                )
            )
        # Rows in one order (by key) in every writer, so that two writes that meet on a key wait
        # for each other in one direction only.
        voted = sorted((c, jobs[i].voter_id) for i in checked.accepted for c in jobs[i].selections)
        answers: list[tuple[str, bytes, str]] = []
        for i in checked.accepted:
            # Written once, as json.dumps would: the stored answer for retries is the HTTP body.
            text = (
                f'{{"submission_id": {encode_string(jobs[i].submission_id)}, "receipts": '
                f"{{{', '.join(receipts[i])}}}}}"
            )
            jobs_results[i] = (text, False)
            answers.append((jobs[i].submission_id, jobs[i].mac, text))
        answers.sort()
        mine.voted = set(voted)
        mine.submissions = {jobs[i].submission_id for i in checked.accepted}
        mine.sent.set()
        columns = [
            *zip(*rows, strict=True),
            *zip(*voted, strict=True),
            *zip(*answers, strict=True),
        ]
        done = await conn.fetchrow(
            Q["accept_ballots"], eid, checked.version, *(list(c) for c in columns)
        )
        if done is None:
            return False  # the poll closed or the election changed: nothing was written
        metrics.ACCEPTED.inc(len(rows))
        return True


_CHANGED: dict[int, int] = {}
"""``Casting._attempt``'s answer when nothing was written and the batch must be checked again."""


@dataclass(slots=True, kw_only=True)
class Checked:
    """A batch checked against one read: what it was checked at, and the outcome."""

    version: int
    origin: str
    checkpoint: tuple[int, bytes]
    state: el.ElectionState
    accepted: list[int] = field(default_factory=list)
    pending: dict[int, int] = field(default_factory=dict)
    """Duplicates in the batch, mapped to the job whose answer they share."""
    rests_on_base: bool = False
    """Some refusal rests on the voters of the batch still committing."""
