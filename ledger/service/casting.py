"""Casting: each paper is checked, queued on its election's ``Sequencer`` and committed in a
group with others.

A batch is two round trips: one read of the head, the state version, the roll rows, earlier
submissions and votes; then, after checking each paper against them and the rest of the
batch, shuffling, hashing and signing all receipts with one signature (docs/log-format.md §8),
one statement that moves the head by compare-and-set and inserts everything, in one
transaction with one fsync. Every state change appends an event and so moves the head: a batch
checked against a stale head or state writes nothing and is checked again, under the head
row's lock (so it cannot fail twice). Receipts are answered only after their batch commits.
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
from ledger.format.canonical import canonical_bytes
from ledger.format.entry import EntryTemplate, template
from ledger.format.receipts import receipt_texts, utc_now
from ledger.runtime import metrics
from ledger.service.base import LedgerBase, Q, log
from ledger.service.sequencer import BallotItem, CastJob, InFlight, Sequencer
from ledger.storage.store import Head

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
    """The ``ballot_cast`` entries of one paper: a commitment with a fresh 32-byte salt when
    the election is sealed, the selections themselves otherwise."""
    items: list[BallotItem] = []
    for contest_id, chosen in selections.items():
        if sealed:
            salt = secrets.token_bytes(32)
            event: dict[str, Any] = {
                "contest": contest_id,
                "commitment": el.commitment(eid, contest_id, chosen, salt),
            }
            items.append((contest_id, template(eid, "ballot_cast", event), chosen, salt))
        else:
            event = {
                "contest": contest_id,
                "selections": list(chosen),
                "nonce": secrets.token_bytes(32).hex(),
            }
            items.append((contest_id, template(eid, "ballot_cast", event), chosen, None))
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
        selections: dict[str, tuple[str, ...]] = {}
        for contest_id, chosen in body["selections"].items():
            contest = state.require_definition().contest(contest_id)
            selections[contest_id] = el.validate_selections(
                contest, chosen, state.not_standing(contest_id)
            )
        mac = hmac.new(self._mac_key, canonical_bytes(body), hashlib.sha256).digest()
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
        """One group commit in two round trips: read the head and everything the batch is
        checked against; check, shuffle, hash and sign; then one statement that moves the head
        by compare-and-set and inserts everything (one transaction, one fsync). If another
        writer moved the head in between, nothing was written and the batch is checked again,
        under the head row's lock. Every job is answered only once its batch has committed.

        With ``base``, the batch builds on a batch still committing (the ``Sequencer`` keeps
        one in flight while it prepares the next); ``mine`` is filled for the batch after.
        Returns the jobs deferred to a later batch (retries of a submission in ``base``)."""
        results: dict[int, tuple[str, bool] | LedgerError] = {}
        deferred: list[int] = []
        mine = mine if mine is not None else InFlight()
        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn:
                for locked in (False, True):
                    results.clear()
                    deferred.clear()
                    try:
                        if locked:
                            # Checked again after the head moved: this time under the head
                            # row's lock (and on what is committed), so the compare-and-set
                            # cannot fail twice.
                            async with conn.transaction():
                                await conn.fetchrow(Q["lock_head"], eid)
                                done, pending = await self._try_batch(
                                    conn, eid, jobs, results, None, mine, deferred
                                )
                        else:
                            done, pending = await self._try_batch(
                                conn, eid, jobs, results, base, mine, deferred
                            )
                    except asyncpg.UniqueViolationError:
                        # Another ledger process wrote the same voter or submission first:
                        # the statement wrote nothing; the locked check sees what it wrote.
                        self.store.forget(eid)
                        if locked:
                            raise
                        continue
                    except BaseException:
                        self.store.forget(eid)
                        raise
                    if done:
                        break
                    self.store.forget(eid)
                    log.info("batch_head_moved", election_id=eid, locked=locked)
                else:
                    raise Unavailable("the log's head moved under a locked batch")
                # Committed (the statement, or the locked transaction, has returned): the
                # batch built on this one may send its write.
                mine.committed.set_result(True)
        finally:
            mine.sent.set()
            if not mine.committed.done():
                mine.committed.set_result(False)
        # The batch has committed: answer every job in it.
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

    async def _try_batch(
        self,
        conn: asyncpg.Connection,
        eid: str,
        jobs: list[CastJob],
        results: dict[int, tuple[str, bool] | LedgerError],
        base: InFlight | None,
        mine: InFlight,
        deferred: list[int],
    ) -> tuple[bool, dict[int, int]]:
        """Check the batch and append what it accepts: (False if the head moved meanwhile, and
        nothing was written; duplicates in the batch mapped to the job they share)."""
        accepted, pending, head, edge, state = await self._check_batch(
            conn, eid, jobs, results, base, deferred
        )
        built_on = base if edge is not None else None  # the batch still committing, if any
        if not accepted:
            # Nothing to write. Refusals may rest on ``built_on`` (its voters), so they wait
            # until it has committed; if it did not, the batch is checked again.
            if built_on is not None and not await asyncio.shield(built_on.committed):
                return False, pending
            mine.head, mine.edge = head, edge
            mine.voted, mine.submissions = set(), set()
            mine.sent.set()
            return True, pending
        appended = await self._append_ballots(
            conn, head, state, jobs, accepted, results, mine, edge, built_on
        )
        return appended, pending

    async def _check_batch(
        self,
        conn: asyncpg.Connection,
        eid: str,
        jobs: list[CastJob],
        results: dict[int, tuple[str, bool] | LedgerError],
        base: InFlight | None = None,
        deferred: list[int] | None = None,
    ) -> tuple[list[int], dict[int, int], Head, merkle.CompactRange | None, el.ElectionState]:
        """Decide each job against one read of the head and the database, and ``base``, a
        batch still committing (its head, its voters; a retry of one of its submissions is
        put in ``deferred``). Returns the accepted job numbers, duplicates in the batch mapped
        to the job whose answer they share, the head to append after (with its tree edge if
        it is ``base``'s, not yet committed) and the state."""
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
        head = Head(
            election_id=eid,
            origin=row["a"],
            size=row["size"],
            chain_head=bytes(row["mac"]),
            root=bytes(row["root"]),
        )
        state = await self._state_at(conn, eid, row["version"])
        in_flight: set[str] = set()
        edge: merkle.CompactRange | None = None
        if (
            base is not None
            and base.head is not None
            and base.edge is not None
            and base.head.size > head.size
        ):
            # Still committing: build on it. Its head and edge are taken here, once, and
            # returned: a base checked again under the lock replaces them.
            head, edge = base.head, base.edge
            voted.update(base.voted)
            in_flight = set(base.submissions)
        for r in rows:
            if r["kind"] == "h":
                continue
            if r["kind"] == "s":
                existing[r["a"]] = r
            elif r["kind"] == "r":
                roll[r["a"]] = json.loads(r["doc"])
            else:
                voted.add((r["a"], r["b"]))
        accepted: list[int] = []
        pending: dict[int, int] = {}
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
                    pending[i] = j
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
                    el.validate_selections(contest, chosen, state.not_standing(contest_id))
            except LedgerError as exc:
                results[i] = exc
                continue
            voted.update((c, job.voter_id) for c in job.selections)
            first_of[job.submission_id] = i
            accepted.append(i)
        return accepted, pending, head, edge, state

    async def _append_ballots(
        self,
        conn: asyncpg.Connection,
        head: Head,
        state: el.ElectionState,
        jobs: list[CastJob],
        accepted: list[int],
        jobs_results: dict[int, tuple[str, bool] | LedgerError],
        mine: InFlight | None = None,
        base_edge: merkle.CompactRange | None = None,
        after: InFlight | None = None,
    ) -> bool:
        """Append the accepted papers after ``head``; False (nothing written) if the head has
        moved since it was read. ``mine`` learns the new head, voters and submissions just
        before the write is sent, for the batch after to build on."""
        eid = head.election_id
        sealed = state.require_definition().sealed
        items: list[tuple[int, str, EntryTemplate, tuple[str, ...], bytes | None]] = []
        for i in accepted:
            job = jobs[i]
            prepared = job.prepared
            if prepared is None or prepared[0] != sealed:
                prepared = (sealed, ballot_items(eid, job.selections, sealed))
            items.extend((i, *item) for item in prepared[1])
        # DESIGN §6: entries carry no voter id and their order within a batch is shuffled.
        secrets.SystemRandom().shuffle(items)
        placed = await self.store.prepare(
            conn, head, [t for _, _, t, _, _ in items], edge=base_edge
        )
        receipts: dict[int, list[str]] = defaultdict(list)
        sealed_rows: list[tuple[int, str, str, bytes]] = []
        # One signature for the whole batch (docs/log-format.md §8): every receipt carries it
        # and its path to the batch's root; all share the batch's time stamp.
        signed = self.receipts.sign_batch(
            eid, [(a.index, a.leaf_hash, a.chain_hash) for a in placed.appended], utc_now()
        )
        texts = receipt_texts(signed)
        for (i, contest_id, _, chosen, secret), a, text in zip(
            items, placed.appended, texts, strict=True
        ):
            receipts[i].append(f"{encode_string(contest_id)}: {text}")
            if secret is not None:
                sealed_rows.append((a.index, contest_id, json.dumps(list(chosen)), secret))
        voted = [(c, jobs[i].voter_id) for i in accepted for c in jobs[i].selections]
        answers: list[tuple[str, bytes, str]] = []
        for i in accepted:
            # Written once, as json.dumps would (a test pins it): the stored answer for
            # retries is also the HTTP body.
            text = (
                f'{{"submission_id": {encode_string(jobs[i].submission_id)}, "receipts": '
                f"{{{', '.join(receipts[i])}}}}}"
            )
            jobs_results[i] = (text, False)
            answers.append((jobs[i].submission_id, jobs[i].mac, text))
        columns = [
            *zip(*placed.entry_rows, strict=True),
            *zip(*placed.node_rows, strict=True),
            *(zip(*voted, strict=True) if voted else ((), ())),
            *(zip(*sealed_rows, strict=True) if sealed_rows else ((), (), (), ())),
            *zip(*answers, strict=True),
        ]
        # The next batch may build on this one from here: remember the new edge now (it is
        # forgotten if the write fails), and say what the write adds.
        self.store.written(eid, placed)
        if mine is not None:
            mine.head = Head(
                election_id=eid,
                origin=head.origin,
                size=placed.size,
                chain_head=placed.chain_head,
                root=placed.root,
            )
            mine.edge = placed.edge
            mine.voted = set(voted)
            mine.submissions = {jobs[i].submission_id for i in accepted}
            mine.sent.set()
        if after is not None and not await asyncio.shield(after.committed):
            return False  # the batch this one built on did not commit: nothing is sent
        moved = await conn.fetchrow(
            Q["append_ballots"],
            eid,
            *(list(c) for c in columns),
            placed.size,
            placed.chain_head,
            placed.root,
            head.size,
            head.chain_head,
        )
        if moved is None:
            return False  # another writer moved the head: nothing was written
        metrics.APPENDS.labels("ballot_cast").inc(len(placed.appended))
        metrics.RECEIPTS.inc(len(placed.appended))
        return True
