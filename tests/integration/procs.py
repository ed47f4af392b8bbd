"""Real processes for fault tests: the ledger as ``ballot ledger serve``, private PostgreSQL
clusters with fsync on, a 64-way load of casts, and the verification of a log against the
receipts its clients received."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from ledger.format import merkle
from ledger.format.acceptance import AcceptanceReceipt, event_hash, verify_acceptance
from ledger.format.chain import GENESIS, chain_next
from ledger.format.checkpoint import open_checkpoint
from ledger.format.entry import parse_entry
from ledger.format.keys import Keyring, Signer
from ledger.runtime import embedded
from ledger.runtime.embedded import EmbeddedPostgres, _run_as, free_port

from .conftest import ADMIN, FRONTEND, definition

AUTH = {"Authorization": f"Bearer {ADMIN}"}
FRONT = {"Authorization": f"Bearer {FRONTEND}"}
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
SECONDS = 120.0
"""Bound on waits for a condition (ready, answered, checkpointed): reached only on a hang,
not on a slow or loaded machine."""


class LedgerProcess:
    """``ballot ledger serve`` as a child process on a given database."""

    def __init__(self, db_url: str, data_dir: Path, **env: str) -> None:
        self.db_url, self.data_dir, self.env = db_url, data_dir, env
        self.port = free_port()
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.db_url,
            "BALLOT_PORT": str(self.port),
            "BALLOT_METRICS_PORT": str(self.metrics_port),
            "BALLOT_DATA_DIR": str(self.data_dir),
            "BALLOT_ADMIN_TOKENS": ADMIN,
            "BALLOT_FRONTEND_TOKENS": f"{FRONTEND}=*",
            "BALLOT_CHECKPOINT_INTERVAL": "0.5",
            "BALLOT_RELEASE_EVERY": "0.5",
            "BALLOT_LOG_FORMAT": "json",
            **self.env,
        }
        with (self.data_dir / "ledger.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ballot.cli", "ledger", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + SECONDS
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the ledger exited with {self.proc.returncode}")
                try:
                    async with session.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("the ledger did not become ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)  # a hang guard for a graceful stop

    @property
    def key(self) -> Signer:
        return Signer.parse((self.data_dir / "ledger.key").read_text())


class Cluster(EmbeddedPostgres):
    """A private cluster for one test, durability on, which the test may restart or kill."""

    def pg_ctl(self, *args: str) -> None:
        self._cmd([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args], _run_as())

    def restart_immediate(self) -> None:
        """Stop in immediate mode (no checkpoint: crash recovery on the way up) and start again
        on the same port, as ``pg_ctl restart -m immediate`` does."""
        port = self.port
        self.stop(mode="immediate")
        original = embedded.free_port
        embedded.free_port = lambda: port
        try:
            self.start()
        finally:
            embedded.free_port = original

    def base_backup_to(self, target: Cluster) -> None:
        """Make ``target`` a streaming standby of this cluster (``pg_basebackup -R``)."""
        user = _run_as()
        target.data_dir = target.data_dir.resolve()
        target.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(target.data_dir, user.pw_uid, user.pw_gid)
        target.data_dir.chmod(0o700)
        target._cmd(
            [
                str(self.bin_dir / "pg_basebackup"),
                "-D",
                str(target.data_dir),
                "-R",
                "-X",
                "stream",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
            ],
            user,
        )


def private_root() -> Path:
    """A new directory the postgres system user can reach (as root, PostgreSQL runs as it),
    in the system's temporary folder: not under pytest's base temporary folder, whose mode
    another pytest process on the machine may reset to 0700 at any moment. The caller
    removes it (``remove``)."""
    root = Path(tempfile.mkdtemp(prefix="ballot-pg-"))
    root.chmod(0o711)
    for parent in root.parents:
        if parent.stat().st_mode & 0o001 == 0:
            parent.chmod(parent.stat().st_mode | 0o011)
    return root


async def until_receipts(
    receipts: Load | Mapping[int, Any], count: int, seconds: float = 300.0
) -> None:
    """Wait until ``receipts`` (a load's, or any) holds at least ``count`` receipts (however
    fast the machine is)."""
    held = receipts.receipts if isinstance(receipts, Load) else receipts
    deadline = time.monotonic() + seconds
    while len(held) < count:
        assert time.monotonic() < deadline, f"fewer than {count} receipts in {seconds} s"
        await asyncio.sleep(0.05)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


async def create_database(admin_url: str, name: str = "ballot_ledger") -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def open_election(
    url: str, eid: str, voters: int, *, young: Collection[int] = (), **changes: Any
) -> None:
    """Define a sealed election without nominations (with ``changes`` to the definition),
    upload the roll (the members numbered in ``young`` are 20, so eligible for the youth
    contest; the others 30), open the poll."""
    async with aiohttp.ClientSession(headers=AUTH) as s:
        roll = "voter_id,age\n" + "".join(
            f"member-{i:05d},{20 if i in young else 30}\n" for i in range(voters)
        )
        doc = definition(nomination_threshold=0, **changes)
        r = await s.put(f"{url}/v1/elections/{eid}", json=doc)
        assert r.status == 201, await r.text()
        r = await s.put(
            f"{url}/v1/elections/{eid}/roll",
            data=roll.encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert r.status == 200, await r.text()
        r = await s.post(f"{url}/v1/elections/{eid}/poll/open")
        assert r.status == 200, await r.text()


def paper(i: int) -> dict[str, Any]:
    return {
        "submission_id": f"fault-sub-{i:06d}",
        "voter_id": f"member-{i:05d}",
        "selections": {"members": ["ann", "cat", "bob"][: 1 + i % 3]},
    }


REFUSALS = {409, 422}
"""Definite refusals (wrong phase, candidate not standing): a client does not resend them."""


class Load:
    """Clients casting papers from a shared queue; what each learned about each paper.

    ``patient`` clients resend a paper refused with 503 after its Retry-After, in the same run
    (otherwise it waits, unknown, for :func:`retry_until_answered`)."""

    def __init__(
        self,
        url: str,
        eid: str,
        papers: range,
        *,
        make: Callable[[int], dict[str, Any]] = paper,
        patient: bool = False,
    ) -> None:
        self.url, self.eid, self.make, self.patient = url, eid, make, patient
        self.todo: asyncio.Queue[int] = asyncio.Queue()
        for i in papers:
            self.todo.put_nowait(i)
        self.receipts: dict[int, dict[str, Any]] = {}
        """Each paper's acceptance receipt for the contest ``members``."""
        self.acceptances: dict[tuple[int, str], dict[str, Any]] = {}
        """Every acceptance receipt, by paper and contest."""
        self.unknown: set[int] = set()
        """Sent without a definite answer (connection lost, 503): to retry."""
        self.statuses: dict[int, int] = {}
        self.refusals: list[tuple[int, str | None]] = []
        """(status, Retry-After) of every non-2xx answer."""
        self.refused: dict[int, str] = {}
        """Papers definitely refused (409, 422): the problem type."""

    async def client(self, *, stop_on_error: bool = True) -> None:
        """Cast until the queue is empty, or (``stop_on_error``) the server is gone."""
        async with aiohttp.ClientSession() as session:
            while not self.todo.empty():
                i = self.todo.get_nowait()
                if i in self.receipts or i in self.refused:
                    continue  # queued twice (resent after a 503, and retried): answered
                try:
                    async with session.post(
                        f"{self.url}/v1/elections/{self.eid}/ballots",
                        json=self.make(i),
                        headers=FRONT,
                    ) as r:
                        body = await r.json()
                        self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                        if r.status in (200, 201):
                            self.receipts[i] = body["receipts"]["members"]
                            for contest, receipt in body["receipts"].items():
                                self.acceptances[i, contest] = receipt
                            self.unknown.discard(i)
                            continue
                        retry_after = r.headers.get("Retry-After")
                        self.refusals.append((r.status, retry_after))
                        if r.status in REFUSALS:
                            self.refused[i] = body["type"]
                            self.unknown.discard(i)
                            continue
                        self.unknown.add(i)
                    if self.patient and r.status == 503:
                        await asyncio.sleep(float(retry_after or 1))
                        self.todo.put_nowait(i)
                except (aiohttp.ClientError, TimeoutError):
                    self.unknown.add(i)
                    if stop_on_error:
                        return
                    await asyncio.sleep(0.05)

    async def run(self, clients: int = 64, *, stop_on_error: bool = True) -> None:
        await asyncio.gather(*(self.client(stop_on_error=stop_on_error) for _ in range(clients)))

    def requeue_unknown(self) -> None:
        for i in sorted(self.unknown):
            self.todo.put_nowait(i)


