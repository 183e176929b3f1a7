"""Personal data stored through the public services is not in the database bytes (nor pg_dump)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from idproof.bootstrap import Container
from idproof.vault.service import Caller

# Distinctive values, so a hit can only mean a leak.
VALUES = {
    "passport_number": "ZX9817263QK",
    "email": "marguerite.plaintext-probe@example.org",
    "name": "Marguerite Plaintextprobe",
    "phone": "+33612349876",
}


def _store_people(c: Container) -> list[str]:
    t = c.tenants.ensure("demo").id
    key = c.protection.subject_key(t, "sub_marguerite")
    tokens = [c.vault.tokenize(t, kind, value, key) for kind, value in VALUES.items()]
    # Detokenize once, so the audit log holds an event for it (with purpose, not value).
    assert c.vault.detokenize(t, tokens[0], "kyc re-check", Caller("cli_scan")).value == \
        VALUES["passport_number"]
    return tokens


def _needles() -> list[bytes]:
    out = []
    for value in VALUES.values():
        out += [value.encode(), value.encode("utf-16-le"), value.lower().encode()]
    return out


def test_sqlite_files_hold_no_plaintext(container: Container) -> None:
    url = make_url(container.db.url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("the SQLite file scan; PostgreSQL is covered by the pg_dump test")
    tokens = _store_people(container)
    data_dir = Path(url.database or "").parent
    files = sorted(p for p in data_dir.iterdir() if p.is_file())
    names = {p.name for p in files}
    # The WAL is where fresh writes sit before a checkpoint: it must be scanned too.
    assert {"idproof.db", "idproof.db-wal", "keystore.db", "keyring.json"} <= names
    found_token = False
    for path in files:
        raw = path.read_bytes()
        for needle in _needles():
            assert needle not in raw, f"plaintext found in {path.name}"
        found_token |= any(t.encode() in raw for t in tokens)
    assert found_token  # the scan really reads the database


def test_pg_dump_holds_no_plaintext(container: Container) -> None:
    url = make_url(container.db.url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("pg_dump needs the PostgreSQL run (IDPROOF_TEST_DATABASE_URL)")
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    tokens = _store_people(container)
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run([pg_dump, "--data-only", "--dbname", libpq], check=True,
                          capture_output=True, timeout=120).stdout
    assert tokens[0].encode() in dump
    for needle in _needles():
        assert needle not in dump
    # And the key store is not in the data database at all.
    assert b"subject_keys" not in dump
