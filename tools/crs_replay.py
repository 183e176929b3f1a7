"""Replay the OWASP CRS regression tests through the idproof gateway and count the outcomes.

    .venv/bin/python tools/crs_replay.py ../shared/testdata/crs-3.3.4 [--subset N] [--json]

The tests are the CRS project's own (go-ftw/ftw YAML, one file per rule). By default the
runner starts the gateway itself (tools/gateway.py, audit log of every transaction) in front of
a tiny backend that answers 200 to everything, sends each test's request as raw bytes over TLS,
and reads which rules fired for it from the ModSecurity audit log (the transaction id is the
X-Request-Id the gateway returns). With --gateway URL --audit-log FILE it replays against a
gateway already running instead (its audit engine must be On to see rules that fired without
refusing).

Each test is one of:

* attack: it expects its rule to fire (`log_contains`), or a refusal (`status` without 200,
  `expect_error`). Outcomes: **stopped** (the gateway refused it: 403, or ModSecurity's 400 for
  a body it cannot parse), **detected** (the expected rule fired; the CRS's own pass criterion),
  **let through** (it reached the backend). Tests of rules above paranoia level 2 are counted
  apart ("above PL2"): those rules are not active in this configuration.
* legitimate: it expects its rule not to fire (`no_log_contains`), or a 200. Outcomes:
  **passed** (reached the backend) or **blocked** (refused), and whether the named rule fired.
* not replayable: a test that expects a rule id, whose request nginx refused before ModSecurity
  saw it (a request line or header nginx does not accept, HTTP/0.9, ...), so whether the rule
  would fire cannot be told; none of them reaches idproof either. Counted apart, never dropped.
  (A test that only expects a status or a connection error is judged on what nginx answered.)

Tests for headers nginx drops before ModSecurity (names with "_" or ".") count as let through:
the request reaches the backend, without the header.

Standard library only, plus PyYAML to read the tests.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway as gw

_RULE_ID = re.compile(r'id[ :]*"?(\d{6})')
_PL_GATE = re.compile(r'TX:EXECUTING_PARANOIA_LEVEL\s+"@lt\s+(\d)"')
_ID = re.compile(r"\bid:'?(\d{6})")


# -- the tests ----------------------------------------------------------------------------------
@dataclass
class Case:
    file: str  # the rule file, e.g. REQUEST-942-APPLICATION-ATTACK-SQLI
    title: str
    rule: str  # the rule the test is about
    kind: str  # "attack" or "legitimate"
    expect_id: str | None  # log_contains / no_log_contains id
    expect_status: list[int] | None
    expect_error: bool
    raw: bytes


def _expected_id(value: Any) -> str | None:
    m = _RULE_ID.search(str(value)) if value is not None else None
    return m.group(1) if m else None


def _encode(text: str) -> bytes:
    try:
        return text.encode("latin-1")  # \xNN escapes in the YAML mean bytes
    except UnicodeEncodeError:
        return text.encode("utf-8")


def build_request(inp: dict[str, Any]) -> bytes:
    """The bytes ftw would send for one stage input."""
    if inp.get("encoded_request"):
        return base64.b64decode(inp["encoded_request"])
    if inp.get("raw_request"):
        raw = inp["raw_request"]
        return _encode("".join(raw) if isinstance(raw, list) else str(raw))
    method = str(inp.get("method", "GET"))
    uri = str(inp.get("uri", "/"))
    version = inp.get("version", "HTTP/1.1")
    headers: dict[str, str] = {str(k): str(v) for k, v in (inp.get("headers") or {}).items()}
    data = inp.get("data")
    if isinstance(data, list):
        data = "\r\n".join(str(x) for x in data)
    body = _encode(str(data)) if data is not None else b""
    lower = {k.lower() for k in headers}
    if not inp.get("stop_magic"):
        # ftw's "magic": a body gets a Content-Length and, if none, the form Content-Type.
        if body and "content-length" not in lower:
            headers["Content-Length"] = str(len(body))
        if body and "content-type" not in lower:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if "connection" not in lower:
            headers["Connection"] = "close"
    line = f"{method} {uri} {version}".rstrip() if version is not None else f"{method} {uri}"
    head = _encode(line) + b"\r\n" + b"".join(
        _encode(k) + b": " + _encode(v) + b"\r\n" for k, v in headers.items())
    return head + b"\r\n" + body


def load_cases(folder: Path) -> list[Case]:
    files = sorted(folder.rglob("*.yaml"))
    if not files:
        raise SystemExit(f"no CRS test files (*.yaml) under {folder}")
    cases: list[Case] = []
    for path in files:
        doc = yaml.safe_load(path.read_bytes())
        for test in doc.get("tests") or []:
            for n, stage in enumerate(test.get("stages") or []):
                st = stage.get("stage", stage)
                inp, out = st.get("input") or {}, st.get("output") or {}
                title = str(test.get("test_title")) + (f"/{n}" if n else "")
                status = out.get("status")
                if status is not None and not isinstance(status, list):
                    status = [status]
                statuses = [int(s) for s in status] if status is not None else None
                if "log_contains" in out:
                    kind, eid = "attack", _expected_id(out["log_contains"])
                elif "no_log_contains" in out:
                    kind, eid = ("legitimate" if statuses is None or 200 in statuses
                                 else "attack"), _expected_id(out["no_log_contains"])
                    if kind == "attack":
                        eid = None  # a refusal is expected, the rule itself is not the point
                elif out.get("expect_error"):
                    kind, eid = "attack", None
                elif statuses is not None:
                    kind, eid = ("legitimate" if 200 in statuses else "attack"), None
                else:
                    continue
                rule = eid or path.stem[:6]
                cases.append(Case(file=path.parent.name, title=title, rule=rule, kind=kind,
                                  expect_id=eid, expect_status=statuses,
                                  expect_error=bool(out.get("expect_error")),
                                  raw=build_request(inp)))
    return cases


def subset(cases: list[Case], per_file: int) -> list[Case]:
    """A fixed sample: the first `per_file` attacks and legitimate tests of each rule file."""
    seen: Counter[tuple[str, str]] = Counter()
    out = []
    for c in cases:
        if seen[(c.file, c.kind)] < per_file:
            seen[(c.file, c.kind)] += 1
            out.append(c)
    return out


def paranoia_levels(crs: Path = gw.CRS_DIR) -> dict[str, int]:
    """The paranoia level of each CRS rule id, from where it sits in the rule files."""
    levels: dict[str, int] = {}
    for path in sorted((crs / "rules").glob("*.conf")):
        level = 1
        for line in path.read_text(errors="replace").splitlines():
            gate = _PL_GATE.search(line)
            if gate:
                level = int(gate.group(1))
                continue
            m = _ID.search(line)
            if m and m.group(1) not in levels:
                levels[m.group(1)] = level
    return levels


# -- sending ------------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int | None = None
    request_id: str | None = None
    error: str | None = None


def send(host: str, port: int, raw: bytes, timeout: float = 10.0) -> Reply:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reply = Reply()
    buf = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as plain, \
                ctx.wrap_socket(plain, server_hostname="localhost") as s:
            s.sendall(raw)
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except (OSError, ssl.SSLError) as exc:
        if not (buf.startswith(b"HTTP/") and b"\r\n" in buf):
            reply.error = type(exc).__name__
            return reply
    head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    m = re.match(r"HTTP/\d(?:\.\d)?\s+(\d{3})", lines[0]) if lines else None
    if m is None:
        reply.error = "no HTTP answer"
        return reply
    reply.status = int(m.group(1))
    for h in lines[1:]:
        name, _, value = h.partition(":")
        if name.strip().lower() == "x-request-id":
            reply.request_id = value.strip()
    return reply


# -- the audit log ------------------------------------------------------------------------------
@dataclass
class Seen:
    rules: set[str] = field(default_factory=set)
    status: int | None = None


def read_audit(path: Path, offset: int = 0) -> dict[str, Seen]:
    seen: dict[str, Seen] = {}
    if not path.exists():
        return seen
    with path.open("rb") as f:
        f.seek(offset)
        for line in f:
            try:
                # ModSecurity writes request bytes as they came, not always valid UTF-8.
                tx = json.loads(line.decode("latin-1"), strict=False)["transaction"]
            except (ValueError, KeyError, TypeError):
                continue
            entry = seen.setdefault(tx["unique_id"], Seen())
            entry.status = (tx.get("response") or {}).get("http_code", entry.status)
            for msg in tx.get("messages") or []:
                rid = (msg.get("details") or {}).get("ruleId")
                if rid:
                    entry.rules.add(str(rid))
    return seen


# -- judging ------------------------------------------------------------------------------------
@dataclass
class Result:
    file: str
    title: str
    rule: str
    kind: str
    level: int
    outcome: str  # stopped / let_through / passed / blocked / not_replayable
    detected: bool  # the expected rule fired (attacks); the named rule fired (legitimate)
    status: int | None
    error: str | None
    rules: list[str] = field(default_factory=list)  # what fired for it


_SCORING = {"949110", "959100", "980130", "980140"}
# The rules that refuse: the anomaly verdicts and the body-parsing rules of modsecurity.conf.
REFUSING = {"949110", "959100", "200002", "200003", "200004", "200005", "200007"}


def read_access(path: Path, offset: int = 0) -> dict[str, str]:
    """request id -> the backend's status, from the gateway's access log ("" if not proxied)."""
    upstream: dict[str, str] = {}
    if not path.exists():
        return upstream
    with path.open("rb") as f:
        f.seek(offset)
        for line in f:
            try:
                entry = json.loads(line.decode("latin-1"), strict=False)
            except ValueError:
                continue
            upstream[str(entry.get("request_id"))] = str(entry.get("upstream_status") or "")
    return upstream


def judge(case: Case, reply: Reply, seen: Seen | None, level: int,
          upstream: str | None = None) -> Result:
    """`upstream`: the backend's status for this request from the access log ("" when nginx
    answered itself), or None when unknown (then a 2xx/3xx counts as having reached it)."""
    rules = seen.rules if seen else set()
    status = reply.status
    fired = case.expect_id is not None and case.expect_id in rules
    if upstream is not None:
        reached = upstream not in ("", "-")
    else:
        reached = (status is not None and 200 <= status < 400
                   and not (seen is not None and rules & REFUSING))
    if seen is None and not reached and case.expect_id is not None:
        # nginx answered (or hung up) before ModSecurity ran: whether the rule would fire
        # cannot be told. (A test that only expects a status or an error is judged as is.)
        outcome = "not_replayable"
    elif case.kind == "attack":
        outcome = "let_through" if reached else "stopped"
    else:
        outcome = "passed" if reached else "blocked"
    if case.kind == "attack" and case.expect_id is None:
        fired = outcome == "stopped" or (
            case.expect_status is not None and status in case.expect_status) or (
            case.expect_error and reply.error is not None)
    return Result(case.file, case.title, case.rule, case.kind, level, outcome, fired, status,
                  reply.error, sorted(rules - _SCORING))


def replay(cases: list[Case], host: str, port: int, audit: Path, workers: int = 6,
           access: Path | None = None) -> list[Result]:
    def size(p: Path | None) -> int:
        return p.stat().st_size if p is not None and p.exists() else 0

    offsets = size(audit), size(access)
    with ThreadPoolExecutor(workers) as pool:
        replies = list(pool.map(lambda c: send(host, port, c.raw), cases))
    time.sleep(0.5)  # the audit entry is written as the transaction ends
    seen = read_audit(audit, offsets[0])
    upstream = read_access(access, offsets[1]) if access is not None else None
    levels = paranoia_levels()
    return [judge(c, r, seen.get(r.request_id or ""), levels.get(c.rule, 1),
                  None if upstream is None else upstream.get(r.request_id or "", ""))
            for c, r in zip(cases, replies, strict=True)]


# -- the report ---------------------------------------------------------------------------------
COLUMNS = ("attacks", "stopped", "detected", "let_through", "above_pl2", "above_pl2_stopped",
           "legitimate", "passed", "blocked", "legit_rule_fired", "not_replayable")


def summarise(results: list[Result]) -> dict[str, Any]:
    per_file: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        row = per_file[r.file]
        if r.outcome == "not_replayable":
            row["not_replayable"] += 1
        elif r.kind == "attack" and r.level > 2:
            row["above_pl2"] += 1
            row["above_pl2_stopped"] += r.outcome == "stopped"
        elif r.kind == "attack":
            row["attacks"] += 1
            row[r.outcome] += 1
            row["detected"] += r.detected
        else:
            row["legitimate"] += 1
            row[r.outcome] += 1
            row["legit_rule_fired"] += r.detected
    total: Counter[str] = Counter()
    for row in per_file.values():
        total.update(row)
    attacks = total["attacks"]
    return {
        "files": {f: {c: per_file[f][c] for c in COLUMNS} for f in sorted(per_file)},
        "total": {c: total[c] for c in COLUMNS},
        "tests": len(results),
        "stopped_pct": round(100 * total["stopped"] / attacks, 2) if attacks else None,
        "detected_pct": round(100 * total["detected"] / attacks, 2) if attacks else None,
        "let_through": [f"{r.title} ({r.rule})" for r in results
                        if r.kind == "attack" and r.level <= 2 and r.outcome == "let_through"],
        "legitimate_blocked": [f"{r.title} ({r.rule}; fired: {' '.join(r.rules) or r.status})"
                               for r in results
                               if r.kind == "legitimate" and r.outcome == "blocked"],
        # Which rules refused the legitimate tests (a test counts once for each rule that fired).
        "legitimate_blocked_by": dict(Counter(
            rule for r in results if r.kind == "legitimate" and r.outcome == "blocked"
            for rule in r.rules).most_common()),
        "not_replayable": [f"{r.title} ({r.status or r.error})" for r in results
                           if r.outcome == "not_replayable"],
    }


def print_table(summary: dict[str, Any], out: Any = sys.stdout) -> None:
    heads = ("rule file", "attacks", "stopped", "detected", "through", ">PL2", ">PL2 stop",
             "legit", "passed", "blocked", "n/r")
    keys = ("attacks", "stopped", "detected", "let_through", "above_pl2", "above_pl2_stopped",
            "legitimate", "passed", "blocked", "not_replayable")
    width = max(len(f) for f in [*summary["files"], "total"])
    print(f"{heads[0]:<{width}}  " + " ".join(f"{h:>9}" for h in heads[1:]), file=out)
    for name, row in [*summary["files"].items(), ("total", summary["total"])]:
        if name == "total":
            print("-" * (width + 2 + 10 * len(keys)), file=out)
        print(f"{name:<{width}}  " + " ".join(f"{row[k]:>9}" for k in keys), file=out)
    t = summary["total"]
    print(f"\n{summary['tests']} tests. Attacks for rules active at PL2: {t['attacks']}, "
          f"stopped {t['stopped']} ({summary['stopped_pct']} %), expected rule fired "
          f"{t['detected']} ({summary['detected_pct']} %), let through {t['let_through']}. "
          f"Attacks for rules above PL2 (not active): {t['above_pl2']}, stopped anyway "
          f"{t['above_pl2_stopped']}. Legitimate: {t['legitimate']}, passed {t['passed']}, "
          f"blocked {t['blocked']} (their named rule fired in {t['legit_rule_fired']}). "
          f"Not replayable (refused by nginx before ModSecurity): {t['not_replayable']}.",
          file=out)
    by = summary["legitimate_blocked_by"]
    if by:
        print("legitimate tests blocked, by rule that fired: "
              + ", ".join(f"{k} x{v}" for k, v in by.items()), file=out)
    for label, key in (("let through", "let_through"), ("legitimate blocked",
                                                        "legitimate_blocked"),
                       ("not replayable", "not_replayable")):
        if summary[key]:
            print(f"{label}: " + ", ".join(summary[key]), file=out)


# -- a backend and a gateway of our own -----------------------------------------------------------
class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = self.headers.get("content-length")
        if length and length.isdigit():
            self.rfile.read(int(length))
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class OwnGateway:
    """A tiny backend and the gateway in front of it, for as long as the `with` lasts."""

    def __enter__(self) -> OwnGateway:
        problem = gw.missing()
        if problem:
            raise SystemExit(problem)
        self.backend = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        threading.Thread(target=self.backend.serve_forever, daemon=True).start()
        self.runtime = Path(tempfile.mkdtemp(prefix="idproof-crs-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.gateway = gw.render(self.runtime, port=port,
                                 backend=f"127.0.0.1:{self.backend.server_address[1]}",
                                 audit_all=True)
        gw.start_daemon(self.gateway)
        return self

    def __exit__(self, *exc: object) -> None:
        gw.stop(self.runtime)
        self.backend.shutdown()
        shutil.rmtree(self.runtime, ignore_errors=True)


def run(folder: Path, *, per_file: int | None = None, gateway_url: str | None = None,
        audit_log: Path | None = None, access_log: Path | None = None, workers: int = 6
        ) -> dict[str, Any]:
    cases = load_cases(folder)
    if per_file:
        cases = subset(cases, per_file)
    if gateway_url:
        if audit_log is None:
            raise SystemExit("--gateway needs --audit-log (the gateway's ModSecurity audit log)")
        m = re.match(r"https://([^:/]+):(\d+)", gateway_url)
        if m is None:
            raise SystemExit("--gateway: https://HOST:PORT")
        results = replay(cases, m.group(1), int(m.group(2)), audit_log, workers, access_log)
    else:
        with OwnGateway() as own:
            results = replay(cases, "127.0.0.1", own.gateway.port, own.gateway.audit_log,
                             workers, own.gateway.access_log)
    return summarise(results)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tests", type=Path, help="the CRS tests folder (e.g. crs-3.3.4)")
    p.add_argument("--subset", type=int, metavar="N", default=None,
                   help="only the first N attacks and N legitimate tests of each rule file")
    p.add_argument("--gateway", help="replay against this running gateway (https://HOST:PORT)")
    p.add_argument("--audit-log", type=Path, help="that gateway's ModSecurity audit log")
    p.add_argument("--access-log", type=Path,
                   help="that gateway's access log (tells what reached the backend)")
    p.add_argument("--workers", type=int, default=6, help="concurrent connections (6)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if not args.tests.is_dir():
        print(f"no CRS tests at {args.tests}: skipping the replay", file=sys.stderr)
        return 2
    started = time.monotonic()
    summary = run(args.tests, per_file=args.subset, gateway_url=args.gateway,
                  audit_log=args.audit_log, access_log=args.access_log, workers=args.workers)
    summary["seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(f"CRS regression tests through the idproof gateway (PL2), {summary['seconds']} s")
        print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Case", "Result", "asdict", "load_cases", "run", "subset", "summarise"]
