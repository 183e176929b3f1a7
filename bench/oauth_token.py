"""Token endpoint throughput on this machine: client-credentials grants and bearer checks.

Starts `idproof serve` (fresh SQLite data dir, one then two workers), a bare FastAPI app
(bench/_bare_app.py, the same uvicorn set-up) and, when Node.js is there, the peer: panva's
oidc-provider 9 in one Node process (bench/peers/oidc_provider.mjs: one client,
client_credentials with client_secret_basic, EdDSA JWT access tokens, in memory), installed
with npm into a temporary folder together with the autocannon load generator. Loads each on
127.0.0.1 with wrk when installed, else autocannon, else httpx in one asyncio process, and
prints grants/s, GET /v1/me per second, in-process bearer verifications, and each figure's
ratio to the bare framework and to the peer, measured side by side in one sitting.

Run: .venv/bin/python bench/oauth_token.py [--seconds 5] [--json]   (about 80 s; wrk rounds
--seconds to whole seconds)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
# bench/ holds shared helpers (_common) next to the scripts.
if _HERE not in sys.path:
    sys.path.append(_HERE)

import _common  # noqa: E402
from _bad_input import (  # noqa: E402
    CLIENT_MAX_FAILURES,
    audit_verifies,
    checks_under_load,
    summary,
)
from _common import (  # noqa: E402
    HOST,
    REPO,
    VENV_BIN,
    LoadResult,
    ServerProcess,
    free_port,
    group_cpu_seconds,
    http_call,
    install_sigterm_handler,
    loadgen_tool,
    machine_busy_seconds,
    measure,
    own_cpu_seconds,
)
from _in_process import bench_in_process  # noqa: E402
from _pg import admin_url as pg_admin_url  # noqa: E402
from _pg import fresh_database  # noqa: E402

# Published figures to compare with (other hardware, and Keycloak's include a TLS handshake
# per grant): Keycloak's sizing guide, 1 vCPU per 120 client-credentials grants/s;
# Ory Hydra, 513 grants/s on 2 CPUs.
KEYCLOAK_PER_VCPU = 120.0
KEYCLOAK_2CPU = 2 * KEYCLOAK_PER_VCPU
HYDRA_2CPU = 513.0
FORM = "application/x-www-form-urlencoded"
SCOPES = "identity.verify"
GRANT_BODY = b"grant_type=client_credentials"
NOISY_CORES = 0.3  # other processes' load during a measurement above which it is flagged
LOADGEN_BOUND_CORES = 0.75  # a one-process load generator this busy is the bottleneck


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="length of each HTTP measurement (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="warm-up before each HTTP measurement (default 1)")
    parser.add_argument("--connections", type=int, default=32,
                        help="concurrent keep-alive connections (default 32)")
    parser.add_argument("--workers", default="1,2",
                        help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "autocannon", "httpx"),
                        default="auto", help="load generator (auto: wrk when installed, else "
                                             "autocannon when Node.js is, else httpx)")
    parser.add_argument("--peer", choices=("auto", "none"), default="auto",
                        help="run oidc-provider as the peer when Node.js is present (auto)")
    parser.add_argument("--databases", default="auto",
                        help="comma-separated: sqlite, postgresql (auto: sqlite, and postgresql "
                             "when IDPROOF_BENCH_DATABASE_URL or IDPROOF_TEST_DATABASE_URL is "
                             "set; a fresh database is created there and dropped)")
    parser.add_argument("--json", action="store_true",
                        help="also print all results as one JSON object on the last line")
    args = parser.parse_args(argv)
    args.worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    args.db_names = (["sqlite"] + (["postgresql"] if pg_admin_url() else [])
                     if args.databases == "auto" else
                     [d.strip() for d in args.databases.split(",") if d.strip()])
    if not set(args.db_names) <= {"sqlite", "postgresql"} or not args.db_names:
        parser.error("--databases takes sqlite and/or postgresql")
    if "postgresql" in args.db_names and not pg_admin_url():
        parser.error("postgresql needs IDPROOF_BENCH_DATABASE_URL (or IDPROOF_TEST_DATABASE_URL)")
    if (args.seconds <= 0 or args.connections < 1 or not args.worker_counts
            or min(args.worker_counts) < 1):
        parser.error("--seconds, --connections and --workers must be positive")
    return args


def measure_with_cpu(server: ServerProcess, label: str, method: str, path: str,
                     args: argparse.Namespace, tool: str, **kw: Any) -> LoadResult:
    """`measure`, plus CPU accounting: the server's CPU per successful request (µs), and the
    cores kept busy by the server, the load generator, and anything else on the machine."""
    pgid = server.proc.pid  # start_new_session: the leader's pid is the group id
    if args.warmup > 0:  # warm up apart, so that the CPU counters cover the measurement only
        measure(label, server.port, method, path, seconds=args.warmup, warmup=0,
                concurrency=args.connections, tool=tool, **kw)
    srv0, own0, all0 = group_cpu_seconds(pgid), own_cpu_seconds(), machine_busy_seconds()
    result = measure(label, server.port, method, path, seconds=args.seconds, warmup=0,
                     concurrency=args.connections, tool=tool, **kw)
    srv = group_cpu_seconds(pgid) - srv0
    own = own_cpu_seconds() - own0
    busy = machine_busy_seconds() - all0
    secs = result.seconds or 1.0
    result.extra.update({
        "server_cpu_us_per_ok": round(srv / result.ok * 1e6, 1) if result.ok else 0.0,
        "server_cores": round(srv / secs, 2), "loadgen_cores": round(own / secs, 2),
        "other_cores": round(max(0.0, busy - srv - own) / secs, 2),
    })
    return result


# -- servers ------------------------------------------------------------------------------------
def idproof_env(data_dir: Path, port: int, db_url: str | None = None) -> dict[str, str]:
    """The caller's environment less any IDPROOF_* setting, then a fresh data dir (and its
    SQLite database, unless `db_url` names another)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("IDPROOF_")}
    if db_url is not None:
        env["IDPROOF_DATABASE_URL"] = db_url
    env.update({"IDPROOF_DATA_DIR": str(data_dir), "IDPROOF_LOGGING__LEVEL": "WARNING",
                "IDPROOF_PUBLIC_URL": f"http://{HOST}:{port}",
                # One load generator on one IP would meet the per-IP and per-client route
                # limits within a second (429s are not grants): the bench measures the grant
                # and bearer paths, as the peer (which has no limits) is measured.
                "IDPROOF_SECURITY__RATE_LIMITS__ENABLED": "false",
                # The bad-input probe blocks a second client after this many wrong secrets.
                "IDPROOF_SECURITY__BRUTE_FORCE__CLIENT_MAX_FAILURES": str(CLIENT_MAX_FAILURES)})
    return env


