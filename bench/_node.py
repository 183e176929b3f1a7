"""Node.js pieces of the benchmarks: the oidc-provider peer and the autocannon load generator.

Both are installed from the npm registry into a temporary folder at bench time (reused while
it exists: $TMPDIR/idproof-bench-node); nothing is committed or installed into the repo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from _common import BENCH_DIR, ServerProcess, free_port

PACKAGES = ("oidc-provider@9", "autocannon@8")
PEER_SCRIPT = BENCH_DIR / "peers" / "oidc_provider.mjs"


def node_dir() -> tuple[Path | None, str]:
    """The folder holding node_modules with the peer and autocannon, or (None, why not)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "Node.js (node and npm) is not installed"
    folder = Path(os.environ.get("IDPROOF_BENCH_NODE_DIR")
                  or Path(tempfile.gettempdir()) / "idproof-bench-node")
    folder.mkdir(parents=True, exist_ok=True)
    modules = folder / "node_modules"
    if not ((modules / "oidc-provider").is_dir() and (modules / "autocannon").is_dir()):
        print(f"  npm install {' '.join(PACKAGES)} into {folder} ...", flush=True)
        out = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent",
                              "--prefix", str(folder), *PACKAGES], capture_output=True,
                             text=True, timeout=600, check=False)
        if out.returncode != 0:
            return None, f"npm install failed: {(out.stderr or out.stdout)[-500:]}"
    shutil.copyfile(PEER_SCRIPT, folder / PEER_SCRIPT.name)  # ESM resolves from its folder
    return folder, ""


def start_peer(folder: Path, client_id: str, secret: str,
               started: list[ServerProcess]) -> ServerProcess:
    port = free_port()
    env: Mapping[str, str] = {**os.environ, "PORT": str(port), "CLIENT_ID": client_id,
                              "CLIENT_SECRET": secret, "NODE_ENV": "production"}
    server = ServerProcess("oidc-provider", ["node", PEER_SCRIPT.name], env, port, cwd=folder)
    started.append(server)
    server.wait_ready("/.well-known/openid-configuration")
    return server


def autocannon_bin(folder: Path) -> Path:
    return folder / "node_modules" / "autocannon" / "autocannon.js"
