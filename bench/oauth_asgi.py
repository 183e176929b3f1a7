"""The HTTP stack's own cost on the OAuth hot path, without a server or a load generator.

Drives idproof's ASGI app (as `idproof serve` builds it, on a fresh SQLite data dir) and the
bare FastAPI app of bench/_bare_app.py directly through the ASGI interface, in one process:
`POST /oauth/token` (client_secret_basic) and `GET /v1/me` (a bearer check), `concurrency`
requests in flight on one event loop. Prints the process CPU time per request (µs, every
thread included: the audit writer and sequencer too) and idproof's ratio to the bare app;
with --profile, a cProfile of one path. No sockets: this is the part of a request that
idproof's code decides (uvicorn's parsing and the kernel cost the same for both apps).

Run: .venv/bin/python bench/oauth_asgi.py [--requests 3000] [--rate-limits]
     .venv/bin/python bench/oauth_asgi.py --profile grant|me [--requests 3000]
     BENCH_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no \\
       .venv/bin/python bench/oauth_asgi.py --only grant --requests N
       [--cache-seconds 10]
       (the load alone is instrumented: its instruction count over N is stable on a busy
       machine, where CPU times are not; but periodic work, like the views' re-reads and the
       audit sequencer, follows wall time, which callgrind stretches ~50x)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

HOST = "127.0.0.1"
FORM = b"application/x-www-form-urlencoded"
GRANT_BODY = b"grant_type=client_credentials"
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope_of(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The scope uvicorn (httptools) gives an app for a plain HTTP/1.1 request."""
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1", "server": (HOST, 8000), "client": (HOST, 50000),
            "scheme": "http", "method": method, "root_path": "", "path": path,
            "raw_path": path.encode(), "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000"), *headers], "state": {}}


async def call(app: ASGIApp, method: str, path: str, headers: list[tuple[bytes, bytes]],
               body: bytes = b"") -> tuple[int, bytes]:
    """One request through the app; its status and body."""
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a client that never disconnects
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope_of(method, path, headers), receive, send)
    return status, b"".join(chunks)


