"""C2SP signed-note checkpoints of the audit tree: formatting, Ed25519 signing, strict opening."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# Specifications: https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint.

ALG_ED25519 = 0x01
ROOT_SIZE = 32
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
# The note spec asks verifiers to cap signatures but to accept at least 16; Go's reference
# verifier stops at 100. The byte cap keeps a hostile file from costing more than a glance.
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
# Tree sizes are uint64 in every other checkpoint implementation; refuse what they cannot read.
MAX_TREE_SIZE = (1 << 64) - 1

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_PRIVATE_PREFIX = "PRIVATE+KEY+"


class CheckpointError(ValueError):
    """A note, checkpoint or key string is malformed, or its signature does not verify."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A verified tree head: the log's origin line, its size and its RFC 6962 root hash."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return format_checkpoint(self.origin, self.size, self.root)


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A trusted Ed25519 note key: the name and 4-byte key ID that signature lines must carry."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    def __str__(self) -> str:
        return verifier_key(self.name, self.public_key)


def _is_valid_name(name: object) -> bool:
    # Non-empty, no Unicode space (str.isspace is Python's equivalent of Go's unicode.IsSpace)
    # and no '+', which separates the fields of key strings.
    return (
        isinstance(name, str)
        and name != ""
        and "+" not in name
        and not any(ch.isspace() for ch in name)
        and _is_valid_text(name)
    )


