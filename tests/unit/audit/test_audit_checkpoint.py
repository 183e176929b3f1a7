"""Signed-note checkpoints: Go reference vectors, round trips, tampering and malformed notes."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from idproof.audit.canonical import canonical_json
from idproof.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    format_checkpoint,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_signer_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    signer_key,
    verifier_key,
)
from idproof.audit.merkle import EMPTY_ROOT, leaf_hash

# golang.org/x/mod/sumdb/note's test key and note: byte-for-byte interoperability with Go.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

NAME = "idproof.example/audit"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
VKEY = verifier_key(NAME, KEY.public_key())
ROOT = leaf_hash(b"root")


def _note(size: int = 42, root: bytes = ROOT, origin: str = NAME) -> str:
    return sign_checkpoint(origin, size, root, NAME, KEY)


def test_go_reference_vector() -> None:
    name, private_key = parse_signer_key(GO_SKEY)
    assert name == "PeterNeumann"
    assert verifier_key(name, private_key.public_key()) == GO_VKEY
    assert signer_key(name, private_key) == GO_SKEY
    assert sign_note(GO_TEXT, name, private_key) == GO_NOTE
    assert open_note(GO_NOTE, GO_VKEY) == GO_TEXT
    with pytest.raises(CheckpointError):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), GO_VKEY)


def test_key_id_follows_the_spec() -> None:
    public = KEY.public_key().public_bytes_raw()
    want = hashlib.sha256(NAME.encode() + b"\n" + b"\x01" + public).digest()[:4]
    assert key_id(NAME, KEY.public_key()) == want
    key64 = base64.b64encode(bytes([1]) + public).decode()
    assert f"{NAME}+{want.hex()}+{key64}" == VKEY
    v = parse_verifier_key(VKEY)
    assert (v.name, v.key_id) == (NAME, want)
    assert v.public_key.public_bytes_raw() == public
    assert str(v) == VKEY
    skey = signer_key(NAME, KEY)
    assert skey.startswith(f"PRIVATE+KEY+{NAME}+{want.hex()}+")
    assert parse_signer_key(skey)[1].private_bytes_raw() == bytes(range(32))


def test_round_trip() -> None:
    body = format_checkpoint(NAME, 42, ROOT)
    assert body == f"{NAME}\n42\n{base64.b64encode(ROOT).decode()}\n"
    note = sign_note(body, NAME, KEY)
    assert note.startswith(body + "\n\u2014 " + NAME + " ")
    assert note.endswith("\n")
    cp = open_checkpoint(note, VKEY)
    assert cp == Checkpoint(NAME, 42, ROOT)
    assert cp.body() == body
    assert open_checkpoint(note.encode("utf-8"), parse_verifier_key(VKEY), origin=NAME) == cp
    empty = open_checkpoint(_note(0, EMPTY_ROOT), VKEY)
    assert (empty.size, empty.root) == (0, EMPTY_ROOT)


def test_origin_can_be_required() -> None:
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(_note(origin="other.example/log"), VKEY, origin=NAME)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n42\n", "\n43\n"),  # size
        (NAME + "\n", "idproof.example/other\n"),  # origin
        (base64.b64encode(ROOT).decode(), base64.b64encode(leaf_hash(b"x")).decode()),  # root
    ],
)
def test_tampered_body_is_refused(old: str, new: str) -> None:
    note = _note()
    assert old in note
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(note.replace(old, new, 1), VKEY)


def test_tampered_signature_is_refused() -> None:
    note = _note()
    body, sig_line = note.rsplit("\n\n", 1)
    raw = bytearray(base64.b64decode(sig_line.split(" ")[2]))
    raw[10] ^= 1
    forged = f"{body}\n\n\u2014 {NAME} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(forged, VKEY)
    short = bytes(raw[:4]) + bytes(raw[4:36])  # right key ID, truncated signature
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(f"{body}\n\n\u2014 {NAME} {base64.b64encode(short).decode()}\n", VKEY)


def test_other_keys_and_names_are_refused() -> None:
    note = _note()
    other = Ed25519PrivateKey.generate()
    # Same name, other key: the key ID differs, so the note carries no signature we trust.
    with pytest.raises(CheckpointError, match="not signed by"):
        open_checkpoint(note, verifier_key(NAME, other.public_key()))
    # Same key under another name in the verifier key.
    with pytest.raises(CheckpointError, match="not signed by"):
        open_checkpoint(note, verifier_key("someone.else/log", KEY.public_key()))
    # Key name in the signature line changed.
    with pytest.raises(CheckpointError, match="not signed by"):
        open_checkpoint(note.replace(f"\u2014 {NAME} ", "\u2014 evil.example/log "), VKEY)
    # Signed by an attacker under our name.
    with pytest.raises(CheckpointError, match="not signed by"):
        open_checkpoint(sign_checkpoint(NAME, 42, ROOT, NAME, other), VKEY)


def test_unknown_cosignatures_are_ignored() -> None:
    note = _note()
    witness = Ed25519PrivateKey.generate()
    body = note[: note.rindex("\n\n") + 1]
    witness_line = sign_note(body, "witness.example", witness).split("\n\n", 1)[1]
    both = note + witness_line
    assert open_checkpoint(both, VKEY).size == 42
    first = body + "\n" + witness_line + note.split("\n\n", 1)[1]
    assert open_checkpoint(first, VKEY).size == 42
    assert open_checkpoint(both, verifier_key("witness.example", witness.public_key())).size == 42


def _with_body(body: str) -> str:
    # Sign the malformed body for real, so only the parser can refuse it.
    return sign_note(body, NAME, KEY)


ROOT64 = base64.b64encode(ROOT).decode()
URLSAFE64 = base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()


MALFORMED_BODIES = {
    "extension-line": f"{NAME}\n42\n{ROOT64}\nextension\n",  # strict: refused
    "no-root": f"{NAME}\n42\n",
    "empty-origin": f"\n42\n{ROOT64}\n",
    "size-leading-zero": f"{NAME}\n042\n{ROOT64}\n",
    "size-double-zero": f"{NAME}\n00\n{ROOT64}\n",
    "size-plus-sign": f"{NAME}\n+42\n{ROOT64}\n",
    "size-negative": f"{NAME}\n-1\n{ROOT64}\n",
    "size-space": f"{NAME}\n 42\n{ROOT64}\n",
    "size-underscore": f"{NAME}\n4_2\n{ROOT64}\n",
    "size-non-ascii-digits": f"{NAME}\n\u0664\u0662\n{ROOT64}\n",
    "size-hex": f"{NAME}\n0x2a\n{ROOT64}\n",
    "size-empty": f"{NAME}\n\n{ROOT64}\n",
    "size-beyond-uint64": f"{NAME}\n{2**64}\n{ROOT64}\n",
    "root-31-bytes": f"{NAME}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n",
    "root-33-bytes": f"{NAME}\n42\n{base64.b64encode(ROOT + b'x').decode()}\n",
    "root-no-padding": f"{NAME}\n42\n{ROOT64.rstrip('=')}\n",
    "root-trailing-space": f"{NAME}\n42\n{ROOT64} \n",
    "root-url-safe-alphabet": f"{NAME}\n42\n{URLSAFE64}\n",
    "root-non-canonical-bits": f"{NAME}\n42\n{ROOT64[:-2]}{chr(ord(ROOT64[-2]) + 1)}=\n",
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_malformed_checkpoint_body_is_refused(body: str) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(_with_body(body), VKEY)


def test_non_canonical_root_differs_only_in_padding_bits() -> None:
    # Guard for the case above: the altered character must still decode to the same bytes.
    bad = f"{ROOT64[:-2]}{chr(ord(ROOT64[-2]) + 1)}="
    assert base64.b64decode(bad) == ROOT
    with pytest.raises(CheckpointError, match="canonical"):
        parse_checkpoint(f"{NAME}\n42\n{bad}\n")


def _malformed_notes() -> dict[str, str]:
    good = _note()
    body, sigs = good.rsplit("\n\n", 1)
    body += "\n"
    sig64 = sigs.split(" ")[2].rstrip("\n")
    return {
        "no-final-newline": good[:-1],
        "no-signatures": body,
        "blank-line-no-signatures": body + "\n",
        "no-blank-line": body + sigs,
        "trailing-blank-line": good + "\n",
        "hyphen-not-em-dash": good.replace("\u2014 ", "- ", 1),
        "no-space-after-dash": good.replace("\u2014 ", "\u2014", 1),
        "en-dash": good.replace("\u2014 ", "\u2013 ", 1),
        "double-space": good.replace(f"{NAME} ", f"{NAME}  ", 1),
        "no-signature": body + f"\n\u2014 {NAME}\n",
        "empty-signature": body + f"\n\u2014 {NAME} \n",
        "empty-name": body + f"\n\u2014  {sig64}\n",
        "plus-in-name": body + f"\n\u2014 bad+name {sig64}\n",
        "truncated-base64": body + f"\n\u2014 {NAME} {sig64[:-4]}\n",
        "not-base64": body + f"\n\u2014 {NAME} !!{sig64[2:]}\n",
        "signature-under-5-bytes": body + f"\n\u2014 {NAME} {base64.b64encode(b'abcd').decode()}\n",
        "crlf": good.replace("\n", "\r\n"),
        "tab-in-body": good.replace(NAME, NAME + "\t", 1),
        "nul-in-body": good.replace("42", "4\x002", 1),
        "over-100-signatures": good + f"\u2014 {NAME} {sig64}\n" * 100,
    }


MALFORMED_NOTES = _malformed_notes()


@pytest.mark.parametrize("note", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_malformed_note_is_refused(note: str) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(note, VKEY)


def test_invalid_utf8_and_oversized_notes_are_refused() -> None:
    with pytest.raises(CheckpointError, match="UTF-8"):
        open_checkpoint(_note().encode() + b"\xff", VKEY)
    with pytest.raises(CheckpointError, match="too large"):
        open_checkpoint(b"x" * (2 << 20), VKEY)
    with pytest.raises(CheckpointError):
        open_checkpoint("a\ud800\n\n\u2014 x AAAAAAA=\n", VKEY)


HEX_ID = VKEY.split("+")[1]
MALFORMED_VERIFIER_KEYS = {
    "empty": "",
    "name-only": NAME,
    "missing-separator": VKEY.replace("+", "", 1),
    "no-key": VKEY[: VKEY.rindex("+")],
    "truncated-key": VKEY[:-1],
    "extra-key-byte": VKEY + "A",
    "other-name": "other.example" + VKEY[len(NAME) :],
    "wrong-key-id": VKEY.replace(HEX_ID, "00000000"),
    "short-key-id": VKEY.replace(HEX_ID, HEX_ID[:7]),
    "space-in-key-id": VKEY.replace(HEX_ID, " " + HEX_ID[1:]),
    "space-in-name": "bad name" + VKEY[len(NAME) :],
    "not-ed25519": f"{NAME}+{HEX_ID}+{base64.b64encode(bytes([2]) + bytes(32)).decode()}",
}


@pytest.mark.parametrize(
    "key", MALFORMED_VERIFIER_KEYS.values(), ids=MALFORMED_VERIFIER_KEYS.keys()
)
def test_malformed_verifier_key_is_refused(key: str) -> None:
    with pytest.raises(CheckpointError):
        parse_verifier_key(key)


def test_verifier_key_hex_is_case_insensitive_like_go() -> None:
    hex_id = VKEY.split("+")[1]
    assert parse_verifier_key(VKEY.replace(hex_id, hex_id.upper())).key_id.hex() == hex_id


@pytest.mark.parametrize(
    "key",
    [
        "PRIVATE+KEY+",
        "PRIVATE+KEY+" + VKEY,  # a public key where the seed belongs
        signer_key(NAME, KEY).replace("PRIVATE+KEY+", "PRIVATE+", 1),
        signer_key(NAME, KEY).replace(NAME, "other.example", 1),
    ],
    ids=["empty", "public-key", "bad-prefix", "other-name"],
)
def test_malformed_signer_key_is_refused(key: str) -> None:
    with pytest.raises(CheckpointError):
        parse_signer_key(key)


def test_signing_refuses_bad_inputs() -> None:
    with pytest.raises(CheckpointError):
        sign_note("no newline", NAME, KEY)
    with pytest.raises(CheckpointError):
        sign_note("tab\there\n", NAME, KEY)
    with pytest.raises(CheckpointError):
        sign_note("ok\n", "bad name", KEY)
    with pytest.raises(CheckpointError):
        sign_note("ok\n", "bad+name", KEY)
    with pytest.raises(CheckpointError):
        format_checkpoint("", 1, ROOT)
    with pytest.raises(CheckpointError):
        format_checkpoint("two\nlines", 1, ROOT)
    with pytest.raises(CheckpointError):
        format_checkpoint(NAME, -1, ROOT)
    with pytest.raises(CheckpointError):
        format_checkpoint(NAME, True, ROOT)
    with pytest.raises(CheckpointError):
        format_checkpoint(NAME, 2**64, ROOT)
    with pytest.raises(CheckpointError):
        format_checkpoint(NAME, 1, ROOT[:31])


def test_canonical_json() -> None:
    obj = {"b": [1, 2.5, None, True], "a": "é\u2014\U0001f600", "c": {"z": 1, "y": "x"}}
    assert canonical_json(obj) == (
        '{"a":"é\u2014\U0001f600","b":[1,2.5,null,true],"c":{"y":"x","z":1}}'.encode()
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(ValueError):
        canonical_json({"x": float("inf")})
    with pytest.raises(UnicodeEncodeError):
        canonical_json({"x": "\ud800"})
