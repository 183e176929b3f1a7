"""Scale-out drill: API processes and workers on PostgreSQL, Redis and the database blob store.

    python bench/scale_drill.py [--sessions 500] [--concurrency 8] [--no-kill]
                                [--database-url URL] [--redis-url URL]

Needs PostgreSQL and Redis (default: $IDPROOF_TEST_DATABASE_URL, $IDPROOF_TEST_REDIS_URL as
written by tools/dev-services.sh). Each round gets a fresh database (dropped afterwards) and
its own queue name on the Redis server. Round one: one `idproof serve` and one
`idproof worker`. Round two: two of each behind a round-robin client (the load balancer's
part: a refused connection goes to the next process), and mid-run one API process and one
worker are killed with SIGKILL and restarted. Every session is created (with an
Idempotency-Key), given a synthetic passport (real OCR) and submitted; the drill then checks
that every session reached a decision, that every `session.decided` webhook arrived (at
least once, the same webhook-id on a repeat), and that `idproof audit verify` passes. It
prints sessions decided per second for both rounds and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HOST, VENV_BIN, ServerProcess, free_port
from _drill_docs import documents

DECIDED = {"approved", "declined", "in_review"}
SCOPES = "identity.verify identity.read_status webhooks.manage"


class Receiver:
    """The webhook receiver: every delivery of `session.decided`, by webhook-id."""

    def __init__(self) -> None:
        self.deliveries: dict[str, list[str]] = {}  # webhook-id -> session ids as received
        lock = threading.Lock()
        deliveries = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if body.get("type") == "session.decided":
                    with lock:
                        deliveries.setdefault(self.headers["webhook-id"], []).append(
                            str(body["data"]["session_id"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/hook"

    def decided_sessions(self) -> dict[str, set[str]]:
        """session id -> the webhook-ids its decision arrived under."""
        out: dict[str, set[str]] = {}
        for wid, sids in list(self.deliveries.items()):
            for sid in sids:
                out.setdefault(sid, set()).add(wid)
        return out


@dataclass
class Cluster:
    """The processes of one round, their shared settings, and what was killed."""

    env: dict[str, str]
    apis: list[ServerProcess] = field(default_factory=list)
    workers: list[ServerProcess] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)

    def start_api(self, index: int | None = None) -> None:
        port = free_port() if index is None else self.apis[index].port
        proc = ServerProcess("api", [str(VENV_BIN / "idproof"), "serve", "--host", HOST,
                                     "--port", str(port), "--no-jobs"], self.env, port)
        proc.wait_ready("/readyz", timeout=90)
        if index is None:
            self.apis.append(proc)
        else:
            self.apis[index] = proc

    def start_worker(self, index: int | None = None) -> None:
        proc = ServerProcess("worker", [str(VENV_BIN / "idproof"), "worker", "--threads", "2"],
                             self.env, 0)
        if index is None:
            self.workers.append(proc)
        else:
            self.workers[index] = proc

    def kill_and_restart(self) -> None:
        """SIGKILL the first API process and the first worker (their whole groups), then
        start them again on the same port."""
        for kind, procs in (("api", self.apis), ("worker", self.workers)):
            os.killpg(os.getpgid(procs[0].proc.pid), signal.SIGKILL)
            procs[0].proc.wait(timeout=10)
            procs[0].stop()  # only closes its log now
            self.killed.append(kind)
        time.sleep(1.0)
        self.start_api(0)
        self.start_worker(0)

    def stop(self) -> None:
        for proc in [*self.apis, *self.workers]:
            proc.stop()

    @property
    def ports(self) -> list[int]:
        return [p.port for p in self.apis]


class Driver:
    """The client side: round robin over the API ports; a refused or cut connection is
    retried on the next port (what the load balancer does)."""

    def __init__(self, cluster: Cluster, client_id: str, secret: str) -> None:
        self._cluster = cluster
        self._next = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30.0)
        self._creds = (client_id, secret)
        self.headers: dict[str, str] = {}
        self._renew("")

    def _renew(self, stale: str) -> None:
        """A new token, unless another thread renewed the stale one meanwhile (a long round
        outlives the token's 10 to 15 minutes)."""
        with self._lock:
            if self.headers.get("authorization", "") != stale:
                return
        token = self.call("POST", "/oauth/token", data={"grant_type": "client_credentials"},
                          auth=self._creds).json()["access_token"]
        with self._lock:
            self.headers = {"authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kw: object) -> httpx.Response:
        headers = kw.get("headers")
        if isinstance(headers, dict) and "authorization" in headers:
            r = self._call(method, path, **kw)
            if r.status_code != 401:
                return r
            self._renew(headers["authorization"])
            kw["headers"] = {**headers, **self.headers}
        return self._call(method, path, **kw)

    def _call(self, method: str, path: str, **kw: object) -> httpx.Response:
        for attempt in range(40):
            with self._lock:
                ports = self._cluster.ports
                port = ports[self._next % len(ports)]
                self._next += 1
            try:
                r = self._http.request(method, f"http://{HOST}:{port}{path}", **kw)  # type: ignore[arg-type]
            except httpx.TransportError:
                time.sleep(0.1 * min(attempt + 1, 10))
                continue
            if r.status_code >= 500:
                time.sleep(0.2)
                continue
            return r
        raise RuntimeError(f"{method} {path}: no API process answered")

    def run_session(self, n: int, image: bytes) -> str:
        r = self.call("POST", "/v1/sessions", headers={**self.headers,
                                                       "Idempotency-Key": f"drill-{n}"},
                      json={"reference": f"drill-{n}", "workflow": "document_only"})
        assert r.status_code in (200, 201), r.text
        sid = str(r.json()["id"])
        r = self.call("POST", f"/v1/sessions/{sid}/documents", headers=self.headers,
                      data={"side": "front"}, files={"file": ("d.jpg", image, "image/jpeg")})
        assert r.status_code == 202, r.text
        r = self.call("POST", f"/v1/sessions/{sid}/submit", headers=self.headers)
        assert r.status_code in (200, 409), r.text  # 409: a retried submit after a cut
        return sid

    def wait_decided(self, sids: list[str], timeout: float) -> dict[str, str]:
        status: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        pending = list(sids)
        while pending and time.monotonic() < deadline:
            for sid in list(pending):
                st = self.call("GET", f"/v1/sessions/{sid}", headers=self.headers).json()
                status[sid] = st["status"]
                if st["status"] in DECIDED:
                    pending.remove(sid)
            if pending:
                time.sleep(0.5)
        return status


def fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"idproof_drill_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url).set(drivername="postgresql+psycopg")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, admin.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    engine = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"),
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def environment(db_url: str, redis_url: str, data_dir: Path) -> dict[str, str]:
    import base64

    return {**os.environ, "IDPROOF_DATABASE_URL": db_url,
            # the key store: its own schema (never the data tables' database as such)
            "IDPROOF_KEY_DATABASE_URL": db_url + "?schema=idproof_keys",
            "IDPROOF_REDIS_URL": redis_url, "IDPROOF_BLOBS__BACKEND": "database",
            "IDPROOF_DATA_DIR": str(data_dir), "IDPROOF_PUBLIC_URL": f"http://{HOST}:8000",
            "IDPROOF_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
            "IDPROOF_JOBS__QUEUE_NAME": f"drill-{uuid.uuid4().hex[:8]}",
            # a job lost with the killed worker is queued again by the next sweep
            "IDPROOF_JOBS__STUCK_AFTER_SECONDS": "15",
            "IDPROOF_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "IDPROOF_SECURITY__RATE_LIMITS__ENABLED": "false",
            "IDPROOF_LOGGING__LEVEL": "WARNING"}


def setup_tenant(env: dict[str, str]) -> tuple[str, str]:
    """Migrations, keys, a tenant and an API client, in this process (before any server)."""
    from idproof.bootstrap import prepare
    from idproof.config import Settings

    settings = Settings(
        data_dir=Path(env["IDPROOF_DATA_DIR"]), database_url=env["IDPROOF_DATABASE_URL"],
        key_database_url=env["IDPROOF_KEY_DATABASE_URL"], redis_url=env["IDPROOF_REDIS_URL"],
        secret_key=env["IDPROOF_SECRET_KEY"], blobs={"backend": "database"},
        jobs={"queue_name": env["IDPROOF_JOBS__QUEUE_NAME"]})
    container = prepare(settings, demo_tenant=False)
    try:
        container.tenants.create("drill")
        issued = container.clients.create("drill", SCOPES)
        return issued.client.id, issued.secret
    finally:
        container.close()


@dataclass
class RoundResult:
    apis: int
    workers: int
    sessions: int
    seconds: float
    undecided: int
    webhooks_missing: int
    webhook_ids_differing: int
    audit_verified: bool
    killed: list[str]

    @property
    def per_second(self) -> float:
        return self.sessions / self.seconds if self.seconds else 0.0


def _drive(driver: Driver, cluster: Cluster, images: list[bytes], concurrency: int,
           kill: bool) -> list[str]:
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(driver.run_session, n, img) for n, img in enumerate(images)]
        if kill:
            while sum(f.done() for f in futures) < len(futures) * 0.4:
                time.sleep(0.1)
            cluster.kill_and_restart()
        while not all(f.done() for f in futures):
            _progress("submitted", sum(f.done() for f in futures), len(futures))
            time.sleep(1.0)
        return [f.result() for f in futures]


