"""`ballot bench lag`: seconds from a release round's commit to the counter's tallies including it.

A real ``ballot ledger serve`` process and a real ``ballot counter serve`` process (each on its
own database of one PostgreSQL with ``fsync`` on: ``DATABASE_URL`` or a throwaway embedded
cluster) run a sealed one-contest election with ``round_size`` K (``--round-size``). Ballots are
accepted into the ledger's private pending store and enter the log only in release rounds, which
the ledger's jittered timer (``BALLOT_RELEASE_EVERY``, ``--release-every``) draws while the poll
is open; so a ballot's receipt says nothing about when the counter can see it, and the lag is
measured per round.

This process offers ``--rate`` casts per second for ``--seconds`` seconds, open loop: cast ``k``
is sent at ``t0 + k / rate`` whatever the answers before it (``--connections`` keep-alive
connections), a steady load for the whole poll. Meanwhile this process listens on the ledger's
database for the ``NOTIFY`` each appending transaction sends (delivered when it commits) and
reads the log's size after each, and polls the counter's ``GET /v1/elections/{id}/tallies``
every ``--poll`` seconds, whose ``size`` says which entries it covers. After the load, the
rounds are read from the ledger's log (a round: consecutive ``ballot_cast`` entries of one
contest with one time stamp). A round's *commit as seen by the bench* is the arrival of the
first notification whose size read covers the round's last entry; its lag is the arrival of the
first tallies answer covering it (and not before that commit), minus the commit: an upper
bound, coarse by about one poll interval plus one poll's round trip. Beside it, the lag from
the round's time stamp (the ledger's clock, written in the release transaction before it
commits) to the same tallies answer, on this machine's one clock.

Printed: offered and achieved rate, late sends (the load generator's own lag), acceptance
latency, the rounds (count, sizes) and the lag p50/p90/p99/max over rounds against the 0.5 s
target.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from ballot.bench.ledger import add_round_options, durability, durable_cluster, machine
from ballot.bench.pipeline import (
    ADMIN,
    FRONTEND,
    counter_process,
    create_database,
    get_json,
    keys,
    ledger_process,
    paper,
    roll_csv,
)
from ledger.service.base import CHANNEL

EID = "lag-2026"
TARGET_P99 = 0.5
DEFINITION: dict[str, Any] = {
    "title": "Lag benchmark election",
    "declare": "automatic",
    "sealed": True,
    "nomination_threshold": 0,
    "reporting_dimensions": ["region"],
    "min_group_size": 2,
    "contests": [
        {
            "id": "members",
            "title": "Members' section",
            "seats": 3,
            "method": {"type": "stv", "rule": "scottish"},
            "candidates": [
                {"id": c, "name": c.title()}
                for c in ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal")
            ],
        }
    ],
}


def add_parser(bench_sub: Any) -> None:
    p = bench_sub.add_parser(
        "lag", help="release-round-to-counter-tallies lag under steady open-loop load"
    )
    p.add_argument("--rate", type=float, default=100.0, help="offered casts per second")
    p.add_argument("--seconds", type=float, default=30.0, help="duration of the load")
    add_round_options(p)
    p.add_argument("--connections", type=int, default=256, help="keep-alive connections")
    p.add_argument("--poll", type=float, default=0.005, help="seconds between tallies polls")
    p.add_argument("--counter-batch", type=int, default=1000, help="BALLOT_COUNTER_BATCH")
    p.add_argument("--counter-wait", type=int, default=25, help="BALLOT_COUNTER_WAIT")
    p.set_defaults(func=run)


def quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def _setup(session: aiohttp.ClientSession, url: str, voters: int, round_size: int) -> int:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    base = f"{url}/v1/elections/{EID}"
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", base, {"json": {**DEFINITION, "round_size": round_size}}),
        (
            "PUT",
            base + "/roll",
            {"data": roll_csv(voters), "headers": {**auth, "Content-Type": "text/csv"}},
        ),
        ("POST", base + "/poll/open", {}),
    ]
    for method, target, kw in steps:
        kw.setdefault("headers", auth)
        async with session.request(method, target, **kw) as r:
            if r.status not in (200, 201):
                raise SystemExit(f"{method} {target}: {r.status} {await r.text()}")
    _status, body = await get_json(session, base)
    return int(body["size"])


async def _load(
    session: aiohttp.ClientSession, url: str, rate: float, seconds: float
) -> tuple[list[tuple[float, float]], list[float], int]:
    """Open-loop casts: (sent, acceptance receipt's arrival) per answer; late sends;
    failures."""
    target = f"{url}/v1/elections/{EID}/ballots"
    headers = {"Authorization": f"Bearer {FRONTEND}"}
    n = int(rate * seconds)
    answers: list[tuple[float, float]] = []
    late: list[float] = []
    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        sent = time.monotonic()
        body = paper(i, contests=1)
        try:
            async with session.post(target, json=body, headers=headers) as r:
                got = await r.json(content_type=None)
                at = time.monotonic()
                if r.status in (200, 201) and got["receipts"]["members"]["stage"] == "accepted":
                    answers.append((sent, at))
                else:
                    failed += 1
        except (aiohttp.ClientError, TimeoutError):
            failed += 1

    tasks: list[asyncio.Task[None]] = []
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i / rate
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        else:
            late.append(now - due)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return answers, late, failed


async def _poll(
    session: aiohttp.ClientSession, target: str, every: float, stop: asyncio.Event
) -> list[tuple[float, float, int]]:
    """(answer arrival on the monotonic clock and on the wall clock, size) of each poll of
    ``target`` until ``stop``."""
    seen: list[tuple[float, float, int]] = []
    while not stop.is_set():
        async with session.get(target) as r:
            body = await r.json(content_type=None)
        if r.status == 200:
            seen.append((time.monotonic(), time.time(), int(body["size"])))
        await asyncio.sleep(every)
    return seen


async def _commits(url: str, stop: asyncio.Event) -> list[tuple[float, float, int]]:
    """(arrival on the monotonic clock and on the wall clock, log size) of each commit that
    grew the log, as this process sees it: the ledger's ``NOTIFY`` on ``CHANNEL``, sent in the
    appending transaction, is delivered when it commits; the size is read just after, so a
    size is attributed to the earliest notification not yet read (an upper bound on the lag)."""
    listener = await asyncpg.connect(url)
    reader = await asyncpg.connect(url)
    arrivals: list[tuple[float, float]] = []
    woke = asyncio.Event()

    def on_notify(conn: object, pid: int, channel: str, payload: str) -> None:
        if payload == EID:
            arrivals.append((time.monotonic(), time.time()))
            woke.set()

    seen: list[tuple[float, float, int]] = []
    try:
        await listener.add_listener(CHANNEL, on_notify)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woke.wait(), 0.2)
            woke.clear()
            if not arrivals:
                continue
            first = arrivals[0]
            arrivals.clear()
            size = await reader.fetchval("SELECT size FROM logs WHERE election_id = $1", EID)
            seen.append((*first, int(size)))
    finally:
        await listener.close()
        await reader.close()
    return seen


@dataclass(frozen=True, slots=True)
class Round:
    end: int
    """The log size once the round is in: its last entry's index + 1."""
    size: int
    stamp: float
    """The round's one time stamp (Unix seconds)."""


async def rounds_of(url: str, after: int) -> list[Round]:
    """The release rounds in the ledger's log at ``url`` past index ``after``: maximal runs of
    consecutive ``ballot_cast`` entries with the same contest and time stamp."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT idx, kind, body FROM entries WHERE election_id = $1 AND idx >= $2 ORDER BY idx",
            EID,
            after,
        )
    finally:
        await conn.close()
    out: list[Round] = []
    for key, run in itertools.groupby(rows, _round_key):
        if key is not None:
            indices = [r["idx"] for r in run]
            out.append(Round(indices[-1] + 1, indices[-1] + 1 - indices[0], _unix(key[1])))
    return out


def _round_key(row: Any) -> tuple[str, str] | None:
    """A ``ballot_cast`` entry's (contest, time stamp); ``None`` for any other entry."""
    if row["kind"] != "ballot_cast":
        return None
    entry = json.loads(bytes(row["body"]))
    return entry["event"]["contest"], entry["time"]


def _unix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def first_covering(
    seen: list[tuple[float, float, int]], size: int, not_before: float = float("-inf")
) -> tuple[float, float] | None:
    """The (monotonic, wall) arrival of the first answer in ``seen`` whose size is at least
    ``size`` and that arrived no earlier than ``not_before`` (monotonic)."""
    sizes = list(itertools.accumulate((s for _, _, s in seen), max))  # sizes never shrink
    k = bisect.bisect_left(sizes, size)
    while k < len(seen) and seen[k][0] < not_before:
        k += 1
    return (seen[k][0], seen[k][1]) if k < len(seen) else None


async def _bench(args: argparse.Namespace, admin_url: str, work: Path) -> int:
    ledger_db = await create_database(admin_url, "lag_ledger")
    counter_db = await create_database(admin_url, "lag_counter")
    print(f"machine: {machine()}")
    print(f"postgresql: {await durability(ledger_db)}")
    ledger_key, ledger_file, counter_key, counter_file = keys(work)
    ledger = ledger_process(ledger_db, work, ledger_file, counter_key)
    ledger.env["BALLOT_RELEASE_EVERY"] = str(args.release_every)
    counter = counter_process(
        counter_db, work, ledger, ledger_key, counter_file, args.counter_batch
    )
    counter.env["BALLOT_COUNTER_WAIT"] = str(args.counter_wait)
    n = int(args.rate * args.seconds)
    try:
        await ledger.start()
        await counter.start()
        connector = aiohttp.TCPConnector(limit=args.connections)
        timeout = aiohttp.ClientTimeout(total=60)
        tallies = f"{counter.url}/v1/elections/{EID}/tallies"
        head = f"{ledger.url}/v1/elections/{EID}"
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            aiohttp.ClientSession(timeout=timeout) as poller,
        ):
            start_size = await _setup(session, ledger.url, n, args.round_size)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status, body = await get_json(poller, tallies)
                if status == 200 and body.get("size", 0) >= start_size:
                    break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the counter did not catch up with the setup")
            stop = asyncio.Event()
            polling = asyncio.create_task(_poll(poller, tallies, args.poll, stop))
            heads = asyncio.create_task(_commits(ledger_db, stop))
            t0 = time.monotonic()
            answers, late, failed = await _load(session, ledger.url, args.rate, args.seconds)
            load_seconds = time.monotonic() - t0
            # The last round the timer draws once the load has stopped, then the counter's
            # tallies covering it.
            await asyncio.sleep(2 * args.release_every)
            _status, body = await get_json(session, head)
            last = int(body["size"])
            settle = time.monotonic() + 30
            while time.monotonic() < settle:
                await asyncio.sleep(0.05)
                _status, body = await get_json(poller, tallies)
                if body.get("size", 0) >= last:
                    break
            await asyncio.sleep(2 * args.poll + 0.05)
            stop.set()
            seen = await polling
            seen_heads = await heads
        rounds = [r for r in await rounds_of(ledger_db, start_size) if r.end <= last]
    finally:
        counter.stop()
        ledger.stop()
    lags: list[float] = []
    from_stamp: list[float] = []
    missing = 0
    for r in rounds:
        committed = first_covering(seen_heads, r.end)
        if committed is None:
            missing += 1
            continue
        counted = first_covering(seen, r.end, not_before=committed[0])
        if counted is None:
            missing += 1
            continue
        lags.append(counted[0] - committed[0])
        from_stamp.append(counted[1] - r.stamp)
    lags.sort()
    from_stamp.sort()
    latency = sorted(at - sent for sent, at in answers)
    gaps = sorted(b - a for (a, _, _), (b, _, _) in itertools.pairwise(seen))
    head_gaps = sorted(b - a for (a, _, _), (b, _, _) in itertools.pairwise(seen_heads))
    sizes = sorted(r.size for r in rounds)
    print(
        f"offered: {n:,} casts at {args.rate:,.0f}/s open loop over {args.seconds:.0f} s; "
        f"answered {len(answers):,} in {load_seconds:.1f} s = "
        f"{len(answers) / load_seconds:,.0f}/s; failed {failed}; round_size K = "
        f"{args.round_size}, BALLOT_RELEASE_EVERY = {args.release_every:g} s"
    )
    print(
        f"load generator: {len(late):,} sends late, max {max(late, default=0.0) * 1000:.0f} ms; "
        f"polls: tallies {len(seen):,} (median gap {quantile(gaps, 0.5) * 1000:.1f} ms), "
        f"log commits seen {len(seen_heads):,} (median gap {quantile(head_gaps, 0.5):.2f} s)"
    )
    print(
        "acceptance latency (client): "
        + ", ".join(
            f"p{int(q * 100)} {quantile(latency, q) * 1000:.0f} ms" for q in (0.5, 0.9, 0.99)
        )
        + f", max {latency[-1] * 1000:.0f} ms"
        if latency
        else "no receipts"
    )
    print(
        f"release rounds: {len(rounds)}, {sum(sizes):,} ballots, size min "
        f"{sizes[0] if sizes else 0}, median {quantile([float(x) for x in sizes], 0.5):.0f}, max "
        f"{sizes[-1] if sizes else 0}"
    )
    print(
        "round stamp -> counter tallies (one clock): "
        + ", ".join(f"p{int(q * 100)} {quantile(from_stamp, q):.3f} s" for q in (0.5, 0.9, 0.99))
        + f", max {from_stamp[-1] if from_stamp else float('nan'):.3f} s"
    )
    p99 = quantile(lags, 0.99)
    print(
        "round commit (seen by the bench) -> counter tallies lag: "
        + ", ".join(f"p{int(q * 100)} {quantile(lags, q):.3f} s" for q in (0.5, 0.9, 0.99))
        + f", max {lags[-1] if lags else float('nan'):.3f} s over {len(lags):,} rounds"
        + (f" ({missing} never seen)" if missing else "")
    )
    ok = bool(lags) and p99 < TARGET_P99 and not missing
    print(f"target p99 < {TARGET_P99} s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    with durable_cluster() as admin_url, tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_bench(args, admin_url, Path(tmp)))


__all__ = ["add_parser", "run"]