async def run_load(app: ASGIApp, method: str, path: str, headers: list[tuple[bytes, bytes]],
                   body: bytes, requests: int, concurrency: int) -> tuple[float, float]:
    """`requests` calls, `concurrency` at a time: (CPU µs per request, wall requests/s)."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, raw = await call(app, method, path, headers, body)
            if status != 200:
                raise RuntimeError(f"{method} {path} answered {status}: {raw[:300]!r}")

    for _ in range(min(requests, 50)):  # warm-up: caches filled
        await call(app, method, path, headers, body)
    _callgrind("on")
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    _callgrind("off")
    return cpu / requests * 1e6, requests / wall


def _callgrind(state: str) -> None:
    """Under `valgrind --tool=callgrind --instr-atstart=no`, instrument the load only."""
    if os.environ.get("BENCH_CALLGRIND") == "1":
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True,
                       capture_output=True)


def build_idproof(tmp: Path, rate_limits: bool,
                  cache_seconds: float | None = None) -> tuple[Any, Any, dict[str, list[Any]]]:
    """idproof's app on a fresh data dir, its container, and the requests' headers."""
    os.environ["IDPROOF_LOGGING__LEVEL"] = "WARNING"
    from idproof.bootstrap import prepare
    from idproof.config import Settings
    from idproof.core.logging import configure_logging
    from idproof.web.app import create_app
    from idproof.web.heap import freeze_startup_heap

    settings = Settings(data_dir=tmp / "asgi", secret_key=base64.b64encode(
        os.urandom(32)).decode(), public_url=f"http://{HOST}:8000")
    settings.security.rate_limits.enabled = rate_limits
    if cache_seconds is not None:  # fewer view refreshes per request under callgrind's slowdown
        settings.auth.revocation_cache_seconds = settings.auth.client_cache_seconds = (
            cache_seconds)
    if rate_limits:  # high enough never to refuse: the bench measures the counting
        for group in vars(settings.security.rate_limits.per_ip):
            setattr(settings.security.rate_limits.per_ip, group, "10000000/minute")
        for group in vars(settings.security.rate_limits.per_client):
            setattr(settings.security.rate_limits.per_client, group, "10000000/minute")
    configure_logging("WARNING", settings.logging.pii_fields, settings.logging.json_logs)
    container = prepare(settings)
    container.audit_sequencer.start()  # as `idproof serve` does: grants queue their event
    issued = container.clients.create("demo", "identity.verify")
    basic = base64.b64encode(f"{issued.client.id}:{issued.secret}".encode())
    app = create_app(container)
    freeze_startup_heap()  # as `idproof serve` does once its app is built
    token = container.oauth.token(_oauth_request(issued, basic))["access_token"]
    return app, container, {
        "grant": [(b"content-type", FORM), (b"authorization", b"Basic " + basic),
                  (b"content-length", str(len(GRANT_BODY)).encode())],
        "me": [(b"authorization", b"Bearer " + token.encode())]}


def _oauth_request(issued: Any, basic: bytes) -> Any:
    from idproof.auth.oauth import OAuthRequest

    return OAuthRequest(form=[("grant_type", "client_credentials")],
                        authorization="Basic " + basic.decode(), ip=HOST)


def measure_all(args: argparse.Namespace, tmp: Path) -> None:
    import _bare_app

    app, container, headers = build_idproof(tmp, args.rate_limits, args.cache_seconds)
    bare: ASGIApp = _bare_app.app
    n, c = args.requests, args.concurrency
    form = [(b"content-type", FORM), (b"content-length", str(len(GRANT_BODY)).encode())]
    loads = {"grant": (app, "POST", "/oauth/token", headers["grant"], GRANT_BODY),
             "bare-grant": (bare, "POST", "/token", form, GRANT_BODY),
             "me": (app, "GET", "/v1/me", headers["me"], b""),
             "bare-me": (bare, "GET", "/me", [], b"")}
    try:
        if args.only:
            cpu, _ = asyncio.run(run_load(*loads[args.only], n, c))
            print(f"{args.only}: {n} requests, {cpu:.1f} µs CPU per request")
            return
        rows = [[asyncio.run(run_load(*load, n, c))[0] for load in loads.values()]
                for _ in range(args.rounds)]
    finally:
        container.close()
    best = [min(r[i] for r in rows) for i in range(4)]
    limits = "on" if args.rate_limits else "off"
    print(f"ASGI in process, {n} requests x {args.rounds} rounds, {c} in flight, rate limits "
          f"{limits}; best round's process CPU per request:")
    print(f"  idproof POST /oauth/token {best[0]:7.1f} µs   bare POST /token {best[1]:6.1f} µs"
          f"   ratio (bare/idproof) {best[1] / best[0]:.3f}")
    print(f"  idproof GET /v1/me        {best[2]:7.1f} µs   bare GET /me     {best[3]:6.1f} µs"
          f"   ratio (bare/idproof) {best[3] / best[2]:.3f}")


def profile(args: argparse.Namespace, tmp: Path) -> None:
    app, container, headers = build_idproof(tmp, args.rate_limits, args.cache_seconds)
    method, path, body = (("POST", "/oauth/token", GRANT_BODY) if args.profile == "grant"
                          else ("GET", "/v1/me", b""))
    # CPU time of the event loop's thread: wall time would charge it for GIL waits.
    prof = cProfile.Profile(time.thread_time)
    try:
        asyncio.run(run_load(app, method, path, headers[args.profile], body, 200, 1))
        prof.enable()
        cpu, _ = asyncio.run(run_load(app, method, path, headers[args.profile], body,
                                      args.requests, args.concurrency))
        prof.disable()
    finally:
        container.close()
    print(f"{method} {path}: {cpu:.1f} µs CPU per request under the profiler")
    stats = pstats.Stats(prof).sort_stats(args.sort)
    if args.out:
        stats.dump_stats(args.out)
    stats.print_stats(args.lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate-limits", action="store_true",
                        help="count the route limits (memory storage; never reached)")
    parser.add_argument("--profile", choices=("grant", "me"))
    parser.add_argument("--cache-seconds", type=float,
                        help="auth.revocation_cache_seconds and client_cache_seconds (<= 10): "
                             "the views' re-reads follow wall time, which callgrind stretches")
    parser.add_argument("--only", choices=("grant", "bare-grant", "me", "bare-me"),
                        help="one load, once (for callgrind)")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--lines", type=int, default=60)
    parser.add_argument("--out", help="write the profile's stats to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idproof-asgi-") as tmp:
        (profile if args.profile else measure_all)(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
