"""The gateway (deploy/gateway: nginx + ModSecurity v3 + OWASP CRS at PL2) in front of a real
`idproof serve`: idproof's own traffic passes untouched, known attacks are refused, and a subset
of the CRS project's regression tests is stopped."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.gateway]

ROOT = Path(__file__).resolve().parents[2]
CRS_TESTS = (ROOT / ".." / "shared" / "testdata" / "crs-3.3.4").resolve()
sys.path.insert(0, str(ROOT / "tools"))

import crs_replay  # noqa: E402
import gateway as gw  # noqa: E402

# The rules that refuse (the anomaly verdicts, the engine's body-parsing rules).
REFUSING = crs_replay.REFUSING


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _needs_crs_tests() -> None:
    if not CRS_TESTS.is_dir():
        pytest.skip(f"the CRS 3.3.4 regression tests are not at {CRS_TESTS} "
                    "(../shared/testdata/crs-3.3.4 beside the repository)")


@dataclass
class Stack:
    base: str  # the gateway, https
    gateway: gw.Gateway
    env: dict[str, str]
    exe: Path

    def cli(self, *args: str) -> dict[str, object]:
        out = subprocess.run([str(self.exe), *args, "--json"], env=self.env,
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)  # type: ignore[no-any-return]

    def audit(self) -> dict[str, crs_replay.Seen]:
        return crs_replay.read_audit(self.gateway.audit_log)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    data = Path(tempfile.mkdtemp(prefix="idproof-gw-data-"))
    runtime = Path(tempfile.mkdtemp(prefix="idproof-gw-"))
    port, gw_port = _free_port(), _free_port()
    base = f"https://localhost:{gw_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env.update({"IDPROOF_DATA_DIR": str(data / "data"), "IDPROOF_PUBLIC_URL": base,
                "IDPROOF_SECURITY__TRUSTED_PROXIES": '["127.0.0.1/32"]',
                "IDPROOF_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"})
    exe = Path(sys.executable).parent / "idproof"
    log = (data / "serve.log").open("w")
    server = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("idproof serve did not start: "
                            + (data / "serve.log").read_text()[-2000:])
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        # The audit engine sees every transaction, so that rules that fired without refusing
        # (an anomaly score under the threshold) show up too.
        gateway = gw.render(runtime, port=gw_port, backend=f"127.0.0.1:{port}", audit_all=True)
        gw.start_daemon(gateway)
        yield Stack(base, gateway, env, exe)
    finally:
        gw.stop(runtime)
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


def _jpeg(w: int = 1200, h: int = 800, noise: bool = True) -> bytes:
    """A photo-like JPEG: noise gives the high-entropy bytes of a real capture."""
    img = (Image.frombytes("RGB", (w, h), os.urandom(w * h * 3)) if noise
           else Image.new("RGB", (w, h), (120, 130, 140)))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _tls(stack: Stack) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(stack.gateway.cert))


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


class Recorder:
    """Every answer idproof's traffic got through the gateway, to check none was refused."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.seen: list[tuple[str, str, int, str]] = []

    def __call__(self, response: httpx.Response) -> None:
        req = response.request
        self.seen.append((req.method, req.url.path, response.status_code,
                          response.headers.get("x-request-id", "")))
        # Every answer from idproof carries its edge headers; a refusal by nginx does not.
        if "x-content-type-options" not in response.headers:
            time.sleep(0.3)
            seen = self.stack.audit().get(response.headers.get("x-request-id", ""))
            pytest.fail(f"{req.method} {req.url.path} was refused by the gateway "
                        f"({response.status_code}); rules: {seen and sorted(seen.rules)}")


