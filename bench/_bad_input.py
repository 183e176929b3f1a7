"""Bad input under load, for bench/oauth_token.py: refusals, revocation on every worker, audit."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import time
from collections.abc import Mapping
from typing import Any

from _common import HOST, REPO, VENV_BIN, http_call

FORM = "application/x-www-form-urlencoded"
GRANT = b"grant_type=client_credentials"
PROBES = 24  # fresh connections after a revocation: the kernel spreads them over the workers
# The bench lowers the per-client brute-force limit (idproof_env) so that the victim client is
# blocked after this many wrong secrets; the per-IP limit (20 a minute) is not reached, which
# would block the load generator's address too.
CLIENT_MAX_FAILURES = 5


def _grant(port: int, auth: str) -> str:
    status, raw = http_call(port, "POST", "/oauth/token", GRANT,
                            {"Authorization": auth, "Content-Type": FORM})
    if status != 200:
        raise RuntimeError(f"grant answered {status}")
    return str(json.loads(raw)["access_token"])


def wrong_secret_refused(port: int, auth: str) -> bool:
    """A wrong secret for a real client: 401 invalid_client, however busy the server is."""
    client_id = base64.b64decode(auth.split()[1]).decode().split(":", 1)[0]
    bad = "Basic " + base64.b64encode(f"{client_id}:idpsk_wrong".encode()).decode()
    status, raw = http_call(port, "POST", "/oauth/token", GRANT,
                            {"Authorization": bad, "Content-Type": FORM})
    return status == 401 and json.loads(raw).get("error") == "invalid_client"


def client_blocked_after_failures(port: int, victim: str) -> dict[str, Any]:
    """A second client's wrong secrets are counted under the grant load: after
    CLIENT_MAX_FAILURES of them its right secret is refused too (429 client_blocked). One
    keep-alive connection, so one worker counts them all (in-memory counters are per process;
    with Redis every worker shares them)."""
    client_id = base64.b64decode(victim.split()[1]).decode().split(":", 1)[0]
    wrong = "Basic " + base64.b64encode(f"{client_id}:idpsk_wrong".encode()).decode()
    conn = http.client.HTTPConnection(HOST, port, timeout=10)

    def grant(auth: str) -> tuple[int, str]:
        conn.request("POST", "/oauth/token", body=GRANT,
                     headers={"Authorization": auth, "Content-Type": FORM})
        resp = conn.getresponse()
        raw = resp.read()
        body = json.loads(raw) if raw.startswith(b"{") else {}
        return resp.status, str(body.get("code") or body.get("error") or "")

    try:
        before = grant(victim)
        refusals = [grant(wrong) for _ in range(CLIENT_MAX_FAILURES)]
        after = grant(victim)
    finally:
        conn.close()
    return {"worked_before": before[0] == 200,
            "wrong_refused": all(r == (401, "invalid_client") for r in refusals),
            "blocked_after": after == (429, "client_blocked")}


def revocation_seen_everywhere(port: int, auth: str, within: float = 1.0) -> dict[str, Any]:
    """Revoke a token that works, wait `within` seconds, then every one of PROBES requests on
    fresh connections (each worker gets some) must refuse it."""
    token = _grant(port, auth)
    me = {"Authorization": f"Bearer {token}"}
    before = http_call(port, "GET", "/v1/me", headers=me)[0]
    status, _ = http_call(port, "POST", "/oauth/revoke", f"token={token}".encode(),
                          {"Authorization": auth, "Content-Type": FORM})
    revoked_at = time.monotonic()
    time.sleep(max(0.0, within - (time.monotonic() - revoked_at)))
    after = [http_call(port, "GET", "/v1/me", headers=me)[0] for _ in range(PROBES)]
    return {"ok_before": before == 200, "revoke_status": status,
            "refused_after": sum(1 for s in after if s == 401), "probes": PROBES}


def checks_under_load(port: int, auth: str, victim: str, out: dict[str, Any]) -> None:
    """Run in a thread while the grant load runs; fills `out`."""
    try:
        out["wrong_secret_refused"] = all(wrong_secret_refused(port, auth) for _ in range(3))
        out["brute_force"] = client_blocked_after_failures(port, victim)
        out["revocation"] = revocation_seen_everywhere(port, auth)
    except Exception as exc:  # reported, not raised: the load measurement goes on
        out["error"] = f"{type(exc).__name__}: {exc}"


def audit_verifies(env: Mapping[str, str]) -> bool:
    """`idproof audit verify` on the server's data after it stopped: the log is intact."""
    out = subprocess.run([str(VENV_BIN / "idproof"), "audit", "verify"], env=dict(env),
                         cwd=str(REPO), capture_output=True, text=True, timeout=600,
                         check=False)
    return out.returncode == 0


def summary(workers: int, checks: Mapping[str, Any]) -> str:
    rev = checks.get("revocation", {})
    bf = checks.get("brute_force", {})
    blocked = bf.get("worked_before") and bf.get("wrong_refused") and bf.get("blocked_after")
    return (f"bad input under load, workers={workers}: wrong secret refused "
            f"{'yes' if checks.get('wrong_secret_refused') else 'NO'}; another client blocked "
            f"(429) after {CLIENT_MAX_FAILURES} wrong secrets {'yes' if blocked else 'NO'}; "
            f"revoked token refused by "
            f"{rev.get('refused_after', 0)}/{rev.get('probes', PROBES)} fresh connections 1 s "
            f"after revocation (it worked before: {'yes' if rev.get('ok_before') else 'NO'}); "
            f"audit verify {'OK' if checks.get('audit_verifies') else 'FAILED'}"
            + (f"; error {checks['error']}" if "error" in checks else ""))