def create_client(env: Mapping[str, str]) -> dict[str, str]:
    out = subprocess.run([str(VENV_BIN / "idproof"), "clients", "create", "--tenant", "demo",
                          "--scopes", SCOPES, "--json"], env=dict(env), cwd=str(REPO),
                         capture_output=True, text=True, timeout=300, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"idproof clients create failed ({out.returncode}):\n"
                           f"{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def start_idproof(workers: int, tmp: Path, started: list[ServerProcess],
                  db_url: str | None = None) -> tuple[ServerProcess, dict[str, str]]:
    """`idproof serve` on a fresh data dir with one API client; returns the server and the
    request headers for the token grant ("token") and for GET /v1/me ("me")."""
    port = free_port()
    env = idproof_env(tmp / f"idproof-w{workers}", port, db_url)
    t0 = time.perf_counter()
    creds = create_client(env)  # also initialises the data dir, as `serve` would
    victim = create_client(env)  # for the brute-force probe (bench/_bad_input.py)
    server = ServerProcess(f"idproof-w{workers}", [str(VENV_BIN / "idproof"), "serve",
                           "--host", HOST, "--port", str(port), "--workers", str(workers)],
                           env, port)
    started.append(server)
    server.wait_ready()
    print(f"  idproof serve --workers {workers}: ready in {time.perf_counter() - t0:.1f} s "
          "(client created first)", flush=True)
    auth = basic_auth(creds["client_id"], creds["client_secret"])
    status, raw = http_call(port, "POST", "/oauth/token", GRANT_BODY,
                            {"Authorization": auth, "Content-Type": FORM})
    if status != 200:
        raise RuntimeError(f"POST /oauth/token answered {status}: {raw[:300]!r}")
    access = json.loads(raw)["access_token"]
    status, raw = http_call(port, "GET", "/v1/me", headers={"Authorization": f"Bearer {access}"})
    if status != 200:
        raise RuntimeError(f"GET /v1/me answered {status}: {raw[:300]!r}")
    return server, {"token": auth, "me": f"Bearer {access}",
                    "victim": basic_auth(victim["client_id"], victim["client_secret"])}