def test_idproof_traffic_passes_the_gateway(stack: Stack) -> None:
    rec = Recorder(stack)
    client = httpx.Client(base_url=stack.base, verify=_tls(stack), timeout=60,
                          event_hooks={"response": [rec]})
    with client:
        # -- platform and discovery
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/.well-known/oauth-authorization-server").status_code in {200, 404}
        assert client.get("/sdk/idproof.js").status_code == 200
        assert client.get("/console/login").status_code == 200

        # -- OAuth2 client credentials, both client authentications
        created = stack.cli("clients", "create", "--tenant", "demo", "--scopes",
                            "identity.verify identity.read_status identity.delete "
                            "webhooks.manage", "--origin", "https://app.example")
        cid, secret = str(created["client_id"]), str(created["client_secret"])
        r = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        auth=(cid, secret))
        assert r.status_code == 200, r.text
        r = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                              "client_id": cid, "client_secret": secret,
                                              "scope": "identity.verify identity.read_status"})
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            auth=(cid, secret)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        me = client.get("/v1/me", headers=auth)
        assert me.status_code == 200 and me.json()["tenant"] == "demo"
        # A wrong secret is idproof's 401, not the gateway's refusal.
        assert client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(cid, "wrong-secret")).status_code == 401

        # -- webhooks (JSON bodies)
        hook = client.post("/v1/webhooks", headers=auth, json={
            "url": "http://127.0.0.1:9/hooks/idproof",
            "event_types": ["session.created", "session.decided"],
            "description": "Back office (prod) - decisions & status"})
        assert hook.status_code == 201, hook.text
        hook_id = hook.json()["id"]
        assert client.get("/v1/webhooks", headers=auth).status_code == 200
        assert client.get(f"/v1/webhooks/{hook_id}", headers=auth).status_code == 200
        assert client.post(f"/v1/webhooks/{hook_id}/test", headers=auth).status_code == 202
        assert client.get(f"/v1/webhooks/{hook_id}/deliveries",
                          headers=auth).status_code == 200
        assert client.post(f"/v1/webhooks/{hook_id}/rotate-secret",
                           headers=auth).status_code == 200

        # -- sessions over the API, with a document upload (multipart)
        # Every character a reference may hold, and metadata of each type.
        body = {"reference": "crm:acct/42+retry@eu-1_v2.0", "workflow": "document_selfie",
                "callback_url": "https://app.example/after?step=done&id=42",
                "locale": "fr", "metadata": {"plan": "pro", "campaign": "spring-2026",
                                             "note": "signed up in the mobile app, it's fine",
                                             "attempt": 1, "ok": True, "score": 0.5,
                                             "coupon": None}}
        created_session = client.post("/v1/sessions", headers=auth, json=body)
        assert created_session.status_code == 201, created_session.text
        sid = created_session.json()["id"]
        assert client.get("/v1/sessions", headers=auth,
                          params={"limit": 10, "status": "not_started"}).status_code == 200
        up = client.post(f"/v1/sessions/{sid}/documents", headers=auth,
                         data={"side": "front"},  # an image over 1 MiB: the upload limit
                         files={"file": ("passport front.jpg", _jpeg(2000, 1400), "image/jpeg")})
        assert up.status_code == 202, up.text
        assert client.get(f"/v1/sessions/{sid}", headers=auth).status_code == 200
        selfie = client.post(f"/v1/sessions/{sid}/selfie", headers=auth,
                             files={"file": ("selfie.jpg", _jpeg(640, 480), "image/jpeg")})
        assert selfie.status_code < 500, selfie.text
        assert client.post(f"/v1/sessions/{sid}/liveness/challenge",
                           headers=auth).status_code < 500
        assert client.get(f"/v1/sessions/{sid}/decision", headers=auth).status_code < 500
        assert client.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204

        # -- the hosted flow, as a browser: link, consent, document, selfie, status
        s2 = client.post("/v1/sessions", headers=auth,
                         json={"reference": "user-43", "workflow": "document_selfie"})
        assert s2.status_code == 201, s2.text
        link = s2.json()["url"].removeprefix(stack.base)
        page = client.get(link, headers={"Accept": "text/html", "Accept-Language": "fr-FR"})
        assert page.status_code == 200, page.text[:300]
        for asset in re.findall(r'(?:src|href)="(/verify/assets/[^"]+)"', page.text):
            assert client.get(asset).status_code == 200
        consent = client.post("/verify/s/consent", data={
            "csrf_token": _csrf(page.text), "agree": "yes", "version": "2026-11-1"},
            headers={"Origin": stack.base})
        assert consent.status_code in {200, 303}, consent.text[:300]
        page = client.get("/verify/s")
        assert page.status_code == 200
        doc = client.post("/verify/s/documents", data={
            "csrf_token": _csrf(page.text), "document_type": "id_card", "country": "DEU"},
            files={"front": ("IMG_20260412_101530.jpg", _jpeg(), "image/jpeg"),
                   "back": ("IMG_20260412_101544.jpg", _jpeg(), "image/jpeg")},
            headers={"Origin": stack.base})
        assert doc.status_code in {200, 303, 422}, doc.text[:300]
        page = client.get("/verify/s")
        assert client.get("/verify/s/status").status_code == 200
        if 'name="csrf_token"' in page.text and "selfie" in page.text:
            client.post("/verify/s/selfie", data={"csrf_token": _csrf(page.text)},
                        files={"file": ("selfie.jpg", _jpeg(640, 480), "image/jpeg")},
                        headers={"Origin": stack.base})
        page = client.get("/verify/s")
        if 'name="csrf_token"' in page.text:
            client.post("/verify/s/cancel", data={"csrf_token": _csrf(page.text)},
                        headers={"Origin": stack.base})

        # -- the liveness step's JSON and multipart calls (kyc_standard), as hosted.js sends them
        s3 = client.post("/v1/sessions", headers=auth,
                         json={"reference": "user-44", "workflow": "kyc_standard"})
        assert s3.status_code == 201, s3.text
        client.cookies.clear()
        page = client.get(s3.json()["url"].removeprefix(stack.base))
        client.post("/verify/s/consent", data={"csrf_token": _csrf(page.text), "agree": "yes",
                                               "version": "2026-11-1"},
                    headers={"Origin": stack.base})
        token_h = {"X-CSRF-Token": _csrf(client.get("/verify/s").text), "Origin": stack.base}
        ch = client.post("/verify/s/challenge", headers=token_h)
        assert ch.status_code < 500, ch.text
        challenge_id = ch.json().get("challenge_id", "chl_none") if ch.status_code == 200 \
            else "chl_none"
        frames = [("frames", (f"frame-{i}.jpg", _jpeg(320, 240), "image/jpeg"))
                  for i in range(3)]
        lv = client.post("/verify/s/liveness", headers=token_h, files=frames,
                         data={"challenge_id": challenge_id, "timestamps": "[0, 180, 360]"})
        assert lv.status_code < 500, lv.text

        # -- the operator console's sign-in form, with passwords as password managers make them
        for password in ("k7#Qz!p2'W-x9&L", "Vq8;r<L2m'eX-9=a", "correct horse battery staple",
                         "select-Union-2026!"):
            login = client.get("/console/login")
            client.post("/console/login", data={"csrf_token": _csrf(login.text),
                                                "email": "ops+admin@example.com",
                                                "password": password},
                        headers={"Origin": stack.base})

        # ... and the enrolment form, which sets one.
        op = stack.cli("operators", "create", "--email", "ops@example.com", "--role", "admin")
        enrol = str(op["enrollment_url"]).removeprefix(stack.base)
        form = client.get(enrol)
        assert form.status_code == 200, form.text[:300]
        done = client.post(enrol, data={"csrf_token": _csrf(form.text),
                                        "password": "Vq8;r<L2m'eX-9=a ok",
                                        "password_confirm": "Vq8;r<L2m'eX-9=a ok"},
                           headers={"Origin": stack.base})
        assert done.status_code < 500, done.text[:300]

    # Not one of idproof's requests was refused, and no CRS rule fired on any of them.
    assert len(rec.seen) >= 35
    ours = {rid for *_, rid in rec.seen}
    # nginx writes ModSecurity's audit entry in its log phase, after the answer has gone out,
    # so the last request's entry may land a moment after the client has read it.
    audit = stack.audit()
    deadline = time.monotonic() + 10
    while not ours <= set(audit) and time.monotonic() < deadline:
        time.sleep(0.2)
        audit = stack.audit()
    # ModSecurity saw every one of them (the audit engine logs every transaction here).
    assert ours <= set(audit), ours - set(audit)
    print("\n".join(f"{m} {p} {st}" for m, p, st, _r in rec.seen))
    refused = {rid: sorted(audit[rid].rules) for rid in ours
               if rid in audit and audit[rid].rules & REFUSING}
    assert refused == {}
    flagged = {f"{m} {p}": sorted(audit[rid].rules) for m, p, _s, rid in rec.seen
               if rid in audit and audit[rid].rules}
    assert flagged == {}


