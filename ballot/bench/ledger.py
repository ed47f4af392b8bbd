"""`ballot bench append` and `ballot bench sequencer`: how fast the ledger takes ballots.

Both run on a PostgreSQL with ``fsync`` and ``synchronous_commit`` on: ``DATABASE_URL`` (an
admin URL on which the bench may create a database) or, without it, a throwaway embedded
cluster in a temporary directory, started with durability explicitly on.

``append``: durable casts per second over HTTP, each answered with a batch-signed acceptance
receipt, on a sealed election. The ledger runs as its own process (``ballot ledger serve``),
with its release timer on (``--release-every``, ``BALLOT_RELEASE_EVERY``; K = ``--round-size``),
so release rounds move ballots into the log during the measured run as they would during a poll.
The load generator is a small keep-alive HTTP/1.1 client (``--clients`` connections, each with
one request in flight) that sends pre-built requests. After the run the poll is closed (the
final round, ``poll_closed``, the openings) and the bench checks one receipt's signature and
that every receipt's event is in the log exactly once with nothing left pending. In the same
run, the same load generator drives a bare aiohttp endpoint, in its own process, that parses
the same JSON body and answers with a JSON body of the ledger's mean answer size: the HTTP
ceiling. Printed: casts/s, the ceiling, their ratio, latency percentiles (client side), the
batch sizes (from the ledger's private metrics), the rounds released during the run and
released / accepted after the close.

``sequencer``: the ledger's whole path for a ballot, in-process: acceptance (``Ledger.cast``:
schema, selections, MAC; then the sequencer's group commit: checks, commitments, canonical
events and their hashes, one batch signature over blinded acceptance receipts, one INSERT
statement into the pending store, COMMIT) fed by ``--inflight`` concurrent casts, and then the
release rounds that move them into the log (``Ledger.release_all``: one round of all but K,
drawn at random, canonical entries, leaf, chain and tree hashes, COPY, COMMIT). The ledger's
own timer is off (the warm-up is released before the measurement, so the measured round holds
exactly the measured casts); the rate is ballots over the two times added (in a poll the timer
releases while casts go on; added, they are an upper bound on the cost), and the bench checks
that every accepted ballot is in the log or among the K left pending. Beside it, the raw
ceiling of the same PostgreSQL: COPY of rows of
the same size as the ballot entries, in batches of the mean batch size the sequencer formed,
one transaction per batch, no hashing. A second ceiling copies the whole row set a ballot
writes (pending row, participation, submission; entry, tree node, sealed ballot) for
information.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from ledger.format.acceptance import AcceptanceReceipt, verify_acceptance
from ledger.format.keys import Keyring, Signer, Verifier
from ledger.runtime import metrics
from ledger.runtime.embedded import free_port, throwaway_cluster
from ledger.runtime.settings import Settings
from ledger.storage.store import migrate

DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
EID = "bench-2026"
FRONTEND = "bench-frontend-token-0123456789"
ADMIN = "bench-admin-token-0123456789"
HTTP_TARGET = 5000.0
HTTP_RATIO_TARGET = 0.5
SEQ_RATIO_TARGET = 0.5
CANDIDATES = ("ann", "bob", "cat", "dan", "eve")
DEFINITION: dict[str, Any] = {
    "title": "Benchmark election",
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
            "method": {"type": "stv", "rule": "scottish", "max_rankings": 5},
            "candidates": [{"id": c, "name": c.title()} for c in CANDIDATES],
        }
    ],
}


def add_round_options(parser: Any) -> None:
    """``--release-every`` (the ledger's release timer) and ``--round-size`` (K)."""
    parser.add_argument(
        "--release-every",
        type=float,
        default=1.0,
        help="BALLOT_RELEASE_EVERY: mean seconds of the ledger's jittered release timer",
    )
    parser.add_argument("--round-size", type=int, default=50, help="the definition's round_size K")


def add_parser(bench_sub: Any) -> None:
    a = bench_sub.add_parser("append", help="durable casts/s over HTTP beside the HTTP ceiling")
    a.add_argument("--casts", type=int, default=40_000, help="measured casts per run")
    a.add_argument("--warmup", type=int, default=3_000, help="casts before measuring")
    a.add_argument("--clients", type=int, default=64, help="concurrent connections")
    a.add_argument("--max-batch", type=int, default=1000, help="the ledger's max_batch")
    add_round_options(a)
    a.set_defaults(func=run_append)
    s = bench_sub.add_parser("sequencer", help="the batch path in-process beside raw COPY")
    s.add_argument("--casts", type=int, default=40_000, help="measured casts")
    s.add_argument("--warmup", type=int, default=2_000, help="casts before measuring")
    s.add_argument("--inflight", type=int, default=1024, help="concurrent casts in flight")
    s.add_argument("--max-batch", type=int, default=512, help="the sequencer's max_batch")
    s.set_defaults(func=run_sequencer)


# --- database --------------------------------------------------------------------------------


def durable_cluster() -> contextlib.AbstractContextManager[str]:
    """An admin URL: ``DATABASE_URL``, or a throwaway embedded cluster with fsync on."""
    return throwaway_cluster("ballot-bench-pg-", DURABLE)


async def create_database(admin_url: str) -> str:
    """A new database with the ledger's schema; return its URL."""
    name = f"ballot_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


async def durability(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        names = ("fsync", "synchronous_commit", "full_page_writes", "server_version")
        values = [await conn.fetchval(f"SHOW {n}") for n in names]
    finally:
        await conn.close()
    if values[0] != "on" or values[1] == "off":
        raise SystemExit("the bench needs fsync and synchronous_commit on")
    return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True))


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model or 'unknown CPU'}, Python {sys.version.split()[0]}"