def start_bare(workers: int, started: list[ServerProcess]) -> ServerProcess:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("IDPROOF_")}
    server = ServerProcess(f"bare-w{workers}", [sys.executable, str(Path(_HERE) / "_bare_app.py"),
                           "--port", str(port), "--workers", str(workers)], env, port)
    started.append(server)
    server.wait_ready()
    return server


def bench_workers(workers: int, tmp: Path, args: argparse.Namespace, tool: str,
                  started: list[ServerProcess], db_url: str | None = None
                  ) -> tuple[dict[str, LoadResult], dict[str, LoadResult]]:
    """Both servers up at once (the idle one costs nothing), each idproof figure measured
    right before its bare counterpart, so that a change in the machine's other load skews
    a ratio as little as it can."""
    tmp = tmp / ("pg" if db_url else "sqlite")
    idp, auth = start_idproof(workers, tmp, started, db_url)
    bare = start_bare(workers, started)
    form = {"Content-Type": FORM}
    out_idp: dict[str, LoadResult] = {}
    out_bare: dict[str, LoadResult] = {}
    checks: dict[str, Any] = {}
    prober = threading.Thread(target=checks_under_load,
                              args=(idp.port, auth["token"], auth["victim"], checks))
    prober.start()  # the bad-input checks run while the grant load does
    out_idp["token"] = measure_with_cpu(
        idp, f"idproof POST /oauth/token w{workers}", "POST", "/oauth/token", args, tool,
        headers={**form, "Authorization": auth["token"]}, body=GRANT_BODY)
    prober.join(30)
    out_bare["token"] = measure_with_cpu(bare, f"bare POST /token w{workers}", "POST",
                                         "/token", args, tool, headers=form, body=GRANT_BODY)
    out_idp["me"] = measure_with_cpu(idp, f"idproof GET /v1/me w{workers}", "GET", "/v1/me",
                                     args, tool, headers={"Authorization": auth["me"]})
    out_bare["me"] = measure_with_cpu(bare, f"bare GET /me w{workers}", "GET", "/me", args,
                                      tool)
    for server in (bare, idp):
        server.stop()
        started.remove(server)
    checks["audit_verifies"] = audit_verifies(idproof_env(tmp / f"idproof-w{workers}", idp.port,
                                                          db_url))
    out_idp["token"].extra["bad_input"] = checks
    print(f"  [{'postgresql' if db_url else 'sqlite'}] " + summary(workers, checks), flush=True)
    return out_idp, out_bare


def bench_database(db: str, workers: int, tmp: Path, args: argparse.Namespace, tool: str,
                   started: list[ServerProcess]) -> tuple[dict[str, LoadResult],
                                                          dict[str, LoadResult]]:
    """`bench_workers` on SQLite (in the data dir) or on a fresh PostgreSQL database."""
    if db == "sqlite":
        return bench_workers(workers, tmp, args, tool, started)
    admin = pg_admin_url()
    assert admin is not None
    with fresh_database(admin) as url:
        return bench_workers(workers, tmp, args, tool, started, url)


def bench_peer(folder: Path, args: argparse.Namespace, tool: str,
               started: list[ServerProcess]) -> LoadResult:
    """oidc-provider, one Node process: the same grant request as idproof's."""
    from _node import start_peer

    secret = base64.urlsafe_b64encode(os.urandom(24)).decode()
    peer = start_peer(folder, "bench", secret, started)
    try:
        status, raw = http_call(peer.port, "POST", "/token", GRANT_BODY,
                                {"Authorization": basic_auth("bench", secret),
                                 "Content-Type": FORM})
        if status != 200 or b'"access_token"' not in raw:
            raise RuntimeError(f"oidc-provider POST /token answered {status}: {raw[:300]!r}")
        return measure_with_cpu(peer, "oidc-provider POST /token", "POST", "/token", args,
                                tool, headers={"Content-Type": FORM,
                                               "Authorization": basic_auth("bench", secret)},
                                body=GRANT_BODY)
    finally:
        peer.stop()
        started.remove(peer)