def test_standard_base64url_values_pass_the_gateway(stack: Stack) -> None:
    """JWTs are base64url by their standard; random bytes in one may read `--x-` (an SQL
    comment to CRS 942440) or hold a dozen `-` (942430). A passkey's response is JSON in a
    form field. They reach idproof, which refuses these; other fields are still inspected."""
    rec = Recorder(stack)
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjbGlfeCJ9." + "-".join(["q1-", *"w2e3r4t5y6u7"])
    credential = json.dumps({"id": "Ab--cD-eF", "rawId": "Ab--cD-eF", "type": "public-key",
                             "response": {"clientDataJSON": "eyJ0--eXAi-",
                                          "authenticatorData": "SZYN--5YgO-",
                                          "signature": "MEUC--IQD-", "userHandle": "x--y-z"}})
    client = httpx.Client(base_url=stack.base, verify=_tls(stack), timeout=60,
                          event_hooks={"response": [rec]})
    with client:
        for path in ("/oauth/revoke", "/oauth/introspect"):
            r = client.post(path, data={"token": jwt}, auth=("cli_nobody", "wrong"))
            assert r.status_code == 401, (path, r.text)
        r = client.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_assertion": jwt,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
        assert r.status_code in {400, 401}, r.text
        r = client.post("/console/login/passkey", data={"credential": credential})
        assert r.status_code == 403, r.text  # no sign-in form in progress: idproof's refusal
    assert len(rec.seen) == 4
    # Only those fields: the same attack in another field of the same route is stopped.
    r = httpx.post(f"{stack.base}/oauth/revoke", verify=_tls(stack), auth=("cli_x", "wrong"),
                   data={"token": jwt, "token_type_hint": "1' UNION SELECT secret FROM clients--"})
    assert r.status_code == 403 and "x-content-type-options" not in r.headers


