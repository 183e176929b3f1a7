"""DataProtection end to end: subject keys, sealed fields, the separate key store, shredding."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url

from idproof.bootstrap import Container, build_container
from idproof.core.errors import Gone
from idproof.crypto.errors import (
    CryptoError,
    DecryptionError,
    KekUnavailableError,
    KeyStoreError,
    SubjectKeyNotFound,
    SubjectKeyShredded,
)
from idproof.crypto.fields import bind_protection
from idproof.crypto.keystore import KeyStore
from idproof.vault.models import VaultToken
from idproof.vault.service import Caller
from tests.conftest import _pg_exec

PASSPORT = "L898902C3"


def tenant_id(c: Container, name: str = "demo") -> str:
    return c.tenants.ensure(name).id


def test_round_trip_and_context_binding(container: Container) -> None:
    p = container.protection
    t1, t2 = tenant_id(container), tenant_id(container, "other")
    key = p.subject_key(t1, "sub_alice")
    assert p.subject_key(t1, "sub_alice") == key  # create-or-get
    blob = p.encrypt(t1, "people", "name", "row_1", key, "Alice Liddell")
    assert b"Alice" not in blob
    assert p.decrypt(t1, "people", "name", "row_1", key, blob) == b"Alice Liddell"
    p.clear_cache()  # cold: unwrap from the key store
    assert p.decrypt(t1, "people", "name", "row_1", None, blob) == b"Alice Liddell"

    with pytest.raises(DecryptionError) as exc:
        p.decrypt(t1, "people", "name", "row_2", key, blob)  # another row
    assert "row_2" in str(exc.value) and key in str(exc.value) and "Alice" not in str(exc.value)
    with pytest.raises(DecryptionError):
        p.decrypt(t1, "people", "email", "row_1", key, blob)  # another column
    with pytest.raises(DecryptionError):
        p.decrypt(t1, "accounts", "name", "row_1", key, blob)  # another table
    with pytest.raises(DecryptionError):
        p.decrypt(t2, "people", "name", "row_1", key, blob)  # another tenant
    with pytest.raises(SubjectKeyNotFound):
        p.encrypt(t2, "people", "name", "row_1", key, "x")  # a key of another tenant
    other_key = p.subject_key(t1, "sub_bob")
    with pytest.raises(DecryptionError):
        p.decrypt(t1, "people", "name", "row_1", other_key, blob)  # wrong subject
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        p.decrypt(t1, "people", "name", "row_1", key, bytes(tampered))
    with pytest.raises(DecryptionError):
        p.decrypt(t1, "people", "name", "row_1", key, blob[:20])
    # Two persons' keys differ; the same subject in another tenant gets its own key.
    assert p.subject_key(t2, "sub_alice") != key


def test_encrypted_field_never_sends_plaintext_to_sql(container: Container) -> None:
    t = tenant_id(container)
    key = container.protection.subject_key(t, "sub_carol")
    params: list[Any] = []

    def capture(_conn: Any, _cur: Any, _stmt: str, parameters: Any, _ctx: Any,
                _many: bool) -> None:
        params.append(parameters)

    event.listen(container.db.engine, "before_cursor_execute", capture)
    try:
        token = container.vault.tokenize(t, "passport_number", PASSPORT, key)
        # A row built with the value in the constructor is sealed by the flush hook.
        with container.db.session() as s:
            bind_protection(s, container.protection)
            s.add(VaultToken(token="tok_email_" + "a" * 24, tenant_id=t, kind="email",
                             blind_index="0" * 32, subject_key_id=key,
                             created_at=container.clock.now(), value="carol@example.com"))
    finally:
        event.remove(container.db.engine, "before_cursor_execute", capture)
    dumped = repr(params)
    assert token in dumped
    assert PASSPORT not in dumped and "carol@example.com" not in dumped
    with container.db.session() as s:
        bind_protection(s, container.protection)
        row = s.get(VaultToken, "tok_email_" + "a" * 24)
        assert row is not None and row.value == "carol@example.com"
        assert isinstance(row.value_sealed, bytes) and b"carol" not in row.value_sealed
    # Outside a bound session the field refuses to pretend: it raises rather than leak.
    with container.db.session() as s:
        row = s.get(VaultToken, "tok_email_" + "a" * 24)
        with pytest.raises(RuntimeError):
            _ = row.value
        assert VaultToken.value.read(row, container.protection) == "carol@example.com"


def test_unsealed_values_are_refused_by_the_column(container: Container) -> None:
    t = tenant_id(container)
    key = container.protection.subject_key(t, "sub_dan")
    with pytest.raises(Exception) as exc, container.db.session() as s:
        # No DataProtection bound: the flush must fail instead of writing plaintext.
        s.add(VaultToken(token="tok_email_" + "b" * 24, tenant_id=t, kind="email",
                         blind_index="1" * 32, subject_key_id=key,
                         created_at=container.clock.now(), value="dan@example.com"))
    assert "dan@example.com" not in str(exc.value)
    with pytest.raises(Exception) as exc, container.db.session() as s:
        row = VaultToken(token="tok_email_" + "c" * 24, tenant_id=t, kind="email",
                         blind_index="2" * 32, subject_key_id=key,
                         created_at=container.clock.now())
        row.value_sealed = b"dan@example.com"  # raw bytes that are not an envelope
        s.add(row)
    assert "dan@example.com" not in str(exc.value)
    with container.db.session() as s:
        assert s.scalar(select(VaultToken).where(VaultToken.kind == "email")) is None


def test_key_store_is_apart_from_the_data(container: Container) -> None:
    t = tenant_id(container)
    key = container.protection.subject_key(t, "sub_erin")
    container.vault.tokenize(t, "passport_number", PASSPORT, key)
    assert "subject_keys" not in inspect(container.db.engine).get_table_names()
    assert "vault_tokens" not in inspect(container.protection.store.engine).get_table_names()
    rec = container.protection.store.get(key)
    assert rec is not None and rec.wrapped is not None
    settings = container.settings
    assert Path(make_url(settings.key_store_url()).database or "").name == "keystore.db"
    keystore_file = settings.data_dir / "keystore.db"
    assert keystore_file.stat().st_mode & 0o077 == 0
    assert (settings.data_dir / "keyring.json").stat().st_mode & 0o077 == 0
    # The key store refuses to live inside the data database.
    with pytest.raises(KeyStoreError):
        KeyStore(settings.sqlalchemy_url(), data_url=settings.sqlalchemy_url())


def _snapshot_main_db(c: Container) -> str:
    """A copy of the main database as a backup would hold it; returns its URL."""
    url = make_url(c.db.url)
    if url.get_backend_name() == "sqlite":
        target = Path(url.database or "").with_name("backup.db")
        src, dst = sqlite3.connect(url.database or ""), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return f"sqlite:///{target}"
    name = f"idproof_bk_{uuid.uuid4().hex[:10]}"
    c.db.dispose()  # CREATE DATABASE ... TEMPLATE needs the source idle
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
    return url.set(database=name).render_as_string(hide_password=False)


def test_shredding_makes_a_backup_unreadable_for_that_person_only(container: Container
                                                                   ) -> None:
    t = tenant_id(container)
    p = container.protection
    alice, bob = p.subject_key(t, "sub_alice"), p.subject_key(t, "sub_bob")
    tok_a = container.vault.tokenize(t, "passport_number", "ALICE12345", alice)
    tok_b = container.vault.tokenize(t, "passport_number", "BOB6789012", bob)
    backup_url = _snapshot_main_db(container)  # taken BEFORE the shred
    try:
        assert p.shred(alice) is True
        assert p.shred(alice) is False  # idempotent
        events = container.audit.list(action="crypto.subject_key_shredded")
        assert events and events[0].target_id == alice and events[0].tenant_id == t
        with pytest.raises(SubjectKeyShredded):
            p.subject_key(t, "sub_alice")  # an erased subject gets no new data

        # A fresh process: the backup of the data + the key store as it is after the shred.
        restored = container.settings.model_copy(update={"database_url": SecretStr(backup_url)})
        other = build_container(restored, container.clock)
        try:
            caller = Caller("cli_test")
            assert other.vault.detokenize(t, tok_b, "support case", caller).value == \
                "BOB6789012"
            with pytest.raises(Gone) as gone:
                other.vault.detokenize(t, tok_a, "support case", caller)
            assert gone.value.code == "token_erased"
            with other.db.session() as s:
                row = s.get(VaultToken, tok_a)
                assert row is not None and row.value_sealed is not None  # ciphertext is there
                with pytest.raises(SubjectKeyShredded):
                    other.protection.decrypt(t, "vault_tokens", "value", tok_a, alice,
                                             row.value_sealed)
        finally:
            other.close()
    finally:
        if backup_url.startswith("postgresql"):
            _pg_exec(f'DROP DATABASE IF EXISTS "{make_url(backup_url).database}" WITH (FORCE)')


def test_forget_subject_releases_the_blind_index(container: Container) -> None:
    t = tenant_id(container)
    p = container.protection
    alice = p.subject_key(t, "sub_alice")
    tok = container.vault.tokenize(t, "passport_number", PASSPORT, alice)
    p.shred(alice)
    # Without forget_subject, tokenize notices the erased subject and issues a new token.
    carol = p.subject_key(t, "sub_carol")
    tok2 = container.vault.tokenize(t, "passport_number", PASSPORT, carol)
    assert tok2 != tok
    assert container.vault.tokenize(t, "passport_number", PASSPORT, carol) == tok2
    p.shred(carol)
    assert container.vault.forget_subject(t, carol) == 1
    with container.db.session() as s:
        row = s.get(VaultToken, tok2)
        assert row is not None and row.blind_index is None and row.value_sealed is None
    with pytest.raises(Gone):
        container.vault.detokenize(t, tok2, "check", Caller("cli_x"))


def test_tokenize_same_value_same_token_per_tenant(container: Container) -> None:
    t1, t2 = tenant_id(container), tenant_id(container, "other")
    p = container.protection
    k1, k2 = p.subject_key(t1, "sub_1"), p.subject_key(t2, "sub_1")
    a = container.vault.tokenize(t1, "passport_number", "L898902C3", k1)
    assert a.startswith("tok_passport_number_")
    # Normalised equality (spaces, case) finds the same token through the blind index.
    assert container.vault.tokenize(t1, "passport_number", "l898 902c3", k1) == a
    b = container.vault.tokenize(t2, "passport_number", "L898902C3", k2)
    assert b != a
    assert container.vault.tokenize(t1, "email", "L898902C3", k1) not in {a, b}
    # The random part is not derived from the value: another value gets an unrelated token.
    c = container.vault.tokenize(t1, "passport_number", "L898902C4", k1)
    assert c[len("tok_passport_number_"):] != a[len("tok_passport_number_"):]
    with pytest.raises(ValueError):
        container.vault.tokenize(t1, "Bad-Kind", "x", k1)
    with pytest.raises(ValueError):
        container.vault.tokenize(t1, "email", "   ", k1)


def test_erasure_is_final_for_key_store_backups_once_the_kek_is_retired(
        container: Container) -> None:
    t = tenant_id(container)
    p = container.protection
    alice, bob = p.subject_key(t, "sub_alice"), p.subject_key(t, "sub_bob")
    blob = p.encrypt(t, "people", "name", "r1", alice, "Alice")
    if p.store.dialect != "sqlite":
        pytest.skip("the key store of this test container is SQLite")
    ks_file = container.settings.data_dir / "keystore.db"
    ks_backup = ks_file.with_name("keystore-backup.db")
    src, dst = sqlite3.connect(ks_file), sqlite3.connect(ks_backup)
    src.backup(dst)
    src.close()
    dst.close()

    p.shred(alice)
    st = p.status()
    assert st.shredded_keys == 1 and st.awaiting_retirement == 1
    p.rotate_kek(batch_size=1)
    st = p.status()
    assert st.awaiting_retirement == 1  # v1 still exists: the backup can still unwrap
    p.retire(1)
    st = p.status()
    # Every version that ever wrapped Alice's key (v1) is retired: the erasure is final.
    assert st.awaiting_retirement == 0
    assert [v.retired for v in st.versions] == [True, False]

    old_store = KeyStore(f"sqlite:///{ks_backup}")
    try:
        rec = old_store.get(alice)
        assert rec is not None and rec.wrapped is not None  # the backup still holds it...
        with pytest.raises(KekUnavailableError):
            p.kms.unwrap(rec.wrapped_key)  # ...but nothing can unwrap it any more
    finally:
        old_store.dispose()
    p.clear_cache()
    assert p.decrypt(t, "people", "name", "r2", bob,
                     p.encrypt(t, "people", "name", "r2", bob, "Bob")) == b"Bob"
    with pytest.raises(CryptoError):
        p.decrypt(t, "people", "name", "r1", alice, blob)


def test_key_store_on_postgresql_schema(settings: Any, clock: Any) -> None:
    if make_url(settings.sqlalchemy_url()).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL key store")
    url = make_url(settings.sqlalchemy_url())
    ks_url = url.update_query_dict({"schema": "idproof_keys"}).render_as_string(
        hide_password=False)
    c = build_container(settings.model_copy(update={"key_database_url": SecretStr(ks_url)}), clock)
    try:
        t = tenant_id(c)
        key = c.protection.subject_key(t, "sub_pg")
        blob = c.protection.encrypt(t, "people", "name", "r", key, "Pat")
        c.protection.clear_cache()
        assert c.protection.decrypt(t, "people", "name", "r", key, blob) == b"Pat"
        engine = create_engine(url.render_as_string(hide_password=False))
        try:
            with engine.connect() as conn:
                tables = set(conn.execute(text(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                    "WHERE table_name = 'subject_keys'")).scalars())
        finally:
            engine.dispose()
        assert tables == {"idproof_keys.subject_keys"}
    finally:
        c.close()


def test_keystore_files_are_private_after_prepare(tmp_path: Path, monkeypatch: Any) -> None:
    from idproof.bootstrap import prepare
    from idproof.config import Settings

    data = tmp_path / "data"
    for name in ("IDPROOF_DATABASE_URL", "IDPROOF_KEY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    c = prepare(Settings(data_dir=data))
    try:
        t = tenant_id(c)
        c.protection.subject_key(t, "s")
    finally:
        c.close()
    for name in ("keystore.db", "keyring.json", "idproof.db"):
        assert (data / name).stat().st_mode & 0o077 == 0, name
    shutil.rmtree(data)
