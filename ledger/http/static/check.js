/*
 * The receipt check page: reads the voter's code or receipt file, asks the ledger's public API
 * for the entry, proofs and checkpoints, and verifies them here with check-verify.js
 * (BallotVerify). It trusts nothing the ledger says that it can check, remembers the signed
 * checkpoints it saw (localStorage) and requires every newer one to extend them.
 *
 * Outcomes, in the words the page uses:
 *   released       "In the log and unchanged"
 *   accepted       "Accepted, not yet released" (the poll is still open)
 *   pending        "In the log, not yet covered by a signed checkpoint" (check again later)
 *   broken-promise "A broken promise" (the poll closed and the ballot is not in the log)
 *   split-view     "Split view detected" (the ledger showed two histories)
 *   failed         "This receipt does not check out" (a signature, proof or entry is wrong)
 *   not-found      "No ballot with this code"
 *   unreachable    "The ledger could not be reached"
 */
(function () {
  "use strict";

  const V = window.BallotVerify;
  const STORE = "ballot-check/v1/";

  // --- memory (localStorage) -------------------------------------------------------------

  const memory = {
    read(key, fallback) {
      try {
        const text = window.localStorage.getItem(STORE + key);
        return text === null ? fallback : JSON.parse(text);
      } catch (e) {
        return fallback;
      }
    },
    write(key, value) {
      try {
        window.localStorage.setItem(STORE + key, JSON.stringify(value));
      } catch (e) {
        /* a browser that keeps nothing still checks; it only cannot compare with the past */
      }
    },
    /** The newest signed checkpoint seen of the log `origin`, or null. */
    newest(origin) {
      const all = this.read("checkpoints", {});
      return all[origin] || null;
    },
    remember(cp) {
      const all = this.read("checkpoints", {});
      const old = all[cp.origin];
      if (!old || old.size < cp.size) {
        all[cp.origin] = { size: cp.size, root: cp.rootHex, note: cp.note, seen: new Date().toISOString() };
        this.write("checkpoints", all);
      }
    },
    origins() {
      return this.read("checkpoints", {});
    },
  };

  // --- the ledger's public API -------------------------------------------------------------

  class Unreachable extends Error {}

  class Api {
    constructor(base) {
      this.base = base.replace(/\/+$/, "");
    }
    async get(path, params) {
      const url = new URL(this.base + path);
      for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, String(v));
      let response;
      try {
        response = await fetch(url.toString(), { cache: "no-store", credentials: "omit" });
      } catch (e) {
        throw new Unreachable(`${url.origin} did not answer (${e.message})`);
      }
      const type = response.headers.get("Content-Type") || "";
      const body = type.includes("json") ? await response.json().catch(() => null) : await response.text();
      return { status: response.status, body, url: url.toString() };
    }
    async ok(path, params, what) {
      const r = await this.get(path, params);
      if (r.status !== 200) {
        const detail = r.body && r.body.detail ? `: ${r.body.detail}` : "";
        if (r.status >= 500) throw new Unreachable(`the ledger failed to give ${what} (HTTP ${r.status}${detail})`);
        throw new V.VerifyError("mismatch", `the ledger refused to give ${what} (HTTP ${r.status}${detail})`, {
          url: r.url,
          status: r.status,
        });
      }
      return r.body;
    }
  }

  function proofHashes(body, what) {
    const items = body && Array.isArray(body.proof) ? body.proof : null;
    if (!items) throw new V.VerifyError("malformed", `${what} is not a list of hashes`);
    return items.map((p, n) => V.hexStrict(p, 32, `${what}, element ${n}`));
  }

  const enc = new TextEncoder();
  const short = (hex) => hex.slice(0, 16) + "…";

  // --- the checks --------------------------------------------------------------------------

  class Outcome extends Error {
    constructor(outcome, summary, evidence) {
      super(summary);
      this.outcome = outcome;
      this.evidence = evidence;
    }
  }

  /** Keys, the newest checkpoint and its consistency with what this browser saw before. */
  async function openLog(api, election, steps, expectedOrigin) {
    const keys = await api.ok("/v1/keys", {}, "its keys");
    if (!keys || !Array.isArray(keys.ledger) || !keys.ledger.length) {
      throw new V.VerifyError("malformed", "the ledger publishes no key");
    }
    const keyring = await V.Keyring.fromTexts(keys.ledger);
    steps.push(
      `The ledger publishes its key ${keyring.keys.map((k) => `${k.name} (id ${k.keyIdHex})`).join(", ")}; ` +
        "compare it with the key your organisation published."
    );
    const base = `/v1/elections/${encodeURIComponent(election)}`;
    const r = await api.get(`${base}/checkpoint`);
    if (r.status === 404) {
      throw new Outcome("not-found", `The ledger has no election “${election}”, or no signed checkpoint of it yet.`);
    }
    if (r.status !== 200 || typeof r.body !== "string") {
      throw new Unreachable(`the ledger did not give its checkpoint (HTTP ${r.status})`);
    }
    const cp = await V.openCheckpoint(r.body, keyring, expectedOrigin);
    if (!cp.origin.endsWith(`/elections/${election}`)) {
      throw new V.VerifyError("mismatch", "the checkpoint is not this election's log", { origin: cp.origin, election });
    }
    const pins = memory.read("origins", {});
    const pin = `${api.base} ${election}`;
    if (pins[pin] && pins[pin] !== cp.origin) {
      throw new V.VerifyError("mismatch", "the ledger now names this election's log otherwise than before", {
        before: pins[pin],
        now: cp.origin,
      });
    }
    pins[pin] = cp.origin;
    memory.write("origins", pins);
    steps.push(`The ledger's newest checkpoint (log of ${cp.size} entries) is signed by that key.`);
    await consistentWithMemory(api, base, cp, keys.ledger, steps);
    return { keyring, keyTexts: keys.ledger, cp, base };
  }

  /** Check that `older` (size, root) and `newer` are one history: else a split view. */
  async function linked(api, base, older, newer, what, evidence) {
    const r = await api.get(`${base}/proofs/consistency`, { old: older.size, new: newer.size });
    if (r.status >= 500) throw new Unreachable(`the ledger failed to give a consistency proof (HTTP ${r.status})`);
    try {
      if (r.status !== 200) {
        throw new V.VerifyError("proof", `the ledger cannot prove it (HTTP ${r.status})`, { status: r.status });
      }
      await V.verifyConsistency(older.size, newer.size, older.root, newer.root, proofHashes(r.body, "the consistency proof"));
    } catch (e) {
      if (!(e instanceof V.VerifyError)) throw e;
      throw new Outcome(
        "split-view",
        `The ledger now shows a history that does not extend ${what}: ${e.message}.`,
        { kind: "split-view", ...evidence, proof: r.body, error: e.message, details: e.evidence }
      );
    }
  }

  async function consistentWithMemory(api, base, cp, keyTexts, steps) {
    const seen = memory.newest(cp.origin);
    if (!seen) {
      steps.push("This browser had not seen this log before: it remembers this checkpoint from now on.");
      return;
    }
    const old = { size: seen.size, root: V.hexStrict(seen.root, 32, "the remembered root") };
    const evidence = { origin: cp.origin, keys: keyTexts, checkpoints: [seen.note, cp.note] };
    const what = `the checkpoint this browser saw on ${seen.seen.slice(0, 10)} (log of ${seen.size} entries)`;
    if (old.size <= cp.size) {
      await linked(api, base, old, cp, what, evidence);
      steps.push(`The log still extends ${what}.`);
    } else {
      await linked(api, base, cp, old, what, evidence);
      steps.push(`The ledger showed an older checkpoint than ${what}, but the two are one history.`);
    }
  }

  async function inclusion(api, ctx, index, leaf, steps) {
    const { cp, base } = ctx;
    const proof = await api.ok(`${base}/proofs/inclusion`, { index, size: cp.size }, "an inclusion proof");
    await V.verifyInclusion(index, cp.size, leaf, proofHashes(proof, "the inclusion proof"), cp.root);
    steps.push(`The entry is number ${index} of the log signed at ${cp.size} entries (the inclusion proof verifies).`);
  }

  function describe(entry) {
    const contest = entry.event && entry.event.contest ? `, contest ${entry.event.contest}` : "";
    return `${entry.type.replace(/_/g, " ")}${contest}, appended ${entry.time.replace("T", " ").replace("Z", " UTC")}`;
  }

  /** A released entry as receipts/{code} gives it: check it is the one the code names. */
  async function checkReleased(api, ctx, found, want, steps) {
    const { cp } = ctx;
    const index = found.index;
    if (!Number.isSafeInteger(index) || typeof found.entry !== "string") {
      throw new V.VerifyError("malformed", "the ledger's answer names no entry");
    }
    const entry = V.parseEntry(found.entry, ctx.election, index);
    const leaf = await V.leafHash(enc.encode(found.entry));
    if (found.leaf_hash !== V.toHex(leaf)) {
      throw new V.VerifyError("mismatch", "the entry does not hash to the leaf hash the ledger gives", {
        index,
        given: found.leaf_hash,
        computed: V.toHex(leaf),
      });
    }
    const evh = await V.eventHash(entry.event);
    if (want.eventHash ? !V.equal(evh, want.eventHash) : !codeMatches(want.code, evh)) {
      throw new V.VerifyError("mismatch", "the entry the ledger gives is not your ballot (its event hash differs)", {
        index,
        expected: want.eventHash ? V.toHex(want.eventHash) : want.code,
        found: V.toHex(evh),
      });
    }
    steps.push(`Entry ${index} is your ballot: its event hashes to ${short(V.toHex(evh))}, the hash your code stands for (${describe(entry)}).`);
    if (want.after !== undefined && index < want.after) {
      throw new V.VerifyError("mismatch", "the entry comes before the checkpoint the ledger held when it accepted your ballot", {
        index,
        accepted_at_size: want.after,
      });
    }
    if (index >= cp.size) return pending(index, cp);
    await inclusion(api, ctx, index, leaf, steps);
    return "released";
  }

  function pending(index, cp) {
    throw new Outcome(
      "pending",
      `Your ballot is entry ${index}, but the ledger's newest signed checkpoint covers only ${cp.size} entries. ` +
        "It signs one every few minutes: check again later."
    );
  }

  function codeMatches(code, hash) {
    return code.length === 64 ? code === V.toHex(hash) : code === V.humanCode(hash);
  }

  /** A v1 receipt (today's cast answer, or an administrative event's). */
  async function checkV1(api, r, steps) {
    const ctx = await openLog(api, r.election, steps);
    ctx.election = r.election;
    const key = await V.verifyV1Receipt(r, ctx.keyring);
    steps.push(`The receipt is signed by the ledger's key ${key.keyIdHex} (batch of ${r.batch.size}).`);
    if (r.index >= ctx.cp.size) pending(r.index, ctx.cp);
    await inclusion(api, ctx, r.index, r.leafHash, steps);
    const page = await api.ok(`${ctx.base}/entries`, { start: r.index, limit: 1 }, "the entry");
    const item = page && Array.isArray(page.entries) ? page.entries[0] : null;
    if (!item || item.index !== r.index || typeof item.entry !== "string") {
      throw new V.VerifyError("mismatch", "the ledger does not give the entry at the receipt's index", { index: r.index });
    }
    const leaf = await V.leafHash(enc.encode(item.entry));
    if (!V.equal(leaf, r.leafHash) || item.chain_hash !== V.toHex(r.chainHash)) {
      throw new V.VerifyError("mismatch", "the entry at the receipt's index is another one", {
        index: r.index,
        expected: V.toHex(r.leafHash),
        found: V.toHex(leaf),
      });
    }
    const entry = V.parseEntry(item.entry, r.election, r.index);
    steps.push(`Entry ${r.index} hashes to the receipt's leaf hash and chain value (${describe(entry)}).`);
    memory.remember(ctx.cp);
    return { outcome: "released", contest: entry.event && entry.event.contest, code: r.code };
  }

  /** Only a code (and the election): find the entry, by event hash or else by leaf hash. */
  async function checkCode(api, election, code, steps) {
    const ctx = await openLog(api, election, steps);
    ctx.election = election;
    const found = await api.get(`${ctx.base}/receipts/${encodeURIComponent(code)}`);
    if (found.status === 200 && found.body && found.body.status === "released") {
      const outcome = await checkReleased(api, ctx, found.body, { code }, steps);
      memory.remember(ctx.cp);
      return { outcome, code };
    }
    if (found.status === 200 && found.body && found.body.status === "accepted") {
      memory.remember(ctx.cp);
      const phase = await electionPhase(api, ctx);
      if (closed(phase)) {
        throw new Outcome(
          "broken-promise",
          "The ledger says it accepted this ballot but did not put it in the log before the poll closed. " +
            "Open your receipt file on this page: it holds the ledger's signed promise, and the page will make the evidence."
        );
      }
      steps.push("The ledger says it holds this ballot, to release it with others before the poll closes.");
      return { outcome: "accepted", code };
    }
    if (found.status >= 500) throw new Unreachable(`the ledger failed to look up the code (HTTP ${found.status})`);
    // No acceptance stage for this code: a code of today's receipts is its entry's leaf hash.
    const byLeaf = await api.get(`${ctx.base}/proofs/inclusion`, { code, size: ctx.cp.size });
    if (byLeaf.status >= 500) throw new Unreachable(`the ledger failed to look up the code (HTTP ${byLeaf.status})`);
    if (byLeaf.status !== 200) {
      memory.remember(ctx.cp);
      throw new Outcome(
        "not-found",
        `No ballot with the code ${code} is in the log of election “${election}” that the ledger signed. ` +
          "Check the code and the election, letter by letter."
      );
    }
    const index = byLeaf.body.index;
    const page = await api.ok(`${ctx.base}/entries`, { start: index, limit: 1 }, "the entry");
    const item = page && Array.isArray(page.entries) ? page.entries[0] : null;
    if (!item || item.index !== index || typeof item.entry !== "string") {
      throw new V.VerifyError("mismatch", "the ledger does not give the entry it found", { index });
    }
    const leaf = await V.leafHash(enc.encode(item.entry));
    if (!codeMatches(code, leaf)) {
      throw new V.VerifyError("mismatch", "the entry the ledger found does not have your code", {
        index,
        code,
        found: V.humanCode(leaf),
      });
    }
    const entry = V.parseEntry(item.entry, election, index);
    steps.push(`Entry ${index} hashes to a leaf hash that your code stands for (${describe(entry)}).`);
    await V.verifyInclusion(index, ctx.cp.size, leaf, proofHashes(byLeaf.body, "the inclusion proof"), ctx.cp.root);
    steps.push(`The entry is number ${index} of the log signed at ${ctx.cp.size} entries (the inclusion proof verifies).`);
    memory.remember(ctx.cp);
    return { outcome: "released", contest: entry.event && entry.event.contest, code };
  }

  async function electionPhase(api, ctx) {
    const doc = await api.ok(ctx.base, {}, "the election");
    return doc && doc.phase;
  }

  function closed(phase) {
    return phase === "poll_closed" || phase === "declared";
  }

  /** An acceptance receipt (issue 14): signed at acceptance, released to the log in a round. */
  async function checkAcceptance(api, r, steps) {
    const ctx = await openLog(api, r.election, steps, r.origin);
    ctx.election = r.election;
    const key = await V.verifyAcceptanceReceipt(r, ctx.keyring);
    steps.push(
      `The receipt is signed by the ledger's key ${key.keyIdHex} (batch of ${r.batch.size}); ` +
        `its ballot hashes to ${short(V.toHex(r.eventHash))}.`
    );
    const held = { size: r.checkpoint.size, root: r.checkpoint.root };
    const heldWhat = `the log of ${held.size} entries the ledger had when it accepted your ballot`;
    const evidence = { origin: ctx.cp.origin, keys: ctx.keyTexts, receipt: r.json, checkpoints: [ctx.cp.note] };
    if (held.size <= ctx.cp.size) await linked(api, ctx.base, held, ctx.cp, heldWhat, evidence);
    else await linked(api, ctx.base, ctx.cp, held, heldWhat, evidence);
    steps.push(`The log still extends ${heldWhat}.`);
    const found = await api.get(`${ctx.base}/receipts/${encodeURIComponent(r.code)}`);
    if (found.status >= 500) throw new Unreachable(`the ledger failed to look up the code (HTTP ${found.status})`);
    const body = found.status === 200 ? found.body : null;
    if (body && body.status === "released") {
      const want = { eventHash: r.eventHash, after: r.checkpoint.size };
      const outcome = await checkReleased(api, ctx, body, want, steps);
      memory.remember(ctx.cp);
      return { outcome, contest: r.contest, code: r.code };
    }
    memory.remember(ctx.cp);
    const phase = await electionPhase(api, ctx);
    if (!closed(phase)) {
      if (!body || body.status !== "accepted") {
        throw new V.VerifyError("mismatch", "the ledger says it does not know a ballot it signed a receipt for", {
          code: r.code,
          status: found.status,
        });
      }
      steps.push("The ledger holds your ballot, to release it with others before the poll closes.");
      return { outcome: "accepted", contest: r.contest, code: r.code };
    }
    return await scanClosedLog(api, ctx, r, steps);
  }

  /** The poll is closed and the ledger gave no entry: read the whole signed log to be sure. */
  async function scanClosedLog(api, ctx, r, steps) {
    const { cp } = ctx;
    const tree = new V.TreeBuilder();
    const texts = [];
    let closedAt = -1;
    let foundAt = -1;
    let heldRoot = r.checkpoint.size === 0 ? await tree.root() : null;
    while (tree.size < cp.size) {
      const page = await api.ok(`${ctx.base}/entries`, { start: tree.size, limit: Math.min(10000, cp.size - tree.size) }, "the log");
      if (!page || !Array.isArray(page.entries) || !page.entries.length) {
        throw new V.VerifyError("mismatch", "the ledger does not give the whole log its checkpoint covers", { at: tree.size });
      }
      for (const item of page.entries) {
        if (tree.size >= cp.size) break;
        const entry = V.parseEntry(item.entry, r.election, tree.size);
        if (entry.type === "poll_closed" && closedAt < 0) closedAt = tree.size;
        if (entry.type === "ballot_cast" && V.equal(await V.eventHash(entry.event), r.eventHash)) foundAt = tree.size;
        texts.push(item.entry);
        await tree.push(await V.leafHash(enc.encode(item.entry)));
        if (tree.size === r.checkpoint.size) heldRoot = await tree.root();
      }
    }
    const root = await tree.root();
    if (!V.equal(root, cp.root)) {
      throw new V.VerifyError("proof", "the log the ledger gives does not rebuild its signed checkpoint", {
        size: cp.size,
        expected_root: cp.rootHex,
        computed_root: V.toHex(root),
      });
    }
    if (!heldRoot || !V.equal(heldRoot, r.checkpoint.root)) {
      throw new V.VerifyError("proof", "the log does not rebuild the checkpoint your receipt names", {
        size: r.checkpoint.size,
      });
    }
    steps.push(`All ${cp.size} entries of the signed log were read and rebuild its checkpoint.`);
    if (foundAt >= 0) {
      await inclusion(api, ctx, foundAt, await V.leafHash(enc.encode(texts[foundAt])), steps);
      steps.push(`Your ballot is entry ${foundAt}, although the ledger's look-up did not give it.`);
      return { outcome: "released", contest: r.contest, code: r.code };
    }
    if (closedAt < 0) {
      steps.push("The poll has closed, but no signed checkpoint covers the close yet.");
      throw new Outcome(
        "pending",
        "The poll has closed, but the ledger has not yet signed the log up to the close. Check again in a few minutes."
      );
    }
    throw new Outcome(
      "broken-promise",
      `The poll closed at entry ${closedAt} and no entry of the signed log is your ballot, which the ledger ` +
        "signed a promise to release before the poll closed. Keep the evidence file and send it to the returning officer.",
      { kind: "broken-promise", receipt: r.json, keys: ctx.keyTexts, checkpoint: cp.note, entries: texts }
    );
  }

  // --- reading what the voter gave -----------------------------------------------------------

  /** The receipts in a file: one receipt, a cast answer (several), or an answer {"receipt": …}. */
  function receiptsIn(value) {
    if (value && typeof value === "object" && value.receipts && typeof value.receipts === "object") {
      return Object.entries(value.receipts).map(([contest, r]) => [contest, r]);
    }
    if (value && typeof value === "object" && value.receipt && typeof value.receipt === "object") {
      return [[null, value.receipt]];
    }
    return [[null, value]];
  }

  function parseReceipt(value) {
    const kind = V.receiptKind(value);
    if (kind === "acceptance") return V.parseAcceptance(value);
    if (kind === "v1") return V.parseV1(value);
    throw new V.VerifyError("malformed", "this is not a ballot-ledger receipt");
  }

  async function run(api, task) {
    const steps = [];
    try {
      let result;
      if (task.kind === "code") result = await checkCode(api, task.election, task.code, steps);
      else if (task.receipt.kind === "acceptance") result = await checkAcceptance(api, task.receipt, steps);
      else result = await checkV1(api, task.receipt, steps);
      return { ...task, ...result, steps };
    } catch (e) {
      if (e instanceof Outcome) return { ...task, outcome: e.outcome, summary: e.message, evidence: e.evidence, steps };
      if (e instanceof Unreachable) return { ...task, outcome: "unreachable", summary: e.message, steps };
      if (e instanceof V.VerifyError) {
        return { ...task, outcome: "failed", summary: e.message, details: e.evidence, steps };
      }
      return { ...task, outcome: "failed", summary: `the check stopped: ${e.message}`, steps };
    }
  }

  // --- the page ------------------------------------------------------------------------------

  const TITLES = {
    released: "In the log and unchanged",
    accepted: "Accepted, not yet released",
    pending: "In the log, not yet covered by a signed checkpoint",
    "broken-promise": "A broken promise",
    "split-view": "Split view detected",
    failed: "This receipt does not check out",
    "not-found": "No ballot with this code",
    unreachable: "The ledger could not be reached",
  };

  const WORDS = {
    released:
      "Your ballot is in the public log, exactly as it was recorded, and the log is the same one this browser saw before. Nothing more to do.",
    accepted:
      "The ledger has accepted your ballot and signed a promise to put it in the public log before the poll closes. " +
        "It releases ballots in rounds, mixed with others, so that no one can tell from the time which ballot is yours. " +
        "Keep your receipt and check again later.",
    pending: "",
    "broken-promise": "",
    "split-view":
      "The ledger has shown this browser two different histories of the log. Someone may be shown a log without some ballots. " +
        "Keep the evidence file and send it to the returning officer or scrutineers.",
    failed:
      "The ledger's answer does not match your receipt: a signature, a proof or the entry itself is wrong. " +
        "The log or the answer may have been tampered with. Keep your receipt and report this to the returning officer.",
    "not-found": "",
    unreachable: "Nothing was checked. Check the ledger's address, and try again later.",
  };

  const GOOD = new Set(["released", "accepted"]);
  const BAD = new Set(["broken-promise", "split-view", "failed"]);

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function defaultLedger() {
    const given = new URLSearchParams(window.location.search).get("ledger");
    if (given) return given;
    if (window.location.protocol === "http:" || window.location.protocol === "https:") {
      return new URL(".", window.location.href).toString().replace(/\/$/, "");
    }
    return memory.read("ledger", "");
  }

  const fields = ["ledger", "election", "code", "file"];

  function clearErrors() {
    $("error-summary").hidden = true;
    $("error-list").replaceChildren();
    for (const name of fields) {
      const input = $(name);
      const error = $(`${name}-error`);
      error.hidden = true;
      error.textContent = "";
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", `${name}-hint`);
      input.closest(".field").classList.remove("field-error");
    }
  }

  function showErrors(errors) {
    const list = $("error-list");
    for (const [name, message] of errors) {
      const input = $(name);
      const error = $(`${name}-error`);
      error.hidden = false;
      error.replaceChildren(el("span", { class: "visually-hidden" }, "Error: "), message);
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `${name}-hint ${name}-error`);
      input.closest(".field").classList.add("field-error");
      const link = el("a", { href: `#${name}` }, message);
      link.addEventListener("click", (ev) => {
        ev.preventDefault();
        input.focus();
      });
      list.append(el("li", {}, link));
    }
    document.title = "Error: " + TITLE;
    $("error-summary").hidden = false;
    $("error-summary").focus();
  }

  const TITLE = document.title;

  async function readFile(file) {
    const text = await file.text();
    let value;
    try {
      value = JSON.parse(text.trim());
    } catch (e) {
      throw new Error("The file is not a receipt: it is not JSON. Choose the receipt file the voting booth gave you.");
    }
    const tasks = [];
    for (const [contest, raw] of receiptsIn(value)) {
      let receipt;
      try {
        receipt = parseReceipt(raw);
      } catch (e) {
        throw new Error(`The file is not a receipt this page can read: ${e.message}.`);
      }
      tasks.push({ kind: "receipt", receipt, contest: contest || receipt.contest || null, code: receipt.code });
    }
    if (!tasks.length) throw new Error("The file holds no receipt.");
    return tasks;
  }

  async function gather() {
    const errors = [];
    const ledger = $("ledger").value.trim();
    let base = null;
    try {
      const url = new URL(ledger);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme");
      base = url.toString();
    } catch (e) {
      errors.push(["ledger", ledger ? "Enter the ledger's address as a web address, like https://ledger.example.org" : "Enter the ledger's address"]);
    }
    const file = $("file").files[0];
    const codeText = $("code").value.trim();
    const election = $("election").value.trim();
    let tasks = [];
    if (file) {
      try {
        tasks = await readFile(file);
      } catch (e) {
        errors.push(["file", e.message]);
      }
    } else if (!codeText) {
      errors.push(["code", "Enter your receipt code, or open your receipt file"]);
    } else {
      const code = V.normaliseCode(codeText);
      if (!code) {
        errors.push(["code", "Enter the receipt code as 16 letters and digits 2 to 7, like ABCD-EFGH-IJKL-MNOP"]);
      }
      if (!election) errors.push(["election", "Enter the election, as printed with your code"]);
      else if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(election)) {
        errors.push(["election", "Enter the election id as printed: small letters, digits, - and _"]);
      }
      if (code) tasks = [{ kind: "code", code, election }];
    }
    return { errors, base, tasks };
  }

  function render(result, n) {
    const tone = GOOD.has(result.outcome) ? "good" : BAD.has(result.outcome) ? "bad" : "neutral";
    const id = `result-${n}`;
    const card = el("article", { class: `outcome outcome-${tone}`, "aria-labelledby": id, "data-outcome": result.outcome });
    card.append(el("h3", { id }, TITLES[result.outcome]));
    const what = [];
    if (result.contest) what.push(`Contest ${result.contest}`);
    if (result.code) what.push(`code ${result.code}`);
    if (what.length) card.append(el("p", { class: "what" }, what.join(", ")));
    const words = WORDS[result.outcome];
    if (words) card.append(el("p", {}, words));
    if (result.summary) card.append(el("p", { class: "summary" }, result.summary));
    if (result.details && Object.keys(result.details).length) {
      const dl = el("dl", { class: "details" });
      for (const [k, v] of Object.entries(result.details)) {
        dl.append(el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, String(v)));
      }
      card.append(dl);
    }
    if (result.steps.length) {
      const list = el("ol", {});
      for (const s of result.steps) list.append(el("li", {}, s));
      card.append(el("details", {}, el("summary", {}, "What this page checked"), list));
    }
    if (result.evidence) {
      const blob = new Blob([JSON.stringify(result.evidence, null, 2) + "\n"], { type: "application/json" });
      const name = `${result.evidence.kind}-evidence.json`;
      card.append(el("p", {}, el("a", { href: URL.createObjectURL(blob), download: name, class: "evidence" }, "Download the evidence (" + name + ")")));
    }
    return card;
  }

  function showMemory() {
    const logs = Object.entries(memory.origins());
    const text = logs.length
      ? `This browser remembers the newest signed checkpoint of ${logs.length} log${logs.length === 1 ? "" : "s"}: ` +
        logs.map(([origin, cp]) => `${origin} at ${cp.size} entries`).join("; ") +
        ". Each check makes sure the log still extends them."
      : "This browser remembers no checkpoint yet. After a check it keeps the newest one it saw, so that a later check can tell if the log's history has changed.";
    $("memory-text").textContent = text;
  }

  async function submit(ev) {
    if (ev) ev.preventDefault();
    clearErrors();
    const { errors, base, tasks } = await gather();
    if (errors.length) {
      showErrors(errors);
      return;
    }
    memory.write("ledger", base.replace(/\/$/, ""));
    if ($("election").value.trim()) memory.write("election", $("election").value.trim());
    const api = new Api(base);
    const button = $("check");
    button.disabled = true;
    $("status").textContent = "Checking your receipt…";
    $("results").hidden = true;
    const list = $("result-list");
    list.replaceChildren();
    const results = [];
    for (const task of tasks) results.push(await run(api, task));
    results.forEach((r, n) => list.append(render(r, n)));
    $("results-title").textContent = results.length === 1 ? "Result" : `Results: ${results.length} receipts`;
    document.title = `${results.map((r) => TITLES[r.outcome]).join("; ")}: ${TITLE}`;
    $("results").hidden = false;
    $("status").textContent = "Check finished: " + results.map((r) => TITLES[r.outcome]).join("; ") + ".";
    button.disabled = false;
    showMemory();
    $("results-title").focus();
  }

  async function suggestElections() {
    const base = $("ledger").value.trim();
    if (!base) return;
    try {
      const r = await new Api(base).get("/v1/elections");
      if (r.status !== 200 || !r.body || !Array.isArray(r.body.elections)) return;
      const options = r.body.elections.map((e) => el("option", { value: e.election }));
      $("elections").replaceChildren(...options);
      const box = $("election");
      if (!box.value && document.activeElement !== box && r.body.elections.length === 1) {
        box.value = r.body.elections[0].election;
      }
    } catch (e) {
      /* a suggestion only */
    }
  }

  async function start() {
    if (!V || !V.available || !window.isSecureContext) {
      $("unsupported").hidden = false;
      $("check").disabled = true;
      return;
    }
    const params = new URLSearchParams(window.location.search);
    $("ledger").value = defaultLedger();
    $("election").value = params.get("election") || memory.read("election", "");
    $("code").value = params.get("code") || "";
    $("check-form").addEventListener("submit", submit);
    $("ledger").addEventListener("change", suggestElections);
    showMemory();
    await suggestElections();
    document.documentElement.classList.add("js"); // ready: the tests wait for it
    if (params.get("code") && $("election").value) submit();
  }

  window.BallotCheck = { run, Api, memory, receiptsIn, parseReceipt };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
