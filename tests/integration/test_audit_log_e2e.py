"""End to end: an exported event, its proof and checkpoint from the API, the standalone tool."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from idproof.audit.checkpoint import parse_verifier_key
from idproof.audit.events import AuditEvent
from idproof.bootstrap import Container
from idproof.cli.audit import parse_since
from idproof.core.clock import FrozenClock
from tests.audit_log_support import cli
from tests.helpers import bearer, get_token

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_proof.py"


def _tool(key: str, checkpoint: Path, event: Path, proof: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), "--key", key, "--checkpoint", str(checkpoint),
         "--event", str(event), "--proof", str(proof)],
        capture_output=True, text=True, timeout=60, check=False)


def test_exported_event_verifies_with_the_standalone_tool(
        api: TestClient, container: Container, make_client: Any, tmp_path: Path) -> None:
    auditor = make_client("demo", scopes="audit.read")
    headers = bearer(get_token(api, auditor))  # a token.issued event for the demo tenant
    demo = container.tenants.find("demo")
    assert demo is not None
    container.audit.record(AuditEvent(
        action="pii.read", tenant_id=demo.id, actor_type="client", actor_id=auditor.client_id,
        purpose="manual review — ticket 7", details={"fields": ["document_number"], "n": 1.5}))

    key = cli(container, "audit", "public-key")
    assert key.exit_code == 0, key.output
    made = cli(container, "audit", "checkpoint")
    assert made.exit_code == 0, made.output
    exported = cli(container, "audit", "export", "--format", "jsonl")
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [e["index"] for e in lines] == list(range(len(lines)))
    event = next(e for e in lines if e["action"] == "pii.read")

    r = api.get("/v1/audit/checkpoint", headers=headers)
    assert r.status_code == 200
    assert r.text == made.stdout
    tree_size = int(r.text.splitlines()[1])
    proof = api.get("/v1/audit/proof/inclusion",
                    params={"index": event["index"], "tree_size": tree_size}, headers=headers)
    assert proof.status_code == 200, proof.text

    files = {"checkpoint.txt": r.text, "event.json": json.dumps(event, ensure_ascii=False),
             "proof.json": proof.text}
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    done = _tool(key.stdout.strip(), tmp_path / "checkpoint.txt", tmp_path / "event.json",
                 tmp_path / "proof.json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK: event {event['index']} is in ")

    # One altered field in the exported event and the tool refuses it.
    (tmp_path / "event.json").write_text(json.dumps({**event, "purpose": "something else"}))
    done = _tool(key.stdout.strip(), tmp_path / "checkpoint.txt", tmp_path / "event.json",
                 tmp_path / "proof.json")
    assert done.returncode == 1 and "altered" in done.stderr


def test_export_since_and_resume(container: Container, clock: FrozenClock) -> None:
    halfway = (clock.now() + timedelta(minutes=30)).isoformat()
    clock.advance(3600)
    container.audit.record(AuditEvent(action="recent.one"))
    recent = cli(container, "audit", "export", "--since", halfway)
    assert recent.exit_code == 0, recent.output
    assert [json.loads(line)["action"] for line in recent.stdout.splitlines()] == ["recent.one"]
    everything = cli(container, "audit", "export").stdout.splitlines()
    last = json.loads(everything[-1])["index"]
    # Each export is itself an audit event, so a resumed export starts with the previous one.
    resumed = cli(container, "audit", "export", "--after-index", str(last)).stdout.splitlines()
    assert [json.loads(line)["action"] for line in resumed] == ["audit.exported"]
    bad = cli(container, "audit", "export", "--since", "last tuesday")
    assert bad.exit_code == 2


def test_parse_since() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-04-30", now) == datetime(2026, 4, 30, tzinfo=UTC)
    assert parse_since("2026-04-30T10:00:00+02:00", now) == datetime(2026, 4, 30, 8,
                                                                      tzinfo=UTC)


def test_public_key_and_verify_with_progress(container: Container) -> None:
    key = cli(container, "audit", "public-key")
    assert key.exit_code == 0
    verifier = parse_verifier_key(key.stdout.strip())
    assert verifier.name == "testserver/idproof/audit"
    assert cli(container, "audit", "public-key").stdout == key.stdout  # one key, kept
    container.audit_log.checkpoint()
    result = cli(container, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ") and "1 stored checkpoints verified" in result.stdout
    assert "verifying audit log" in result.stderr  # the progress bar
