"""Pkcs11KeyManager specifics on SoftHSM2: key objects stay inside the token, login errors."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.exceptions import AttributeSensitive

from idproof.crypto.errors import KeyManagerError
from idproof.crypto.kms.pkcs11 import Pkcs11KeyManager
from idproof.crypto.kms.softhsm import SoftHsmToken

Factory = Callable[..., Pkcs11KeyManager]


def _objects(km: Pkcs11KeyManager, cls: ObjectClass, label: str) -> list:
    with km._lock:
        return list(km._session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: label}))


def test_keks_are_generated_inside_token_and_never_extractable(
        pkcs11_factory: Factory) -> None:
    km = pkcs11_factory()
    prefix = km._prefix
    for label in (f"{prefix}-kek-v1", f"{prefix}-derive-root"):
        (key,) = _objects(km, ObjectClass.SECRET_KEY, label)
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.TOKEN] is True
        assert key[Attribute.PRIVATE] is True
        assert key[Attribute.VALUE_LEN] == 32
        assert key[Attribute.WRAP] is False and key[Attribute.UNWRAP] is False
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]
    (kek,) = _objects(km, ObjectClass.SECRET_KEY, f"{prefix}-kek-v1")
    assert kek.key_type == KeyType.AES
    assert kek[Attribute.DERIVE] is False


def test_retire_destroys_the_key_object(pkcs11_factory: Factory) -> None:
    km = pkcs11_factory()
    km.rotate()
    km.retire(1)
    assert _objects(km, ObjectClass.SECRET_KEY, f"{km._prefix}-kek-v1") == []
    assert len(_objects(km, ObjectClass.DATA, f"{km._prefix}-kek-v1-retired")) == 1


def test_other_process_rotation_is_seen_by_wrap(pkcs11_factory: Factory) -> None:
    a = pkcs11_factory()
    b = pkcs11_factory(refresh_seconds=0)
    v2 = a.rotate()
    assert b.wrap(os.urandom(32)).kek_version == v2


def test_prefixes_isolate_key_sets(pkcs11_factory: Factory,
                                   softhsm_token: SoftHsmToken) -> None:
    a = pkcs11_factory()
    a.rotate()
    other = Pkcs11KeyManager(softhsm_token.lib_path, softhsm_token.token_label,
                             softhsm_token.user_pin, label_prefix=a._prefix + "x")
    try:
        assert other.current_version() == 1
        assert other.derive_secret(b"blind-index") != a.derive_secret(b"blind-index")
    finally:
        other.close()


def test_closing_one_instance_keeps_others_logged_in(pkcs11_factory: Factory) -> None:
    a = pkcs11_factory()
    b = pkcs11_factory()
    dek = os.urandom(32)
    wrapped = a.wrap(dek)
    a.close()
    assert b.unwrap(wrapped) == dek
    with pytest.raises(KeyManagerError, match="closed"):
        a.wrap(dek)


def test_wrong_pin_and_unknown_token_fail_clearly(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(KeyManagerError, match="not found"):
        Pkcs11KeyManager(softhsm_token.lib_path, "no-such-token", softhsm_token.user_pin)
    with pytest.raises(KeyManagerError, match="wrong user PIN") as err:
        Pkcs11KeyManager(softhsm_token.lib_path, softhsm_token.token_label, "99999999")
    assert "99999999" not in str(err.value)


def test_bad_label_prefix_rejected(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(ValueError):
        Pkcs11KeyManager(softhsm_token.lib_path, softhsm_token.token_label,
                         softhsm_token.user_pin, label_prefix="bad prefix")
