"""A worker killed in the middle of a job: the sweep re-queues it and the session finishes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from idproof.testing import DocumentGenerator
from idproof.verification.models import Capture
from idproof.verification.service import Actor
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.slow


def _worker(settings, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDPROOF_")}
    env.update({"IDPROOF_DATA_DIR": str(settings.data_dir),
                "IDPROOF_DATABASE_URL": settings.sqlalchemy_url(),
                "IDPROOF_SECRET_KEY": TEST_SECRET, "IDPROOF_PUBLIC_URL": settings.public_url,
                "IDPROOF_LOGGING__LEVEL": "WARNING"})
    exe = Path(sys.executable).parent / "idproof"
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen([str(exe), "worker", "--threads", "1"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _pending(container) -> int:
    """Document jobs still queued (periodic sweeps may sit in the queue beside them)."""
    return sum(1 for t in container.jobs.huey.pending() if t.name.endswith("process_capture"))


def test_killed_worker_job_is_retried(container, settings, clock, tmp_path) -> None:
    from idproof.verification.schemas import CreateSession

    tenant = container.tenants.get("demo")
    actor = Actor(tenant_id=tenant.id, client_id="cli_test")
    view, _, _ = container.sessions.create(actor, CreateSession(reference="u-kill",
                                                                workflow="document_only"))
    doc = DocumentGenerator(seed=3, today=clock.now().date()).passport()
    buf = io.BytesIO()
    doc.front.convert("RGB").save(buf, format="JPEG", quality=92)
    container.captures.upload_document(actor, view.id, "front", buf.getvalue())
    assert _pending(container) == 1

    # Swap the sealed image for a named pipe: the job takes it off the queue, opens the
    # image and blocks there, in the middle of the job, until the worker is killed.
    with container.db.read() as s:
        cap = s.scalar(select(Capture).where(Capture.session_id == view.id))
        assert cap is not None
        blob = container.captures._blobs.root / cap.blob_key
    sealed = blob.read_bytes()
    blob.unlink()
    os.mkfifo(blob, 0o600)
    first = _worker(settings, tmp_path, "first")
    try:
        deadline = time.monotonic() + 60
        while _pending(container) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _pending(container) == 0, "the worker never took the job"
        time.sleep(1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    blob.unlink()
    blob.write_bytes(sealed)
    with container.db.read() as s:
        cap = s.scalar(select(Capture).where(Capture.session_id == view.id))
        assert cap is not None and cap.processed_at is None  # the job was lost with it
    assert container.sessions.get(tenant.id, view.id).steps[0].state == "processing"

    # Nothing is re-queued while the job could still be running; once it is stuck, it is.
    assert container.captures.sweep()["requeued"] == 0
    clock.advance(settings.jobs.stuck_after_seconds + 1)
    assert container.captures.sweep()["requeued"] == 1

    second = _worker(settings, tmp_path, "second")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            state = container.sessions.get(tenant.id, view.id).steps[0].state
            if state != "processing":
                break
            time.sleep(0.2)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(20)
    assert state == "passed"
    assert container.captures.submit(actor, view.id).status == "approved"
