"""Webhook delivery to a local receiver: deliveries per second, and decision-to-delivery delay.

    python bench/webhooks.py [--deliveries 2000] [--threads 4] [--decisions 200]
                             [--redis redis://127.0.0.1:6379/0]

A real threaded HTTP receiver on 127.0.0.1 answers 204 to each signed request. Throughput is
measured two ways over the same outbox: worker threads calling `WebhookService.deliver` (what
each Huey task runs: claim, SSRF check, sign, POST, record), and the real Huey consumer
(in-process, thread workers) draining the queue. The delay runs sessions through the real
decision code (`SessionService.decide_if_complete`, which writes the `session.decided` event
in the decision's transaction) with the consumer running, and times from just before that
transaction to the receiver's arrival; p50 and p99 are printed. SQLite storage by default;
--redis puts the Huey queue in Redis.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

from idproof.bootstrap import Container, build_container
from idproof.config import JobsSettings, Settings
from idproof.core.logging import configure_logging
from idproof.db.migrate import upgrade
from idproof.jobs import Jobs
from idproof.verification.decision import StepState
from idproof.verification.lifecycle import Status
from idproof.verification.models import SessionStep
from idproof.verification.schemas import CreateSession
from idproof.verification.service import Actor
from idproof.webhooks.models import WebhookDelivery
from idproof.webhooks.schemas import CreateEndpoint
from idproof.webhooks.service import Caller

HOST = "127.0.0.1"


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                now = time.perf_counter()
                sid = json.loads(body)["data"].get("session_id", "")
                with rec.lock:
                    rec.count += 1
                    rec.arrivals.setdefault(sid, now)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Gate:
    """The services' task queue here: shut, deliveries are not queued (the bench drives them
    or queues them itself); open, they go to the container's real queue."""

    def __init__(self) -> None:
        self.open = False
        self.forward: Jobs | None = None

    def enqueue(self, task: str, *args: str, delay: float = 0.0) -> None:
        if self.open and self.forward is not None:
            self.forward.enqueue(task, *args, delay=delay)


GATE = _Gate()


def make_container(data_dir: Path, redis: str | None) -> Container:
    url = f"sqlite:///{data_dir / 'idproof.db'}"
    upgrade(url)
    settings = Settings(data_dir=data_dir, database_url=SecretStr(url),
                        secret_key=SecretStr("a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="),
                        webhook_allow_private_networks=True,
                        redis_url=SecretStr(redis) if redis else None,
                        # a queue of its own: never touch another install's jobs in Redis
                        jobs=JobsSettings(queue_name=f"idproofbench{uuid.uuid4().hex[:12]}"))
    c = build_container(settings, tasks=GATE)
    GATE.forward = c.jobs
    c.keys.ensure_key()
    return c


def fill_outbox(c: Container, tenant_id: str, n: int) -> None:
    for start in range(0, n, 100):
        with c.db.session() as s:
            for i in range(start, min(n, start + 100)):
                c.webhooks.emit(s, tenant_id, "session.created",
                                {"session_id": f"ses_bench{i}", "status": "not_started"})


def delivered(c: Container) -> int:
    with c.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(WebhookDelivery)
                            .where(WebhookDelivery.status == "delivered")) or 0)


def bench_direct(c: Container, tenant_id: str, n: int, threads: int) -> float:
    GATE.open = False  # drive deliver() ourselves
    fill_outbox(c, tenant_id, n)
    ids = c.webhooks.pending_due()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(c.webhooks.deliver, ids))
    elapsed = time.perf_counter() - started
    assert results.count("delivered") == n, results[:5]
    return n / elapsed


def bench_consumer(c: Container, tenant_id: str, n: int, threads: int) -> float:
    before = delivered(c)
    GATE.open = False
    fill_outbox(c, tenant_id, n)
    for delivery_id in c.webhooks.pending_due():  # queued first, so the clock starts with work
        c.jobs.enqueue("deliver_webhook", delivery_id)
    GATE.open = True
    started = time.perf_counter()
    c.jobs.start_consumer(workers=threads)
    try:
        deadline = time.monotonic() + 600
        while delivered(c) - before < n and time.monotonic() < deadline:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        c.jobs.stop_consumer()
    assert delivered(c) - before >= n
    return n / elapsed


def bench_delay(c: Container, rec: Receiver, tenant_id: str, n: int,
                threads: int) -> list[float]:
    GATE.open = True
    actor = Actor(tenant_id=tenant_id, client_id="bench")
    c.jobs.start_consumer(workers=threads)
    delays: list[float] = []
    try:
        for i in range(n):
            view, _url, _ = c.sessions.create(actor, CreateSession(workflow="document_only",
                                                                   reference=f"bench-{i}"))
            t0 = time.perf_counter()
            with c.db.session() as s:
                row = c.sessions.load_for_update(s, tenant_id, view.id)
                step = s.get(SessionStep, (row.id, "document"))
                assert step is not None
                step.state = StepState.PASSED.value
                step.facts = {"document_valid": True, "age_over_18": True}
                c.sessions.set_status(s, row, Status.IN_PROGRESS)
                c.sessions.set_status(s, row, Status.PROCESSING)
                row.submitted_at = c.clock.now()
                c.sessions.decide_if_complete(s, row, c.sessions.workflow_of(row))
            deadline = time.monotonic() + 30
            while view.id not in rec.arrivals and time.monotonic() < deadline:
                time.sleep(0.001)
            delays.append(rec.arrivals[view.id] - t0)
    finally:
        c.jobs.stop_consumer()
    return delays


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--redis", default=None, help="Huey queue in this Redis")
    # Only the figures on stdout: one log line per delivery would bury them.
    configure_logging("WARNING")
    args = parser.parse_args()
    rec = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        c = make_container(Path(tmp), args.redis)
        try:
            tenant = c.tenants.ensure("bench")
            tenant_id = tenant.id
            c.webhooks.create_endpoint(Caller(tenant_id), CreateEndpoint(
                url=rec.url, event_types=["session.created", "session.decided"]))
            queue = "Redis" if args.redis else "SQLite"
            print(f"webhook delivery to a local receiver (http://{HOST}), SQLite database, "
                  f"{queue} queue, {args.threads} worker threads")
            rate = bench_direct(c, tenant_id, args.deliveries, args.threads)
            print(f"  deliver() in {args.threads} threads : {rate:8.0f} deliveries/s "
                  f"({args.deliveries} deliveries)")
            rate = bench_consumer(c, tenant_id, args.deliveries, args.threads)
            print(f"  Huey consumer, {args.threads} workers  : {rate:8.0f} deliveries/s "
                  f"({args.deliveries} deliveries)")
            delays = bench_delay(c, rec, tenant_id, args.decisions, args.threads)
            print(f"  decision -> delivery delay ({args.decisions} decisions, one at a time): "
                  f"p50 {pct(delays, 50) * 1000:.1f} ms, p99 {pct(delays, 99) * 1000:.1f} ms, "
                  f"mean {statistics.fmean(delays) * 1000:.1f} ms")
        finally:
            c.jobs.huey.storage.flush_all()
            c.close()
            rec.stop()


if __name__ == "__main__":
    main()