# -- report ---------------------------------------------------------------------------------
def _line(r: LoadResult) -> str:
    x = r.extra
    errs = f", {r.errors:,} errors" if r.errors else ""
    return (f"{r.rps:7,.0f}/s (p50 {r.p50_ms:6.1f} ms, p99 {r.p99_ms:7.1f} ms{errs})  "
            f"server {x.get('server_cpu_us_per_ok', 0):6,.0f} µs CPU/req; cores busy: server "
            f"{x.get('server_cores', 0):.2f}, load gen {x.get('loadgen_cores', 0):.2f}, "
            f"other {x.get('other_cores', 0):.2f}")


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    idp, bare, inp = results["idproof"], results["bare"], results["in_process"]
    # One run per (database, workers): "sqlite w1", "postgresql w2", ...
    ws = [f"{db} w{w}" for db in args.db_names for w in args.worker_counts]
    ratios: dict[str, float] = {}
    names = {"token": ("POST /oauth/token", "bare POST"), "me": ("GET /v1/me", "bare GET")}
    print()
    print(f"load: {results['loadgen']}, {args.connections} keep-alive connections, "
          f"{args.seconds:g} s per figure after {args.warmup:g} s warm-up, 2xx responses only; "
          f"{os.cpu_count()} cores shared by server and load generator")
    for what, (title, bare_title) in names.items():
        for w in ws:
            print(f"{title:18} {w:13}: {_line(idp[w][what])}")
            print(f"{bare_title:18} {w:13}: {_line(bare[w][what])}")
    if results["loadgen"] == "httpx":
        print("note: httpx costs ~1 ms of CPU per request here, so the bare figures are mostly "
              "the load generator's own limit and ratios near 1 say little: install wrk")
    other = max(r.extra.get("other_cores", 0.0) for d in (*idp.values(), *bare.values())
                for r in d.values())
    if other >= NOISY_CORES:
        print(f"note: other processes kept up to {other:.1f} cores busy during a measurement; "
              "these figures are lower than an idle machine would give")
    print()
    for what, label in (("token", "token grants/s"), ("me", "GET /v1/me /s ")):
        for w in ws:
            r, b = idp[w][what], bare[w][what]
            ratio = r.rps / b.rps if b.rps else 0.0
            ratios[f"{what}_{w.replace(' ', '_')}_vs_bare"] = ratio
            busy = max(r.extra.get("other_cores", 0.0), b.extra.get("other_cores", 0.0))
            gen = b.extra.get("loadgen_cores", 0.0)
            flag = f"  [other load {busy:.1f} cores: noisy]" if busy >= NOISY_CORES else ""
            if gen >= LOADGEN_BOUND_CORES:
                flag += f"  [load generator used {gen:.2f} cores: the bare figure is its limit]"
            print(f"{label}  {w:13}: {r.rps:6,.0f} (p50 {r.p50_ms:5.1f} ms, p99 "
                  f"{r.p99_ms:6.1f} ms)  {names[what][1]}: {b.rps:6,.0f}/s  ratio {ratio:.3f}"
                  f"{flag}")
    peer = results.get("peer")
    if peer is None:
        print(f"peer: not run ({results.get('peer_skipped', 'disabled')})")
    else:
        ratios["peer_grants_per_s"] = peer.rps
        print(f"oidc-provider 9 (Node, 1 process): {_line(peer)}")
        for w in ws:
            r = idp[w]["token"]
            ratio = r.rps / peer.rps if peer.rps else 0.0
            ratios[f"token_{w.replace(' ', '_')}_vs_peer"] = ratio
            print(f"token grants/s  {w:13}: {r.rps:6,.0f}  oidc-provider: "
                  f"{peer.rps:6,.0f}/s  ratio {ratio:.3f}  (goal >= 1.0 per process)")
    counts = args.worker_counts
    for db in args.db_names if len(counts) > 1 else []:
        lo, hi = f"{db} w{min(counts)}", f"{db} w{max(counts)}"
        tag = f"{db}_w{max(counts)}_vs_w{min(counts)}"
        for what in ("token", "me"):
            a, b2 = idp[lo][what].rps, idp[hi][what].rps
            ratios[f"{what}_scaling_{tag}"] = b2 / a if a else 0.0
            a, b2 = bare[lo][what].rps, bare[hi][what].rps
            ratios[f"bare_{what}_scaling_{tag}"] = b2 / a if a else 0.0
        print(f"{db}: workers {min(counts)} -> {max(counts)}: grants "
              f"x{ratios[f'token_scaling_{tag}']:.2f} (goal >= 1.6), /v1/me "
              f"x{ratios[f'me_scaling_{tag}']:.2f} (bare: POST "
              f"x{ratios[f'bare_token_scaling_{tag}']:.2f}, GET "
              f"x{ratios[f'bare_me_scaling_{tag}']:.2f})")
    print(f"bearer verify in-process: {inp['bearer_verify_per_s']:8,.0f}/s "
          f"({inp['bearer_verify_us']:6.1f} µs/op; tokens.verify alone "
          f"{inp['jwt_verify_us']:.1f} µs)")
    print(f"token grant in-process:   {inp['oauth_token_per_s']:8,.0f}/s "
          f"({inp['oauth_token_us']:6.1f} µs/op; tokens.mint alone {inp['jwt_mint_us']:.1f} µs)")
    print(f"token grants in-process, 32 coroutines on one event loop (the endpoint's path): "
          f"{inp['oauth_token_loop_per_s']:8,.0f}/s ({inp['oauth_token_loop_cpu_us']:6.1f} µs "
          "of process CPU per grant)")
    best = max(idp[w]["token"].rps for w in ws)
    ratios["best_grants_vs_keycloak_2cpu"] = best / KEYCLOAK_2CPU
    ratios["best_grants_vs_hydra_2cpu"] = best / HYDRA_2CPU
    print(f"reference: Keycloak ~{KEYCLOAK_PER_VCPU:.0f} grants/s per vCPU "
          f"({KEYCLOAK_2CPU:.0f} on 2), Ory Hydra {HYDRA_2CPU:.0f}/s on 2 CPUs")
    print(f"idproof best {best:,.0f} grants/s = {ratios['best_grants_vs_keycloak_2cpu']:.2f}x "
          f"Keycloak on 2 vCPU, {ratios['best_grants_vs_hydra_2cpu']:.2f}x Hydra (published "
          "figures on other hardware; Keycloak's include a TLS handshake per grant)")
    results["ratios"] = ratios


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_sigterm_handler()
    t_start = time.perf_counter()
    folder: Path | None = None
    why = "--peer none"
    if args.peer == "auto" or args.loadgen == "autocannon":
        from _node import autocannon_bin, node_dir

        folder, why = node_dir()
        if folder is not None:
            _common.AUTOCANNON = autocannon_bin(folder)
        else:
            print(f"peer: {why}; oidc-provider is not run, the rest is", flush=True)
    tool = loadgen_tool(args.loadgen)
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(f"bench/oauth_token.py: load generator {tool}"
          + ("" if tool != "httpx" else " (neither wrk nor Node.js: httpx in one asyncio "
             "process)") + f"; load average {load1:.2f} at start", flush=True)
    started: list[ServerProcess] = []
    results: dict[str, Any] = {"loadgen": tool, "seconds": args.seconds,
                               "warmup": args.warmup, "connections": args.connections,
                               "cores": os.cpu_count(), "load_average_at_start": load1,
                               "idproof": {}, "bare": {}}
    with tempfile.TemporaryDirectory(prefix="idproof-bench-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            results["in_process"] = bench_in_process(tmp, args.seconds)
            print("  in-process: done", flush=True)
            for db in args.db_names:
                for w in args.worker_counts:
                    key = f"{db} w{w}"
                    results["idproof"][key], results["bare"][key] = bench_database(
                        db, w, tmp, args, tool, started)
                    print(f"  {key}: done", flush=True)
                    if "peer" not in results and folder is not None and args.peer == "auto":
                        results["peer"] = bench_peer(folder, args, tool, started)
                        print("  oidc-provider: done", flush=True)
            if folder is None or args.peer != "auto":
                results["peer_skipped"] = why
        finally:  # on any error or signal too: no server outlives the bench (or its data dir)
            for server in reversed(started):
                server.stop()
    report(results, args)
    results["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    print(f"total {results['elapsed_s']:.0f} s")
    if args.json:
        payload = {
            **results,
            "idproof": {w.replace(" ", "_"): {k: v.as_dict() for k, v in d.items()}
                        for w, d in results["idproof"].items()},
            "bare": {w.replace(" ", "_"): {k: v.as_dict() for k, v in d.items()}
                     for w, d in results["bare"].items()},
            "peer": results["peer"].as_dict() if "peer" in results else None,
            "reference": {"keycloak_per_vcpu": KEYCLOAK_PER_VCPU,
                          "keycloak_2cpu": KEYCLOAK_2CPU, "hydra_2cpu": HYDRA_2CPU},
        }
        print(json.dumps(payload, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
