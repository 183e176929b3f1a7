"""BlindIndexer: determinism, tenant/kind separation, normalisation and input checks."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from idproof.crypto.blind_index import (
    BlindIndexer,
    normalize_email,
    normalize_identifier,
    normalize_phone,
    normalize_text,
)

ROOT = bytes(range(32))
IDX = BlindIndexer(ROOT)
tenants = st.text(min_size=1, max_size=20)
values = st.text(min_size=1, max_size=40).filter(lambda v: normalize_text(v) != "")


def _lp(*fields: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(f)) + f for f in fields)


def test_matches_documented_construction() -> None:
    key = HKDF(hashes.SHA256(), 32, None,
               b"idproof/blind-index/v1/" + _lp(b"ten_a", b"passport_number")).derive(ROOT)
    mac = hmac.new(key, _lp(b"passport_number", b"l898902c3"), hashlib.sha256).digest()
    assert IDX.compute("ten_a", "passport_number", "L898902C3") == mac[:16].hex()


def test_shape_and_determinism() -> None:
    a = IDX.compute("ten_a", "email", "Anna@Example.org")
    assert len(a) == 32 and int(a, 16) >= 0
    assert a == BlindIndexer(ROOT).compute("ten_a", "email", "anna@example.org ")


@given(tenant=tenants, other=tenants, value=values)
def test_same_value_same_tenant_equal_other_tenant_differs(tenant: str, other: str,
                                                           value: str) -> None:
    assert IDX.compute(tenant, "name", value) == IDX.compute(tenant, "name", value)
    if other != tenant:
        assert IDX.compute(tenant, "name", value) != IDX.compute(other, "name", value)


def test_kind_separation_even_with_same_normaliser() -> None:
    assert IDX.compute("t", "passport_number", "12345678") != IDX.compute("t", "phone",
                                                                         "12345678")
    assert IDX.compute("t", "passport_number", "X1") != IDX.compute("t", "national_id", "X1")


def test_different_root_different_index() -> None:
    other = BlindIndexer(bytes(32))
    assert other.compute("t", "email", "a@b.c") != IDX.compute("t", "email", "a@b.c")


@pytest.mark.parametrize(("kind", "a", "b"), [
    ("passport_number", "AB 12-34.56", "ab123456"),
    ("document_number", "\uff21\uff22\uff11\uff12\uff13", "ab123"),  # full-width
    ("national_id", "123/456_789", "123456789"),
    ("phone", "+44 (20) 7946-0958", "+442079460958"),
    ("phone", "\u0660\u0661\u0662\u0663", "0123"),  # Arabic-Indic digits
    ("email", "  Anna.Smith@Example.ORG ", "anna.smith@example.org"),
    ("name", "  Anna   MARÍA ", "anna maría"),
    ("name", "STRASSE", "straße"),
])
def test_normalisation_equivalences(kind: str, a: str, b: str) -> None:
    assert IDX.compute("t", kind, a) == IDX.compute("t", kind, b)


def test_normalisation_keeps_distinct_values_distinct() -> None:
    assert IDX.compute("t", "email", "a.b@x.org") != IDX.compute("t", "email", "ab@x.org")
    assert IDX.compute("t", "phone", "+4412") != IDX.compute("t", "phone", "4412")
    assert IDX.compute("t", "name", "anna maria") != IDX.compute("t", "name", "annamaria")


@given(st.text(max_size=40))
def test_normalisers_are_idempotent(value: str) -> None:
    for fn in (normalize_text, normalize_identifier, normalize_phone, normalize_email):
        once = fn(value)
        assert fn(once) == once


def test_unknown_kind_uses_default_and_custom_normaliser_plugs_in() -> None:
    assert IDX.normalize("employee_ref", "  Foo  Bar ") == "foo bar"
    custom = BlindIndexer(ROOT, normalizers={"iban": lambda v: v.replace(" ", "").upper()})
    assert custom.compute("t", "iban", "de89 3704") == custom.compute("t", "iban", "DE893704")
    assert custom.normalize("iban", "de89 3704") == "DE893704"
    upper = BlindIndexer(ROOT, default_normalizer=str.strip)
    assert upper.compute("t", "misc", "Ab") != upper.compute("t", "misc", "ab")


def test_empty_after_normalisation_is_refused_without_echo() -> None:
    with pytest.raises(ValueError) as err:
        IDX.compute("t", "passport_number", " -.- ")
    assert "-.-" not in str(err.value)
    with pytest.raises(ValueError):
        IDX.compute("t", "name", "")


@pytest.mark.parametrize("kind", ["", "Passport", "has space", "x" * 65, "-lead"])
def test_bad_kinds_rejected(kind: str) -> None:
    with pytest.raises(ValueError):
        IDX.compute("t", kind, "v")


def test_bad_tenant_and_root_rejected() -> None:
    with pytest.raises(ValueError):
        IDX.compute("", "email", "a@b.c")
    with pytest.raises(ValueError):
        BlindIndexer(b"short")
    with pytest.raises(ValueError):
        BlindIndexer(ROOT, normalizers={"Bad Kind": str.strip})


def test_matches_is_true_only_for_the_right_value() -> None:
    index = IDX.compute("t", "email", "a@b.c")
    assert IDX.matches("t", "email", "A@B.C", index)
    assert not IDX.matches("t", "email", "a@b.d", index)
    assert not IDX.matches("u", "email", "a@b.c", index)
    assert not IDX.matches("t", "email", "   ", index)
