"""`ballot bench pipeline`: close, openings and count of a large sealed election, end to end.

On a PostgreSQL with ``fsync`` and ``synchronous_commit`` on (``DATABASE_URL``, an admin URL on
which the bench may create databases, or a throwaway embedded cluster started with durability
on), with ``--ballots`` ballots (two contests per paper, so ``--ballots / 2`` papers):

1. fill: the ledger's own batch path in this process (``ledger.service.Ledger`` on an asyncpg
   pool; ``Ledger.cast`` from ``--inflight`` concurrent tasks: schema, selections, MAC, the
   sequencer's group commit with commitments, hashes, COPY and COMMIT, one signed receipt per
   ballot). Timed, but not part of the pipeline's total: casting happens over the poll's hours;
2. close: ``Ledger.close`` (``poll_closed``, then every sealed ballot opened in batches, then
   the openings-complete checkpoint);
3. follow: a real ``ballot ledger serve`` process on that database and a real ``ballot counter
   serve`` process (its own database, same cluster) that starts from nothing and follows the
   whole log over HTTP: every entry verified (leaf, chain, schema, phase, commitment), every
   checkpoint signature and root, the mirror and the projection committed batch by batch;
4. count + declare: the counter counts each contest, stores the result, signs and posts the
   ``result_declared``, folds it back from the feed and marks it declared;
5. restart: the counter is stopped and started again; timed until it has refolded its own
   mirror and is caught up (not part of the total).

``--analyze`` runs ``ANALYZE`` on the ledger's tables between the fill and the close, as
autovacuum would during a poll of hours; without it the close, on statistics from before the
fill, can be quadratic (see docs/counter.md, "Performance and faults").

Printed: each phase's seconds and rate, the pipeline total (close + follow + count/declare),
the machine and the PostgreSQL durability settings.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from ballot.bench.ledger import durability, durable_cluster, machine
from ballot.child import Service
from ledger.format.keys import Signer
from ledger.runtime.embedded import free_port
from ledger.runtime.keyfile import load_or_create_signer

EID = "pipeline-2026"
ADMIN = "bench-admin-token-0123456789"
FRONTEND = "bench-frontend-token-0123456789"
COUNTER = "bench-counter-token-0123456789"
MEMBERS = ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal")
OFFICERS = ("ola", "pip", "quy", "rae")
DEFINITION: dict[str, Any] = {
    "title": "Pipeline benchmark election",
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
            "method": {"type": "stv", "rule": "scottish", "max_rankings": 8},
            "candidates": [
                {"id": c, "name": c.title(), "gender": "woman" if i % 2 else "man"}
                for i, c in enumerate(MEMBERS)
            ],
            "constraints": [{"attribute": "gender", "value": "woman", "min": 1}],
        },
        {
            "id": "officers",
            "title": "Officers",
            "seats": 2,
            "method": {"type": "bloc", "max_marks": 2},
            "candidates": [{"id": c, "name": c.title()} for c in OFFICERS],
        },
    ],
}


def add_parser(bench_sub: Any) -> None:
    p = bench_sub.add_parser(
        "pipeline", help="close + openings + counter follow + count/declare of a big election"
    )
    p.add_argument("--ballots", type=int, default=1_000_000, help="ballots (2 per paper)")
    p.add_argument("--inflight", type=int, default=2000, help="concurrent in-process casts")
    p.add_argument("--counter-batch", type=int, default=1000, help="BALLOT_COUNTER_BATCH")
    p.add_argument(
        "--analyze",
        action="store_true",
        help="ANALYZE the ledger's tables after the fill, before the close, as autovacuum "
        "does during a poll of hours (without it the openings query can pick a quadratic "
        "plan on fresh statistics; see docs/counter.md)",
    )
    p.add_argument("--keep", type=Path, help="keep the processes' logs in this folder")
    p.set_defaults(func=run)


# --- shared with bench_lag ---------------------------------------------------------------------


async def create_database(admin_url: str, prefix: str) -> str:
    """A new empty database on the cluster; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def roll_csv(voters: int) -> bytes:
    regions = ("north", "south", "east", "west")
    rows = "".join(f"pv{i:08d},{regions[i % 4]}\n" for i in range(voters))
    return ("voter_id,region\n" + rows).encode()


