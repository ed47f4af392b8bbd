"""Synthetic election logs, built entry by entry exactly as the ledger builds them.

For tests and benchmarks that need a valid, signed log without running the service (a
1,000,000-entry log for the audit benchmark takes seconds here, hours through HTTP). Every
event goes through the same pure code the ledger uses (``ledger.format.entry``,
``ledger.domain.election``) and the same phase fold, so a log made here is one the ledger
could have written.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from counter.tally import fold as fl
from ledger.domain import election as el
from ledger.format import merkle
from ledger.format.chain import GENESIS, chain_next
from ledger.format.checkpoint import Checkpoint, sign_checkpoint
from ledger.format.entry import entry_time, template
from ledger.format.keys import Signer

SYNTH_SIGNER = Signer(name="ballot-ledger.synthetic/ledger", seed=bytes([7]) * 32)
COUNTER_SIGNER = Signer(name="ballot-ledger.synthetic/counter", seed=bytes([8]) * 32)
TIME = "2026-11-23T09:00:00.000Z"
OPENED = datetime(2026, 11, 23, 9, tzinfo=UTC)


def definition(
    seats: int = 3, candidates: int = 6, sealed: bool = True, round_size: int | None = None
) -> dict[str, Any]:
    genders = ["woman", "man"]
    extra = {} if round_size is None else {"round_size": round_size}
    return {
        **extra,
        "title": "Synthetic executive election",
        "declare": "automatic",
        "sealed": sealed,
        "nomination_threshold": 1,
        "reporting_dimensions": ["region"],
        "min_group_size": 5,
        "contests": [
            {
                "id": "members",
                "title": "Members' section",
                "seats": seats,
                "method": {"type": "stv", "rule": "scottish"},
                "candidates": [
                    {
                        "id": f"c{i:02d}",
                        "name": f"Candidate {i:02d}",
                        "gender": genders[i % 2],
                        "slate": f"slate-{i % 3}",
                    }
                    for i in range(candidates)
                ],
                "constraints": [{"attribute": "gender", "value": "woman", "min": 1}],
            },
            {
                "id": "youth",
                "title": "Youth seat",
                "seats": 1,
                "method": {"type": "bloc", "max_marks": 1},
                "candidates": [
                    {"id": "y1", "name": "Youth One"},
                    {"id": "y2", "name": "Youth Two"},
                ],
                "eligibility": {"attr": "age", "lt": 27},
            },
        ],
    }


@dataclass
class SyntheticLog:
    election: str
    origin: str
    entries: list[bytes] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    chains: list[bytes] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    tree: merkle.MemoryTree = field(default_factory=merkle.MemoryTree)
    state: el.ElectionState | None = None

    def append(self, kind: str, event: dict[str, Any], time: str = TIME) -> int:
        assert self.state is not None
        self.state = el.apply(self.state, kind, event)
        index = len(self.entries)
        body = template(self.election, kind, event).render(index, time)
        leaf = merkle.leaf_hash(body)
        self.entries.append(body)
        self.leaves.append(leaf)
        self.chains.append(chain_next(self.chains[-1] if self.chains else GENESIS, leaf))
        self.tree.append(leaf)
        return index

    def checkpoint(self, signer: Signer = SYNTH_SIGNER) -> str:
        cp = Checkpoint(origin=self.origin, size=len(self.entries), root=self.tree.root())
        note = sign_checkpoint(cp, [signer]).note
        self.checkpoints.append(note)
        return note


def build(
    *,
    voters: int = 200,
    turnout: float = 0.8,
    sealed: bool = True,
    seats: int = 3,
    candidates: int = 6,
    seed: int = 1,
    declare: bool = True,
    election: str = "synthetic",
    round_size: int | None = None,
) -> SyntheticLog:
    """A whole election; ballots are released as the ledger releases them (docs/log-format.md
    §10): per contest, whenever ``2K`` are pending, ``pending - K`` of them in random order
    with one new time stamp; at the close everything still pending, then ``poll_closed``."""
    rng = random.Random(seed)
    log = SyntheticLog(election=election, origin=f"ballot-ledger.synthetic/elections/{election}")
    log.state = el.ElectionState(election_id=election)
    parsed = el.parse_definition(definition(seats, candidates, sealed, round_size))
    doc, k = parsed.document, parsed.round_size
    log.append(
        "election_defined",
        {"definition": dict(doc), "keys": {"ledger": [SYNTH_SIGNER.verifier.text()]}},
    )
    log.checkpoint()
    ages = [rng.randint(18, 80) for _ in range(voters)]
    young = sum(a < 27 for a in ages)
    salt = bytes(32)
    roll: dict[str, dict[str, Any]] = {
        "members": {
            "eligible": voters,
            "roll_hash": el.roll_hash(salt, [str(i) for i in range(voters)]),
        },
        "youth": {"eligible": young, "roll_hash": el.roll_hash(salt, ["y"] * young)},
    }
    for entry in roll.values():
        if entry["eligible"] < k:
            entry["below_round_size"] = True
    log.append("roll_published", {"voters": voters, "contests": roll})
    log.append("nominations_opened", {})
    members = [c["id"] for c in doc["contests"][0]["candidates"]]
    for cand in members:
        for b in range(rng.randint(1, 4)):
            log.append(
                "nomination_recorded",
                {"contest": "members", "candidate": cand, "body": f"branch-{b}"},
            )
    for cand in ("y1", "y2"):
        log.append("nomination_recorded", {"contest": "youth", "candidate": cand, "body": "b"})
    assert log.state is not None
    log.append("nominations_closed", el.standing_event(log.state))
    log.append("poll_opened", {})
    log.checkpoint()
    secrets_: dict[int, tuple[str, list[str], bytes]] = {}
    pending: dict[str, list[tuple[dict[str, Any], list[str], bytes]]] = {
        "members": [],
        "youth": [],
    }
    rounds = 0

    def release(contest: str, n: int, moment: str) -> None:
        queue = pending[contest]
        rng.shuffle(queue)
        for event, chosen, s in queue[:n]:
            idx = log.append("ballot_cast", event, moment)
            if sealed:
                secrets_[idx] = (contest, chosen, s)
        del queue[:n]

    for v in range(voters):
        if rng.random() >= turnout:
            continue
        ranking = rng.sample(members, rng.randint(1, len(members)))
        papers = [("members", ranking)]
        if ages[v] < 27:
            papers.append(("youth", [rng.choice(["y1", "y2"])]))
        for contest, chosen in papers:
            s = rng.randbytes(32)
            event: dict[str, Any]
            if sealed:
                commitment = el.commitment(election, contest, chosen, s)
                event = {"contest": contest, "commitment": commitment}
            else:
                event = {"contest": contest, "selections": chosen, "nonce": s.hex()}
            pending[contest].append((event, chosen, s))
            if len(pending[contest]) >= 2 * k:
                rounds += 1  # a second apart: each round has its own time stamp
                moment = entry_time(OPENED + timedelta(seconds=rounds))
                release(contest, len(pending[contest]) - k, moment)
        if v % 97 == 0:
            log.checkpoint()
    moment = entry_time(OPENED + timedelta(seconds=rounds + 1))  # the close: one time stamp
    for contest in ("members", "youth"):
        release(contest, len(pending[contest]), moment)
    log.append("poll_closed", {}, moment)
    log.checkpoint()
    for idx, (contest, chosen, s) in secrets_.items():
        log.append(
            "ballot_opened",
            {"contest": contest, "cast_index": idx, "selections": chosen, "salt": s.hex()},
        )
    log.checkpoint()
    if declare:
        state = fl.fold(fl.initial(election), enumerate(log.entries))
        for contest in ("members", "youth"):
            _, document = fl.count_contest(state, contest)
            log.append("result_declared", sign_declaration(fl.declaration_for(document)))
        log.checkpoint()
    return log


def sign_declaration(body: dict[str, Any], signer: Signer = COUNTER_SIGNER) -> dict[str, Any]:
    signed = {**body, "key": signer.verifier.text()}
    signed["signature"] = base64.b64encode(signer.sign(el.declaration_message(signed))).decode()
    return signed


def ballot_entries(log: SyntheticLog) -> Iterator[tuple[int, bytes]]:
    return iter(enumerate(log.entries))
