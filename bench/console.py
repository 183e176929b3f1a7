"""Console pages with 100,000 sessions: p50/p95 of the review queue, session lists and dashboard."""
# python bench/console.py [--sessions 100000] [--runs 40] [--postgres ADMIN_URL]
#                         [--profile /console/dashboard [--explain]] [--stale-open]
#
# Seeds one tenant with N sessions (2 % in review, the rest spread over the other statuses and
# 60 days; each with its workflow's step rows, decisions with reason codes and times to decision
# spread as real ones; open sessions past their 7 days closed as the expiry sweep does, or left
# open with --stale-open) by bulk INSERT, signs an owner in through the real
# forms (password + TOTP), then times each page in-process through the ASGI app (Starlette's
# TestClient: routing, dependencies, the SQL, the Jinja rendering; no network). SQLite always;
# PostgreSQL too with --postgres (an admin URL: a scratch database is created and dropped) or
# when IDPROOF_TEST_DATABASE_URL is set. Goal: p95 < 100 ms per page.

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
from pydantic import SecretStr
from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from idproof.bootstrap import Container, build_container
from idproof.config import JobsSettings, Settings
from idproof.console.rollup import roll_up
from idproof.core.clock import FrozenClock
from idproof.core.logging import configure_logging
from idproof.db.migrate import upgrade
from idproof.verification.models import SessionReason, SessionStep, VerificationSession
from idproof.web.app import create_app

PASSWORD = "plum-orbit-canyon-42"
GOAL_MS = 100.0
STATUSES = ["approved"] * 55 + ["declined"] * 15 + ["abandoned"] * 10 + ["expired"] * 6 + \
    ["in_progress"] * 6 + ["not_started"] * 4 + ["cancelled"] * 2 + ["in_review"] * 2
REASONS = ["duplicate_document", "document_unreadable", "presentation_attack",
           "document_expired", "face_mismatch"]
WORKFLOWS = ["document_only", "document_selfie", "kyc_standard", "age_check"]


STEPS = {"document_only": ["document"], "age_check": ["document"],
         "document_selfie": ["document", "selfie"],
         "kyc_standard": ["document", "selfie", "liveness"]}


def _session(rng: random.Random, i: int, tenant: str, now: datetime, stale_open: bool
             ) -> tuple[dict[str, object], list[dict[str, object]], list[str]]:
    """One session as the service leaves it: its steps (one row per workflow step, as
    `SessionService.create` writes them), submission and decision times spread as real ones
    are (the person's minutes in the flow, seconds of processing, hours for a review), so the
    time-to-decision histogram has as many distinct values as a live deployment's. Open
    sessions past their 7 days are closed as the expiry sweep does (`expired`, `abandoned`),
    unless `stale_open` (a deployment whose sweep never ran)."""
    created = now - timedelta(seconds=rng.randrange(60 * 86400))
    status = rng.choice(STATUSES)
    if not stale_open and created + timedelta(days=7) <= now:
        status = {"not_started": "expired", "in_progress": "abandoned"}.get(status, status)
    workflow = rng.choice(WORKFLOWS)
    submitted = decided = None
    if status in {"approved", "declined", "in_review"}:
        submitted = created + timedelta(seconds=rng.randint(60, 1800))
        decided = submitted + timedelta(seconds=rng.randint(2, 120))
        if status != "in_review" and rng.random() < 0.1:  # decided by a reviewer
            decided += timedelta(seconds=rng.randint(3600, 2 * 86400))
    reasons = rng.sample(REASONS, rng.randint(1, 2)) if status != "approved" else []
    names = STEPS[workflow]
    done = {"approved": len(names), "declined": len(names), "in_review": len(names),
            "in_progress": rng.randrange(len(names)), "abandoned": rng.randrange(len(names))
            }.get(status, 0)
    steps = []
    for k, name in enumerate(names):
        state = "pending"
        if k < done:
            state = "failed" if status == "declined" and k == done - 1 else "passed"
        steps.append({"session_id": f"ses_bench{i:09d}", "step": name, "state": state,
                      "reasons": [], "facts": {}, "attempts": int(k < done),
                      "updated_at": created})
    row = {"id": f"ses_bench{i:09d}", "tenant_id": tenant, "client_id": "cli_bench",
           "workflow_id": workflow, "workflow_version": 1, "reference": f"user-{i}",
           "status": status, "meta": {}, "subject_key_id": f"sk_{i}", "created_at": created,
           "updated_at": decided or created, "expires_at": created + timedelta(days=7),
           "submitted_at": submitted, "decided_at": decided,
           "decision": {"outcome": status, "reasons": reasons} if decided else None}
    return row, steps, reasons if decided else []