def roll_csv(voters: int) -> bytes:
    regions = ("north", "south", "east")
    rows = "".join(f"bv{i:07d},{regions[i % 3]}\n" for i in range(voters))
    return ("voter_id,region\n" + rows).encode()


def paper(i: int) -> dict[str, Any]:
    ranking = [CANDIDATES[(i + k) % len(CANDIDATES)] for k in range(1 + i % 4)]
    return {
        "submission_id": f"bench-sub-{i:08d}",
        "voter_id": f"bv{i:07d}",
        "selections": {"members": ranking},
    }


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far (user + system) by this process, by the ledger (the ``serve``
    child) and by every PostgreSQL process, read from ``/proc``; {} where there is no /proc.
    The bench's cluster is its own, so every ``postgres`` process is the bench's."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"load generator": 0.0, "ledger": 0.0, "postgresql": 0.0}
    me = str(os.getpid())
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / tick
        if pid == me:
            out["load generator"] += used
        elif name.startswith("postgres"):
            out["postgresql"] += used
        elif b"ballot.cli\0ledger\0serve" in cmd:
            out["ledger"] += used
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    n = len(ordered)
    return {
        p: ordered[min(n - 1, int(n * q))] for p, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    } | {"max": ordered[-1]}


# --- the load generator ----------------------------------------------------------------------


@dataclass
class LoadResult:
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    sample: bytes
    reply_bytes: int = 0
    """Bytes of every 2xx answer's body."""
    bodies: list[bytes] = field(default_factory=list)
    """Every 2xx answer's body, when asked to keep them."""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def drive(port: int, requests: list[bytes], clients: int, keep: bool = False) -> LoadResult:
    """Send every request over ``clients`` keep-alive connections, one in flight on each
    (``keep``: keep every 2xx answer's body)."""
    todo = iter(requests)
    bodies: list[bytes] = []
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sample: list[bytes] = []
    reply_bytes = 0

    async def client() -> None:
        nonlocal reply_bytes
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in todo:
                t0 = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1
                if status in (200, 201):
                    reply_bytes += len(body)
                    if keep:
                        bodies.append(body)
                    if not sample:
                        sample.append(body)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return LoadResult(
        time.perf_counter() - started,
        latencies,
        statuses,
        sample[0] if sample else b"",
        reply_bytes,
        bodies,
    )


