/*
 * ballot-ledger receipt verification in the browser: the pure part (no page, no network).
 *
 * This is docs/log-format.md re-implemented with WebCrypto (SHA-256, Ed25519), so that a voter
 * checks their receipt with nothing but the ledger's published key:
 *   - strict hex and canonical base64 (one spelling per value);
 *   - verifier strings (§6), signed checkpoint notes (§7);
 *   - RFC 9162 leaf and node hashes, inclusion and consistency proofs (§3, §5);
 *   - RFC 8785 canonical JSON (JCS) of the values receipts and events hold;
 *   - v1 receipts (§8) and acceptance receipts (issue 14's contract), and the human code.
 * Every failure throws a VerifyError carrying its evidence (which value, expected, found).
 * A classic script (not a module), so that the page works when opened from a file:// URL;
 * it defines the global `BallotVerify`.
 */
(function (global) {
  "use strict";

  const subtle = global.crypto && global.crypto.subtle;
  const enc = new TextEncoder();

  class VerifyError extends Error {
    /** kind: "malformed" | "signature" | "proof" | "mismatch" | "split-view" */
    constructor(kind, message, evidence) {
      super(message);
      this.name = "VerifyError";
      this.kind = kind;
      this.evidence = evidence || {};
    }
  }

  function fail(kind, message, evidence) {
    throw new VerifyError(kind, message, evidence);
  }

  // --- bytes -------------------------------------------------------------------------------

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Lower-case hex, two digits per byte, of exactly `length` bytes when given. */
  function hexStrict(text, length, what) {
    what = what || "value";
    if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) {
      fail("malformed", `${what} is not lower-case hex`, { value: String(text).slice(0, 80) });
    }
    if (length !== undefined && text.length !== 2 * length) {
      fail("malformed", `${what} is not ${length} bytes`, { length: text.length / 2 });
    }
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    return out;
  }

  function toB64(bytes) {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }

  /** Canonical base64 (RFC 4648 §3.5): decode, re-encode and compare with the text. */
  function b64Strict(text, length, what) {
    what = what || "value";
    if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
      fail("malformed", `${what} is not canonical base64`, { value: String(text).slice(0, 80) });
    }
    let raw;
    try {
      raw = atob(text);
    } catch (e) {
      fail("malformed", `${what} is not canonical base64`, { value: text.slice(0, 80) });
    }
    const out = Uint8Array.from(raw, (c) => c.charCodeAt(0));
    if (toB64(out) !== text) {
      fail("malformed", `${what} is not canonical base64`, { value: text.slice(0, 80) });
    }
    if (length !== undefined && out.length !== length) {
      fail("malformed", `${what} is not ${length} bytes`, { length: out.length });
    }
    return out;
  }

  const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

  /** The human code: base32 of the first 10 bytes, four groups of four joined by "-". */
  function humanCode(hash) {
    let bits = 0;
    let value = 0;
    let text = "";
    for (const b of hash.slice(0, 10)) {
      value = (value << 8) | b;
      bits += 8;
      while (bits >= 5) {
        text += B32[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
    }
    return text.match(/.{4}/g).join("-");
  }

  /** A code as the voter typed it, normalised (upper case, grouped); null if it is not one. */
  function normaliseCode(text) {
    const bare = String(text).toUpperCase().replace(/[\s-]/g, "");
    if (/^[0-9A-F]{64}$/.test(bare)) return bare.toLowerCase();
    if (!/^[A-Z2-7]{16}$/.test(bare)) return null;
    return bare.match(/.{4}/g).join("-");
  }

  // --- hashing -----------------------------------------------------------------------------

  async function sha256(bytes) {
    return new Uint8Array(await subtle.digest("SHA-256", bytes));
  }

  function leafHash(bytes) {
    return sha256(concat(Uint8Array.of(0), bytes));
  }

  function nodeHash(left, right) {
    return sha256(concat(Uint8Array.of(1), left, right));
  }

  /** RFC 8785 canonical JSON of a value parsed from JSON (keys in UTF-16 code-unit order). */
  function jcs(value) {
    if (value === null || typeof value === "boolean" || typeof value === "string") {
      return JSON.stringify(value);
    }
    if (typeof value === "number") {
      if (!Number.isFinite(value)) fail("malformed", "JSON has no such number", { value });
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) return "[" + value.map(jcs).join(",") + "]";
    if (typeof value === "object") {
      const keys = Object.keys(value).sort();
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + jcs(value[k])).join(",") + "}";
    }
    fail("malformed", "not a JSON value", { type: typeof value });
  }

  const EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

  // --- Merkle proofs (RFC 9162 §2.1.3.2, §2.1.4.2; docs/log-format.md §5) --------------------

  function checkHash(value, what) {
    if (!(value instanceof Uint8Array) || value.length !== 32) {
      fail("proof", `${what} is not 32 bytes`, { length: value ? value.length : 0 });
    }
  }

  function checkSize(n, what) {
    if (!Number.isSafeInteger(n) || n < 0) fail("malformed", `${what} is not a size`, { value: n });
  }

  /** The root that `proof` leads to from `leaf` at `index` in a tree of `size` leaves. */
  async function inclusionRoot(index, size, leaf, proof) {
    checkSize(index, "index");
    checkSize(size, "size");
    if (!(index < size)) fail("proof", "leaf index outside the tree", { index, size });
    checkHash(leaf, "leaf hash");
    // Sizes may exceed 2^31: halve with Math.floor, not with bit shifts.
    let fn = index;
    let sn = size - 1;
    let value = leaf;
    const odd = (n) => n % 2 === 1;
    const half = (n) => Math.floor(n / 2);
    for (const p of proof) {
      checkHash(p, "proof element");
      if (sn === 0) fail("proof", "inclusion proof too long", { index, size });
      if (odd(fn) || fn === sn) {
        value = await nodeHash(p, value);
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      } else {
        value = await nodeHash(value, p);
      }
      fn = half(fn);
      sn = half(sn);
    }
    if (sn !== 0) fail("proof", "inclusion proof too short", { index, size });
    return value;
  }

  async function verifyInclusion(index, size, leaf, proof, root) {
    checkHash(root, "root");
    const value = await inclusionRoot(index, size, leaf, proof);
    if (!equal(value, root)) {
      fail("proof", "the inclusion proof does not lead to the checkpoint's root", {
        index,
        size,
        expected_root: toHex(root),
        computed_root: toHex(value),
      });
    }
  }

  function isPowerOfTwo(n) {
    while (n > 1) {
      if (n % 2 === 1) return false;
      n /= 2;
    }
    return n === 1;
  }

  async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
    checkSize(oldSize, "old size");
    checkSize(newSize, "new size");
    if (!(oldSize <= newSize)) fail("proof", "consistency needs old <= new", { oldSize, newSize });
    checkHash(oldRoot, "old root");
    checkHash(newRoot, "new root");
    for (const p of proof) checkHash(p, "proof element");
    if (oldSize === 0 && toHex(oldRoot) !== EMPTY_ROOT_HEX) {
      fail("proof", "the root of the empty tree is SHA-256 of nothing", { old_root: toHex(oldRoot) });
    }
    if (oldSize === 0 || oldSize === newSize) {
      if (proof.length) fail("proof", "the proof must be empty", { old: oldSize, new: newSize });
      if (oldSize === newSize && !equal(oldRoot, newRoot)) {
        fail("proof", "same size, different roots", {
          size: oldSize,
          old_root: toHex(oldRoot),
          new_root: toHex(newRoot),
        });
      }
      return;
    }
    const odd = (n) => n % 2 === 1;
    const half = (n) => Math.floor(n / 2);
    const path = proof.slice();
    if (isPowerOfTwo(oldSize)) path.unshift(oldRoot);
    if (!path.length) fail("proof", "empty consistency proof", { old: oldSize, new: newSize });
    let fn = oldSize - 1;
    let sn = newSize - 1;
    while (odd(fn)) {
      fn = half(fn);
      sn = half(sn);
    }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) fail("proof", "consistency proof too long", { old: oldSize, new: newSize });
      if (odd(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = half(fn);
      sn = half(sn);
    }
    if (sn !== 0) fail("proof", "consistency proof too short", { old: oldSize, new: newSize });
    if (!equal(fr, oldRoot) || !equal(sr, newRoot)) {
      fail("proof", "the consistency proof does not link the two roots", {
        old: oldSize,
        new: newSize,
        old_root: toHex(oldRoot),
        computed_old_root: toHex(fr),
        new_root: toHex(newRoot),
        computed_new_root: toHex(sr),
      });
    }
  }

  /** MTH of a list of leaf hashes, built as they come (for rebuilding a whole log). */
  class TreeBuilder {
    constructor() {
      this.size = 0;
      this.stack = []; // [height, hash] of the perfect subtrees, left to right
    }
    async push(leaf) {
      checkHash(leaf, "leaf hash");
      let node = [0, leaf];
      while (this.stack.length && this.stack[this.stack.length - 1][0] === node[0]) {
        const [h, left] = this.stack.pop();
        node = [h + 1, await nodeHash(left, node[1])];
      }
      this.stack.push(node);
      this.size += 1;
    }
    async root() {
      if (!this.stack.length) return hexStrict(EMPTY_ROOT_HEX, 32);
      let acc = this.stack[this.stack.length - 1][1];
      for (let i = this.stack.length - 2; i >= 0; i--) acc = await nodeHash(this.stack[i][1], acc);
      return acc;
    }
  }

  // --- keys (docs/log-format.md §6) ---------------------------------------------------------

  async function keyId(name, publicKey) {
    const digest = await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, 0x01), publicKey));
    return digest.slice(0, 4);
  }

  /** A verifier string `name+<hex key id>+<base64(0x01 || key)>`, split at its first two "+". */
  async function parseVerifier(text) {
    const s = String(text).trim();
    const first = s.indexOf("+");
    const second = first < 0 ? -1 : s.indexOf("+", first + 1);
    if (first <= 0 || second < 0) fail("malformed", "a verifier key is name+keyid+key", { text: s.slice(0, 80) });
    const name = s.slice(0, first);
    const hexId = s.slice(first + 1, second);
    if (/\s/.test(name)) fail("malformed", "a key name has no white space", { name });
    if (!/^[0-9a-f]{8}$/.test(hexId)) fail("malformed", "a key id is 8 lower-case hex digits", { hexId });
    const raw = b64Strict(s.slice(second + 1), 33, "verifier key");
    if (raw[0] !== 0x01) fail("malformed", "the verifier key is not an Ed25519 key");
    const publicKey = raw.slice(1);
    const kid = await keyId(name, publicKey);
    if (toHex(kid) !== hexId) fail("malformed", "the verifier key id is not the key's", { given: hexId });
    let cryptoKey;
    try {
      cryptoKey = await subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      fail("malformed", "the browser cannot read this Ed25519 key: " + e.message, { name });
    }
    return { name, keyId: kid, keyIdHex: hexId, publicKey, cryptoKey, text: s };
  }

  async function ed25519Verify(key, signature, message) {
    if (signature.length !== 64) return false;
    return subtle.verify({ name: "Ed25519" }, key.cryptoKey, signature, message);
  }

  class Keyring {
    constructor(keys) {
      this.keys = keys;
    }
    static async fromTexts(texts) {
      return new Keyring(await Promise.all(texts.map(parseVerifier)));
    }
    byId(kid) {
      return this.keys.find((k) => equal(k.keyId, kid)) || null;
    }
    get(name, kid) {
      return this.keys.find((k) => k.name === name && equal(k.keyId, kid)) || null;
    }
  }

  // --- checkpoints (docs/log-format.md §7) --------------------------------------------------

  const SIG_PREFIX = "\u2014 ";

  /** Verify a signed note; its checkpoint {origin, size, root, note}. */
  async function openCheckpoint(note, keyring, origin) {
    if (typeof note !== "string") fail("malformed", "a checkpoint is a text");
    const sep = note.lastIndexOf("\n\n");
    if (sep < 0) fail("malformed", "the signed note has no blank line before its signatures");
    const bodyText = note.slice(0, sep + 1);
    const sigText = note.slice(sep + 2);
    if (!sigText.endsWith("\n")) fail("malformed", "the signature block must end with a newline");
    const lines = bodyText.split("\n");
    if (lines.length !== 4 || lines[3] !== "") fail("malformed", "a checkpoint body is three lines");
    const [cpOrigin, sizeText] = lines;
    if (!cpOrigin) fail("malformed", "empty origin");
    if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
      fail("malformed", "the tree size is not a decimal number", { size: sizeText });
    }
    const root = b64Strict(lines[2], 32, "checkpoint root");
    if (origin !== undefined && origin !== null && cpOrigin !== origin) {
      fail("mismatch", "the checkpoint is another log's", { expected: origin, found: cpOrigin });
    }
    const body = enc.encode(bodyText);
    let verified = 0;
    for (const line of sigText.slice(0, -1).split("\n")) {
      if (!line.startsWith(SIG_PREFIX)) fail("malformed", "malformed signature line", { line: line.slice(0, 80) });
      const parts = line.slice(SIG_PREFIX.length).split(" ");
      if (parts.length !== 2) fail("malformed", "malformed signature line", { line: line.slice(0, 80) });
      const raw = b64Strict(parts[1], undefined, "signature");
      if (raw.length < 5) fail("malformed", "signature too short", { key: parts[0] });
      const key = keyring.get(parts[0], raw.slice(0, 4));
      if (!key) continue; // signatures by unknown keys are ignored (C2SP signed note)
      if (!(await ed25519Verify(key, raw.slice(4), body))) {
        fail("signature", "the checkpoint's signature does not verify", {
          key: key.name,
          key_id: key.keyIdHex,
          size: Number(sizeText),
        });
      }
      verified += 1;
    }
    if (!verified) fail("signature", "the checkpoint has no signature by the ledger's key", { origin: cpOrigin });
    return { origin: cpOrigin, size: Number(sizeText), root, rootHex: toHex(root), note };
  }

  // --- entries (docs/log-format.md §2) -----------------------------------------------------

  /** Parse an entry's exact text, checking it is its own canonical form. */
  function parseEntry(text, election, index) {
    let value;
    try {
      value = JSON.parse(text);
    } catch (e) {
      fail("mismatch", "the entry is not JSON", { index });
    }
    if (jcs(value) !== text) fail("mismatch", "the entry is not in canonical form", { index });
    if (value === null || typeof value !== "object" || value.v !== 1) {
      fail("mismatch", "the entry is not a version 1 entry", { index });
    }
    if (election !== undefined && value.election !== election) {
      fail("mismatch", "the entry is another election's", { index, expected: election, found: value.election });
    }
    if (index !== undefined && value.index !== index) {
      fail("mismatch", "the entry's index is not its position", { expected: index, found: value.index });
    }
    return value;
  }

  async function eventHash(event) {
    return sha256(enc.encode(jcs(event)));
  }

  // --- receipts (docs/log-format.md §8; issue 14's acceptance receipts) --------------------

  const RECEIPT_TAG = "ballot-ledger/receipt/v1\n";
  const RECEIPT_BATCH_TAG = "ballot-ledger/receipt-batch/v1\n";
  const ACCEPTANCE_TAG = "ballot-ledger/acceptance/v1\n";
  const ACCEPTANCE_BATCH_TAG = "ballot-ledger/acceptance-batch/v1\n";

  function exactMembers(obj, names, what) {
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) fail("malformed", `${what} is not an object`);
    const have = Object.keys(obj).sort();
    const want = names.slice().sort();
    if (have.join(",") !== want.join(",")) {
      fail("malformed", `${what} must have exactly the members ${want.join(", ")}`, { found: have.join(", ") });
    }
  }

  function parseBatch(batch) {
    exactMembers(batch, ["size", "position", "path"], "the receipt's batch");
    const { size, position, path } = batch;
    if (!Number.isSafeInteger(size) || size < 1) fail("malformed", "the batch size is not a positive integer");
    if (!Number.isSafeInteger(position) || position < 0 || position >= size) {
      fail("malformed", "the batch position is outside the batch", { position, size });
    }
    if (!Array.isArray(path) || path.length > 64) fail("malformed", "the batch path is not a list of at most 64 hashes");
    return { size, position, path: path.map((p, n) => hexStrict(p, 32, `batch path element ${n}`)) };
  }

  function checkTime(text, what) {
    if (typeof text !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(text)) {
      fail("malformed", `${what} is not an RFC 3339 UTC time with microseconds`);
    }
  }

  /** Which kind of receipt a JSON value is: "v1", "acceptance", or null. */
  function receiptKind(value) {
    if (value === null || typeof value !== "object") return null;
    if (value.stage === "accepted") return "acceptance";
    if ("leaf_hash" in value && "chain_hash" in value && "index" in value) return "v1";
    return null;
  }

  const V1_MEMBERS = ["election", "index", "leaf_hash", "chain_hash", "time", "key_id", "signature", "code", "batch"];

  function parseV1(data) {
    exactMembers(data, V1_MEMBERS, "the receipt");
    if (typeof data.election !== "string") fail("malformed", "the receipt's election is not a text");
    if (!Number.isSafeInteger(data.index) || data.index < 0) fail("malformed", "the receipt's index is not an entry index");
    checkTime(data.time, "the receipt's time");
    return {
      kind: "v1",
      election: data.election,
      index: data.index,
      leafHash: hexStrict(data.leaf_hash, 32, "leaf_hash"),
      chainHash: hexStrict(data.chain_hash, 32, "chain_hash"),
      time: data.time,
      keyId: hexStrict(data.key_id, 4, "key_id"),
      signature: b64Strict(data.signature, 64, "signature"),
      code: data.code,
      batch: parseBatch(data.batch),
      json: data,
    };
  }

  const ACCEPTANCE_MEMBERS = [
    "stage", "election", "origin", "contest", "event_hash", "time", "checkpoint", "promise",
    "blind", "key_id", "signature", "code", "batch",
  ];
  const PROMISE = "before poll_closed";

  /** An acceptance receipt; the unsigned extras `event` and `salt` may come with it. */
  function parseAcceptance(data) {
    if (data === null || typeof data !== "object") fail("malformed", "the acceptance receipt is not an object");
    const members = ACCEPTANCE_MEMBERS.concat(["event", "salt"].filter((m) => m in data));
    exactMembers(data, members, "the acceptance receipt");
    for (const name of ["election", "origin", "contest"]) {
      if (typeof data[name] !== "string") fail("malformed", `the receipt's ${name} is not a text`);
    }
    if (data.promise !== PROMISE) fail("malformed", `the receipt's promise is not "${PROMISE}"`);
    checkTime(data.time, "the receipt's time");
    exactMembers(data.checkpoint, ["size", "root"], "the receipt's checkpoint");
    if (!Number.isSafeInteger(data.checkpoint.size) || data.checkpoint.size < 0) {
      fail("malformed", "the receipt's checkpoint size is not a size");
    }
    if ("event" in data && (data.event === null || typeof data.event !== "object" || Array.isArray(data.event))) {
      fail("malformed", "the receipt's event is not an object");
    }
    return {
      kind: "acceptance",
      election: data.election,
      origin: data.origin,
      contest: data.contest,
      eventHash: hexStrict(data.event_hash, 32, "event_hash"),
      time: data.time,
      checkpoint: { size: data.checkpoint.size, root: hexStrict(data.checkpoint.root, 32, "checkpoint root") },
      promise: data.promise,
      blind: hexStrict(data.blind, 32, "blind"),
      keyId: hexStrict(data.key_id, 4, "key_id"),
      signature: b64Strict(data.signature, 64, "signature"),
      code: data.code,
      batch: parseBatch(data.batch),
      event: "event" in data ? data.event : null,
      json: data,
    };
  }

  function v1Message(r) {
    return enc.encode(
      RECEIPT_TAG +
        jcs({
          chain_hash: toHex(r.chainHash),
          election: r.election,
          index: r.index,
          leaf_hash: toHex(r.leafHash),
          time: r.time,
        })
    );
  }

  function acceptanceMessage(r) {
    return enc.encode(
      ACCEPTANCE_TAG +
        jcs({
          blind: toHex(r.blind),
          checkpoint: { root: toHex(r.checkpoint.root), size: r.checkpoint.size },
          contest: r.contest,
          election: r.election,
          event_hash: toHex(r.eventHash),
          origin: r.origin,
          promise: r.promise,
          time: r.time,
        })
    );
  }

  /** Fold the receipt's leaf up its batch path and check the batch signature. */
  async function verifyBatchSignature(r, message, batchTag, keyring) {
    const key = keyring.byId(r.keyId);
    if (!key) fail("signature", "the receipt is signed by a key the ledger does not publish", { key_id: toHex(r.keyId) });
    const leaf = await leafHash(message);
    let root;
    try {
      root = await inclusionRoot(r.batch.position, r.batch.size, leaf, r.batch.path);
    } catch (e) {
      fail("signature", "the receipt's batch path is malformed: " + e.message, e.evidence);
    }
    const signed = enc.encode(batchTag + jcs({ root: toHex(root), size: r.batch.size }));
    if (!(await ed25519Verify(key, r.signature, signed))) {
      fail("signature", "the receipt's signature does not verify", {
        key_id: key.keyIdHex,
        batch_size: r.batch.size,
        position: r.batch.position,
      });
    }
    return key;
  }

  async function verifyV1Receipt(r, keyring) {
    const key = await verifyBatchSignature(r, v1Message(r), RECEIPT_BATCH_TAG, keyring);
    if (r.code !== humanCode(r.leafHash)) {
      fail("mismatch", "the receipt's code is not its leaf hash's", { code: r.code, expected: humanCode(r.leafHash) });
    }
    return key;
  }

  async function verifyAcceptanceReceipt(r, keyring) {
    const key = await verifyBatchSignature(r, acceptanceMessage(r), ACCEPTANCE_BATCH_TAG, keyring);
    if (r.code !== humanCode(r.eventHash)) {
      fail("mismatch", "the receipt's code is not its event hash's", { code: r.code, expected: humanCode(r.eventHash) });
    }
    if (r.event === null) return key;
    const computed = await eventHash(r.event);
    if (!equal(computed, r.eventHash)) {
      fail("mismatch", "the receipt's event does not hash to its event hash", {
        event_hash: toHex(r.eventHash),
        computed: toHex(computed),
      });
    }
    return key;
  }

  global.BallotVerify = {
    VerifyError,
    concat,
    equal,
    toHex,
    hexStrict,
    toB64,
    b64Strict,
    humanCode,
    normaliseCode,
    sha256,
    leafHash,
    nodeHash,
    jcs,
    EMPTY_ROOT_HEX,
    inclusionRoot,
    verifyInclusion,
    verifyConsistency,
    TreeBuilder,
    keyId,
    parseVerifier,
    Keyring,
    openCheckpoint,
    parseEntry,
    eventHash,
    receiptKind,
    parseV1,
    parseAcceptance,
    v1Message,
    acceptanceMessage,
    verifyV1Receipt,
    verifyAcceptanceReceipt,
    available: Boolean(subtle),
  };
})(globalThis);