_last_progress = [0.0]


def _progress(what: str, done: int, total: int, every: float = 30.0) -> None:
    """A progress line on stderr at most every `every` seconds (a 500-session round is long)."""
    now = time.monotonic()
    if now - _last_progress[0] >= every:
        _last_progress[0] = now
        print(f"  {time.strftime('%H:%M:%S')} {what} {done}/{total}", file=sys.stderr,
              flush=True)


def _check(driver: Driver, receiver: Receiver, env: dict[str, str], sids: list[str],
           timeout: float) -> tuple[float, int, int, int, bool]:
    """Wait for every `session.decided` webhook (the receiver only: no polling load on the
    API while the workers still run), note when the last arrived, then read each session's
    status once and verify the audit log. (decided at, undecided, missing, differing, ok)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = len(set(sids) & set(receiver.decided_sessions()))
        if got == len(sids):
            break
        _progress("decided (webhooks received)", got, len(sids))
        time.sleep(0.2)
    decided_at = time.perf_counter()
    status = driver.wait_decided(sids, max(deadline - time.monotonic(), 5.0))
    undecided = sum(1 for sid in sids if status.get(sid) not in DECIDED)
    got = receiver.decided_sessions()
    missing = sum(1 for sid in sids if sid not in got)
    differing = sum(1 for sid in sids if len(got.get(sid, ())) > 1)
    time.sleep(1.0)  # the elected sequencer integrates the last events
    verify = subprocess.run([str(VENV_BIN / "idproof"), "audit", "verify"], env=env,
                            capture_output=True, text=True, check=False)
    return decided_at, undecided, missing, differing, verify.returncode == 0


def run_round(admin_url: str, redis_url: str, images: list[bytes], *, apis: int,
              workers: int, kill: bool, concurrency: int, timeout: float) -> RoundResult:
    name, db_url = fresh_database(admin_url)
    receiver = Receiver()
    try:
        with TemporaryDirectory(prefix="idproof-drill-") as tmp:
            env = environment(db_url, redis_url, Path(tmp))
            client_id, secret = setup_tenant(env)
            cluster = Cluster(env)
            try:
                for _ in range(apis):
                    cluster.start_api()
                for _ in range(workers):
                    cluster.start_worker()
                driver = Driver(cluster, client_id, secret)
                r = driver.call("POST", "/v1/webhooks", headers=driver.headers, json={
                    "url": receiver.url, "event_types": ["session.decided"]})
                assert r.status_code == 201, r.text
                started = time.perf_counter()
                sids = _drive(driver, cluster, images, concurrency, kill)
                decided_at, undecided, missing, differing, verified = _check(
                    driver, receiver, env, sids, timeout)
                seconds = decided_at - started  # to the last decision's webhook
            finally:
                cluster.stop()
        return RoundResult(apis, workers, len(sids), seconds, undecided, missing, differing,
                           verified, cluster.killed)
    finally:
        receiver.server.shutdown()
        drop_database(admin_url, name)


def _print(r: RoundResult) -> None:
    print(f"{r.apis} api + {r.workers} worker{'s' if r.workers > 1 else ''}"
          f"{' (killed: ' + ', '.join(r.killed) + ')' if r.killed else ''}: "
          f"{r.sessions} sessions decided in {r.seconds:.1f} s = {r.per_second:.2f} sessions/s; "
          f"undecided {r.undecided}, session.decided missing {r.webhooks_missing}, "
          f"redelivered under another webhook-id {r.webhook_ids_differing}, "
          f"audit log {'verifies' if r.audit_verified else 'DOES NOT VERIFY'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the "
                   "decisions and webhooks after the last submit")
    p.add_argument("--no-kill", action="store_true", help="skip the SIGKILL of round two")
    p.add_argument("--database-url", default=os.environ.get("IDPROOF_TEST_DATABASE_URL"))
    p.add_argument("--redis-url", default=os.environ.get("IDPROOF_TEST_REDIS_URL"))
    args = p.parse_args()
    if not args.database_url or not args.redis_url:
        print("scale_drill: needs PostgreSQL and Redis (--database-url, --redis-url or "
              "IDPROOF_TEST_DATABASE_URL / IDPROOF_TEST_REDIS_URL); skipped")
        return 0
    images = documents(args.sessions)
    results = []
    for apis, workers, kill in ((1, 1, False), (2, 2, not args.no_kill)):
        results.append(run_round(args.database_url, args.redis_url, images, apis=apis,
                                 workers=workers, kill=kill, concurrency=args.concurrency,
                                 timeout=args.timeout))
        _print(results[-1])
    one, two = results
    print(f"throughput 2+2 / 1+1: {two.per_second / one.per_second:.2f}"
          if one.per_second else "throughput ratio: n/a")
    ok = all(r.undecided == 0 and r.webhooks_missing == 0 and r.webhook_ids_differing == 0
             and r.audit_verified for r in results)
    print("drill: PASS" if ok else "drill: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