def build_requests(port: int, first: int, count: int) -> list[bytes]:
    out = []
    for i in range(first, first + count):
        body = json.dumps(paper(i)).encode()
        head = (
            f"POST /v1/elections/{EID}/ballots HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {FRONTEND}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _wait_ready(port: int, path: str, proc: asyncio.subprocess.Process) -> None:
    for _ in range(400):
        if proc.returncode is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, _ = await _read_response(reader)
            writer.close()
            if status == 200:
                return
        await asyncio.sleep(0.05)
    raise SystemExit("the server did not become ready")


# --- the HTTP ceiling: a bare aiohttp endpoint -------------------------------------------------


def ceiling_app(reply_size: int) -> Any:
    """An aiohttp app that parses a JSON cast body and answers ``reply_size`` bytes of JSON."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        reply = {"submission_id": body["submission_id"], "pad": ""}
        pad = reply_size - len(json.dumps(reply))
        reply["pad"] = "x" * max(0, pad)
        return web.json_response(reply, status=201)

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_post("/v1/elections/{election}/ballots", handler)
    app.router.add_get("/readyz", ready)
    return app


def serve_ceiling(port: int, reply_size: int) -> None:
    from aiohttp import web

    web.run_app(ceiling_app(reply_size), host="127.0.0.1", port=port, access_log=None, print=None)


# --- ballot bench append -----------------------------------------------------------------------


def _histogram(text: str, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """(cumulative buckets, sum, count) of a Prometheus histogram in exposition text."""
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
        elif line.startswith(f"{name}_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_count"):
            count = float(line.rsplit(" ", 1)[1])
    return buckets, total, count


def _bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Upper bound of the bucket holding quantile ``q``."""
    n = buckets[-1][1] if buckets else 0.0
    for le, cumulative in buckets:
        if cumulative >= q * n:
            return le
    return float("inf")


async def _get(port: int, path: str, headers: str = "") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        return await _read_response(reader)
    finally:
        writer.close()


async def _send(port: int, method: str, path: str, body: bytes, ctype: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        return await _read_response(reader)
    finally:
        writer.close()


def _counter(text: str, name: str) -> float:
    """A Prometheus counter's value in exposition text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _event_hash_of(body: bytes) -> bytes:
    """The event hash an answer's acceptance receipt promises."""
    return bytes.fromhex(json.loads(body)["receipts"]["members"]["event_hash"])


async def _append(args: argparse.Namespace, admin_url: str, work: Path) -> int:
    url = await create_database(admin_url)
    print(f"machine: {machine()}")
    print(f"postgresql: {await durability(url)}")
    voters = args.warmup + args.casts
    port = free_port()
    metrics_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BALLOT_PORT": str(port),
        "BALLOT_METRICS_PORT": str(metrics_port),
        "BALLOT_DATA_DIR": str(work),
        "BALLOT_ADMIN_TOKENS": ADMIN,
        "BALLOT_FRONTEND_TOKENS": f"{FRONTEND}=*",
        "BALLOT_CHECKPOINT_INTERVAL": "5",
        "BALLOT_MAX_BATCH": str(args.max_batch),
        "BALLOT_RELEASE_EVERY": str(args.release_every),
        "BALLOT_LOG_FORMAT": "json",
    }
    definition = {**DEFINITION, "round_size": args.round_size}
    log_file = (work / "ledger.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "ballot.cli", "ledger", "serve"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        await _wait_ready(port, "/readyz", proc)
        base = f"/v1/elections/{EID}"
        status, body = await _send(
            port, "PUT", base, json.dumps(definition).encode(), "application/json"
        )
        assert status == 201, body
        status, body = await _send(port, "PUT", base + "/roll", roll_csv(voters), "text/csv")
        assert status == 200, body
        status, body = await _send(port, "POST", base + "/poll/open", b"", "application/json")
        assert status == 200, body
        _, keys = await _get(port, "/v1/keys")
        keyring = Keyring([Verifier.parse(t) for t in json.loads(keys)["ledger"]])
        warm = build_requests(port, 0, args.warmup)
        warm_run = await drive(port, warm, args.clients, keep=True)
        _, before = await _get(metrics_port, "/metrics")
        requests = build_requests(port, args.warmup, args.casts)
        cpu0 = cpu_seconds()
        ledger_run = await drive(port, requests, args.clients, keep=True)
        cpu1 = cpu_seconds()
        _, after = await _get(metrics_port, "/metrics")
        # The close: every contest's final round (all still pending), poll_closed, openings.
        closing = time.perf_counter()
        status, body = await _send(port, "POST", base + "/poll/close", b"", "application/json")
        assert status == 200, body
        closing = time.perf_counter() - closing
        _, closed = await _get(metrics_port, "/metrics")
        _, head = await _get(port, base)
        size = json.loads(head)["size"]
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        log_file.close()
    ok = ledger_run.statuses[201]
    if ok != args.casts:
        print(f"[warning] statuses: {dict(ledger_run.statuses)}")
    # Every answer is an acceptance receipt; one is checked in full (signature over its
    # batch root, its event hashing to its event_hash), and every promised event must be in
    # the log once, after the close, with nothing left pending.
    sample = json.loads(ledger_run.sample)
    verify_acceptance(AcceptanceReceipt.from_json(sample["receipts"]["members"]), keyring)
    promised = {_event_hash_of(b) for b in (*warm_run.bodies, *ledger_run.bodies)}
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT event_hash FROM entries WHERE election_id = $1 AND kind = 'ballot_cast'", EID
        )
        logged = {bytes(r["event_hash"]) for r in rows}
        entries = len(rows)
        still_pending = await conn.fetchval(
            "SELECT count(*) FROM pending WHERE election_id = $1", EID
        )
    finally:
        await conn.close()
    reply_size = round(ledger_run.reply_bytes / max(ok, 1))
    ceiling_port = free_port()
    ceiling = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-m",
            "ballot.bench.ledger",
            "ceiling",
            str(ceiling_port),
            str(reply_size),
        ]
    )
    try:
        await _wait_ready(ceiling_port, "/readyz", ceiling)
        await drive(ceiling_port, build_requests(ceiling_port, 0, args.warmup), args.clients)
        ceiling_run = await drive(
            ceiling_port, build_requests(ceiling_port, args.warmup, args.casts), args.clients
        )
    finally:
        ceiling.terminate()
        await asyncio.wait_for(ceiling.wait(), 30)
    b0, s0, c0 = _histogram(before.decode(), "ballot_ledger_batch_size")
    b1, s1, c1 = _histogram(after.decode(), "ballot_ledger_batch_size")
    delta = [(le, n1 - n0) for (le, n1), (_, n0) in zip(b1, b0, strict=True)]
    _, cs0, cc0 = _histogram(before.decode(), "ballot_ledger_commit_seconds")
    _, cs1, cc1 = _histogram(after.decode(), "ballot_ledger_commit_seconds")
    counts = {
        name: [_counter(t.decode(), f"ballot_ledger_{name}_total") for t in (before, after, closed)]
        for name in ("accepted", "released", "release_rounds")
    }
    accepted = counts["accepted"][2]
    released_run = counts["released"][1] - counts["released"][0]
    rounds_run = counts["release_rounds"][1] - counts["release_rounds"][0]
    released_all = counts["released"][2]
    rate = ok / ledger_run.seconds
    ceiling_rate = ceiling_run.statuses[201] / ceiling_run.seconds
    lat = percentiles(ledger_run.latencies)
    clat = percentiles(ceiling_run.latencies)
    batches = c1 - c0
    print(
        f"run: {args.casts:,} casts after {args.warmup:,} warm-up, {args.clients} clients, "
        f"sealed election, max_batch={args.max_batch}, round_size={args.round_size}, "
        f"BALLOT_RELEASE_EVERY={args.release_every:g} s; log size after the close {size:,}"
    )
    print(
        f"ledger:  {rate:9,.0f} casts/s  ({ok:,} acceptance receipts in "
        f"{ledger_run.seconds:.2f} s; statuses {dict(ledger_run.statuses)})"
    )
    print("         latency ms: " + "  ".join(f"{k} {v * 1000:.1f}" for k, v in lat.items()))
    print(
        f"         batches: {batches:,.0f}, mean size {(s1 - s0) / max(batches, 1):.1f}, "
        f"p50 <= {_bucket_quantile(delta, 0.5):.0f}, p95 <= {_bucket_quantile(delta, 0.95):.0f}"
        f"; mean commit {1000 * (cs1 - cs0) / max(cc1 - cc0, 1):.1f} ms"
    )
    print(
        f"         release rounds during the run: {rounds_run:,.0f}, {released_run:,.0f} "
        f"ballots (mean round {released_run / max(rounds_run, 1):,.0f})"
    )
    if cpu0 and ok:
        used = {k: cpu1[k] - cpu0[k] for k in cpu0}
        print(
            "         CPU per cast: "
            + ", ".join(f"{k} {v / ok * 1e6:.0f} us" for k, v in used.items())
            + f"; sum {sum(used.values()) / ok * 1e6:.0f} us; busy "
            + ", ".join(f"{k} {v / ledger_run.seconds:.0%}" for k, v in used.items())
            + " of one core"
        )
    missing = len(promised - logged)
    complete = (
        missing == 0
        and entries == len(logged) == len(promised) == accepted == released_all
        and still_pending == 0
    )
    print(
        f"released / accepted: {released_all:,.0f} / {accepted:,.0f} after the close "
        f"({closing:.1f} s: final round, poll_closed, openings); log: {entries:,} ballot_cast "
        f"entries, {len(logged):,} distinct event hashes; {len(promised):,} receipts, "
        f"{missing:,} of their events missing from the log, {still_pending:,} pending: "
        f"{'complete' if complete else 'INCOMPLETE'}"
    )
    print(
        f"ceiling: {ceiling_rate:9,.0f} req/s    (bare aiohttp, same body, {reply_size}-byte "
        f"reply (the ledger's mean answer), same load generator)"
    )
    print("         latency ms: " + "  ".join(f"{k} {v * 1000:.1f}" for k, v in clat.items()))
    ratio = rate / ceiling_rate
    print(
        f"ratio ledger / HTTP ceiling: {ratio:.2f}  (target >= {HTTP_RATIO_TARGET:.2f}: "
        f"{'met' if ratio >= HTTP_RATIO_TARGET else 'MISSED'}; issue 14: no worse than "
        f"0.18-0.24); casts/s target >= {HTTP_TARGET:,.0f}: "
        f"{'met' if rate >= HTTP_TARGET else 'MISSED'}"
    )
    return 0 if complete else 1


