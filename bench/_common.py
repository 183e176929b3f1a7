"""Shared bench helpers: server subprocesses in their own process group, and an HTTP load
generator (wrk when installed, else one asyncio process of httpx clients with keep-alive).

Every load loop is bounded in time and in count, and only ever targets the loopback address.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOST = "127.0.0.1"  # the only address a bench ever sends traffic to
REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
MAX_REQUESTS = 5_000_000  # count bound of one measurement (time is the other)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def http_call(port: int, method: str, path: str, body: bytes | None = None,
              headers: Mapping[str, str] | None = None,
              timeout: float = 5.0) -> tuple[int, bytes]:
    """One plain request to the loopback server (set-up and health checks, not load)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# -- server subprocesses ----------------------------------------------------------------------
class ServerProcess:
    """A server started in its own session (process group), so that the group, uvicorn's
    worker processes included, is ended as one; stdout and stderr go to a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], port: int,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.port = port
        self._stopped = False
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(list(argv), env=dict(env), cwd=str(cwd or REPO),
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return Path(self._log.name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, path: str = "/healthz", timeout: float = 180.0) -> float:
        """Poll `path` until it answers 200; returns the seconds it took."""
        started = time.perf_counter()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                status, _ = http_call(self.port, "GET", path, timeout=1.0)
                if status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL to whatever is left after 5 s (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None:
            for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline and _group_alive(pgid):
                    self.proc.poll()
                    time.sleep(0.05)
                if not _group_alive(pgid):
                    break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def install_sigterm_handler() -> None:
    """Turn SIGTERM into SystemExit so `finally:` blocks stop the servers."""
    def handler(_signum: int, _frame: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, handler)


# -- CPU accounting (Linux /proc; NaN elsewhere) ----------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU seconds of every live process in process group `pgid`."""
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return float("nan")
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:  # field 5: pgrp; fields 14 and 15: utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds spent busy (not idle or iowait) by all cores since boot."""
    try:
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / _TICK


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of its reaped children (wrk)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


# -- load generation ---------------------------------------------------------------------
@dataclass
class LoadResult:
    label: str
    tool: str
    requests: int  # completed responses, of any status
    ok: int  # 2xx responses
    errors: int  # non-2xx responses, socket errors and timeouts
    seconds: float
    rps: float  # 2xx responses per second
    p50_ms: float
    p99_ms: float
    concurrency: int
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# autocannon.js (Node) when the bench installed it: set by the caller (bench/_node.py).
AUTOCANNON: Path | None = None


def loadgen_tool(preference: str = "auto") -> str:
    """'wrk' when asked for or when installed (auto), else autocannon when available, else
    'httpx'."""
    if preference == "httpx":
        return "httpx"
    if preference == "autocannon":
        if AUTOCANNON is None:
            raise SystemExit("autocannon was asked for but Node.js/npm are not available")
        return "autocannon"
    if shutil.which("wrk"):
        return "wrk"
    if preference == "wrk":
        raise SystemExit("wrk was asked for but is not installed (apt-get install wrk)")
    return "autocannon" if AUTOCANNON is not None else "httpx"


def _run_autocannon(port: int, method: str, path: str, headers: Mapping[str, str],
                    body: bytes, seconds: float, concurrency: int) -> dict[str, float]:
    assert AUTOCANNON is not None
    cmd = ["node", str(AUTOCANNON), "-j", "-c", str(concurrency),
           "-d", str(max(1, round(seconds))), "-t", "5", "-m", method]
    for k, v in headers.items():
        cmd += ["-H", f"{k}={v}"]
    if body:
        cmd += ["-b", body.decode()]
    cmd.append(f"http://{HOST}:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         check=False)
    try:
        data = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"autocannon gave no result (rc {out.returncode}): "
                           f"{out.stderr[-500:]}") from None
    return data  # type: ignore[no-any-return]


