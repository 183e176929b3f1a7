"""The README's walkthrough, run as written: its ```sh blocks against a real `idproof serve`.

The blocks come from README.md at test time, so a README change that stops working fails
here. Only what differs on a test machine is substituted: the server's and the receiver's
ports (fixed in the README), the `.venv/bin/` of this interpreter, and a temporary data dir.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = ("## The first ten minutes", "## The CLI")
README_BASE = "http://127.0.0.1:8000"
README_RECEIVER = "127.0.0.1:8787"
MARK = "::readme-block"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def walkthrough_blocks() -> tuple[dict[str, str], list[str]]:
    """The server's environment (the assignments before `make run`) and the other blocks."""
    text = README.read_text()
    start, end = text.index(SECTION[0]), text.index(SECTION[1])
    blocks = sh_blocks(text[start:end])
    servers = [b for b in blocks if "make run" in b]
    assert len(servers) == 1, "the walkthrough starts the server with one `make run` block"
    words = shlex.split(servers[0].split("#")[0])
    assert words[-2:] == ["make", "run"], servers[0]
    server_env = dict(w.split("=", 1) for w in words[:-2])
    return server_env, [b for b in blocks if b is not servers[0]]


def test_readme_top_commands_are_make_run_and_make_test() -> None:
    first = sh_blocks(README.read_text())[0]
    assert re.match(r"make run\b.*\nmake test\b", first), first
    makefile = (ROOT / "Makefile").read_text()
    # `make run` is `idproof serve`, which the walkthrough test below starts itself.
    assert re.search(r"^run: .*\n\t\$\(BIN\)/idproof serve$", makefile, flags=re.M)
    assert re.search(r"^test: ", makefile, flags=re.M)


def test_readme_links_stay_in_the_repository() -> None:
    text = README.read_text()
    assert "../" not in text
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert "docs/architecture.md" in targets
    for target in targets:
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target
    assert "architecture.md" in (ROOT / "docs" / "README.md").read_text()