def _is_valid_text(text: str) -> bool:
    """UTF-8 encodable, with no ASCII control characters except newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return not any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def _b64decode(value: str, what: str) -> bytes:
    """Strict standard base64: alphabet, padding and canonical trailing bits all enforced."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise CheckpointError(f"{what} is not valid base64") from exc
    # Non-canonical encodings (stray bits in the last character) decode to the same bytes; refuse
    # them so that one value has one spelling.
    if base64.b64encode(raw).decode("ascii") != value:
        raise CheckpointError(f"{what} is not canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _public_bytes(public_key: Ed25519PublicKey) -> bytes:
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("public_key must be an Ed25519PublicKey")
    return public_key.public_bytes_raw()


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """Signed-note key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    if not _is_valid_name(name):
        raise CheckpointError(f"invalid key name {name!r}")
    data = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + _public_bytes(public_key)
    return hashlib.sha256(data).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """Verifier key string `<name>+<key id hex>+<base64(0x01 || public key)>` to publish."""
    kid = key_id(name, public_key)
    return f"{name}+{kid.hex()}+{_b64encode(bytes([ALG_ED25519]) + _public_bytes(public_key))}"


def parse_verifier_key(value: str) -> NoteVerifier:
    """Parse a verifier key string, checking that its key ID matches its name and key."""
    if not isinstance(value, str):
        raise CheckpointError("verifier key must be a string")
    parts = value.split("+", 2)  # the base64 part may itself contain '+'
    if len(parts) != 3:
        raise CheckpointError("verifier key must be <name>+<key id>+<key>")
    name, hex_id, key64 = parts
    if not _is_valid_name(name) or not _HEX8.fullmatch(hex_id):
        raise CheckpointError("malformed verifier key")
    raw = _b64decode(key64, "verifier key")
    if len(raw) != 1 + 32 or raw[0] != ALG_ED25519:
        raise CheckpointError("verifier key is not an Ed25519 key (0x01 || 32 bytes)")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as exc:
        raise CheckpointError("verifier key holds an invalid Ed25519 public key") from exc
    kid = key_id(name, public_key)
    if kid != bytes.fromhex(hex_id):
        raise CheckpointError("verifier key ID does not match its name and key")
    return NoteVerifier(name, kid, public_key)


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """Secret signer key string `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("private_key must be an Ed25519PrivateKey")
    kid = key_id(name, private_key.public_key())
    seed = private_key.private_bytes_raw()
    return f"{_PRIVATE_PREFIX}{name}+{kid.hex()}+{_b64encode(bytes([ALG_ED25519]) + seed)}"


def parse_signer_key(value: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse a signer key string into its name and private key, checking the key ID."""
    # Error messages never quote the value: it is a secret.
    if not isinstance(value, str) or not value.startswith(_PRIVATE_PREFIX):
        raise CheckpointError("signer key must start with PRIVATE+KEY+")
    parts = value[len(_PRIVATE_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise CheckpointError("signer key must be PRIVATE+KEY+<name>+<key id>+<key>")
    name, hex_id, key64 = parts
    if not _is_valid_name(name) or not _HEX8.fullmatch(hex_id):
        raise CheckpointError("malformed signer key")
    raw = _b64decode(key64, "signer key")
    if len(raw) != 1 + 32 or raw[0] != ALG_ED25519:
        raise CheckpointError("signer key is not an Ed25519 seed (0x01 || 32 bytes)")
    private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if key_id(name, private_key.public_key()) != bytes.fromhex(hex_id):
        raise CheckpointError("signer key ID does not match its name and key")
    return name, private_key


# --- checkpoint body ----------------------------------------------------------------------------


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """Checkpoint note text: origin, decimal tree size, base64 root, each line ending in \\n."""
    if not isinstance(origin, str) or origin == "" or "\n" in origin or not _is_valid_text(origin):
        raise CheckpointError("origin must be a non-empty single line of text")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_TREE_SIZE:
        raise CheckpointError("tree size must be an int in [0, 2**64)")
    if not isinstance(root, bytes) or len(root) != ROOT_SIZE:
        raise CheckpointError(f"root hash must be {ROOT_SIZE} bytes")
    return f"{origin}\n{size}\n{_b64encode(root)}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text strictly; the signature must have been checked already.

    Stricter than c2sp.org/tlog-checkpoint on purpose: extension lines are refused (the spec
    allows them but advises against them, and idproof never writes any), so a signed body has
    exactly one reading.
    """
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise CheckpointError("checkpoint must be exactly origin, size and root lines")
    origin, size_line, root_line = lines[:3]
    if origin == "":
        raise CheckpointError("checkpoint origin is empty")
    # [0-9] rather than \d or int(): both accept non-ASCII digits, signs, spaces and underscores.
    if not _TREE_SIZE.fullmatch(size_line):
        raise CheckpointError("checkpoint tree size is not a canonical decimal number")
    size = int(size_line)
    if size > MAX_TREE_SIZE:
        raise CheckpointError("checkpoint tree size does not fit in 64 bits")
    root = _b64decode(root_line, "checkpoint root hash")
    if len(root) != ROOT_SIZE:
        raise CheckpointError(f"checkpoint root hash is {len(root)} bytes, not {ROOT_SIZE}")
    return Checkpoint(origin, size, root)


# --- signed notes -------------------------------------------------------------------------------


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign note text with an Ed25519 key: body, blank line, one `— <name> <sig>` line."""
    if not isinstance(body, str) or not body.endswith("\n") or not _is_valid_text(body):
        raise CheckpointError("note text must be control-character-free and end with a newline")
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("private_key must be an Ed25519PrivateKey")
    kid = key_id(name, private_key.public_key())
    signature = private_key.sign(body.encode("utf-8"))
    return f"{body}\n{SIGNATURE_PREFIX}{name} {_b64encode(kid + signature)}\n"


def open_note(note: str | bytes, verifier: NoteVerifier | str) -> str:
    """Return a signed note's text once a signature by `verifier` checks out.

    Signatures by other keys are ignored as the spec requires (witness cosignatures, rotated
    keys); a signature claiming to be from `verifier` that fails refuses the whole note.
    """
    if isinstance(verifier, str):
        verifier = parse_verifier_key(verifier)
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise CheckpointError("note is too large")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError("note is not valid UTF-8") from exc
    if not isinstance(note, str):
        raise CheckpointError("note must be text")
    if len(note) > MAX_NOTE_BYTES:
        raise CheckpointError("note is too large")
    if not _is_valid_text(note):
        raise CheckpointError("note contains control characters or invalid UTF-8")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("note has no blank line before its signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    if sigs == "" or not sigs.endswith("\n"):
        raise CheckpointError("note signatures must be lines ending in a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError("note has too many signatures")
    message = text.encode("utf-8")
    verified = False
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("signature line does not start with an em dash and a space")
        name, sep, sig64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not sep or not _is_valid_name(name) or sig64 == "":
            raise CheckpointError("malformed signature line")
        raw = _b64decode(sig64, "signature")
        if len(raw) < 5:
            raise CheckpointError("signature is too short")
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue
        try:
            verifier.public_key.verify(raw[4:], message)
        except InvalidSignature as exc:
            raise CheckpointError(f"invalid signature by {verifier.name}") from exc
        verified = True
    if not verified:
        raise CheckpointError(f"note is not signed by {verifier.name}+{verifier.key_id.hex()}")
    return text


def open_checkpoint(
    note: str | bytes, verifier: NoteVerifier | str, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and parse it; optionally require a given origin line."""
    checkpoint = parse_checkpoint(open_note(note, verifier))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint


def sign_checkpoint(
    origin: str, size: int, root: bytes, name: str, private_key: Ed25519PrivateKey
) -> str:
    """Format and sign a checkpoint in one step."""
    return sign_note(format_checkpoint(origin, size, root), name, private_key)
