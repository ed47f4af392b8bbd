"""`ballot bench lag`: seconds from a ballot's receipt to the counter's running turnout.

A real ``ballot ledger serve`` process and a real ``ballot counter serve`` process (each on its
own database of one PostgreSQL with ``fsync`` on: ``DATABASE_URL`` or a throwaway embedded
cluster) run a sealed one-contest election. This process offers ``--rate`` casts per second
for ``--seconds`` seconds, open loop: cast ``k`` is sent at ``t0 + k / rate`` whatever the
answers before it (``--connections`` keep-alive connections). Each answer's arrival is the
receipt time of its ballot, whose index the receipt carries. Meanwhile a poller reads the
counter's ``GET /v1/elections/{id}/tallies`` every ``--poll`` seconds; the size stamp of the
projection says which entries it reflects. A ballot's lag is the arrival time of the first
poll answer whose size covers its index, minus its receipt time: an upper bound, coarse by at
most one poll interval plus one poll's round trip.

Printed: offered and achieved rate, late sends (the load generator's own lag), receipt
latency, and lag p50/p90/p99/max against the 0.5 s target.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from ballot.bench.ledger import durability, durable_cluster, machine
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
    p = bench_sub.add_parser("lag", help="receipt-to-counter-turnout lag under open-loop load")
    p.add_argument("--rate", type=float, default=1000.0, help="offered casts per second")
    p.add_argument("--seconds", type=float, default=30.0, help="duration of the load")
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


async def _setup(session: aiohttp.ClientSession, url: str, voters: int) -> int:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    base = f"{url}/v1/elections/{EID}"
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", base, {"json": DEFINITION}),
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
) -> tuple[list[tuple[int, float, float]], list[float], int]:
    """Open-loop casts: (index, sent, receipt time) per answer; late sends; failures."""
    target = f"{url}/v1/elections/{EID}/ballots"
    headers = {"Authorization": f"Bearer {FRONTEND}"}
    n = int(rate * seconds)
    answers: list[tuple[int, float, float]] = []
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
                if r.status in (200, 201):
                    answers.append((int(got["receipts"]["members"]["index"]), sent, at))
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
    session: aiohttp.ClientSession, url: str, every: float, stop: asyncio.Event
) -> list[tuple[float, int]]:
    """(answer arrival, projection size) of each tallies poll until ``stop``."""
    seen: list[tuple[float, int]] = []
    target = f"{url}/v1/elections/{EID}/tallies"
    while not stop.is_set():
        async with session.get(target) as r:
            body = await r.json(content_type=None)
        if r.status == 200:
            seen.append((time.monotonic(), int(body["size"])))
        await asyncio.sleep(every)
    return seen


async def _bench(args: argparse.Namespace, admin_url: str, work: Path) -> int:
    ledger_db = await create_database(admin_url, "lag_ledger")
    counter_db = await create_database(admin_url, "lag_counter")
    print(f"machine: {machine()}")
    print(f"postgresql: {await durability(ledger_db)}")
    ledger_key, ledger_file, counter_key, counter_file = keys(work)
    ledger = ledger_process(ledger_db, work, ledger_file, counter_key)
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
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            aiohttp.ClientSession(timeout=timeout) as poller,
        ):
            size = await _setup(session, ledger.url, n)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status, body = await get_json(poller, f"{counter.url}/v1/elections/{EID}/tallies")
                if status == 200 and body.get("size", 0) >= size:
                    break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the counter did not catch up with the setup")
            stop = asyncio.Event()
            polling = asyncio.create_task(_poll(poller, counter.url, args.poll, stop))
            t0 = time.monotonic()
            answers, late, failed = await _load(session, ledger.url, args.rate, args.seconds)
            load_seconds = time.monotonic() - t0
            last = max((a[0] for a in answers), default=0)
            settle = time.monotonic() + 30
            while time.monotonic() < settle:
                await asyncio.sleep(0.05)
                status, body = await get_json(poller, f"{counter.url}/v1/elections/{EID}/tallies")
                if body.get("size", 0) > last:
                    break
            await asyncio.sleep(2 * args.poll + 0.05)
            stop.set()
            seen = await polling
    finally:
        counter.stop()
        ledger.stop()
    times = [t for t, _ in seen]
    sizes = [s for _, s in seen]
    for k in range(1, len(sizes)):  # a size never shrinks: make the series monotone for bisect
        sizes[k] = max(sizes[k], sizes[k - 1])
    lags: list[float] = []
    missing = 0
    for index, _sent, at in answers:
        k = bisect.bisect_right(sizes, index)  # first poll whose size > index
        while k < len(times) and times[k] < at:
            k += 1
        if k >= len(times):
            missing += 1
            continue
        lags.append(times[k] - at)
    lags.sort()
    latency = sorted(at - sent for _, sent, at in answers)
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    print(
        f"offered: {n:,} casts at {args.rate:,.0f}/s open loop over {args.seconds:.0f} s; "
        f"answered {len(answers):,} in {load_seconds:.1f} s = "
        f"{len(answers) / load_seconds:,.0f}/s; failed {failed}"
    )
    print(
        f"load generator: {len(late):,} sends late, max {max(late, default=0.0) * 1000:.0f} ms; "
        f"tallies polls: {len(times):,}, median gap {quantile(gaps, 0.5) * 1000:.1f} ms"
    )
    print(
        "receipt latency (client): "
        + ", ".join(
            f"p{int(q * 100)} {quantile(latency, q) * 1000:.0f} ms" for q in (0.5, 0.9, 0.99)
        )
        + f", max {latency[-1] * 1000:.0f} ms"
        if latency
        else "no receipts"
    )
    p99 = quantile(lags, 0.99)
    print(
        "receipt -> counter turnout lag: "
        + ", ".join(f"p{int(q * 100)} {quantile(lags, q):.3f} s" for q in (0.5, 0.9, 0.99))
        + f", max {lags[-1] if lags else float('nan'):.3f} s over {len(lags):,} ballots"
        + (f" ({missing} never seen)" if missing else "")
    )
    ok = bool(lags) and p99 < TARGET_P99 and not missing
    print(f"target p99 < {TARGET_P99} s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    with durable_cluster() as admin_url, tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_bench(args, admin_url, Path(tmp)))


__all__ = ["add_parser", "run"]
