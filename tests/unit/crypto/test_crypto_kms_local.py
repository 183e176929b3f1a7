"""LocalKeyManager specifics: file mode, atomic writes, passphrase sealing, unsafe files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from idproof.crypto.errors import KeyringError, KeyringPassphraseError
from idproof.crypto.kms.local import LocalKeyManager

PASS = b"correct horse battery staple"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_on_first_use_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "keyring.json"
    km = LocalKeyManager(path)
    assert path.exists()
    assert _mode(path) == 0o600
    assert _mode(path.with_name("keyring.json.lock")) == 0o600
    km.rotate()
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["keyring.json", "keyring.json.lock"]


def test_mode_is_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "keyring.json"
        LocalKeyManager(path).rotate()
        assert _mode(path) == 0o600
    finally:
        os.umask(old)


def test_unprotected_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyManager(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "idproof-keyring" and doc["protection"] == "none"
    assert doc["keyring"]["current"] == 1
    assert len(doc["keyring"]["keks"]) == 1


def test_passphrase_seals_key_material(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    km = LocalKeyManager(path, PASS)
    km.rotate()
    doc = json.loads(path.read_text())
    assert doc["protection"] == "scrypt-aes256gcm"
    assert "keyring" not in doc and "root_secret" not in path.read_text()
    assert set(doc["kdf"]) == {"salt", "n", "r", "p"}
    assert LocalKeyManager(path, PASS).current_version() == 2


def test_wrong_passphrase_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyManager(path, PASS)
    with pytest.raises(KeyringPassphraseError, match="wrong passphrase") as err:
        LocalKeyManager(path, b"Tr0ub4dor&3")
    assert "Tr0ub4dor" not in str(err.value)
    assert str(path) in str(err.value)


def test_missing_or_unexpected_passphrase(tmp_path: Path) -> None:
    protected = tmp_path / "p.json"
    LocalKeyManager(protected, PASS)
    with pytest.raises(KeyringPassphraseError, match="passphrase-protected"):
        LocalKeyManager(protected)
    plain = tmp_path / "n.json"
    LocalKeyManager(plain)
    with pytest.raises(KeyringPassphraseError, match="not passphrase-protected"):
        LocalKeyManager(plain, PASS)


def test_edited_kdf_parameters_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyManager(path, PASS)
    doc = json.loads(path.read_text())
    doc["kdf"]["n"] = 2**14
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyringPassphraseError):
        LocalKeyManager(path, PASS)


def test_absurd_kdf_parameters_are_refused_before_running_scrypt(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyManager(path, PASS)
    doc = json.loads(path.read_text())
    doc["kdf"]["n"] = 2**30
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyringError, match="malformed"):
        LocalKeyManager(path, PASS)


def test_group_readable_keyring_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    LocalKeyManager(path)
    path.chmod(0o640)
    with pytest.raises(KeyringError, match="chmod 600"):
        LocalKeyManager(path)


@pytest.mark.parametrize("content", [b"", b"not json", b"{}", b'{"format": "other"}',
                                     b'{"format": "idproof-keyring", "format_version": 1,'
                                     b' "protection": "none", "keyring": {"current": 1}}'])
def test_malformed_keyring_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keyring.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(KeyringError, match="malformed"):
        LocalKeyManager(path)


def test_retire_erases_key_bytes_from_file(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    km = LocalKeyManager(path)
    v1_key = json.loads(path.read_text())["keyring"]["keks"][0]["key"]
    km.rotate()
    km.retire(1)
    text = path.read_text()
    assert v1_key not in text
    assert json.loads(text)["keyring"]["keks"][0]["key"] is None


def test_concurrent_rotations_from_two_instances_are_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    a, b = LocalKeyManager(path), LocalKeyManager(path)
    assert a.rotate() == 2
    assert b.rotate() == 3  # b re-reads under the lock instead of overwriting a's v2
    assert [v.version for v in LocalKeyManager(path).versions()] == [1, 2, 3]


def test_rejects_empty_passphrase(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalKeyManager(tmp_path / "k.json", b"")


def test_repr_has_no_secrets(tmp_path: Path) -> None:
    km = LocalKeyManager(tmp_path / "k.json", PASS)
    assert "horse" not in repr(km)
