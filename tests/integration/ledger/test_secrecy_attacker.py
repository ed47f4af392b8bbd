"""The attacker harness of issue 14: what an observer who knows when each member voted learns
from everything public.

Two ledger services (two ``Ledger`` instances on one database, as two processes would be) take
the casts in turn; a test clock drives the housekeeping (turnout reports on the definition's
schedule) and the release timer's checks, at low traffic (a check every 13 acceptances). The
adversary sees: the public export after the close, every turnout report in it, ``/turnout``,
the election's public summary and ``/metrics`` on the public API polled after every cast, and
8 of the 74 acceptance receipts (published by their voters). It knows every member's acceptance
time, and that a round draws uniformly from its contest's pending pool.

What must hold:
- every round has at least K ballots (or is the whole contest), all with one time stamp;
- nothing public changes at an acceptance (only at a release or a scheduled report);
- for every member whose receipt is not published and every released ballot not named by a
  published receipt, the adversary's posterior that the ballot is that member's is at most 1/K
  (computed exactly from the rounds, the pools and the published receipts below);
- a published receipt names its own ballot and no other: its batch path's sibling hashes
  match no leaf that can be built from any released event without that leaf's blind.

The posterior: the unpublished members in a contest's pool at round r are exchangeable (the
draw is uniform, and conditioning on where the published ballots went leaves the rest
uniform). With ``u_r`` unpublished ballots in the pool and ``q_r`` of them released, a member
still in the pool is released at r with probability ``q_r / u_r``, and then is each of those
``q_r`` ballots with probability ``1 / q_r``: ballot b of round r is member V's with probability
``survive(V, r) / u_r``, where ``survive`` multiplies ``1 - q_s / u_s`` over V's earlier
rounds. Published receipts shrink ``u_r`` (the spec's n-1 attack): the bound holds here because
every pool held at least K unpublished ballots, which the harness checks rather than assumes.
"""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from ledger.format import merkle
from ledger.format.acceptance import AcceptanceReceipt, event_hash
from ledger.format.entry import parse_entry
from ledger.http.app import LEDGER, create_app
from ledger.runtime.settings import Settings

from ..conftest import AUTH_FRONTEND, SIGNER, close_poll, definition, setup_election
from .test_ledger_flow import feed
from .test_rounds import release_runs

EID = "nec-2026"
K = 5
CHECK_EVERY = 13
PUBLISHED = {8, 17, 18, 28, 37, 38, 48, 58}
"""Voters who publish their members' receipt (none of them votes in the youth contest)."""


def paper_for(i: int) -> dict[str, Any]:
    selections = {"members": ["ann", "cat", "bob"][: 1 + i % 3]}
    if 20 + i % 40 < 27:  # the roll's age: the youth seat's electorate
        selections["youth"] = ["yan" if i % 2 else "yvo"]
    return {"submission_id": f"attack-{i:04d}", "voter_id": f"v{i:03d}", "selections": selections}


async def public_view(client: TestClient[Any, Any]) -> str:
    """Everything the public API says about the election while the poll is open (for
    ``/metrics``, its status: the body of a 404 carries a fresh request id)."""
    parts: list[Any] = []
    for path in (f"/v1/elections/{EID}", f"/v1/elections/{EID}/turnout", "/v1/elections"):
        r = await client.get(path)
        parts.append((path, r.status, await r.json()))
    parts.append(("/metrics", (await client.get("/metrics")).status))
    r = await client.get(f"/v1/elections/{EID}/entries", params={"limit": "10000"})
    parts.append(await r.json())
    return json.dumps(parts, sort_keys=True)


def rounds_of(entries: list[dict[str, Any]]) -> dict[str, list[list[str]]]:
    """Each contest's release rounds in log order: the event hashes of each run of
    consecutive ballot entries with that contest and one time stamp."""
    out: dict[str, list[list[str]]] = {}
    for contest, _, group in release_runs(entries):
        out.setdefault(contest, []).append([event_hash(c.event).hex() for c in group])
    return out


