"""`ballot audit` and `ballot receipt check` against real exports, tampered ones, split views."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ballot.bench import synthetic
from ballot.cli import main
from counter.errors import ProfileError
from counter.tally import fold as fl
from counter.tally.audit import audit
from ledger.domain.election import declaration_message
from ledger.format import merkle
from ledger.format.chain import GENESIS, chain_next
from ledger.format.checkpoint import Checkpoint, sign_checkpoint
from ledger.format.entry import parse_entry, template
from ledger.format.export import parse_lines
from ledger.format.keys import Signer
from ledger.format.receipts import sign_receipt

from ..conftest import (
    AUTH_ADMIN,
    AUTH_COUNTER,
    AUTH_FRONTEND,
    COUNTER_SIGNER,
    SIGNER,
    AppClient,
    close_poll,
    definition,
    paper,
    setup_election,
)

EID = "nec-2026"
KEYS = {"ledger_keys": [SIGNER.verifier.text()], "counter_keys": [COUNTER_SIGNER.verifier.text()]}


async def _declare(client: AppClient, doc: dict[str, Any], signer: Signer = COUNTER_SIGNER) -> int:
    body = {**fl.declaration_for(doc), "key": signer.verifier.text()}
    body["signature"] = base64.b64encode(signer.sign(declaration_message(body))).decode()
    r = await client.post(f"/v1/elections/{EID}/results", json=body, headers=AUTH_COUNTER)
    return r.status


async def _export(client: AppClient) -> list[bytes]:
    r = await client.get(f"/v1/elections/{EID}/export")
    assert r.status == 200
    return (await r.read()).splitlines(keepends=True)


def _fold(lines: list[bytes]) -> fl.FoldState:
    entries = [json.loads(x) for x in lines if b'"kind":"entry"' in x]
    return fl.fold(fl.initial(EID), ((e["index"], e["entry"].encode()) for e in entries))


@pytest.fixture
async def real_export(client: AppClient) -> list[bytes]:
    """A real election run through the ledger: cast, close, declared by the counter key."""
    await setup_election(client)
    for i in range(30):
        sel: dict[str, list[str]] = {
            "members": [["ann", "dan", "cat", "bob"], ["cat", "eve"], ["dan", "bob"]][i % 3]
        }
        if 20 + i % 40 < 27:
            sel["youth"] = ["yvo" if i % 3 else "yan"]
        r = await client.post(
            f"/v1/elections/{EID}/ballots", json=paper(f"v{i:03d}", **sel), headers=AUTH_FRONTEND
        )
        assert r.status == 201
    r = await client.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    assert r.status == 200
    state = _fold(await _export(client))
    for contest in ("members", "youth"):
        _, doc = fl.count_contest(state, contest)
        assert await _declare(client, doc) == 201
    return await _export(client)


def _audit(lines: list[bytes]) -> dict[str, Any]:
    return audit(parse_lines(lines), **KEYS).to_json()


async def test_a_contest_that_cannot_be_recounted_is_a_finding_not_a_traceback(
    real_export: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recount that raises (forced here) fails the audit with the contest as evidence."""

    def failing(state: fl.FoldState, contest: str) -> Any:
        raise ProfileError("forced failure")

    monkeypatch.setattr(fl, "count_contest", failing)
    report = _audit(real_export)
    assert report["ok"] is False
    assert report["failure"] == {
        "message": "the contest cannot be recounted",
        "contest": "members",
        "error": "forced failure",
    }


async def test_clean_export_passes_and_recount_equals_declarations(
    real_export: list[bytes],
) -> None:
    """The audit of a clean export passes and its recount equals the declared results."""
    report = _audit(real_export)
    assert report["ok"], report["failure"]
    assert report["keys_pinned"] and not report["warnings"]
    assert {c: r["matches_declaration"] for c, r in report["results"].items()} == {
        "members": True,
        "youth": True,
    }
    assert len(report["results"]["members"]["elected"]) == 3


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _entries(lines: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in lines if b'"kind":"entry"' in x]


