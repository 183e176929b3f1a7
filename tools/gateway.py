"""Run the idproof gateway (nginx + ModSecurity v3 + OWASP CRS at PL2) on this machine.

    python3 tools/gateway.py start --backend 127.0.0.1:8000 --port 8443 [--runtime DIR]
    python3 tools/gateway.py render --backend 127.0.0.1:8000 --port 8443 --runtime DIR
    python3 tools/gateway.py stop --runtime DIR

`render` writes deploy/gateway/*.in, with their @@NAME@@ placeholders filled, into a runtime
directory of its own (nginx.conf, proxy.conf, modsecurity/, logs/, tmp/, a self-signed TLS
certificate for localhost and 127.0.0.1 unless --cert/--key are given). `start` renders, checks
the configuration (nginx -t) and runs nginx from it: in the foreground with --foreground (Ctrl-C
stops it), else as a daemon whose pid is in DIR/nginx.pid (`stop` ends it). It never touches
/etc/nginx or port 80. Standard library only (and the openssl command for the certificate).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "deploy" / "gateway"
MODULE_CANDIDATES = ("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so",
                     "/usr/share/nginx/modules/ngx_http_modsecurity_module.so")
CRS_DIR = Path("/usr/share/modsecurity-crs")
UNICODE_MAPS = ("/etc/nginx/unicode.mapping",
                "/usr/share/nginx/docs/modsecurity/unicode.mapping")
APT_LINE = "apt-get install -y nginx libnginx-mod-http-modsecurity modsecurity-crs"


def missing() -> str | None:
    """What is not installed for the gateway, as one line, or None when all is there."""
    if nginx_binary() is None:
        return f"nginx is not installed: {APT_LINE}"
    if modsecurity_module() is None:
        return f"the nginx ModSecurity module is not installed: {APT_LINE}"
    if not (CRS_DIR / "rules").is_dir():
        return f"the OWASP CRS is not installed ({CRS_DIR}): {APT_LINE}"
    return None


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def modsecurity_module() -> str | None:
    return next((p for p in MODULE_CANDIDATES if Path(p).is_file()), None)


@dataclass
class Gateway:
    runtime: Path
    port: int
    backend: str  # host:port of idproof

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def error_log(self) -> Path:
        return self.runtime / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        return self.runtime / "logs" / "access.log"

    @property
    def audit_log(self) -> Path:
        return self.runtime / "logs" / "modsec_audit.log"

    @property
    def cert(self) -> Path:
        return self.runtime / "tls" / "cert.pem"

    @property
    def pid_file(self) -> Path:
        return self.runtime / "nginx.pid"


def _backend(value: str) -> str:
    value = value.removeprefix("http://").rstrip("/")
    if "/" in value or ":" not in value:
        raise SystemExit(f"--backend: host:port or http://host:port, not {value!r}")
    return value


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (P-256, 30 days)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("the openssl command is needed for the certificate "
                         "(apt-get install -y openssl), or pass --cert and --key")
    subprocess.run(  # noqa: S603 - fixed arguments, our own paths
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "30", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    key.chmod(0o600)
    return cert, key


def render(runtime: Path, *, port: int, backend: str, cert: Path | None = None,
           key: Path | None = None, crs: Path = CRS_DIR, audit_all: bool = False) -> Gateway:
    """Fill the templates of deploy/gateway into `runtime`; returns where things are."""
    module = modsecurity_module()
    if module is None:
        raise SystemExit(f"the nginx ModSecurity module is not installed: {APT_LINE}")
    runtime = runtime.resolve()
    for sub in ("logs", "modsecurity", "tmp/modsec", "tmp/body", "tmp/proxy", "tmp/fastcgi",
                "tmp/uwsgi", "tmp/scgi"):
        (runtime / sub).mkdir(parents=True, exist_ok=True)
    (runtime / "logs").chmod(0o700)  # request lines and rule matches: for root only
    if cert is None or key is None:
        cert, key = make_certificate(runtime / "tls")
    user = ""
    if os.geteuid() == 0:
        # Workers drop root; they only need the temp dirs (the master opens logs and keys).
        user = "user nobody nogroup;"
        runtime.chmod(0o711)
        (runtime / "tmp").chmod(0o711)
        for sub in (runtime / "tmp").iterdir():
            os.chown(sub, 65534, 65534)
    unicode_map = next((p for p in UNICODE_MAPS if Path(p).is_file()), None)
    values = {
        "RUNTIME": str(runtime), "LISTEN": f"127.0.0.1:{port}", "BACKEND": _backend(backend),
        "CERT": str(cert), "KEY": str(key), "MODULE": module, "USER": user, "CRS": str(crs),
        "AUDIT_ENGINE": "On" if audit_all else "RelevantOnly",
        "UNICODE_MAP": f"SecUnicodeMapFile {unicode_map} 20127" if unicode_map else "",
    }
    targets = {"nginx.conf.in": "nginx.conf", "proxy.conf.in": "proxy.conf",
               "main.conf.in": "modsecurity/main.conf",
               "modsecurity.conf.in": "modsecurity/modsecurity.conf",
               "crs-setup.conf.in": "modsecurity/crs-setup.conf",
               "idproof-exclusions.conf.in": "modsecurity/idproof-exclusions.conf"}
    for name, target in targets.items():
        text = (TEMPLATES / name).read_text()
        for k, v in values.items():
            text = text.replace(f"@@{k}@@", v)
        if "@@" in text:
            raise SystemExit(f"{name}: a placeholder was left unfilled")
        (runtime / target).write_text(text)
    return Gateway(runtime, port, values["BACKEND"])


def _nginx(gw: Gateway, *extra: str) -> list[str]:
    exe = nginx_binary()
    if exe is None:
        raise SystemExit(f"nginx is not installed: {APT_LINE}")
    return [exe, "-p", str(gw.runtime), "-c", str(gw.runtime / "nginx.conf"), *extra]


def check(gw: Gateway) -> None:
    r = subprocess.run(_nginx(gw, "-t", "-q"), capture_output=True, text=True)  # noqa: S603
    if r.returncode != 0:
        raise SystemExit(f"nginx -t failed:\n{r.stderr}")


def start_daemon(gw: Gateway, timeout: float = 20.0) -> int:
    """Start nginx as a daemon; wait until it accepts TLS connections; return its pid."""
    import socket

    check(gw)
    subprocess.run(_nginx(gw), check=True, capture_output=True)  # noqa: S603
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", gw.port), timeout=1):
                if gw.pid_file.exists():
                    return int(gw.pid_file.read_text().strip())
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the gateway did not come up on {gw.url}; see {gw.error_log}")


def stop(runtime: Path, timeout: float = 10.0) -> None:
    pid_file = runtime / "nginx.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGQUIT)  # graceful: finish the requests in flight
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "render"):
        p = sub.add_parser(name)
        p.add_argument("--backend", default="127.0.0.1:8000",
                       help="idproof's address, host:port (default 127.0.0.1:8000)")
        p.add_argument("--port", type=int, default=8443, help="TLS port on 127.0.0.1 (8443)")
        p.add_argument("--runtime", type=Path, default=None,
                       help="runtime directory (default: a new one under the temp dir)")
        p.add_argument("--cert", type=Path, help="PEM certificate (default: self-signed)")
        p.add_argument("--key", type=Path, help="PEM private key of --cert")
        if name == "start":
            p.add_argument("--foreground", action="store_true",
                           help="run nginx in the foreground until Ctrl-C")
    p = sub.add_parser("stop")
    p.add_argument("--runtime", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "stop":
        stop(args.runtime)
        return 0
    problem = missing()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    runtime = args.runtime or Path(tempfile.mkdtemp(prefix="idproof-gateway-"))
    gw = render(runtime, port=args.port, backend=args.backend, cert=args.cert, key=args.key)
    if args.command == "render":
        print(gw.runtime)
        return 0
    print(f"gateway {gw.url} -> http://{gw.backend} (runtime {gw.runtime}; logs in "
          f"{gw.runtime / 'logs'})", file=sys.stderr)
    if args.foreground:
        check(gw)
        proc = subprocess.Popen(_nginx(gw, "-g", "daemon off;"))  # noqa: S603
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGQUIT)
            return proc.wait()
    pid = start_daemon(gw)
    print(f"nginx pid {pid}; stop with: python3 tools/gateway.py stop --runtime {gw.runtime}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
