"""The audit page's in-browser check in headless Debian Chromium: every shown event verified with
WebCrypto against the signed checkpoint, an edited row failing, axe-core clean; and the page's
verifier run in the page against the RFC 6962 vectors and tampered checkpoints."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from idproof.audit.checkpoint import sign_checkpoint, sign_note, verifier_key
from tests.audit_log_support import drop_triggers
from tests.e2e.test_console_a11y import _enrol, _serious
from tests.e2e.test_console_browser import ARGS, CHROMIUM, Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO_ROOT = Path(__file__).resolve().parents[2]
VERIFIED = "\u2713 verified in your browser"


def _merkle_dir() -> Path:
    shared = os.environ.get("IDPROOF_SHARED_DIR")
    return (Path(shared) if shared else REPO_ROOT.parent / "shared") / "testdata" / "merkle"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def page(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            *ARGS, "--host-resolver-rules=MAP localhost 127.0.0.1"])
        try:
            p = browser.new_page(viewport={"width": 1024, "height": 768})
            p.set_default_timeout(30_000)
            problems: list[str] = []
            # (Chromium asks for /favicon.ico, which the console does not serve)
            p.on("console", lambda m: problems.append(m.text) if m.type == "error"
                 and not m.location.get("url", "").endswith("/favicon.ico") else None)
            p.on("pageerror", lambda e: problems.append(str(e)))
            p.problems = problems
            yield p
        finally:
            browser.close()


def _marks(page: Any) -> list[tuple[int, str, str]]:
    """Each shown row: its index, the mark's state and the mark's text (as read aloud)."""
    page.wait_for_function("""() => {
        const s = document.getElementById("browser-check");
        return s && /^(Checked|Failed|No signed)/.test(s.textContent); }""")
    rows = page.locator("#audit-events tbody tr")
    out = []
    for k in range(rows.count()):
        row = rows.nth(k)
        mark = row.locator(".browser-mark")
        out.append((int(row.get_attribute("data-index")), mark.get_attribute("data-state"),
                    mark.inner_text()))
    return out


def test_every_shown_event_is_verified_in_the_browser_and_an_edit_fails(
        server: Server, page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    c = server.container
    c.tenants.ensure("other")
    for k in range(12):  # a tree of some depth, events of two tenants
        c.clients.create("demo" if k % 3 else "other", "identity.verify", actor="opr_alice")
    owner = c.operators.create("owner@example.com", "owner", None)
    _enrol(page, owner.enrollment_url)
    c.audit_log.checkpoint()  # covers every event so far, the sign-in's too
    page.goto(server.url + "/console/audit")
    marks = _marks(page)
    assert len(marks) >= 15
    assert all(state == "ok" and text == VERIFIED for _, state, text in marks), marks
    size = c.audit_log.latest_checkpoint().size
    summary = page.locator("#browser-check").inner_text()
    assert summary.startswith(f"Checked in your browser (WebCrypto): the checkpoint of {size} "
                              "events")
    assert c.audit_log.public_key() in summary
    assert f"{len(marks)} shown events verified, 0 failed" in summary
    assert page.problems == [], page.problems  # no script error, no CSP refusal
    # the 8-column table fits the 1024 px tablet viewport (long ids wrap, no sideways scroll)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    found = _serious(Axe(), page)
    assert found == [], found

    # an event after the checkpoint is said to be pending, not verified and not failed
    late = c.clients.create("demo", "identity.verify", actor="opr_alice")
    page.reload()
    marks = _marks(page)
    newest = max(i for i, _, _ in marks)
    assert [m for m in marks if m[0] == newest] == [
        (newest, "pending", "\u2026 not yet in a signed checkpoint")]
    assert all(state == "ok" for i, state, _ in marks if i != newest)
    assert late.client.id in page.content()

    # an attacker with database rights edits a signed event: the browser says it failed
    victim = sorted(i for i, _, _ in marks)[3]
    drop_triggers(c.db.engine)
    with c.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET outcome = 'failure' WHERE idx = :k"),
                     {"k": victim})
    page.reload()
    marks = _marks(page)
    assert [m for m in marks if m[0] == victim] == [
        (victim, "failed", "\u2717 failed in your browser: the inclusion proof does not lead "
                           "to the signed root")]
    assert all(state in {"ok", "pending"} for i, state, _ in marks if i != victim)
    assert "1 failed" in page.locator("#browser-check").inner_text()
    assert _serious(Axe(), page) == []


def test_a_checkpoint_altered_in_the_page_fails(server: Server, page: Any) -> None:
    """The served checkpoint, changed in the page before the check: every change refused."""
    c = server.container
    c.clients.create("demo", "identity.verify", actor="opr_alice")
    owner = c.operators.create("owner@example.com", "owner", None)
    _enrol(page, owner.enrollment_url)
    c.audit_log.checkpoint()
    page.goto(server.url + "/console/audit")
    _marks(page)
    results = page.evaluate("""async () => {
        const A = window.idproofAuditProof;
        const idx = [...document.querySelectorAll("tr[data-index]")].map(
            r => r.dataset.index).join(",");
        const data = await (await fetch("/console/audit/proofs?indexes=" + idx)).json();
        const note = data.checkpoint, keys = data.keys;
        const [body, sigs] = [note.slice(0, note.lastIndexOf("\\n\\n") + 1),
                              note.slice(note.lastIndexOf("\\n\\n") + 2)];
        const lines = body.split("\\n");
        const flip = (s, at) => s.slice(0, at) + (s[at] === "A" ? "B" : "A") + s.slice(at + 1);
        const sig = sigs.slice(0, -1), b64at = sig.lastIndexOf(" ") + 10;
        const cases = {
          genuine: note,
          size: [lines[0], String(BigInt(lines[1]) + 1n), lines[2], ""].join("\\n") + "\\n" + sigs,
          root: [lines[0], lines[1], flip(lines[2], 5), ""].join("\\n") + "\\n" + sigs,
          origin: ["evil.example/log", lines[1], lines[2], ""].join("\\n") + "\\n" + sigs,
          signature: body + "\\n" + flip(sig, b64at) + "\\n",
          unsigned: body + "\\n",
        };
        const out = {};
        for (const [name, n] of Object.entries(cases)) {
          try {
            const cp = await A.openCheckpoint(n, keys);
            out[name] = "ok " + cp.size;
          } catch (e) { out[name] = e instanceof A.Fail ? "fail: " + e.message : "error " + e; }
        }
        return out;
    }""")
    size = c.audit_log.latest_checkpoint().size
    assert results.pop("genuine") == f"ok {size}"
    assert all(r.startswith("fail: ") for r in results.values()), results
    assert results["signature"] == "fail: the checkpoint's signature by " \
        f"{c.audit_log.origin} does not verify"


def _vectors() -> list[dict[str, Any]]:
    base = _merkle_dir()
    files = sorted((base / "inclusion").rglob("*.json")) if base.is_dir() else []
    if not files:
        msg = (f"RFC 6962 test vectors not found in {base}: put the shared/ folder beside the "
               "repository or point IDPROOF_SHARED_DIR at it")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return [{**json.loads(f.read_text(encoding="utf-8")),
             "name": f.relative_to(base).as_posix()} for f in files]


def test_the_page_verifier_passes_the_rfc6962_vectors(server: Server, page: Any) -> None:
    vectors = _vectors()
    reference = json.loads((_merkle_dir() / "reference-tree.json").read_text(encoding="utf-8"))
    # the console's own script, as served, in a same-origin page under the console's CSP
    page.goto(server.url + "/console/login")
    page.add_script_tag(url="/console/static/audit_proofs.js")
    page.wait_for_function("() => window.idproofAuditProof !== undefined")
    results = page.evaluate("""async (vectors) => {
        const A = window.idproofAuditProof, out = {};
        for (const v of vectors) {
          try {
            await A.verifyInclusion(v.leafHash || "", v.leafIdx, v.treeSize, v.proof || [],
                                    v.root || "");
            out[v.name] = true;
          } catch (e) {
            if (!(e instanceof A.Fail)) throw e;
            out[v.name] = false;
          }
        }
        return out;
    }""", vectors)
    wrong = {v["name"]: results[v["name"]] for v in vectors
             if results[v["name"]] == v["wantErr"]}
    assert wrong == {}, wrong
    assert sum(v["wantErr"] for v in vectors) >= 50  # corrupted proofs, all refused
    assert sum(not v["wantErr"] for v in vectors) >= 5

    # the reference tree: every root, and every leaf's proof at every size, built here with the
    # RFC 6962 definitions (MTH, PATH) over the script's hashes; one flipped bit always fails
    checked = page.evaluate("""async (ref) => {
        const A = window.idproofAuditProof;
        const hex = s => Uint8Array.from(s.match(/../g) || [], b => parseInt(b, 16));
        const tohex = b => [...b].map(x => x.toString(16).padStart(2, "0")).join("");
        const leaves = await Promise.all(ref.leaf_inputs_hex.map(h => A.leafHash(hex(h))));
        const split = n => { let k = 1; while (k * 2 < n) k *= 2; return k; };
        const mth = async (d) => d.length === 1 ? d[0] :
          A.nodeHash(await mth(d.slice(0, split(d.length))), await mth(d.slice(split(d.length))));
        const path = async (m, d) => {
          if (d.length === 1) return [];
          const k = split(d.length);
          return m < k ? [...await path(m, d.slice(0, k)), await mth(d.slice(k))]
                       : [...await path(m - k, d.slice(k)), await mth(d.slice(0, k))];
        };
        let proofs = 0;
        for (let n = 1; n <= leaves.length; n++) {
          const root = await mth(leaves.slice(0, n));
          if (tohex(root) !== ref.root_hashes_hex_by_tree_size[n]) return "root " + n;
          for (let m = 0; m < n; m++) {
            const p = await path(m, leaves.slice(0, n));
            await A.verifyInclusion(leaves[m], m, n, p, root);
            for (let j = 0; j < p.length; j++) {
              const bad = p.map(x => x.slice());
              bad[j][7] ^= 0x10;
              try { await A.verifyInclusion(leaves[m], m, n, bad, root); return "bad " + n; }
              catch (e) { if (!(e instanceof A.Fail)) throw e; }
            }
            proofs++;
          }
        }
        return proofs;
    }""", reference)
    assert checked == 36  # 1 + 2 + ... + 8 proofs


def test_the_page_opens_checkpoints_as_the_server_signs_them(server: Server,
                                                             page: Any) -> None:
    """Notes signed here with Python's Ed25519, opened by the script with WebCrypto's."""
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    root = bytes(range(32))
    note = sign_checkpoint("example.org/log", 41, root, "example.org/log", key)
    ours, theirs = (verifier_key("example.org/log", k.public_key()) for k in (key, other))
    by_other = sign_checkpoint("example.org/log", 41, root, "example.org/log", other)
    witness = sign_note("example.org/log\n41\n" + base64.b64encode(root).decode() + "\n",
                        "witness.example", other)
    cases = {
        "genuine": (note, [ours]),
        "cosigned by an unknown key": (note + witness.split("\n\n")[1], [ours]),
        "other key only": (by_other, [ours]),
        "no key": (note, []),
        "forged key id": (note, [ours[:-1] + ("A" if ours[-1] != "A" else "B")]),
        "wrong name": (note, [theirs.replace("example.org/log", "example.org/lo")]),
        "extension line": (note.replace("\n\n", "\nextra\n\n"), [ours]),
    }
    page.goto(server.url + "/console/login")
    page.add_script_tag(url="/console/static/audit_proofs.js")
    page.wait_for_function("() => window.idproofAuditProof !== undefined")
    results = page.evaluate("""async (cases) => {
        const A = window.idproofAuditProof, out = {};
        for (const [name, [n, keys]] of Object.entries(cases)) {
          try {
            const cp = await A.openCheckpoint(n, keys);
            out[name] = [cp.origin, String(cp.size), btoa(String.fromCharCode(...cp.root))];
          } catch (e) { out[name] = e instanceof A.Fail ? "fail: " + e.message : "error " + e; }
        }
        return out;
    }""", cases)
    expected = ["example.org/log", "41", base64.b64encode(root).decode()]
    assert results.pop("genuine") == expected
    assert results.pop("cosigned by an unknown key") == expected
    assert all(str(r).startswith("fail: ") for r in results.values()), results


def test_without_javascript_the_server_side_verify_remains(server: Server) -> None:
    from playwright.sync_api import sync_playwright

    c = server.container
    c.clients.create("demo", "identity.verify", actor="opr_alice")
    owner = c.operators.create("owner@example.com", "owner", None)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            *ARGS, "--host-resolver-rules=MAP localhost 127.0.0.1"])
        try:
            p = browser.new_context(java_script_enabled=False).new_page()
            p.set_default_timeout(30_000)
            _enrol(p, owner.enrollment_url)  # TOTP enrolment is plain forms
            c.audit_log.checkpoint()
            p.goto(server.url + "/console/audit?action=client.created")
            assert p.locator(".browser-mark").count() == 1
            assert p.locator(".browser-mark").inner_text() == ""  # nothing claimed
            p.get_by_role("link", name="Verify").first.click()
            p.wait_for_selector(".proof-check")
            assert p.locator(".proof-check h2").inner_text() == "\u2713 Verified"
        finally:
            browser.close()