def _index(lines: list[bytes], kind: str, nth: int = 0) -> int:
    hits = [e["index"] for e in _entries(lines) if f'"type":"{kind}"' in e["entry"]]
    return hits[nth]


def _rewrite(lines: list[bytes], change: Callable[[list[bytes]], list[bytes]]) -> list[bytes]:
    """Rewrite history as a dishonest ledger holding the real key would: change the entries,
    renumber them, recompute every hash and re-sign every checkpoint over the new tree."""
    header = lines[0]
    bodies = change([e["entry"].encode() for e in _entries(lines)])
    renumbered = []
    for i, body in enumerate(bodies):
        v = json.loads(body)
        renumbered.append(template(v["election"], v["type"], v["event"]).render(i, v["time"]))
    tree, chain, out = merkle.MemoryTree(), GENESIS, []
    for i, body in enumerate(renumbered):
        leaf = merkle.leaf_hash(body)
        chain = chain_next(chain, leaf)
        tree.append(leaf)
        out.append(
            _line(
                {
                    "kind": "entry",
                    "index": i,
                    "entry": body.decode(),
                    "leaf_hash": leaf.hex(),
                    "chain_hash": chain.hex(),
                }
            )
        )
    origin = json.loads(header)["origin"]
    note = sign_checkpoint(Checkpoint(origin=origin, size=tree.size, root=tree.root()), [SIGNER])
    head = json.loads(header)
    head["size"] = tree.size
    cp = _line({"kind": "checkpoint", "size": tree.size, "note": note.note})
    return [_line(head), cp, *out]


def _replace_entry(lines: list[bytes], index: int, new_text: str) -> list[bytes]:
    out = []
    for line in lines:
        if line.startswith(b'{"kind":"entry"') and json.loads(line)["index"] == index:
            obj = json.loads(line)
            obj["entry"] = new_text
            line = _line(obj)
        out.append(line)
    return out


async def test_byte_changed_in_a_ballot(real_export: list[bytes]) -> None:
    """A byte changed in a ballot fails at that entry: its leaf hash is not the published one;
    with every hash recomputed, the signed checkpoint's root no longer matches."""
    i = _index(real_export, "ballot_cast", 4)
    text = _entries(real_export)[i]["entry"]
    pos = text.index('"commitment":"') + 14
    changed = text[:pos] + ("0" if text[pos] != "0" else "1") + text[pos + 1 :]
    report = _audit(_replace_entry(real_export, i, changed))
    assert not report["ok"]
    assert report["failure"]["index"] == i and report["failure"]["check"] == "leaf hash"
    forged = _rewrite(real_export, lambda b: [*b[:i], changed.encode(), *b[i + 1 :]])
    forged_cps = [
        *real_export[:1],
        *[x for x in real_export if b'"kind":"checkpoint"' in x],
        *[x for x in forged if b'"kind":"entry"' in x],
    ]
    report = _audit(forged_cps)
    assert not report["ok"] and "Merkle root" in report["failure"]["message"]


async def test_ballot_removed(real_export: list[bytes]) -> None:
    """A ballot removed from the export: the next entry is not at the expected index."""
    i = _index(real_export, "ballot_cast", 2)
    lines = [
        x
        for x in real_export
        if not (x.startswith(b'{"kind":"entry"') and json.loads(x)["index"] == i)
    ]
    report = _audit(lines)
    assert report["failure"]["index"] == i + 1 and report["failure"]["expected"] == i


async def test_two_entries_swapped(real_export: list[bytes]) -> None:
    """Two entries swapped: the first out-of-place index is reported."""
    i = _index(real_export, "ballot_cast", 5)
    entries = [x for x in real_export if x.startswith(b'{"kind":"entry"')]
    rest = [x for x in real_export if not x.startswith(b'{"kind":"entry"')]
    entries[i], entries[i + 1] = entries[i + 1], entries[i]
    report = _audit(rest + entries)
    assert report["failure"]["index"] == i + 1 and report["failure"]["expected"] == i