def _seed(c: Container, n: int, now: datetime, stale_open: bool = False) -> dict[str, str]:
    """Bulk-insert n sessions of tenant `bench` with their steps and reason rows; returns
    sample values to search for."""
    tenant = c.tenants.get("bench")
    rng = random.Random(7)
    sample: dict[str, str] = {}
    batch: list[dict[str, object]] = []
    steps: list[dict[str, object]] = []
    reasons_of: list[dict[str, object]] = []  # what set_decision writes with each decision
    with c.db.session() as s:
        for i in range(n):
            row, its_steps, reasons = _session(rng, i, tenant.id, now, stale_open)
            batch.append(row)
            steps += its_steps
            reasons_of += [{"session_id": row["id"], "reason": r, "tenant_id": tenant.id,
                            "created_at": row["created_at"]} for r in reasons]
            if i == n // 2:
                sample["reference"] = str(row["reference"])
            if len(batch) == 5000 or i == n - 1:
                s.execute(insert(VerificationSession), batch)
                s.execute(insert(SessionStep), steps)
                if reasons_of:
                    s.execute(insert(SessionReason), reasons_of)
                batch, steps, reasons_of = [], [], []
    return sample


def _sign_in(app: object, c: Container, clock: FrozenClock) -> TestClient:
    issued = c.operators.create("owner@bench.example", "owner", None)
    tc = TestClient(app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
    path = "/" + issued.enrollment_url.split("/", 3)[3]
    token = re.search(r'name="csrf_token" value="([^"]+)"', tc.get(path).text)
    assert token
    r = tc.post(path, data={"password": PASSWORD, "password_confirm": PASSWORD,
                            "csrf_token": token.group(1)})
    secret = re.search(r"secret=([A-Z2-7]+)", r.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert secret and token, r.text
    r = tc.post("/console/enroll/mfa", data={
        "code": pyotp.TOTP(secret.group(1)).at(clock.timestamp()),
        "csrf_token": token.group(1)})
    assert r.status_code == 200, r.text
    return tc


def _time(tc: TestClient, path: str, runs: int) -> tuple[float, float, int]:
    for _ in range(3):
        assert tc.get(path).status_code == 200, path
    times = []
    rows = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        r = tc.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        rows = r.text.count("<tr")
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    return statistics.median(times), p95, rows


def _queries(tc: TestClient, c: Container, path: str, runs: int, explain: bool) -> None:
    """Each SQL statement one request of `path` sends, re-run alone (execute and fetch) `runs`
    times on an idle connection: where a page's time goes, apart from the other requests."""
    sent: list[tuple[str, object]] = []

    def grab(conn: object, cursor: object, statement: str, parameters: object,
             context: object, executemany: bool) -> None:
        sent.append((statement, parameters))

    event.listen(c.db.engine, "before_cursor_execute", grab)
    try:
        assert tc.get(path).status_code == 200, path
    finally:
        event.remove(c.db.engine, "before_cursor_execute", grab)
    prefix = "EXPLAIN QUERY PLAN " if c.db.dialect == "sqlite" else "EXPLAIN ANALYZE "
    print(f"  statements of one GET {path}, each alone ({runs} runs):")
    with c.db.engine.connect() as conn:
        for statement, params in sent:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            times = []
            for _ in range(runs + 2):
                t0 = time.perf_counter()
                rows = conn.exec_driver_sql(statement, params).fetchall()  # type: ignore[arg-type]
                times.append((time.perf_counter() - t0) * 1000)
            times = sorted(times[2:])
            p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
            print(f"    {statistics.median(times):7.2f} {p95:7.2f} ms {len(rows):6d} rows  "
                  + " ".join(statement.split())[:80])
            if explain:
                for line in conn.exec_driver_sql(prefix + statement, params):  # type: ignore[arg-type]
                    print("        " + " | ".join(str(x) for x in line))


def run(url: str, label: str, args: argparse.Namespace) -> list[tuple[str, float, float]]:
    n, runs = args.sessions, args.runs
    upgrade(url)
    now = datetime.now(UTC).replace(microsecond=0)
    clock = FrozenClock(now.timestamp())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=SecretStr(url),
                            secret_key=SecretStr("a" * 44), public_url="http://127.0.0.1:8000",
                            jobs=JobsSettings(queue_name=f"idpbench{uuid.uuid4().hex[:12]}"))
        c = build_container(settings, clock)
        c.tenants.ensure("bench")
        t0 = time.perf_counter()
        sample = _seed(c, n, now, args.stale_open)
        seeded = time.perf_counter() - t0
        t0 = time.perf_counter()
        rolled = roll_up(c.db)  # what the periodic sweep does in a live deployment
        rollup_s = time.perf_counter() - t0
        # What a live database keeps up to date by itself (autovacuum on PostgreSQL): the
        # statistics, and the visibility map that lets index-only scans skip the table
        # (the bulk INSERT and the sweep's UPDATE leave it unset).
        with c.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if c.db.dialect == "postgresql" else "ANALYZE"))
        app = create_app(c)
        tc = _sign_in(app, c, clock)
        day = (now - timedelta(days=10)).date().isoformat()
        pages = [("review queue", "/console/review"),
                 ("review queue, reason filter", "/console/review?reason=duplicate_document"),
                 ("sessions list", "/console/sessions"),
                 ("sessions, status=declined", "/console/sessions?status=declined"),
                 ("sessions, by reference", f"/console/sessions?q={sample['reference']}"),
                 ("sessions, one day", f"/console/sessions?from={day}&to={day}"),
                 ("sessions, reason filter", "/console/sessions?reason=face_mismatch"),
                 ("dashboard (30 days)", "/console/dashboard")]
        print(f"\n{label}: {n:,} sessions seeded in {seeded:.1f} s"
              f"{' (stale open sessions)' if args.stale_open else ''}; {rolled:,} final ones "
              f"rolled up by the sweep in {rollup_s:.1f} s; {runs} requests a page")
        print(f"  {'page':<30} {'p50 ms':>8} {'p95 ms':>8} {'rows':>5}  goal p95 < {GOAL_MS:.0f}")
        out = []
        for name, path in pages:
            p50, p95, rows = _time(tc, path, runs)
            verdict = "met" if p95 < GOAL_MS else "NOT met"
            print(f"  {name:<30} {p50:8.1f} {p95:8.1f} {rows:5d}  {verdict}")
            out.append((name, p50, p95))
        if args.profile:
            _queries(tc, c, args.profile, runs, args.explain)
        tc.close()
        c.close()
    return out


def _postgres(admin: str, args: argparse.Namespace) -> None:
    admin = make_url(admin).set(drivername="postgresql+psycopg").render_as_string(
        hide_password=False)
    name = f"idproof_bench_console_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        run(url, "PostgreSQL", args)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--postgres", default=os.environ.get("IDPROOF_TEST_DATABASE_URL"))
    ap.add_argument("--profile", metavar="PATH", default="",
                    help="also time each SQL statement of one GET PATH alone "
                         "(e.g. /console/dashboard)")
    ap.add_argument("--explain", action="store_true",
                    help="with --profile: print each statement's plan (EXPLAIN ANALYZE on "
                         "PostgreSQL, EXPLAIN QUERY PLAN on SQLite)")
    ap.add_argument("--stale-open", action="store_true",
                    help="keep open sessions past their expiry open (as if the expiry sweep "
                         "never ran): about 6,000 more sessions counted live a 30-day view")
    args = ap.parse_args()
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.db", "SQLite", args)
    if args.postgres:
        _postgres(args.postgres, args)
    else:
        print("\nPostgreSQL skipped: pass --postgres ADMIN_URL or set IDPROOF_TEST_DATABASE_URL")


if __name__ == "__main__":
    main()
