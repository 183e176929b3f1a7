"""Rate limits and IP blocks shared by two real `idproof serve` processes through Redis."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.slow, pytest.mark.redis]
EXE = str(Path(sys.executable).parent / "idproof")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(base: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("server did not start")


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env.update({
        "IDPROOF_DATA_DIR": str(tmp_path / "data"), "IDPROOF_REDIS_URL": str(REDIS_URL),
        "IDPROOF_JOBS__QUEUE_NAME": "rl" + secrets.token_hex(4),
        # The test speaks through "a proxy" on 127.0.0.1 so that each run has its own IPs.
        "IDPROOF_SECURITY__TRUSTED_PROXIES": '["127.0.0.1"]',
        "IDPROOF_SECURITY__RATE_LIMITS__PER_IP__API": "5/minute",
        "IDPROOF_SECURITY__BRUTE_FORCE__MAX_FAILURES": "4",
    })
    procs: list[subprocess.Popen[str]] = []
    bases: list[str] = []
    try:
        for _ in range(2):
            port = _free_port()
            procs.append(subprocess.Popen([EXE, "serve", "--port", str(port), "--no-jobs"],
                                          env=env, stdout=subprocess.DEVNULL,
                                          stderr=(tmp_path / "serve.log").open("a"),
                                          text=True))
            bases.append(f"http://127.0.0.1:{port}")
            _wait(bases[-1])  # the first one prepares the data dir alone
        yield bases, env
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=15)


def _ip() -> str:
    return f"2001:db8::{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}"


def test_rate_limit_shared_across_processes(two_servers) -> None:  # type: ignore[no-untyped-def]
    (a, b), _ = two_servers
    ip = _ip()
    h = {"x-forwarded-for": ip}
    codes = [httpx.get(f"{base}/v1/me", headers=h).status_code for base in (a, b, a, b, a)]
    assert codes == [401] * 5
    for base in (a, b):  # both processes count the same five requests
        r = httpx.get(f"{base}/v1/me", headers=h)
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        assert r.headers["ratelimit-policy"] == '"api.ip";q=5;w=60'
        assert int(r.headers["retry-after"]) >= 1
    # another address, and health checks, are not affected
    assert httpx.get(f"{b}/v1/me", headers={"x-forwarded-for": _ip()}).status_code == 401
    assert httpx.get(f"{a}/healthz", headers=h).status_code == 200


def test_block_shared_and_lifted_by_the_cli(two_servers) -> None:  # type: ignore[no-untyped-def]
    (a, b), env = two_servers
    ip = _ip()
    h = {"x-forwarded-for": ip}
    for i in range(4):  # IDPROOF_SECURITY__BRUTE_FORCE__MAX_FAILURES=4, spread over both
        r = httpx.post(f"{(a, b)[i % 2]}/oauth/token", headers=h,
                       data={"grant_type": "client_credentials"}, auth=("cli_nope", "x"))
        assert r.status_code == 401
    for base in (a, b):
        r = httpx.get(f"{base}/v1/me", headers=h)
        assert r.status_code == 429 and r.json()["code"] == "ip_blocked"
    listed = subprocess.run([EXE, "security", "blocks"], env=env, capture_output=True,
                            text=True, check=True).stdout
    assert ip in listed
    subprocess.run([EXE, "security", "unblock", ip], env=env, check=True, capture_output=True)
    for base in (a, b):
        assert httpx.get(f"{base}/v1/me", headers=h).status_code == 401