async def test_entry_appended_after_close(real_export: list[bytes]) -> None:
    """A ballot appended after the poll closed, even with hashes and checkpoint redone by the
    ledger's own key, is illegal in its phase."""
    cast = _entries(real_export)[_index(real_export, "ballot_cast", 0)]["entry"]
    report = _audit(_rewrite(real_export, lambda b: [*b, cast.encode()]))
    n = len(_entries(real_export))
    assert not report["ok"] and report["failure"]["index"] == n
    assert "not valid here" in report["failure"]["message"]


async def test_checkpoint_resigned_over_a_different_root(real_export: list[bytes]) -> None:
    """A checkpoint re-signed (with the real key) over another root is caught at its size;
    one signed by an unknown key is refused."""
    cps = [json.loads(x) for x in real_export if b'"kind":"checkpoint"' in x]
    target = cps[len(cps) // 2]
    origin = json.loads(real_export[0])["origin"]
    bad = sign_checkpoint(Checkpoint(origin=origin, size=target["size"], root=bytes(32)), [SIGNER])
    lines = [
        _line({"kind": "checkpoint", "size": target["size"], "note": bad.note})
        if b'"kind":"checkpoint"' in x and json.loads(x)["size"] == target["size"]
        else x
        for x in real_export
    ]
    report = _audit(lines)
    assert report["failure"]["size"] == target["size"]
    assert (
        report["failure"]["expected"] == "00" * 32 and "Merkle root" in report["failure"]["message"]
    )
    stranger = Signer(name=SIGNER.name, seed=bytes([9]) * 32)
    forged = sign_checkpoint(
        Checkpoint(origin=origin, size=target["size"], root=bytes(32)), [stranger]
    )
    lines = [
        _line({"kind": "checkpoint", "size": target["size"], "note": forged.note})
        if b'"kind":"checkpoint"' in x and json.loads(x)["size"] == target["size"]
        else x
        for x in real_export
    ]
    report = _audit(lines)
    assert "no signature by a trusted key" in report["failure"]["message"]


async def test_declared_result_differs_from_recount(client: AppClient) -> None:
    """A declaration the ledger accepted (valid signature, right root) but whose elected list
    differs from the recount fails the audit, naming the field."""
    await setup_election(client)
    for i in range(12):
        r = await client.post(
            f"/v1/elections/{EID}/ballots", json=paper(f"v{i:03d}"), headers=AUTH_FRONTEND
        )
        assert r.status == 201
    await client.post(f"/v1/elections/{EID}/poll/close", headers=AUTH_ADMIN)
    state = _fold(await _export(client))
    _, doc = fl.count_contest(state, "members")
    wrong = {**doc, "elected_ids": ["dan", "eve", "bob"]}
    assert await _declare(client, wrong) == 201
    report = _audit(await _export(client))
    assert not report["ok"]
    assert report["failure"]["contest"] == "members"
    assert report["failure"]["field"] in ("result_hash", "elected")


async def test_opening_that_does_not_match_its_commitment(real_export: list[bytes]) -> None:
    """An opening whose salt was changed, hashes and checkpoint redone, fails on its
    commitment."""
    i = _index(real_export, "ballot_opened", 3)

    def change(bodies: list[bytes]) -> list[bytes]:
        v = json.loads(bodies[i])
        v["event"]["salt"] = "00" * 32
        bodies[i] = template(v["election"], v["type"], v["event"]).render(i, v["time"])
        return bodies

    report = _audit(_rewrite(real_export, change))
    assert report["failure"]["index"] == i
    assert report["failure"]["check"] == "opening does not match its commitment"


async def test_audit_cli_exit_codes(real_export: list[bytes], tmp_path: Path) -> None:
    """`ballot audit FILE --key …` exits 0 on a clean export and 1 on a tampered one."""
    good = tmp_path / "good.ndjson"
    good.write_bytes(b"".join(real_export))
    i = next(
        e["index"]
        for e in _entries(real_export)
        if '"type":"ballot_cast"' in e["entry"] and '"contest":"members"' in e["entry"]
    )
    bad = tmp_path / "bad.ndjson"
    text = _entries(real_export)[i]["entry"]
    bad.write_bytes(b"".join(_replace_entry(real_export, i, text.replace("members", "youth"))))
    args = [
        "--key",
        SIGNER.verifier.text(),
        "--counter-key",
        COUNTER_SIGNER.verifier.text(),
        "--json",
    ]
    assert await asyncio.to_thread(main, ["audit", str(good), *args]) == 0
    assert await asyncio.to_thread(main, ["audit", str(bad), *args]) == 1
    assert await asyncio.to_thread(main, ["audit", str(tmp_path / "missing"), *args]) == 2


# --- release rounds ------------------------------------------------------------------------------


async def test_a_real_election_released_in_rounds_passes_the_audit(
    client: AppClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real election with K = 5, its ballots released by the ledger in several rounds and at
    the close, then declared: its export passes `ballot audit` with every cast answer given as
    --receipts (exit 0): every round holds at least K ballots under one time stamp, every
    promised event is in the log. Rewritten with one ballot moved out of its round (hashes and
    checkpoint re-signed), it fails (exit 1) at that round."""
    from ledger.http.app import LEDGER

    await setup_election(client, doc=definition(round_size=5))
    answers = []
    for i in range(30):
        sel: dict[str, list[str]] = {"members": [["ann", "dan"], ["cat", "eve"], ["bob"]][i % 3]}
        if i < 7:
            sel["youth"] = ["yvo" if i % 2 else "yan"]
        r = await client.post(
            f"/v1/elections/{EID}/ballots", json=paper(f"v{i:03d}", **sel), headers=AUTH_FRONTEND
        )
        assert r.status == 201
        answers.append(tmp_path / f"answer-{i}.json")
        answers[-1].write_text(await r.text())
        if i % 8 == 7:
            await client.app[LEDGER].release_all()
    await close_poll(client)
    state = _fold(await _export(client))
    for contest in ("members", "youth"):
        _, doc = fl.count_contest(state, contest)
        assert await _declare(client, doc) == 201
    lines = await _export(client)
    export = tmp_path / "export.ndjson"
    export.write_bytes(b"".join(lines))
    keys = ["--key", SIGNER.verifier.text(), "--counter-key", COUNTER_SIGNER.verifier.text()]
    args = ["audit", str(export), *keys, "--json", "--receipts", *map(str, answers)]
    capsys.readouterr()  # the ledger's own log lines so far
    assert await asyncio.to_thread(main, args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["round_size"] == 5 and report["below_round_size"] == []
    assert report["rounds"]["members"]["rounds"] >= 3
    assert report["rounds"]["members"]["ballots"] == 30
    assert report["rounds"]["members"]["smallest"] >= 5
    assert report["rounds"]["youth"] == {"rounds": 1, "ballots": 7, "smallest": 7}
    assert len(report["promises"]["released"]) == 37 and report["promises"]["broken"] == []
    assert all(r["matches_declaration"] for r in report["results"].values())
    first = _index(lines, "ballot_cast", 0)

    def move(bodies: list[bytes]) -> list[bytes]:
        v = json.loads(bodies[first])
        bodies[first] = template(v["election"], v["type"], v["event"]).render(
            first, "2026-01-01T00:00:00.000Z"
        )
        return bodies

    export.write_bytes(b"".join(_rewrite(lines, move)))
    assert await asyncio.to_thread(main, args) == 1
    failure = json.loads(capsys.readouterr().out)["failure"]
    assert failure["message"] == "a release round holds fewer than round_size ballots"
    assert (failure["index"], failure["size"], failure["round_size"]) == (first, 1, 5)


async def test_a_ballot_released_after_its_candidate_withdrew_passes_the_audit(
    client: AppClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ballots naming a candidate who withdrew while they waited are released after the
    withdrawal by the real ledger; the export passes `ballot audit` (exit 0), and the recount,
    equal to the declaration, treats the candidate as withdrawn (their ballots pass on)."""
    await setup_election(client, doc=definition(round_size=2, sealed=False))
    for i, ranking in enumerate((["dan", "ann"], ["dan", "ann"], ["cat"], ["bob", "cat"])):
        r = await client.post(
            f"/v1/elections/{EID}/ballots",
            json=paper(f"v{i:03d}", members=ranking),
            headers=AUTH_FRONTEND,
        )
        assert r.status == 201
    r = await client.post(
        f"/v1/elections/{EID}/contests/members/candidates/dan/withdraw",
        json={"reason": "withdrawn"},
        headers=AUTH_ADMIN,
    )
    assert r.status == 201, await r.text()
    await close_poll(client)
    lines = await _export(client)
    kinds = [parse_entry(e["entry"].encode()).kind for e in _entries(lines)]
    assert kinds.index("candidate_withdrawn") < kinds.index("ballot_cast")
    state = _fold(lines)
    _, doc = fl.count_contest(state, "members")
    assert await _declare(client, doc) == 201
    export = tmp_path / "export.ndjson"
    export.write_bytes(b"".join(await _export(client)))
    keys = ["--key", SIGNER.verifier.text(), "--counter-key", COUNTER_SIGNER.verifier.text()]
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", str(export), *keys, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["results"]["members"]["matches_declaration"] is True
    dan = next(c for c in doc["candidates"] if c["name"] == "Dan Dee")
    assert dan["withdrawn"] is True
    assert doc["rounds"][0]["tallies"]["Ann Able"].startswith("2")


# --- receipts and split views ------------------------------------------------------------------


class StaticLedger:
    """Serves a synthetic log's checkpoint and proofs over HTTP; ``log`` and ``size`` can be
    swapped to play a ledger that changes its history."""

    def __init__(self, log: synthetic.SyntheticLog, size: int | None = None) -> None:
        self.log, self.size = log, size or len(log.entries)
        app = web.Application()
        base = f"/v1/elections/{log.election}"
        app.router.add_get("/v1/keys", self.keys)
        app.router.add_get(base + "/checkpoint", self.checkpoint)
        app.router.add_get(base + "/proofs/inclusion", self.inclusion)
        app.router.add_get(base + "/proofs/consistency", self.consistency)
        app.router.add_get(base + "/entries", self.entries)
        self.server = TestServer(app)

    async def keys(self, request: web.Request) -> web.Response:
        return web.json_response({"ledger": [synthetic.SYNTH_SIGNER.verifier.text()]})

    async def checkpoint(self, request: web.Request) -> web.Response:
        cp = Checkpoint(origin=self.log.origin, size=self.size, root=self.log.tree.root(self.size))
        return web.Response(text=sign_checkpoint(cp, [synthetic.SYNTH_SIGNER]).note)

    async def inclusion(self, request: web.Request) -> web.Response:
        index, size = int(request.query["index"]), int(request.query["size"])
        proof = self.log.tree.inclusion_proof(index, size)
        return web.json_response({"index": index, "size": size, "proof": [p.hex() for p in proof]})

    async def consistency(self, request: web.Request) -> web.Response:
        old, new = int(request.query["old"]), int(request.query["new"])
        proof = self.log.tree.consistency_proof(old, new)
        return web.json_response({"old": old, "new": new, "proof": [p.hex() for p in proof]})

    async def entries(self, request: web.Request) -> web.Response:
        start = int(request.query["start"])
        e = {
            "index": start,
            "entry": self.log.entries[start].decode(),
            "leaf_hash": self.log.leaves[start].hex(),
            "chain_hash": self.log.chains[start].hex(),
        }
        return web.json_response({"entries": [e], "next": start + 1})


def _receipt_file(log: synthetic.SyntheticLog, index: int, path: Path) -> Path:
    receipt = sign_receipt(
        synthetic.SYNTH_SIGNER,
        election=log.election,
        index=index,
        leaf_hash=log.leaves[index],
        chain_hash=log.chains[index],
    )
    path.write_text(json.dumps(receipt.to_json()))
    return path


async def test_receipt_check_then_split_view_is_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A voter checks a receipt and keeps the checkpoint; when the ledger grows honestly the
    next check passes; when it serves another history the check reports the split view (exit
    1, as any failed check; exit 3 is a broken promise)."""
    honest = synthetic.build(voters=80, seed=11, declare=False)
    fork = synthetic.build(voters=90, seed=12, declare=False)
    ballot = next(i for i, e in enumerate(honest.entries) if b'"ballot_cast"' in e)
    receipt = _receipt_file(honest, ballot, tmp_path / "receipt.json")
    state = tmp_path / "state.json"
    key = synthetic.SYNTH_SIGNER.verifier.text()
    server = StaticLedger(honest, size=ballot + 5)
    await server.server.start_server()
    try:
        url = str(server.server.make_url("")).rstrip("/")
        args = ["receipt", "check", str(receipt), "--url", url, "--state", str(state), "--key", key]
        assert await asyncio.to_thread(main, args) == 0
        server.size = len(honest.entries)  # the log grew honestly
        assert await asyncio.to_thread(main, args) == 0
        saved = json.loads(state.read_text())["elections"][honest.election]["checkpoint"]
        assert saved["size"] == len(honest.entries)
        server.log, server.size = fork, len(fork.entries)  # now another history
        capsys.readouterr()
        assert await asyncio.to_thread(main, args) == 1
        assert "HISTORY CHANGED (split view)" in capsys.readouterr().out
        assert (
            await asyncio.to_thread(
                main, [*args[:3], "--offline", "--state", str(state), "--key", key]
            )
            == 0
        )
    finally:
        await server.server.close()


async def test_receipt_check_failures(tmp_path: Path) -> None:
    """A receipt with a bad signature, or for an entry the log does not hold, fails (exit 1);
    an unreachable server is a usage error (exit 2)."""
    log = synthetic.build(voters=40, seed=13, declare=False)
    server = StaticLedger(log)
    await server.server.start_server()
    key = synthetic.SYNTH_SIGNER.verifier.text()
    try:
        url = str(server.server.make_url("")).rstrip("/")
        good = json.loads(_receipt_file(log, 20, tmp_path / "r.json").read_text())
        good["leaf_hash"] = log.leaves[21].hex()
        del good["code"]
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(good))
        base = ["--url", url, "--state", str(tmp_path / "s.json"), "--key", key]
        assert await asyncio.to_thread(main, ["receipt", "check", str(forged), *base]) == 1
        other = sign_receipt(
            synthetic.SYNTH_SIGNER,
            election=log.election,
            index=20,
            leaf_hash=log.leaves[21],
            chain_hash=log.chains[20],
        )
        (tmp_path / "other.json").write_text(json.dumps(other.to_json()))
        assert (
            await asyncio.to_thread(main, ["receipt", "check", str(tmp_path / "other.json"), *base])
            == 1
        )
        dead = ["--url", "http://127.0.0.1:9", "--state", str(tmp_path / "s2.json"), "--key", key]
        assert (
            await asyncio.to_thread(main, ["receipt", "check", str(tmp_path / "r.json"), *dead])
            == 2
        )
    finally:
        await server.server.close()
