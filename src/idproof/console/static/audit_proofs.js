// The audit page's own check, in the browser with WebCrypto (no third-party code): the latest
// checkpoint's Ed25519 signature (a C2SP signed note) with the log's verifier key, then each
// shown event's RFC 6962 inclusion proof against the signed root (RFC 9162 2.1.3.2). The tree
// size and root are read from the signed text only. Progressive enhancement: without
// JavaScript (or WebCrypto, which needs HTTPS or localhost) each row's "Verify" link checks the
// event on the server. The functions are on window.idproofAuditProof for the tests.
(function () {
  "use strict";
  var HASH_SIZE = 32;
  var SIG_PREFIX = "\u2014 ";  // em dash, space
  var MAX_SIGNATURES = 100;
  var enc = new TextEncoder();

  function Fail(message) { this.message = message; }  // a check that failed, with why

  function b64decode(text, what) {
    var bin;
    try { bin = atob(text); } catch (_e) { throw new Fail(what + " is not valid base64"); }
    // One value, one spelling: atob ignores stray bits and whitespace, so compare back.
    if (btoa(bin) !== text) throw new Fail(what + " is not canonical base64");
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function concat(parts) {
    var n = 0, k = 0, i;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    var out = new Uint8Array(n);
    for (i = 0; i < parts.length; i++) { out.set(parts[i], k); k += parts[i].length; }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    var d = 0;
    for (var i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }
  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (x) {
      return (x < 16 ? "0" : "") + x.toString(16); }).join("");
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  function leafHash(data) { return sha256(concat([Uint8Array.of(0), data])); }
  function nodeHash(left, right) { return sha256(concat([Uint8Array.of(1), left, right])); }

  function count(value, what) {
    // Indexes and sizes as BigInt: bit operations on Numbers stop at 32 bits.
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
      return BigInt(value);
    }
    if (typeof value === "bigint" && value >= 0n) return value;
    throw new Fail(what + " is not a non-negative integer");
  }
  function hashOf(value, what) {
    var h = typeof value === "string" ? b64decode(value, what) : value;
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new Fail(what + " is not a " + HASH_SIZE + "-byte hash");
    }
    return h;
  }

  // RFC 9162 2.1.3.2: the root a proof implies for `leaf` at `index` in a tree of `size`.
  async function rootFromInclusionProof(leaf, index, size, proof) {
    var fn = count(index, "index"), sn = count(size, "tree size") - 1n;
    if (fn > sn) throw new Fail("index " + fn + " is not below tree size " + (sn + 1n));
    var r = hashOf(leaf, "leaf hash");
    if (!Array.isArray(proof)) throw new Fail("the proof is not a list of hashes");
    for (var i = 0; i < proof.length; i++) {
      var p = hashOf(proof[i], "proof element " + i);
      if (sn === 0n) throw new Fail("the proof is longer than the tree is deep");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Fail("the proof is shorter than the tree is deep");
    return r;
  }
  async function verifyInclusion(leaf, index, size, proof, root) {
    var computed = await rootFromInclusionProof(leaf, index, size, proof);
    if (!equal(computed, hashOf(root, "root hash"))) {
      throw new Fail("the inclusion proof does not lead to the signed root");
    }
  }

  function validName(name) {
    return name !== "" && name.indexOf("+") < 0 && !/\s/.test(name) && !/[\x00-\x1f]/.test(name);
  }
  // A signed-note verifier key `<name>+<key id hex>+<base64(0x01 || Ed25519 key)>`, its key id
  // recomputed: SHA-256(name || 0x0A || 0x01 || key)[:4].
  async function parseVerifierKey(text) {
    var first = text.indexOf("+"), second = text.indexOf("+", first + 1);
    if (first < 0 || second < 0) throw new Fail("the verifier key is not <name>+<id>+<key>");
    var name = text.slice(0, first), id = text.slice(first + 1, second);
    if (!validName(name) || !/^[0-9a-fA-F]{8}$/.test(id)) throw new Fail("malformed verifier key");
    var raw = b64decode(text.slice(second + 1), "the verifier key");
    if (raw.length !== 33 || raw[0] !== 1) throw new Fail("the verifier key is not an Ed25519 key");
    var kid = (await sha256(concat([enc.encode(name + "\n"), raw]))).slice(0, 4);
    if (hex(kid) !== id.toLowerCase()) {
      throw new Fail("the verifier key's id does not match its key");
    }
    return { name: name, id: kid, raw: raw.slice(1), text: text };
  }
  async function ed25519Verify(publicKey, signature, message) {
    var key;
    try {
      key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    } catch (_e) {
      throw new Fail("this browser's WebCrypto has no Ed25519");
    }
    try {
      return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
    } catch (_e) {
      return false;  // a malformed signature is one that does not verify
    }
  }

  // A checkpoint (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) opened as the server does:
  // signatures by unknown keys are ignored, a bad one by a known key refuses the note, and at
  // least one known key must have signed. Returns the origin, size (BigInt), root and key.
  async function openCheckpoint(note, keyTexts) {
    if (typeof note !== "string" || /[\x00-\x09\x0b-\x1f]/.test(note)) {
      throw new Fail("the checkpoint is not text");
    }
    var keys = [];
    for (var k = 0; k < keyTexts.length; k++) keys.push(await parseVerifierKey(keyTexts[k]));
    var split = note.lastIndexOf("\n\n");
    if (split < 0) throw new Fail("the checkpoint has no signature");
    var text = note.slice(0, split + 1), sigs = note.slice(split + 2);
    if (sigs === "" || sigs.slice(-1) !== "\n") throw new Fail("malformed signature lines");
    var lines = sigs.slice(0, -1).split("\n"), signer = null;
    if (lines.length > MAX_SIGNATURES) throw new Fail("the checkpoint has too many signatures");
    var message = enc.encode(text);
    for (var i = 0; i < lines.length; i++) {
      if (lines[i].indexOf(SIG_PREFIX) !== 0) throw new Fail("malformed signature line");
      var rest = lines[i].slice(SIG_PREFIX.length), space = rest.indexOf(" ");
      if (space < 1 || !validName(rest.slice(0, space))) throw new Fail("malformed signature line");
      var name = rest.slice(0, space), raw = b64decode(rest.slice(space + 1), "a signature");
      if (raw.length < 5) throw new Fail("a signature is too short");
      for (var j = 0; j < keys.length; j++) {
        if (keys[j].name !== name || !equal(keys[j].id, raw.slice(0, 4))) continue;
        if (!(await ed25519Verify(keys[j].raw, raw.slice(4), message))) {
          throw new Fail("the checkpoint's signature by " + name + " does not verify");
        }
        signer = keys[j];
      }
    }
    if (signer === null) throw new Fail("the checkpoint is not signed by the log's key");
    var body = text.split("\n");
    if (body.length !== 4 || body[3] !== "" || body[0] === "") {
      throw new Fail("the checkpoint is not origin, size and root");
    }
    if (!/^(0|[1-9][0-9]*)$/.test(body[1]) || BigInt(body[1]) >= 1n << 64n) {
      throw new Fail("the checkpoint size is not a 64-bit number");
    }
    return { origin: body[0], size: BigInt(body[1]), root: hashOf(b64decode(body[2], "the root"),
             "the checkpoint root"), key: signer.text };
  }

  // -- the page ---------------------------------------------------------------------------------
  function mark(row, state, text) {
    var span = row.querySelector(".browser-mark");
    if (!span) return;
    var sign = { ok: "\u2713", failed: "\u2717", pending: "\u2026", checking: "\u2026" }[state];
    span.textContent = "";
    var icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = sign + " ";
    var words = document.createElement(state === "failed" ? "strong" : "span");
    words.textContent = text;
    span.appendChild(icon);
    span.appendChild(words);
    span.setAttribute("data-state", state);
  }

  async function checkRows(rows, data) {
    var cp = await openCheckpoint(data.checkpoint, data.keys || []);
    var byIndex = {}, pending = {}, tally = { ok: 0, failed: 0, pending: 0 };
    (data.events || []).forEach(function (e) { byIndex[e.index] = e; });
    (data.pending || []).forEach(function (i) { pending[i] = true; });
    for (var i = 0; i < rows.length; i++) {
      var index = Number(rows[i].getAttribute("data-index")), e = byIndex[index];
      if (pending[index] && BigInt(index) >= cp.size) {
        mark(rows[i], "pending", "not yet in a signed checkpoint");
        tally.pending++;
        continue;
      }
      try {
        if (!e) throw new Fail("the server sent no proof");
        await verifyInclusion(e.leaf_hash, index, cp.size, e.proof, cp.root);
        mark(rows[i], "ok", "verified in your browser");
        tally.ok++;
      } catch (err) {
        mark(rows[i], "failed", "failed in your browser: " + reason(err));
        tally.failed++;
      }
    }
    return { cp: cp, tally: tally };
  }
  function reason(err) { return err instanceof Fail ? err.message : "the check could not run"; }

  function summary(status, cp, t) {
    var root = btoa(String.fromCharCode.apply(null, Array.from(cp.root)));
    var key = document.createElement("code");
    key.className = "otpauth";  // breaks anywhere: the key string is long
    key.textContent = cp.key;
    status.textContent = "Checked in your browser (WebCrypto): the checkpoint of " + cp.size +
      " events, root " + root + ", is signed by ";
    status.appendChild(key);
    status.appendChild(document.createTextNode(" (compare this key with the one published " +
      "out of band). " + t.ok + " shown events verified, " + t.failed + " failed, " +
      t.pending + " not yet in a signed checkpoint."));
  }

  async function run(table) {
    var status = document.getElementById("browser-check");
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-index]"));
    if (!rows.length) return;
    if (!window.crypto || !crypto.subtle) {
      status.textContent = "Your browser cannot check the proofs here (WebCrypto needs HTTPS); " +
        "use Verify to check an event on the server.";
      return;
    }
    rows.forEach(function (r) { mark(r, "checking", "checking in your browser"); });
    status.textContent = "Checking the shown events' proofs in your browser\u2026";
    var data;
    try {
      var url = table.getAttribute("data-proofs") + "?indexes=" +
        rows.map(function (r) { return r.getAttribute("data-index"); }).join(",");
      var resp = await fetch(url, { credentials: "same-origin",
                                    headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Fail("the proofs could not be loaded (" + resp.status + ")");
      data = await resp.json();
    } catch (err) {
      rows.forEach(function (r) {
        mark(r, "failed", "not checked: the proofs could not be loaded");
      });
      status.textContent = "The proofs could not be loaded; use Verify to check on the server.";
      return;
    }
    if (data.checkpoint === null) {
      rows.forEach(function (r) { mark(r, "pending", "not yet in a signed checkpoint"); });
      status.textContent = "No signed checkpoint yet: nothing to check against.";
      return;
    }
    try {
      var result = await checkRows(rows, data);
      summary(status, result.cp, result.tally);
    } catch (err) {
      rows.forEach(function (r) { mark(r, "failed", "failed in your browser: " + reason(err)); });
      status.textContent = "Failed in your browser: " + reason(err) + ".";
    }
  }

  window.idproofAuditProof = {
    Fail: Fail, b64decode: b64decode, leafHash: leafHash, nodeHash: nodeHash,
    rootFromInclusionProof: rootFromInclusionProof, verifyInclusion: verifyInclusion,
    parseVerifierKey: parseVerifierKey, openCheckpoint: openCheckpoint
  };
  function init() {
    var table = document.getElementById("audit-events");
    if (table && table.getAttribute("data-proofs")) run(table);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
