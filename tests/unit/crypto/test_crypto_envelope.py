"""EnvelopeCipher: round trips, stored format, and refusal of tampered/moved/truncated values."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from idproof.crypto.envelope import (
    FORMAT_V1,
    NONCE_BYTES,
    TAG_BYTES,
    AadContext,
    EnvelopeCipher,
    new_dek,
    peek_key_id,
)
from idproof.crypto.errors import DecryptionError

CIPHER = EnvelopeCipher()
DEK = bytes(range(32))
KEY_ID = "sk_0123456789abcdefghijklmn"
CTX = AadContext("ten_acme", "identity_fields", "document_number", "row_42")
SECRET = b"SECRET-PII-P<UTOERIKSSON<<ANNA<MARIA"

key_ids = st.from_regex(r"[A-Za-z0-9_.:\-]{1,255}", fullmatch=True)
names = st.text(min_size=1, max_size=40)
contexts = st.builds(AadContext, names, names, names, names)


def _assert_safe(err: DecryptionError) -> None:
    text = str(err) + repr(err) + repr(err.args)
    assert SECRET.decode() not in text
    assert "SECRET" not in text


@given(plaintext=st.binary(max_size=2048), key_id=key_ids, ctx=contexts)
def test_round_trip_arbitrary_bytes(plaintext: bytes, key_id: str, ctx: AadContext) -> None:
    blob = CIPHER.seal(DEK, key_id, plaintext, ctx)
    assert CIPHER.open(DEK, blob, ctx) == plaintext
    assert CIPHER.open(DEK, blob, ctx, expected_key_id=key_id) == plaintext
    assert peek_key_id(blob) == key_id


def test_stored_format_layout() -> None:
    blob = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    assert blob[0] == FORMAT_V1
    assert blob[1] == len(KEY_ID)
    assert blob[2:2 + len(KEY_ID)] == KEY_ID.encode()
    assert len(blob) == 2 + len(KEY_ID) + NONCE_BYTES + len(SECRET) + TAG_BYTES
    assert SECRET not in blob


def test_matches_raw_aesgcm_with_documented_aad() -> None:
    """The documented format is the real one: decrypt with a plain AESGCM and the spec AAD."""
    import struct

    blob = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    off = 2 + len(KEY_ID)
    fields = [b"idproof/envelope", b"\x01", KEY_ID.encode(), CTX.tenant_id.encode(),
              CTX.table.encode(), CTX.column.encode(), CTX.row_id.encode()]
    aad = b"".join(struct.pack(">I", len(f)) + f for f in fields)
    assert AESGCM(DEK).decrypt(blob[off:off + 12], blob[off + 12:], aad) == SECRET


def test_nonce_is_random() -> None:
    a = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    b = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    assert a != b
    assert CIPHER.open(DEK, a, CTX) == CIPHER.open(DEK, b, CTX) == SECRET


def test_empty_plaintext_round_trips() -> None:
    assert CIPHER.open(DEK, CIPHER.seal(DEK, KEY_ID, b"", CTX), CTX) == b""


def _position_class(i: int) -> str:
    id_end = 2 + len(KEY_ID)
    if i == 0:
        return "version"
    if i == 1:
        return "key_id_length"
    if i < id_end:
        return "key_id"
    if i < id_end + NONCE_BYTES:
        return "nonce"
    if i < id_end + NONCE_BYTES + len(SECRET):
        return "ciphertext"
    return "tag"


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_byte_flip_is_refused(mask: int) -> None:
    blob = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    seen: set[str] = set()
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= mask
        with pytest.raises(DecryptionError) as err:
            CIPHER.open(DEK, bytes(bad), CTX)
        _assert_safe(err.value)
        seen.add(_position_class(i))
    assert seen == {"version", "key_id_length", "key_id", "nonce", "ciphertext", "tag"}


@given(plaintext=st.binary(min_size=0, max_size=256), data=st.data())
def test_random_tamper_is_refused(plaintext: bytes, data: st.DataObject) -> None:
    blob = CIPHER.seal(DEK, KEY_ID, plaintext, CTX)
    i = data.draw(st.integers(0, len(blob) - 1))
    mask = data.draw(st.integers(1, 255))
    bad = bytearray(blob)
    bad[i] ^= mask
    with pytest.raises(DecryptionError):
        CIPHER.open(DEK, bytes(bad), CTX)


def test_tampered_ciphertext_error_names_key_and_row_not_plaintext() -> None:
    blob = bytearray(CIPHER.seal(DEK, KEY_ID, SECRET, CTX))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError) as err:
        CIPHER.open(DEK, bytes(blob), CTX)
    msg = str(err.value)
    for part in (KEY_ID, CTX.tenant_id, CTX.table, CTX.column, CTX.row_id):
        assert part in msg
    assert err.value.key_id == KEY_ID
    assert err.value.context == CTX
    _assert_safe(err.value)


def test_every_truncation_is_refused() -> None:
    blob = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    for n in range(len(blob)):
        with pytest.raises(DecryptionError) as err:
            CIPHER.open(DEK, blob[:n], CTX)
        _assert_safe(err.value)


def test_extension_is_refused() -> None:
    blob = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    with pytest.raises(DecryptionError):
        CIPHER.open(DEK, blob + b"\x00", CTX)


@pytest.mark.parametrize("other", [
    AadContext("ten_other", CTX.table, CTX.column, CTX.row_id),
    AadContext(CTX.tenant_id, "other_table", CTX.column, CTX.row_id),
    AadContext(CTX.tenant_id, CTX.table, "given_name", CTX.row_id),
    AadContext(CTX.tenant_id, CTX.table, CTX.column, "row_43"),
], ids=["tenant", "table", "column", "row"])
def test_swapped_ciphertext_is_refused(other: AadContext) -> None:
    blob = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    with pytest.raises(DecryptionError) as err:
        CIPHER.open(DEK, blob, other)
    assert other.row_id in str(err.value) and other.tenant_id in str(err.value)
    _assert_safe(err.value)


@given(ctx=contexts, other=contexts)
def test_swap_property(ctx: AadContext, other: AadContext) -> None:
    blob = CIPHER.seal(DEK, KEY_ID, b"v", ctx)
    if other == ctx:
        assert CIPHER.open(DEK, blob, other) == b"v"
    else:
        with pytest.raises(DecryptionError):
            CIPHER.open(DEK, blob, other)


def test_aad_encoding_is_unambiguous() -> None:
    a = AadContext("ab", "c", "d", "e")
    b = AadContext("a", "bc", "d", "e")
    blob = CIPHER.seal(DEK, KEY_ID, SECRET, a)
    with pytest.raises(DecryptionError):
        CIPHER.open(DEK, blob, b)


def test_wrong_dek_is_refused() -> None:
    blob = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    with pytest.raises(DecryptionError, match="authentication failed"):
        CIPHER.open(new_dek(), blob, CTX)


def test_key_id_swapped_in_header_is_refused() -> None:
    """Rewriting the header to name another key (same length) still fails authentication."""
    blob = bytearray(CIPHER.seal(DEK, "sk_aaaa", SECRET, CTX))
    blob[2:2 + 7] = b"sk_bbbb"
    with pytest.raises(DecryptionError) as err:
        CIPHER.open(DEK, bytes(blob), CTX)
    assert "sk_bbbb" in str(err.value)


def test_expected_key_id_mismatch() -> None:
    blob = CIPHER.seal(DEK, KEY_ID, SECRET, CTX)
    with pytest.raises(DecryptionError, match="expected 'sk_other'"):
        CIPHER.open(DEK, blob, CTX, expected_key_id="sk_other")


@pytest.mark.parametrize("version", [0x00, 0x02, 0x7F, 0xFF])
def test_unknown_version_is_refused(version: int) -> None:
    blob = bytearray(CIPHER.seal(DEK, KEY_ID, SECRET, CTX))
    blob[0] = version
    with pytest.raises(DecryptionError, match=f"unknown format version {version}"):
        CIPHER.open(DEK, bytes(blob), CTX)
    with pytest.raises(DecryptionError):
        peek_key_id(bytes(blob))


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01\x00" + b"\x00" * 40,
                                  b"\x01\x05\xff\xfe\xfd\xfc\xfb" + b"\x00" * 40])
def test_peek_rejects_malformed(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        EnvelopeCipher.peek_key_id(blob)


def test_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        CIPHER.seal(b"short", KEY_ID, SECRET, CTX)
    with pytest.raises(ValueError):
        CIPHER.open(b"\x00" * 16, CIPHER.seal(DEK, KEY_ID, SECRET, CTX), CTX)
    for bad_id in ("", "x" * 256, "has space", "naïve", "a/b"):
        with pytest.raises(ValueError):
            CIPHER.seal(DEK, bad_id, SECRET, CTX)
    with pytest.raises(TypeError):
        CIPHER.seal(DEK, KEY_ID, "text", CTX)  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        CIPHER.open(DEK, "not bytes", CTX)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["tenant_id", "table", "column", "row_id"])
def test_context_fields_must_be_non_empty(field: str) -> None:
    values = {"tenant_id": "t", "table": "x", "column": "c", "row_id": "r", field: ""}
    with pytest.raises(ValueError, match=field):
        AadContext(**values)


def test_new_dek_is_random_256_bit() -> None:
    a, b = new_dek(), new_dek()
    assert len(a) == 32 and a != b