def paper(i: int, contests: int = 2) -> dict[str, Any]:
    """Paper ``i``: a varied STV ranking, and (with two contests) a bloc vote."""
    k = len(MEMBERS)
    ranking = [MEMBERS[(i * 7 + j * (1 + i % 3)) % k] for j in range(1 + i % 5)]
    selections: dict[str, list[str]] = {"members": list(dict.fromkeys(ranking))}
    if contests > 1:
        selections["officers"] = [OFFICERS[i % 4], OFFICERS[(i // 4 + 1 + i) % 4]][: 1 + i % 2]
        selections["officers"] = list(dict.fromkeys(selections["officers"]))
    return {
        "submission_id": f"pipe-sub-{i:08d}",
        "voter_id": f"pv{i:08d}",
        "selections": selections,
    }


def ledger_process(url: str, work: Path, key_file: Path, counter_key: Signer) -> Service:
    port = free_port()
    return Service(
        "ledger",
        ["ledger", "serve"],
        {
            "DATABASE_URL": url,
            "BALLOT_PORT": str(port),
            "BALLOT_DATA_DIR": str(work),
            "BALLOT_KEY_FILE": str(key_file),
            "BALLOT_ADMIN_TOKENS": ADMIN,
            "BALLOT_FRONTEND_TOKENS": f"{FRONTEND}=*",
            "BALLOT_COUNTER_TOKENS": f"{COUNTER}=*",
            "BALLOT_COUNTER_KEYS": counter_key.verifier.text(),
            "BALLOT_LOG_FORMAT": "json",
        },
        work / "ledger.log",
        port,
    )


def counter_process(
    url: str, work: Path, ledger: Service, ledger_key: Signer, counter_key_file: Path, batch: int
) -> Service:
    port = free_port()
    return Service(
        "counter",
        ["counter", "serve"],
        {
            "BALLOT_COUNTER_DATABASE_URL": url,
            "BALLOT_COUNTER_PORT": str(port),
            "BALLOT_COUNTER_LEDGER_URL": ledger.url,
            "BALLOT_COUNTER_LEDGER_KEYS": ledger_key.verifier.text(),
            "BALLOT_COUNTER_LEDGER_TOKEN": COUNTER,
            "BALLOT_COUNTER_DATA_DIR": str(work),
            "BALLOT_COUNTER_KEY_FILE": str(counter_key_file),
            "BALLOT_COUNTER_DISCOVER_INTERVAL": "0.5",
            "BALLOT_COUNTER_RETRY": "0.2",
            "BALLOT_COUNTER_BATCH": str(batch),
            "BALLOT_COUNTER_LOG_FORMAT": "json",
        },
        work / "counter.log",
        port,
    )


def keys(work: Path) -> tuple[Signer, Path, Signer, Path]:
    ledger_file, counter_file = work / "ledger.key", work / "counter.key"
    ledger_key = load_or_create_signer(ledger_file, "ballot-ledger.bench/ledger")
    counter_key = load_or_create_signer(counter_file, "ballot-ledger.bench/counter")
    return ledger_key, ledger_file, counter_key, counter_file


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as r:
        return r.status, await r.json(content_type=None)


# --- the pipeline ------------------------------------------------------------------------------


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    step = 1 << 20
    for i in range(0, len(data), step):
        yield data[i : i + step]


async def _fill(ledger: Any, papers: int, inflight: int) -> None:
    """Cast every paper through ``Ledger.cast`` from ``inflight`` concurrent tasks."""
    counter = iter(range(papers))
    done = 0
    last = time.perf_counter()

    async def worker() -> None:
        nonlocal done, last
        for i in counter:
            await ledger.cast(EID, paper(i))
            done += 1
            if time.perf_counter() - last > 15:
                last = time.perf_counter()
                print(f"  … {done:,} papers cast", flush=True)

    await asyncio.gather(*(worker() for _ in range(min(inflight, papers))))


async def _in_process(
    url: str,
    work: Path,
    signer: Signer,
    counter_key: Signer,
    papers: int,
    inflight: int,
    analyze: bool,
) -> dict[str, float]:
    from ledger.runtime.settings import Settings
    from ledger.service import Ledger
    from ledger.storage.store import migrate

    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    settings = Settings(
        database_url=url,
        admin_tokens=(ADMIN,),
        frontend_tokens={FRONTEND: ("*",)},
        counter_keys=(counter_key.verifier.text(),),
        data_dir=work,
    )

    async def init(c: asyncpg.Connection) -> None:
        await c.execute(f'SET ROLE "{settings.db_role}"')

    pool = await asyncpg.create_pool(url, min_size=2, max_size=settings.pool_size, init=init)
    ledger = Ledger(pool, settings, signer)
    await ledger.start(lambda: asyncpg.connect(url))
    out: dict[str, float] = {}
    try:
        await ledger.define(EID, DEFINITION)
        t0 = time.perf_counter()
        await ledger.upload_roll(EID, "text/csv", _chunks(roll_csv(papers)))
        out["roll"] = time.perf_counter() - t0
        await ledger.phase_event(EID, "poll_opened")
        t0 = time.perf_counter()
        await _fill(ledger, papers, inflight)
        out["fill"] = time.perf_counter() - t0
        if analyze:
            t0 = time.perf_counter()
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("ANALYZE sealed_ballots, openings, entries, tree_nodes")
            finally:
                await conn.close()
            out["analyze"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        closed = await ledger.close(EID)
        out["close"] = time.perf_counter() - t0
        out["opened"] = float(closed["opened"])
        out["size"] = float(closed["size"])
    finally:
        await ledger.stop()
        await pool.close()
    return out


async def _pipeline(args: argparse.Namespace, admin_url: str, work: Path) -> int:
    papers = max(1, args.ballots // 2)
    ledger_url = await create_database(admin_url, "pipe_ledger")
    counter_url = await create_database(admin_url, "pipe_counter")
    print(f"machine: {machine()}")
    print(f"postgresql: {await durability(ledger_url)}")
    print(f"election: {papers:,} papers x 2 contests = {2 * papers:,} sealed ballots")
    ledger_key, ledger_file, counter_key, counter_file = keys(work)
    t = await _in_process(
        ledger_url, work, ledger_key, counter_key, papers, args.inflight, args.analyze
    )
    ballots = 2 * papers
    print(f"roll upload: {papers:,} rows in {t['roll']:.1f} s")
    print(
        f"fill (Ledger.cast, {args.inflight} in flight; not in the total): {ballots:,} ballots "
        f"in {t['fill']:.1f} s = {ballots / t['fill']:,.0f} ballots/s"
    )
    if "analyze" in t:
        print(f"ANALYZE of the ledger's tables before the close: {t['analyze']:.1f} s")
    print(
        f"close: poll_closed + {int(t['opened']):,} openings + checkpoint in {t['close']:.1f} s "
        f"= {t['opened'] / t['close']:,.0f} openings/s; log size {int(t['size']):,}"
    )
    ledger = ledger_process(ledger_url, work, ledger_file, counter_key)
    counter = counter_process(
        counter_url, work, ledger, ledger_key, counter_file, args.counter_batch
    )
    try:
        await ledger.start(within=60.0)
        t0 = time.perf_counter()
        await counter.start(within=60.0)
        base = f"{counter.url}/v1/elections/{EID}"
        size = int(t["size"])
        followed: float | None = None
        declared: float | None = None
        last = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            while declared is None:
                await asyncio.sleep(0.1)
                if counter.proc is not None and counter.proc.poll() is not None:
                    raise SystemExit(f"the counter exited; see {counter.log}")
                if followed is None:
                    status, body = await get_json(session, base + "/tallies")
                    if status == 200 and body.get("size", 0) >= size:
                        followed = time.perf_counter() - t0
                    elif time.perf_counter() - last > 15:
                        last = time.perf_counter()
                        print(f"  … counter at {body.get('size', 0):,}/{size:,}", flush=True)
                    continue
                status, body = await get_json(session, base + "/results")
                results = body.get("results", []) if status == 200 else []
                if len(results) == len(DEFINITION["contests"]) and all(
                    r["declared"] for r in results
                ):
                    declared = time.perf_counter() - t0 - followed
            status, alerts = await get_json(session, base + "/alerts")
            # A restart: the new process refolds its own mirror before it follows again.
            counter.stop()
            t0 = time.perf_counter()
            await counter.start(within=60.0)
            restarted: float | None = None
            while restarted is None:
                await asyncio.sleep(0.1)
                status, body = await get_json(session, f"{counter.url}/v1/elections")
                mine = [e for e in body.get("elections", []) if e["election"] == EID]
                if mine and mine[0].get("status") == "caught_up":
                    restarted = time.perf_counter() - t0
    finally:
        counter.stop()
        ledger.stop()
    if alerts.get("alerts"):
        print(f"the counter raised alerts: {alerts['alerts']}")
        return 1
    assert followed is not None
    total = t["close"] + followed + declared
    print(
        f"counter follow (new process, from index 0, verify + fold + mirror + projection): "
        f"{size:,} entries in {followed:.1f} s = {size / followed:,.0f} entries/s"
    )
    print(f"count + declare + declaration folded back: {declared:.1f} s")
    print(
        f"counter restart (process start, refold of its {size:,}-entry mirror, caught up): "
        f"{restarted:.1f} s (not in the total)"
    )
    print(f"pipeline total (close + follow + count/declare): {total:.1f} s for {ballots:,} ballots")
    for r in results:
        print(
            f"  {r['contest']}: elected {', '.join(r['result']['elected'])}; declared at "
            f"index {r['declared_index']}"
        )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for p in (ledger.log, counter.log):
            shutil.copy(p, args.keep / p.name)
    return 0


def run(args: argparse.Namespace) -> int:
    with durable_cluster() as admin_url, tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_pipeline(args, admin_url, Path(tmp)))


__all__ = ["add_parser", "run"]