async def retry_until_answered(load: Load, seconds: float = SECONDS) -> None:
    """Clients retry what they sent without a definite answer (same submission id, same
    paper), honouring 503s, until every paper sent has a receipt. Papers not yet sent stay
    queued for the load's next run."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    unsent, load.todo = load.todo, asyncio.Queue()
    try:
        while load.unknown:
            assert loop.time() < deadline, f"{len(load.unknown)} papers never got a receipt"
            load.requeue_unknown()
            await load.run(8, stop_on_error=False)
            if load.unknown:
                await asyncio.sleep(0.2)
    finally:
        load.todo = unsent


async def public_log(url: str, eid: str) -> tuple[list[dict[str, Any]], str]:
    """Every entry from the public API, and the latest signed checkpoint note."""
    async with aiohttp.ClientSession() as s:
        entries: list[dict[str, Any]] = []
        while True:
            async with s.get(
                f"{url}/v1/elections/{eid}/entries",
                params={"start": str(len(entries)), "limit": "5000"},
            ) as r:
                page = (await r.json())["entries"]
            if not page:
                break
            entries += page
        async with s.get(f"{url}/v1/elections/{eid}/checkpoint") as r:
            note = await r.text()
    return entries, note


async def wait_for_checkpoint(url: str, eid: str, seconds: float = SECONDS) -> None:
    """Until the latest checkpoint covers the whole log."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as s:
        while True:
            async with s.get(f"{url}/v1/elections/{eid}") as r:
                size = (await r.json())["size"]
            async with s.get(f"{url}/v1/elections/{eid}/checkpoints") as r:
                sizes = (await r.json())["sizes"]
            if sizes and max(sizes) == size:
                return
            assert loop.time() < deadline, f"no checkpoint at size {size}: {sizes[-3:]}"
            await asyncio.sleep(0.2)