def _wait_ready(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("idproof serve exited early")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("idproof serve did not start")


def _outputs(stdout: str) -> list[str]:
    """stdout of each block, in order (the script echoes a mark before each)."""
    return stdout.split(f"{MARK}\n")[1:]


def _json_lines(out: str) -> list[dict[str, object]]:
    """The JSON objects that curl printed (curl adds no newline; the next line may follow)."""
    found, decoder, i = [], json.JSONDecoder(), 0
    while (i := out.find("{", i)) != -1:
        try:
            obj, end = decoder.raw_decode(out, i)
        except ValueError:
            i += 1
            continue
        found.append(obj)
        i = end
    return found


def _signed(secret_key: bytes, msg_id: str, ts: int, body: bytes) -> str:
    digest = hmac.new(secret_key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    server_env, blocks = walkthrough_blocks()
    assert server_env == {"IDPROOF_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}
    assert len(blocks) >= 4
    port, receiver_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    assert (bindir / "idproof").exists()

    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    # At the repository root the CLI and the server share ./data; here, a temporary one.
    env["IDPROOF_DATA_DIR"] = str(tmp_path / "data")
    server_log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(bindir / "idproof"), "serve", "--port", str(port)],
        env={**env, **server_env, "IDPROOF_PUBLIC_URL": base},
        stdout=subprocess.DEVNULL, stderr=server_log, text=True)
    script = ["set -euo pipefail"]
    for block in blocks:
        block = (block.replace(README_BASE, base)
                 .replace(README_RECEIVER, f"127.0.0.1:{receiver_port}")
                 .replace("--port 8787", f"--port {receiver_port}")
                 .replace(".venv/bin/", f"{bindir}/"))
        script += [f"echo; echo {MARK}", block]
    script.append(f"echo; echo {MARK}")
    out_path, err_path = tmp_path / "walkthrough.out", tmp_path / "walkthrough.err"
    walk: subprocess.Popen[str] | None = None
    try:
        _wait_ready(base, server)
        # Files, not pipes: the receiver the README starts in the background outlives bash.
        # Its own process group, so the receiver can be stopped with the script's id.
        with out_path.open("w") as out, err_path.open("w") as err:
            walk = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=ROOT, env=env,
                                    stdout=out, stderr=err, text=True,
                                    start_new_session=True)
            rc = walk.wait(timeout=60)
        assert rc == 0, err_path.read_text()[-2000:]

        # Every block ran; and the receiver prints the two events it verified.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            printed = out_path.read_text()
            if ("verified webhook.test" in printed
                    and "verified session.created" in printed):
                break
            time.sleep(0.2)
        printed = out_path.read_text()
        outputs = _outputs(printed)
        assert len(outputs) == len(blocks) + 1

        objs = [o for block_out in outputs for o in _json_lines(block_out)]
        me = next(o for o in objs if "tenant_id" in o and "scopes" in o)
        assert me["tenant"] == "demo"
        assert set(me["scopes"]) >= {"identity.verify", "webhooks.manage"}  # type: ignore[arg-type]
        test_delivery = next(o for o in objs if o.get("event_type") == "webhook.test")
        assert test_delivery["status"] in {"pending", "delivered"}
        session = next(o for o in objs if str(o.get("id", "")).startswith("ses_"))
        assert session["status"] == "not_started"
        assert str(session["url"]).startswith(f"{base}/verify/")
        deliveries = next(o for o in objs if isinstance(o.get("data"), list))
        assert {d["event_type"] for d in deliveries["data"]} <= {  # type: ignore[union-attr]
            "webhook.test", "session.created"}

        # The receiver verified both signatures (it answers 400 to anything else) ...
        # It prints from the background, so its line may land right after a curl output that
        # has no trailing newline (`...}verified ...`), as it would in a terminal.
        for event in ("webhook\\.test", "session\\.created"):
            assert re.search(rf"(?:^|(?<=\}}))verified {event} msg_\w+$", printed,
                             flags=re.M), printed
        assert "rejected" not in printed
        # ... and idproof recorded them as delivered.
        token = httpx.post(f"{base}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=_client_from_cli(env, bindir)).json()["access_token"]
        endpoint_id = test_delivery["endpoint_id"]
        listed = httpx.get(f"{base}/v1/webhooks/{endpoint_id}/deliveries",
                           headers={"authorization": f"Bearer {token}"}).json()["data"]
        assert {(d["event_type"], d["status"]) for d in listed} == {
            ("webhook.test", "delivered"), ("session.created", "delivered")}

        # A forged delivery is refused by the example receiver.
        body = b'{"type": "webhook.test", "data": {}}'
        now = int(time.time())
        forged = httpx.post(
            f"http://127.0.0.1:{receiver_port}/hooks/idproof", content=body,
            headers={"webhook-id": "msg_forged", "webhook-timestamp": str(now),
                     "webhook-signature": _signed(b"x" * 32, "msg_forged", now, body)})
        assert forged.status_code == 400
        # No personal data, and no payload, in what the walkthrough printed beyond the API's
        # own answers: the receiver's lines are the event type and id only.
        receiver_lines = [ln for ln in printed.splitlines()
                          if ln.startswith(("verified", "rejected", "listening"))]
        assert all(len(ln.split()) <= 3 for ln in receiver_lines), receiver_lines
    finally:
        if walk is not None:
            with contextlib.suppress(ProcessLookupError):  # the receiver left in the background
                os.killpg(walk.pid, signal.SIGTERM)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server_log.close()


def _client_from_cli(env: dict[str, str], bindir: Path) -> tuple[str, str]:
    """A second client of the same tenant, to look at the deliveries after the script."""
    created = json.loads(subprocess.run(
        [str(bindir / "idproof"), "clients", "create", "--tenant", "demo",
         "--scopes", "webhooks.manage", "--json"],
        env=env, capture_output=True, text=True, check=True).stdout)
    return created["client_id"], created["client_secret"]