def test_access_log_keeps_no_secrets(stack: Stack) -> None:
    client = httpx.Client(base_url=stack.base, verify=_tls(stack))
    with client:
        client.get("/verify/ses_abcdef.S3CRETMACvalue", params={"email": "ada@example.com"},
                   headers={"Authorization": "Bearer tok.en.value", "Cookie": "c=cookieval",
                            "Referer": "https://app.example/?who=ada"})
        client.get("/console/enroll/EnR0LtOkEnvalue")
    time.sleep(0.2)
    log = stack.gateway.access_log.read_text()
    assert "/verify/ses_abcdef.[redacted]" in log
    assert "/console/enroll/[redacted]" in log
    for secret in ("EnR0LtOkEnvalue", "S3CRETMACvalue", "ada@example.com", "tok.en.value",
                   "cookieval", "who=ada"):
        assert secret not in log


def test_known_attacks_get_403(stack: Stack) -> None:
    _needs_crs_tests()
    cases = {c.title: c for c in crs_replay.load_cases(CRS_TESTS)}
    host, port = "127.0.0.1", stack.gateway.port
    # A SQL injection and an XSS from the CRS corpus, as the corpus sends them.
    for title in ("942100-1", "941100-1"):
        reply = crs_replay.send(host, port, cases[title].raw)
        assert reply.status == 403, (title, reply)
    # And through idproof's own API, with a valid token.
    created = Stack.cli(stack, "clients", "create", "--tenant", "demo", "--scopes",
                        "identity.verify")
    client = httpx.Client(base_url=stack.base, verify=_tls(stack))
    with client:
        token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            auth=(str(created["client_id"]),
                                  str(created["client_secret"]))).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        sqli = client.post("/v1/sessions", headers=auth, json={
            "reference": "1' UNION SELECT password FROM clients--", "workflow": "age_check"})
        assert sqli.status_code == 403 and "x-content-type-options" not in sqli.headers
        xss = client.get("/v1/sessions", headers=auth,
                         params={"status": "<script>alert(document.cookie)</script>"})
        assert xss.status_code == 403
        # Bodies over idproof's limit never reach it.
        big = client.post("/v1/sessions", headers={**auth, "Content-Type": "application/json"},
                          content=b'{"reference": "' + b"a" * (1024 * 1024 + 10) + b'"}')
        assert big.status_code == 413


def test_crs_subset_is_stopped(stack: Stack) -> None:
    _needs_crs_tests()
    cases = crs_replay.subset(crs_replay.load_cases(CRS_TESTS), 3)
    results = crs_replay.replay(cases, "127.0.0.1", stack.gateway.port,
                                stack.gateway.audit_log, workers=4,
                                access=stack.gateway.access_log)
    summary = crs_replay.summarise(results)
    t = summary["total"]
    print(json.dumps({k: t[k] for k in ("attacks", "stopped", "detected", "let_through",
                                        "legitimate", "passed", "blocked",
                                        "not_replayable")}))
    assert t["attacks"] >= 30
    # Every rule file of attacks is represented; a clear majority is stopped.
    assert t["stopped"] >= 0.9 * t["attacks"], summary["let_through"]
    assert t["detected"] >= 0.9 * t["attacks"]