async def close_election(url: str, eid: str, seconds: float = SECONDS) -> None:
    """Close the poll (the final release rounds put every accepted ballot in the log), retrying
    through a 503 while the ledger or the database comes back."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession(headers=AUTH) as s:
        while True:
            try:
                async with s.post(f"{url}/v1/elections/{eid}/poll/close") as r:
                    if r.status == 200:
                        return
                    text = await r.text()
            except aiohttp.ClientError as exc:
                text = str(exc)
            assert loop.time() < deadline, f"the poll did not close: {text}"
            await asyncio.sleep(0.2)


def verify_log(
    entries: list[dict[str, Any]], note: str, key: Signer, receipts: Mapping[Any, dict[str, Any]]
) -> None:
    """Chain and tree recomputed from the entries match the signed checkpoint; every acceptance
    receipt verifies and its event is in the log exactly once, before ``poll_closed``; no ballot
    is in the log without a receipt; every release round holds at least K ballots or the whole
    contest; every event hash is unique."""
    keyring = Keyring([key.verifier])
    cp = open_checkpoint(note, keyring)
    tree, chain = merkle.MemoryTree(), GENESIS
    for n, e in enumerate(entries):
        assert e["index"] == n
        leaf = merkle.leaf_hash(e["entry"].encode())
        chain = chain_next(chain, leaf)
        assert (e["leaf_hash"], e["chain_hash"]) == (leaf.hex(), chain.hex())
        tree.append(leaf)
    assert cp.size == len(entries) and cp.root == tree.root()
    parsed = [parse_entry(e["entry"].encode()) for e in entries]
    closed = next(i for i, c in enumerate(parsed) if c.kind == "poll_closed")
    casts = [c for c in parsed[:closed] if c.kind == "ballot_cast"]
    assert not [c for c in parsed[closed:] if c.kind == "ballot_cast"]
    released = [event_hash(c.event).hex() for c in casts]
    assert len(released) == len(set(released))
    for rc in receipts.values():
        verify_acceptance(AcceptanceReceipt.from_json(rc), keyring)
    assert sorted(released) == sorted(rc["event_hash"] for rc in receipts.values())
    definition = next(c.event["definition"] for c in parsed if c.kind == "election_defined")
    k = definition.get("round_size", 50)
    runs = [
        len(list(g))
        for _, g in itertools.groupby(casts, key=lambda c: (c.event["contest"], c.time))
    ]
    assert all(size >= k for size in runs) or len(runs) == 1, runs
