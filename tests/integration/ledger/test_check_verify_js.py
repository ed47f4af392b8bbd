"""The check page's verifier (ledger/http/static/check-verify.js) in headless Chromium, against
the repository's vectors: it must reach the Python reference's verdict byte for byte.

- ``schemas/test-vectors.json``: entries' leaf hashes and chain values, every prefix's root,
  the inclusion and consistency proofs, the signed checkpoint, the receipt batch (docs/log-format
  §9); the canonical form of every entry;
- the 196 RFC 6962/9162 proof cases of transparency-dev/merkle (tests/unit/format/data), with the
  one case where this format is stricter (test_tlog_vectors.STRICTER);
- acceptance receipts (issue 14's contract) signed in Python, and the same receipts altered.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from ledger.format.acceptance import AcceptanceSigner, event_hash

from ..browser import TIMEOUT, chromium, require_chromium
from ..conftest import SIGNER
from .checkpage import acceptance_batch

ROOT = Path(__file__).parents[3]
PAGE = ROOT / "ledger" / "http" / "static" / "check.html"
VECTORS = json.loads((ROOT / "schemas" / "test-vectors.json").read_text())
TLOG = ROOT / "tests" / "unit" / "format" / "data" / "tlog-vectors"
STRICTER = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}
"""As tests/unit/format/test_tlog_vectors.py: the reference accepts it, this format refuses it."""


def _run(session: WebDriver, script: str, *args: Any) -> Any:
    """Run an async function body with ``V`` (BallotVerify) and ``args`` in the page."""
    return session.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const V = window.BallotVerify; const args = Array.from(arguments).slice(0, -1);"
        f"(async () => {{ {script} }})().then(done, (e) => done({{error: String(e.stack || e)}}));",
        *args,
    )


def _in_browser(script: str, *args: Any) -> Any:
    require_chromium()
    with chromium() as session:
        session.get(PAGE.as_uri())
        WebDriverWait(session, TIMEOUT).until(
            lambda s: s.execute_script("return Boolean(window.BallotVerify)")
        )
        return _run(session, script, *args)


HELPERS = """
const hex = (s) => V.hexStrict(s);
const b64 = (s) => Uint8Array.from(atob(s || ''), (c) => c.charCodeAt(0));
const utf8 = (s) => new TextEncoder().encode(s);
async function verdict(fn) {
  try { await fn(); return 'ok'; } catch (e) {
    if (e instanceof V.VerifyError) return 'refused: ' + e.message;
    return 'error: ' + e;
  }
}
"""


def test_js_verifier_reproduces_the_log_format_vectors() -> None:
    """check-verify.js computes every entry's leaf hash and chain value, every prefix root, each
    inclusion and consistency proof, opens the signed checkpoint with the vector key, verifies
    the receipt and its code, and finds every entry in its own canonical (JCS) form."""
    out = _in_browser(
        HELPERS
        + """
const d = args[0];
const res = {leaves: [], chains: [], roots: {}, inclusion: [], consistency: [], canonical: []};
let chain = hex(d.genesis_hex);
const tree = new V.TreeBuilder();
res.roots[0] = V.toHex(await tree.root());
for (const e of d.entries) {
  const leaf = await V.leafHash(utf8(e.entry));
  chain = await V.sha256(V.concat(hex(d.chain_tag_hex), chain, leaf));
  res.leaves.push(V.toHex(leaf)); res.chains.push(V.toHex(chain));
  res.canonical.push(V.jcs(JSON.parse(e.entry)) === e.entry);
  await tree.push(leaf);
  res.roots[tree.size] = V.toHex(await tree.root());
}
const leaves = res.leaves.map(hex);
for (const c of d.inclusion) res.inclusion.push(await verdict(() => V.verifyInclusion(
  c.index, c.size, leaves[c.index], c.path.map(hex), hex(d.roots[c.size]))));
for (const c of d.consistency) res.consistency.push(await verdict(() => V.verifyConsistency(
  c.old, c.new, hex(d.roots[c.old]), hex(d.roots[c.new]), c.path.map(hex))));
const keyring = await V.Keyring.fromTexts([d.key.verifier]);
const cp = await V.openCheckpoint(d.checkpoint.note, keyring, d.origin);
res.checkpoint = [cp.size, cp.rootHex];
res.wrongOrigin = await verdict(
  () => V.openCheckpoint(d.checkpoint.note, keyring, 'x/elections/y'));
