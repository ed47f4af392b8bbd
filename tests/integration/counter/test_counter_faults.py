"""A counter process killed with SIGKILL mid-run resumes and ends equal to a recount.

The ledger runs in this process on a real TCP port (its app, real PostgreSQL); the counter is
a real ``ballot counter serve`` child on its own database. Casts flow while the counter is
killed and restarted: the casting is gated, and each kill falls at a point set by observed
progress (the counter has folded casts, casts remain, more are let through as it dies), so
the test does not depend on the machine's speed. The poll closes; the counter is killed again
at a random instant after the close and once in the middle of a result declaration (the
ledger commits the declaration but the counter never hears the answer). At the end the
counter's stored projection and results must equal ``counter.tally.fold`` run from scratch over
the ledger's export, with exactly one ``result_declared`` per contest in the log and no alert.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from ballot.tools import download
from counter.service.follower import projection as follower_projection
from counter.tally import fold as fl
from ledger.format import export as exp
from ledger.format.entry import parse_entry
from ledger.http.app import create_app as create_ledger_app
from ledger.runtime.embedded import free_port
from ledger.runtime.settings import Settings

from ..conftest import ADMIN, COUNTER, COUNTER_SIGNER, FRONTEND, SIGNER, definition

EID = "faults-2026"
VOTERS = 3000
AUTH = {"Authorization": f"Bearer {ADMIN}"}
FRONT = {"Authorization": f"Bearer {FRONTEND}"}


class CounterProcess:
    """``ballot counter serve`` as a child process following the ledger at ``ledger_url``."""

    def __init__(self, db_url: str, ledger_url: str, data_dir: Path) -> None:
        key_file = data_dir / "counter.key"
        key_file.write_text(COUNTER_SIGNER.text() + "\n")
        key_file.chmod(0o600)
        self.port = free_port()
        self.log = data_dir / "counter.log"
        self.env = {
            **os.environ,
            "BALLOT_COUNTER_DATABASE_URL": db_url,
            "BALLOT_COUNTER_PORT": str(self.port),
            "BALLOT_COUNTER_METRICS_PORT": str(free_port()),
            "BALLOT_COUNTER_LEDGER_URL": ledger_url,
            "BALLOT_COUNTER_LEDGER_KEYS": SIGNER.verifier.text(),
            "BALLOT_COUNTER_LEDGER_TOKEN": COUNTER,
            "BALLOT_COUNTER_DATA_DIR": str(data_dir),
            "BALLOT_COUNTER_KEY_FILE": str(key_file),
            "BALLOT_COUNTER_KEY_NAME": "ballot-ledger.test/counter",
            "BALLOT_COUNTER_DISCOVER_INTERVAL": "0.2",
            "BALLOT_COUNTER_RETRY": "0.1",
            "BALLOT_COUNTER_BATCH": "50",
            "BALLOT_COUNTER_LOG_FORMAT": "json",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ballot.cli", "counter", "serve"],
                env=self.env,
                stdout=fh,
                stderr=fh,
            )

    async def ready(self) -> None:
        """Wait until the process answers ``/readyz`` (its follower is then starting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120  # a generous bound for a loaded machine, not a speed test
        async with aiohttp.ClientSession() as s:
            while loop.time() < deadline:
                try:
                    async with s.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.02)
        raise AssertionError("the counter did not become ready")

    async def folded(self, session: aiohttp.ClientSession) -> int:
        """How many of the election's entries the counter has folded (0 before it knows it)."""
        try:
            async with session.get(f"{self.url}/v1/elections/{EID}/tallies") as r:
                return int((await r.json())["size"]) if r.status == 200 else 0
        except aiohttp.ClientError:
            return 0

    def kill(self) -> None:
        """SIGKILL, if running: no cleanup, no goodbye to PostgreSQL or the ledger."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)  # a hang guard for a graceful stop


def _roll() -> str:
    regions = ("north", "south", "east")
    return "voter_id,region,age,disabled\n" + "".join(
        f"fv{i:05d},{regions[i % 3]},{18 + i % 50},false\n" for i in range(VOTERS)
    )


def _paper(i: int, rng: random.Random) -> dict[str, Any]:
    members = ["ann", "bob", "cat", "dan", "eve"]
    rng.shuffle(members)
    selections: dict[str, list[str]] = {"members": members[: rng.randint(1, 5)]}
    if 18 + i % 50 < 27:
        selections["youth"] = [rng.choice(["yan", "yvo"])]
    return {"submission_id": f"fsub-{i:05d}", "voter_id": f"fv{i:05d}", "selections": selections}


class GatedCasting:
    """Casts ``papers`` with 16 workers, never beyond the first ``allowed`` of them: the test
    moves the gate, so where the kills fall in the casting is decided by observed progress,
    not by how fast the machine casts."""

    def __init__(self, session: aiohttp.ClientSession, url: str, papers: list[dict[str, Any]]):
        self.session, self.url, self.papers = session, url, papers
        self.allowed = 0
        self.sent = 0  # papers taken by a worker
        self.cast = 0  # papers answered 201/200
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _worker(self) -> None:
        while self.sent < len(self.papers):
            if self.sent >= self.allowed:
                await asyncio.sleep(0.005)  # held at the gate
                continue
            p = self.papers[self.sent]
            self.sent += 1
            async with self.session.post(
                f"{self.url}/v1/elections/{EID}/ballots", json=p, headers=FRONT
            ) as r:
                assert r.status in (200, 201), await r.text()
            self.cast += 1

    async def _run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(16)))

    async def until_cast(self, n: int) -> None:
        while self.cast < n:
            assert self.task is not None
            if self.task.done():
                self.task.result()  # a failed cast: raise it here
            await asyncio.sleep(0.01)


async def _grew(value: Awaitable[int], than: int) -> bool:
    return await value > than


async def _until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_counter_sigkilled_at_random_instants_ends_equal_to_a_recount(
    db_url: str, fresh_database: Any, tmp_path: Path
) -> None:
    """Four SIGKILLs of the counter (two while casting, one at a random instant after close,
    one mid-declaration) leave its projection and results equal to a from-scratch fold of the
    ledger's export, with one result_declared per contest and no alert."""
    rng = random.Random(20261123)
    settings = Settings(
        database_url=db_url,
        admin_tokens=(ADMIN,),
        frontend_tokens={FRONTEND: ("*",)},
        counter_tokens={COUNTER: ("*",)},
        counter_keys=(COUNTER_SIGNER.verifier.text(),),
        origin_prefix="ballot-ledger.test",
        checkpoint_interval=0.3,
    )
    app = create_ledger_app(settings, SIGNER)
    holder: dict[str, CounterProcess] = {}
    declaring = asyncio.Event()
    killed_mid_declaration = asyncio.Event()

    @web.middleware
    async def kill_mid_declaration(request: web.Request, handler: Any) -> web.StreamResponse:
        if (
            request.method == "POST"
            and request.path.endswith("/results")
            and not declaring.is_set()
        ):
            declaring.set()
            try:
                response: web.StreamResponse = await handler(request)
            finally:
                # Committed by the ledger, never heard by the counter. In `finally`: if the
                # client was already gone, aiohttp may cancel the handler, and the counter the
                # test has started since must be killed all the same.
                holder["counter"].kill()
                killed_mid_declaration.set()
            return response
        answer: web.StreamResponse = await handler(request)
        return answer

    app.middlewares.append(kill_mid_declaration)
    server = TestServer(app, port=free_port())
    await server.start_server()
    ledger_url = str(server.make_url("")).rstrip("/")
    counter = holder["counter"] = CounterProcess(fresh_database("template0"), ledger_url, tmp_path)
    try:
        async with aiohttp.ClientSession() as s:
            base = f"{ledger_url}/v1/elections/{EID}"
            r = await s.put(base, json=definition(nomination_threshold=0), headers=AUTH)
            assert r.status == 201, await r.text()
            r = await s.put(
                base + "/roll", data=_roll(), headers={**AUTH, "Content-Type": "text/csv"}
            )
            assert r.status == 200, await r.text()
            assert (await s.post(base + "/poll/open", headers=AUTH)).status == 200
            counter.start()
            await counter.ready()
            papers = [_paper(i, rng) for i in range(VOTERS)]
            casting = GatedCasting(s, ledger_url, papers)
            casting.allowed = VOTERS // 8
            casting.start()
            seen = 0
            for step in (1, 2):  # killed twice while casts flow, restarted while they still do
                # Kill once the counter has demonstrably folded casts since its (re)start and
                # part of the casting is done, then let more casts through at the same instant
                # (no await in between): the kill falls mid-run on any machine.
                await casting.until_cast(casting.allowed // 2)
                await _until(
                    lambda seen=seen: _grew(counter.folded(s), seen),
                    120,
                    "the counter to fold casts",
                )
                seen = await counter.folded(s)
                casting.allowed = VOTERS * (2 * step + 1) // 8
                before = casting.cast
                assert 0 < before < casting.allowed
                counter.kill()
                # Casts go on while the counter is down, and are still going when it restarts.
                await casting.until_cast(before + VOTERS // 32)
                casting.allowed = VOTERS * (2 * step + 2) // 8
                assert casting.cast < casting.allowed
                counter.start()
                await counter.ready()
            casting.allowed = VOTERS
            assert casting.task is not None
            await casting.task
            assert casting.cast == VOTERS
            r = await s.post(base + "/poll/close", headers=AUTH)
            assert r.status == 200, await r.text()
            await counter.ready()
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            if not declaring.is_set():
                counter.kill()  # a random instant after the close: following openings, counting
                counter.start()
            await _until(
                lambda: asyncio.sleep(0, killed_mid_declaration.is_set()), 120, "a declaration"
            )
            assert counter.proc is not None
            counter.proc.wait(10)  # killed by the ledger's middleware mid-declaration
            counter.start()
            contests = [c["id"] for c in definition()["contests"]]

            async def declared() -> bool:
                try:
                    async with s.get(f"{counter.url}/v1/elections/{EID}/results") as r:
                        body = await r.json(content_type=None)
                except aiohttp.ClientError:
                    return False
                results = body.get("results", []) if r.status == 200 else []
                return len(results) == len(contests) and all(x["declared"] for x in results)

            await _until(declared, 120, "every result declared")
            async with s.get(base) as r:
                size = (await r.json())["size"]

            async def caught_up() -> bool:
                async with s.get(f"{counter.url}/v1/elections/{EID}/tallies") as r:
                    return r.status == 200 and (await r.json())["size"] == size

            await _until(caught_up, 120, "the counter to fold the declarations")
            async with s.get(f"{counter.url}/v1/elections/{EID}/tallies") as r:
                projection = await r.json()
            async with s.get(f"{counter.url}/v1/elections/{EID}/results") as r:
                stored = {x["contest"]: x for x in (await r.json())["results"]}
            async with s.get(f"{counter.url}/v1/elections/{EID}/alerts") as r:
                alerts = (await r.json())["alerts"]
        export = tmp_path / "export.ndjson"
        await download(ledger_url, EID, export)
    finally:
        counter.stop()
        await server.close()

    assert counter.kills >= 3
    assert alerts == []
    state = fl.initial(EID)
    kinds: Counter[str] = Counter()
    declared_contests: Counter[str] = Counter()
    with export.open("rb") as fh:
        for item in exp.parse_lines(fh):
            if isinstance(item, exp.ExportEntry):
                state = fl.apply(
                    state,
                    item.index,
                    item.body,
                    leaf_hash=item.leaf_hash,
                    chain_hash=item.chain_hash,
                )
                e = parse_entry(item.body)
                kinds[e.kind] += 1
                if e.kind == "result_declared":
                    declared_contests[e.event["contest"]] += 1
    assert state.size == size
    assert kinds["ballot_cast"] == kinds["ballot_opened"] > VOTERS
    assert declared_contests == dict.fromkeys(contests, 1)
    assert projection == follower_projection(state)
    for contest in contests:
        _, document = fl.count_contest(state, contest)
        mine = stored[contest]
        assert mine["result"] == document
        assert mine["result_hash"] == fl.result_hash(document)
        assert mine["declared"] is True
        assert state.declarations[contest]["result_hash"] == fl.result_hash(document)