async def test_an_observer_who_knows_when_members_voted_learns_at_most_one_in_k(
    settings: Settings,
) -> None:
    """The issue's attacker harness (see the module's docstring for what it checks)."""
    apps = [create_app(settings, SIGNER), create_app(settings, SIGNER)]
    clients = [TestClient(TestServer(app)) for app in apps]
    for c in clients:
        await c.start_server()
    try:
        await setup_election(
            clients[0],
            doc=definition(round_size=K, turnout={"every": 600}, min_group_size=3),
        )
        clock = 1_800_000_000.0
        receipts: dict[tuple[int, str], dict[str, Any]] = {}
        first_round: dict[tuple[int, str], int] = {}
        """(voter, contest) -> the first round of that contest after the acceptance (what the
        adversary reads from the rounds' time stamps and the acceptance time it knows)."""
        so_far: dict[str, int] = {}
        view = await public_view(clients[0])
        for i in range(60):
            r = await clients[i % 2].post(
                f"/v1/elections/{EID}/ballots", json=paper_for(i), headers=AUTH_FRONTEND
            )
            assert r.status == 201, await r.text()
            for contest, receipt in (await r.json())["receipts"].items():
                receipts[(i, contest)] = receipt
                first_round[(i, contest)] = so_far.get(contest, 0)
            # Nothing public moved at this acceptance.
            now = await public_view(clients[(i + 1) % 2])
            assert now == view, f"acceptance {i} showed"
            clock += 97.0  # the test clock: a report's slot passes now and then
            if (i + 1) % CHECK_EVERY == 0 and i < 52:  # the release timer fires
                await clients[i % 2].app[LEDGER].release_all()
                so_far = {c: len(r) for c, r in rounds_of(await feed(clients[0], EID)).items()}
            await clients[(i + 1) % 2].app[LEDGER].tick(clock)
            view = await public_view(clients[0])
        await close_poll(clients[1])
        entries = await feed(clients[0], EID)
    finally:
        for c in clients:
            await c.close()

    parsed = [parse_entry(e["entry"].encode()) for e in entries]
    assert sum(c.kind == "turnout_reported" for c in parsed) >= 2  # reports were published
    times: dict[str, str] = {
        event_hash(c.event).hex(): c.time for c in parsed if c.kind == "ballot_cast"
    }
    rounds = rounds_of(entries)
    for contest, runs in rounds.items():
        assert len(runs) == 1 or min(len(r) for r in runs) >= K, (contest, runs)
        assert len({times[h] for r in runs for h in r}) == len(runs)  # one time stamp each
    assert sorted(times) == sorted(r["event_hash"] for r in receipts.values())

    published = {receipts[(v, "members")]["event_hash"] for v in PUBLISHED}
    worst = Fraction(0)
    for contest, runs in rounds.items():
        released_in = {h: n for n, r in enumerate(runs) for h in r}
        hidden = [
            (first_round[key], released_in[rc["event_hash"]])
            for key, rc in receipts.items()
            if key[1] == contest and rc["event_hash"] not in published
        ]
        known = [
            (first_round[key], released_in[rc["event_hash"]])
            for key, rc in receipts.items()
            if key[1] == contest and rc["event_hash"] in published
        ]
        pools = []
        for n, run in enumerate(runs):
            u = sum(1 for first, out in hidden if first <= n <= out)
            q = sum(1 for h in run if h not in published)
            assert q == sum(1 for _, out in hidden if out == n)
            assert u >= K, (contest, n, u)  # what the bound rests on: checked, not assumed
            pools.append((u, q))
        del known
        for first, _ in hidden:
            survive = Fraction(1)
            total = Fraction(0)
            for n in range(first, len(runs)):
                u, q = pools[n]
                worst = max(worst, survive / u)  # each of round n's hidden ballots
                total += survive * Fraction(q, u)
                survive *= 1 - Fraction(q, u)
            assert total == 1  # the member's ballot is in some round, surely
    assert 0 < worst <= Fraction(1, K), worst

    # A published receipt names its own ballot and no other: without a leaf's blind, no
    # released event makes any of its batch path's sibling hashes.
    ballots = [c for c in parsed if c.kind == "ballot_cast"]
    for v in sorted(PUBLISHED):
        rc = AcceptanceReceipt.from_json(receipts[(v, "members")])
        siblings = set(rc.batch.path)
        assert sum(event_hash(c.event) == rc.event_hash for c in ballots) == 1
        for c in ballots:
            guess = dataclasses.replace(
                rc, contest=c.event["contest"], event_hash=event_hash(c.event)
            )  # with the only blind the adversary holds: this receipt's own
            assert merkle.leaf_hash(guess.message()) not in siblings