const r = V.parseV1(d.receipt.json);
res.message = V.toHex(V.v1Message(r));
res.receipt = await verdict(() => V.verifyV1Receipt(r, keyring));
const moved = V.parseV1({...d.receipt.json, time: d.receipt.json.time.replace('00.', '01.')});
res.tampered = await verdict(() => V.verifyV1Receipt(moved, keyring));
res.code = V.humanCode(r.leafHash);
return res;
""",
        VECTORS,
    )
    assert "error" not in out, out
    assert out["leaves"] == [e["leaf_hash"] for e in VECTORS["entries"]]
    assert out["chains"] == [e["chain_hash"] for e in VECTORS["entries"]]
    assert out["roots"] == VECTORS["roots"]
    assert out["canonical"] == [True] * len(VECTORS["entries"])
    assert set(out["inclusion"]) == {"ok"} and set(out["consistency"]) == {"ok"}
    assert out["checkpoint"] == [VECTORS["checkpoint"]["size"], VECTORS["checkpoint"]["root_hex"]]
    assert out["wrongOrigin"] == "refused: the checkpoint is another log's"
    receipt = VECTORS["receipt"]
    (mine,) = [b for b in receipt["batch_leaves"] if b["index"] == receipt["json"]["index"]]
    assert out["message"] == mine["message_hex"]
    assert out["receipt"] == "ok"
    assert out["tampered"] == "refused: the receipt's signature does not verify"
    assert out["code"] == receipt["json"]["code"]


def test_js_verifier_reaches_the_reference_verdict_on_the_rfc_9162_proof_vectors() -> None:
    """On all 196 transparency-dev/merkle inclusion and consistency cases, check-verify.js
    accepts exactly the proofs the Python verifier accepts (the reference's verdict, but for the
    one case this format refuses)."""
    cases = {
        p.relative_to(TLOG).as_posix(): json.loads(p.read_text())
        for kind in ("inclusion", "consistency")
        for p in sorted((TLOG / kind).rglob("*.json"))
    }
    assert len(cases) == 196
    out = _in_browser(
        HELPERS
        + """
const verdicts = {};
for (const [name, c] of Object.entries(args[0])) {
  const proof = (c.proof || []).map(b64);
  verdicts[name] = await verdict(() => ('leafHash' in c)
    ? V.verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), proof, b64(c.root))
    : V.verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), proof));
}
return verdicts;
""",
        cases,
    )
    assert "error" not in out, out
    unexpected = [v for v in out.values() if not (v == "ok" or v.startswith("refused: "))]
    assert unexpected == []
    want = {
        name: "refused" if name in STRICTER or case["wantErr"] else "ok"
        for name, case in cases.items()
    }
    got = {name: v.split(":")[0] for name, v in out.items()}
    assert got == want


def test_js_verifier_checks_acceptance_receipts_signed_in_python() -> None:
    """Each receipt of an acceptance batch of three signed from the contract's words, and of one
    signed by the ledger's AcceptanceSigner (shuffled, without the event), verifies in
    check-verify.js;
    a changed blind, checkpoint size, position, path element, event or code is refused."""
    events = [
        {"contest": "members", "selections": ["ann", "bob"], "nonce": "11" * 32},
        {"contest": "members", "selections": ["cat"], "nonce": "22" * 32},
        {"contest": "youth", "selections": ["yvo"], "nonce": "33" * 32},
    ]
    checkpoint = {"root": hashlib.sha256(b"root").hexdigest(), "size": 19}
    receipts = acceptance_batch(
        SIGNER, events, origin="ballot-ledger.test/elections/nec-2026", checkpoint=checkpoint
    )
    # and the ledger's own signer (ledger/format/acceptance.py), leaves shuffled, without event
    for receipt in AcceptanceSigner(SIGNER).sign_batch(
        election="nec-2026",
        origin="ballot-ledger.test/elections/nec-2026",
        checkpoint=(19, bytes.fromhex(checkpoint["root"])),
        time="2026-11-23T05:21:16.123456Z",
        items=[(e["contest"], event_hash(e)) for e in events],
    ):
        receipts.append(receipt.to_json())
    out = _in_browser(
        HELPERS
        + """
const [receipts, key] = args;
const keyring = await V.Keyring.fromTexts([key]);
const res = {good: [], bad: {}};
const check = (r) => verdict(() => V.verifyAcceptanceReceipt(V.parseAcceptance(r), keyring));
for (const r of receipts) res.good.push(await check(r));
const r = receipts[1];
const flip = (h) => (h[0] === '0' ? '1' : '0') + h.slice(1);
const variants = {
  blind: {...r, blind: flip(r.blind)},
  checkpoint: {...r, checkpoint: {...r.checkpoint, size: r.checkpoint.size + 1}},
  position: {...r, batch: {...r.batch, position: 0}},
  path: {...r, batch: {...r.batch, path: [flip(r.batch.path[0]), ...r.batch.path.slice(1)]}},
  event: {...r, event: {...r.event, selections: ['ann']}},
  code: {...r, code: receipts[0].code},
};
for (const [name, v] of Object.entries(variants)) {
  res.bad[name] = await check(v);
}
return res;
""",
        receipts,
        SIGNER.verifier.text(),
    )
    assert "error" not in out, out
    assert out["good"] == ["ok"] * 6
    sig = "refused: the receipt's signature does not verify"
    assert out["bad"] == {
        "blind": sig,
        "checkpoint": sig,
        "position": sig,
        "path": sig,
        "event": "refused: the receipt's event does not hash to its event hash",
        "code": "refused: the receipt's code is not its event hash's",
    }