_WRK_LUA = """\
wrk.method = %(method)s
wrk.body = %(body)s
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,\\"p99_us\\":%%d," ..
    "\\"connect\\":%%d,\\"read\\":%%d,\\"write\\":%%d,\\"status\\":%%d,\\"timeout\\":%%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _lua_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _run_wrk(port: int, method: str, path: str, headers: Mapping[str, str], body: bytes,
             seconds: float, concurrency: int, threads: int) -> dict[str, int]:
    lua = _WRK_LUA % {
        "method": _lua_str(method), "body": _lua_str(body.decode()) if body else "nil",
        "headers": "\n".join(f"wrk.headers[{_lua_str(k)}] = {_lua_str(v)}"
                             for k, v in headers.items()),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
        script = fh.name
    try:
        duration = max(1, round(seconds))
        cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--timeout", "5s",
               "-s", script, f"http://{HOST}:{port}{path}"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30,
                             check=False)
    finally:
        os.unlink(script)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])  # type: ignore[no-any-return]
    raise RuntimeError(f"wrk gave no result (rc {out.returncode}): {out.stderr or out.stdout}")


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[idx]


async def _httpx_load(port: int, method: str, path: str, headers: Mapping[str, str],
                      body: bytes, seconds: float, concurrency: int,
                      max_requests: int) -> tuple[int, int, int, float, list[float]]:
    import httpx

    latencies: list[float] = []
    counts = {"done": 0, "ok": 0, "errors": 0}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=limits,
                                 timeout=5.0, headers=dict(headers)) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            perf = time.perf_counter
            while counts["done"] + counts["errors"] < max_requests:
                t0 = perf()
                if t0 >= deadline:
                    return
                try:
                    resp = await client.request(method, path, content=body or None)
                except httpx.HTTPError:
                    counts["errors"] += 1
                    continue
                latencies.append(perf() - t0)
                counts["done"] += 1
                if 200 <= resp.status_code < 300:
                    counts["ok"] += 1
                else:
                    counts["errors"] += 1

        import asyncio

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return counts["done"], counts["ok"], counts["errors"], elapsed, latencies


def _sniffio_stub() -> None:
    """httpcore imports `sniffio` afresh for every lock it makes, and anyio >= 4.11 no longer
    installs it: each failed import walks sys.path, ~1 ms of CPU per request (encode/httpcore
    PR #1103). This process only runs asyncio, so answer the one question httpcore asks."""
    try:
        import sniffio  # noqa: F401
    except ImportError:
        import types

        stub = types.ModuleType("sniffio")
        stub.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]
        sys.modules["sniffio"] = stub


def _run_httpx(port: int, method: str, path: str, headers: Mapping[str, str], body: bytes,
               seconds: float, concurrency: int) -> tuple[int, int, int, float, list[float]]:
    import asyncio

    _sniffio_stub()
    coro = _httpx_load(port, method, path, headers, body, seconds, concurrency, MAX_REQUESTS)
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    except ImportError:
        return asyncio.run(coro)


def measure(label: str, port: int, method: str, path: str, *,
            headers: Mapping[str, str] | None = None, body: bytes = b"",
            seconds: float = 5.0, warmup: float = 1.0, concurrency: int = 32,
            tool: str = "httpx", threads: int = 1) -> LoadResult:
    """Warm up, then load `method path` for `seconds` with `concurrency` keep-alive
    connections; throughput counts 2xx responses only."""
    hdrs = dict(headers or {})
    if tool == "autocannon":
        if warmup > 0:
            _run_autocannon(port, method, path, hdrs, body, warmup, concurrency)
        a = _run_autocannon(port, method, path, hdrs, body, seconds, concurrency)
        elapsed = float(a["duration"])
        ok = int(a["2xx"])
        done = int(a["requests"]["total"])
        errors = int(a["errors"]) + int(a["non2xx"]) + int(a["timeouts"])
        return LoadResult(label, "autocannon", done, ok, errors, elapsed,
                          ok / elapsed if elapsed else 0.0, float(a["latency"]["p50"]),
                          float(a["latency"]["p99"]), concurrency)
    if tool == "wrk":
        if warmup > 0:
            _run_wrk(port, method, path, hdrs, body, warmup, concurrency, threads)
        r = _run_wrk(port, method, path, hdrs, body, seconds, concurrency, threads)
        elapsed = r["duration_us"] / 1e6
        errors = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
        ok = r["requests"] - r["status"]
        return LoadResult(label, "wrk", r["requests"], ok, errors, elapsed,
                          ok / elapsed if elapsed else 0.0, r["p50_us"] / 1000,
                          r["p99_us"] / 1000, concurrency)
    if warmup > 0:
        _run_httpx(port, method, path, hdrs, body, warmup, concurrency)
    done, ok, errors, elapsed, lat = _run_httpx(port, method, path, hdrs, body, seconds,
                                                concurrency)
    lat.sort()
    return LoadResult(label, "httpx", done, ok, errors, elapsed,
                      ok / elapsed if elapsed else 0.0, _percentile(lat, 50) * 1000,
                      _percentile(lat, 99) * 1000, concurrency)


# -- in-process timing ----------------------------------------------------------------------
def ops_per_second(fn: Callable[[], object], seconds: float, max_ops: int = 10_000_000,
                   warmup: float = 0.3, repeats: int = 5) -> tuple[float, int]:
    """Call `fn()` for about `seconds` (and at most `max_ops` times) in `repeats` rounds;
    returns (the best round's ops/s, total ops): the best round filters scheduler noise."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        fn()
    best, total = 0.0, 0
    per_round = seconds / repeats
    for _ in range(repeats):
        n = 0
        started = time.perf_counter()
        deadline = started + per_round
        while total + n < max_ops:
            for _ in range(16):
                fn()
            n += 16
            if time.perf_counter() >= deadline:
                break
        best = max(best, n / (time.perf_counter() - started))
        total += n
    return best, total
