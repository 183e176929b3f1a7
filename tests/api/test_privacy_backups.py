"""Backups taken before an erasure, end to end on SQLite and PostgreSQL: a full backup (main
database, key store, blob folder) restored into a deployment of its own exports the subject
until the KEK that wrapped the subject's key is retired, and nothing of it after (the KMS is
never in a backup). On PostgreSQL the key store is a schema of the same database, so one
`pg_dump` holds both, as an operator's backup would."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyrage
import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from idproof.bootstrap import Container, build_container
from idproof.config import Settings
from idproof.core.clock import FrozenClock
from idproof.privacy.package import Encryption, verify_zip
from idproof.verification.service import Actor
from idproof.web.app import create_app
from tests.colour_engines import ColourFaces, ColourReader, capture
from tests.conftest import TEST_SECRET, _pg_admin_url, _pg_exec
from tests.helpers import bearer, get_token
from tests.task_log import TaskLog

pytestmark = pytest.mark.hold_tasks("process_capture")

SCOPES = "identity.verify identity.read_status privacy.manage"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """The key store in SQLite next to a SQLite database, in a schema of PostgreSQL's."""
    keys = (f"{db_url}?schema=idproof_keys" if db_url.startswith("postgresql")
            else f"sqlite:///{tmp_path / 'data' / 'keystore.db'}")
    return Settings(data_dir=tmp_path / "data", database_url=db_url, key_database_url=keys,
                    secret_key=TEST_SECRET, public_url="http://testserver")


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    u = make_url(url)
    return ([f"--host={u.host}", f"--port={u.port or 5432}", f"--username={u.username}"],
            {**os.environ, "PGPASSWORD": u.password or ""})


def _backup(settings: Settings, target: Path) -> Callable[[], Settings]:
    """Back up everything but the KMS; the answer restores it into a deployment of its own."""
    target.mkdir()
    shutil.copytree(settings.data_dir / "blobs", target / "blobs")
    url = settings.sqlalchemy_url()
    if url.startswith("sqlite"):
        for name in ("idproof.db", "keystore.db"):
            with sqlite3.connect(settings.data_dir / name) as src, \
                    sqlite3.connect(target / name) as dst:
                src.backup(dst)  # what `sqlite3 idproof.db ".backup ..."` does
    else:
        args, env = _pg_args(url)
        subprocess.run(["pg_dump", *args, "--format=custom", f"--file={target / 'dump'}",
                        str(make_url(url).database)], env=env, check=True)

    def restore() -> Settings:
        data = target.parent / f"restored-{uuid.uuid4().hex[:6]}"
        shutil.copytree(target, data)
        db = keys = f"sqlite:///{data / 'idproof.db'}"
        if url.startswith("sqlite"):
            keys = f"sqlite:///{data / 'keystore.db'}"
        else:
            name = f"idproof_restored_{uuid.uuid4().hex[:10]}"
            _pg_exec(f'CREATE DATABASE "{name}"')
            RESTORED.append(name)
            args, env = _pg_args(url)
            subprocess.run(["pg_restore", *args, f"--dbname={name}", "--no-owner",
                            str(data / "dump")], env=env, check=True)
            db = make_url(_pg_admin_url()).set(database=name).render_as_string(
                hide_password=False)
            keys = f"{db}?schema=idproof_keys"
        return Settings(data_dir=data, database_url=db, key_database_url=keys,
                        secret_key=TEST_SECRET, public_url="http://testserver",
                        kms={"keyring_path": settings.data_dir / "keyring.json"})

    return restore


RESTORED: list[str] = []


@pytest.fixture(autouse=True)
def _drop_restored() -> Iterator[None]:
    yield
    while RESTORED:
        _pg_exec(f'DROP DATABASE IF EXISTS "{RESTORED.pop()}" WITH (FORCE)')


def _export(settings: Settings, tenant_id: str) -> dict[str, object]:
    """The subject as the restored deployment exports it (a fresh process: no cached key)."""
    c = build_container(settings, FrozenClock(), document_reader=ColourReader(),
                        face_analyzer=ColourFaces(), tasks=TaskLog("process_capture"))
    try:
        ident = pyrage.x25519.Identity.generate()
        out = c.subjects.export(Actor(tenant_id=tenant_id, client_id="cli_restore"), "user-b",
                                "restore test", Encryption(recipient=str(ident.to_public())))
        members = verify_zip(pyrage.decrypt(out.content, [ident]))
        (session,) = json.loads(members["subject.json"])["sessions"]
        return {"fields": session["extracted_fields"], "images": len(session["images"]),
                "text": members["subject.json"].decode() + members["summary.html"].decode()}
    finally:
        c.close()


def test_a_backup_from_before_the_erasure_cannot_decrypt_the_subject(
        colour_container: Container, task_queue: TaskLog, settings: Settings, make_client,
        tmp_path: Path) -> None:
    c = colour_container
    c.tenants.set_image_retention("demo", 3600)  # a retained image in the backup too
    tenant_id = c.tenants.get("demo").id
    jobs = task_queue.of("process_capture")
    with TestClient(create_app(c), raise_server_exceptions=False) as api:
        auth = bearer(get_token(api, make_client(scopes=SCOPES)))
        sid = api.post("/v1/sessions", json={"reference": "user-b",
                                             "workflow": "document_only"},
                       headers=auth).json()["id"]
        r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                     files={"file": ("d.jpg", capture("good", 1), "image/jpeg")}, headers=auth)
        assert r.status_code == 202, r.text
        while jobs:
            c.captures.process(*jobs.pop(0))
        assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).json()["status"] \
            == "approved"
        restore = _backup(settings, tmp_path / "backup")
        assert api.delete("/v1/subjects/user-b", headers=auth).status_code == 200

    # the backup holds the subject: restored, it decrypts while the old KEK lives
    before = _export(restore(), tenant_id)
    assert before["fields"]["surname"] == "TESTER" and before["images"] == 1  # type: ignore[index]
    # the rotation re-wraps the live keys (the erased subject's is gone), then the old KEK
    # is destroyed: the same backup, restored again, decrypts nothing of the subject
    old = c.protection.kms.current_version()
    c.protection.rotate_kek()
    c.protection.retire(old)
    after = _export(restore(), tenant_id)
    assert after["fields"] == {"erased": True} and after["images"] == 0
    assert "TESTER" not in str(after["text"]) and "ALEX" not in str(after["text"])