def run_append(args: argparse.Namespace) -> int:
    with durable_cluster() as admin_url:
        work = Path(tempfile.mkdtemp(prefix="ballot-bench-"))
        try:
            return asyncio.run(_append(args, admin_url, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)


# --- ballot bench sequencer --------------------------------------------------------------------


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _histogram_totals() -> tuple[float, float]:
    total = count = 0.0
    for family in metrics.BATCH_SIZE.collect():
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return total, count


async def _feed(ledger: Any, first: int, count: int, inflight: int) -> list[str]:
    """Cast papers ``first ..`` from ``inflight`` tasks; the answers' JSON texts."""
    todo = iter(range(first, first + count))
    answers: list[str] = []

    async def worker() -> None:
        for i in todo:
            response, _ = await ledger.cast(EID, paper(i))
            answers.append(response)

    await asyncio.gather(*(worker() for _ in range(inflight)))
    return answers


async def raw_ceiling(
    url: str, batches: list[list[list[tuple[Any, ...]]]], tables: list[tuple[str, list[str]]]
) -> float:
    """Seconds to COPY each batch (one transaction per batch) into ``tables``."""
    conn = await asyncpg.connect(url)
    try:
        for table, _ in tables:
            await conn.execute(f"CREATE TABLE raw_{table} (LIKE {table} INCLUDING ALL)")
        started = time.perf_counter()
        for batch in batches:
            async with conn.transaction():
                for (table, columns), rows in zip(tables, batch, strict=True):
                    await conn.copy_records_to_table(f"raw_{table}", records=rows, columns=columns)
        seconds = time.perf_counter() - started
        for table, _ in tables:
            await conn.execute(f"DROP TABLE raw_{table}")
        return seconds
    finally:
        await conn.close()


async def _sequencer(args: argparse.Namespace, admin_url: str, work: Path) -> int:
    from ledger.service import Ledger

    url = await create_database(admin_url)
    print(f"machine: {machine()}")
    print(f"postgresql: {await durability(url)}")
    settings = Settings(
        database_url=url,
        admin_tokens=(ADMIN,),
        frontend_tokens={FRONTEND: ("*",)},
        checkpoint_interval=3600.0,
        release_every=3600.0,  # the bench calls release_all itself: no timer round in between
        max_batch=args.max_batch,
        data_dir=work,
    )
    signer = Signer(name="ballot-ledger.bench/ledger", seed=secrets.token_bytes(32))

    async def init(c: asyncpg.Connection) -> None:
        await c.execute(f'SET ROLE "{settings.db_role}"')

    pool = await asyncpg.create_pool(url, min_size=2, max_size=settings.pool_size, init=init)
    ledger = Ledger(pool, settings, signer)
    await ledger.start(lambda: asyncpg.connect(url))
    try:
        await ledger.define(EID, DEFINITION)
        await ledger.upload_roll(EID, "text/csv", _chunks(roll_csv(args.warmup + args.casts)))
        await ledger.phase_event(EID, "poll_opened")
        await _feed(ledger, 0, args.warmup, args.inflight)
        await ledger.release_all()  # the warm-up's ballots, all but K, out of the way
        s0, c0 = _histogram_totals()
        started = time.perf_counter()
        answers = await _feed(ledger, args.warmup, args.casts, args.inflight)
        accepting = time.perf_counter() - started
        s1, c1 = _histogram_totals()
        started = time.perf_counter()
        released = await ledger.release_all()
        releasing = time.perf_counter() - started
        seconds = accepting + releasing
        receipt = AcceptanceReceipt.from_json(json.loads(answers[-1])["receipts"]["members"])
        verify_acceptance(receipt, Keyring([signer.verifier]))
        async with pool.acquire() as conn:
            body_len = await conn.fetchval(
                "SELECT avg(length(body))::int FROM entries WHERE election_id = $1 "
                "AND kind = 'ballot_cast'",
                EID,
            )
            size = await conn.fetchval("SELECT size FROM logs WHERE election_id = $1", EID)
            logged = await conn.fetchval(
                "SELECT count(*) FROM entries WHERE election_id = $1 AND kind = 'ballot_cast'",
                EID,
            )
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pending WHERE election_id = $1", EID
            )
    finally:
        await ledger.stop()
        await pool.close()
    rate = args.casts / seconds
    k = DEFINITION.get("round_size", 50)
    complete = (
        released == args.casts
        and logged + waiting == args.warmup + args.casts
        and waiting == min(k, args.warmup + args.casts)
    )
    batches = c1 - c0
    mean_batch = (s1 - s0) / max(batches, 1)
    b = max(1, round(mean_batch))
    n_batches = max(1, args.casts // b)

    def entry(i: int) -> tuple[Any, ...]:
        return (
            "raw",
            i,
            "ballot_cast",
            secrets.token_bytes(32),
            secrets.token_bytes(32),
            secrets.token_bytes(body_len),
        )

    entries_only = [[[entry(k * b + j) for j in range(b)]] for k in range(n_batches)]
    entry_cols = ["election_id", "idx", "kind", "leaf_hash", "chain_hash", "body"]
    raw_s = await raw_ceiling(url, entries_only, [("entries", entry_cols)])
    del entries_only
    raw_rate = n_batches * b / raw_s

    def full(k: int) -> list[list[tuple[Any, ...]]]:
        idx = range(k * b, (k + 1) * b)
        return [
            [entry(i) for i in idx],
            [("raw", 0, i, secrets.token_bytes(32)) for i in idx],
            [("raw", "members", f"bv{i:07d}") for i in idx],
            [("raw", i, "members", '["ann", "bob"]', secrets.token_bytes(32)) for i in idx],
            [
                ("raw", f"bench-sub-{i:08d}", secrets.token_bytes(32), '"' + "x" * 420 + '"')
                for i in idx
            ],
        ]

    full_batches = [
        [
            *full(k),
            [
                ("raw", "members", secrets.token_bytes(32), secrets.token_bytes(body_len - 80))
                for _ in range(b)
            ],
        ]
        for k in range(n_batches)
    ]
    full_tables = [
        ("entries", entry_cols),
        ("tree_nodes", ["election_id", "level", "idx", "hash"]),
        ("participation", ["election_id", "contest_id", "voter_id"]),
        ("sealed_ballots", ["election_id", "cast_index", "contest_id", "selections", "salt"]),
        ("submissions", ["election_id", "submission_id", "request_mac", "response"]),
        ("pending", ["election_id", "contest_id", "event_hash", "event"]),
    ]
    full_s = await raw_ceiling(url, full_batches, full_tables)
    full_rate = n_batches * b / full_s
    print(
        f"run: {args.casts:,} casts after {args.warmup:,} warm-up, {args.inflight} in flight, "
        f"sealed election, max_batch={args.max_batch}; log size {size:,}"
    )
    print(
        f"sequencer: {rate:9,.0f} ballots/s ({args.casts:,} acceptance receipts in "
        f"{accepting:.2f} s, {batches:,.0f} batches of mean size {mean_batch:.1f}; "
        f"{released:,} released in {releasing:.2f} s)"
    )
    print(
        f"  released / accepted: {logged:,} ballot_cast entries in the log, {waiting:,} "
        f"pending (K = {k}) of {args.warmup + args.casts:,} accepted: "
        f"{'complete' if complete else 'INCOMPLETE'}"
    )
    print(
        f"  acceptance alone: {args.casts / accepting:,.0f} ballots/s; "
        f"release rounds alone: {released / releasing:,.0f} ballots/s"
    )
    print(
        f"raw COPY:  {raw_rate:9,.0f} rows/s    ({n_batches:,} batches of {b} entry-sized rows "
        f"({body_len} B body), one transaction each, no hashing)"
    )
    print(f"raw COPY of a ballot's whole row set (6 rows): {full_rate:,.0f} ballots/s")
    ratio = rate / raw_rate
    print(
        f"ratio sequencer / raw COPY: {ratio:.2f}  (target >= {SEQ_RATIO_TARGET:.2f}: "
        f"{'met' if ratio >= SEQ_RATIO_TARGET else 'MISSED'}); "
        f"sequencer / whole-row-set COPY: {rate / full_rate:.2f}"
    )
    print(f"mean per ballot: {1e6 / rate:.0f} us (sequencer), {1e6 / raw_rate:.0f} us (raw row)")
    return 0 if complete else 1


def run_sequencer(args: argparse.Namespace) -> int:
    with durable_cluster() as admin_url:
        work = Path(tempfile.mkdtemp(prefix="ballot-bench-"))
        try:
            return asyncio.run(_sequencer(args, admin_url, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["ceiling"]:
        serve_ceiling(int(sys.argv[2]), int(sys.argv[3]))
    else:
        raise SystemExit("usage: python -m ballot.bench.ledger ceiling PORT REPLY_SIZE")
