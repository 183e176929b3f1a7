#!/usr/bin/env python3
"""Standalone check that an exported idproof audit event is in a signed checkpoint of the log.

Needs only Python 3.11+ and the `cryptography` package, so anyone handed an export can run it
without idproof:

    python verify_audit_proof.py --key KEY --checkpoint checkpoint.txt \\
        --event event.json --proof proof.json

KEY is the log's verifier key (`<name>+<key id hex>+<base64 key>`). The checkpoint is a C2SP
signed note (https://c2sp.org/tlog-checkpoint); the event is one exported JSON object with
`index` and `leaf_hash` (base64) beside its fields; the proof is a JSON object
`{"index", "tree_size", "leaf_hash", "proof": [base64, ...]}` for the checkpoint's tree size.
Prints OK and exits 0, or prints the reason and exits 1 (2 for bad command-line usage).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import re
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
MAX_FILE_BYTES = 1 << 20
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


class VerificationError(Exception):
    """The inputs are malformed or do not prove what they claim."""


def canonical_json(obj: Any) -> bytes:
    """The bytes idproof hashes for an event: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def b64decode(value: object, what: str) -> bytes:
    """Strict, canonical standard base64."""
    if not isinstance(value, str):
        raise VerificationError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise VerificationError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != value:
        raise VerificationError(f"{what} is not canonical base64")
    return raw


# --- Merkle tree (RFC 6962, verification per RFC 9162 section 2.1.3.2) ----------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    """Raise VerificationError unless `proof` puts `leaf` at `index` of tree (`size`, `root`)."""
    for name, n in (("index", index), ("tree size", size)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise VerificationError(f"{name} must be a non-negative integer")
    if index >= size:
        raise VerificationError(f"index {index} is not below tree size {size}")
    if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
        raise VerificationError("leaf hash is not 32 bytes")
    if any(not isinstance(p, bytes) or len(p) != HASH_SIZE for p in proof):
        raise VerificationError("a proof element is not a 32-byte hash")
    inner = (index ^ (size - 1)).bit_length()
    expected = inner + (index >> inner).bit_count()
    if len(proof) != expected:
        raise VerificationError(f"proof has {len(proof)} hashes, this leaf needs {expected}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("proof is shorter than the tree is deep")
    if not isinstance(root, bytes) or not hmac.compare_digest(r, root):
        raise VerificationError("inclusion proof does not lead to the checkpoint root")


# --- signed-note checkpoint (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint) --


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def parse_verifier_key(key: str) -> tuple[str, bytes, Ed25519PublicKey]:
    parts = key.split("+", 2)  # the base64 key may itself contain '+'
    if len(parts) != 3 or not _valid_name(parts[0]) or not _HEX8.fullmatch(parts[1]):
        raise VerificationError("verifier key must be <name>+<8 hex digits>+<base64 key>")
    name, hex_id, key64 = parts
    raw = b64decode(key64, "verifier key")
    if len(raw) != 33 or raw[0] != 0x01:
        raise VerificationError("verifier key is not an Ed25519 key")
    key_id = hashlib.sha256(name.encode("utf-8") + b"\n" + raw).digest()[:4]
    if key_id != bytes.fromhex(hex_id):
        raise VerificationError("verifier key ID does not match its name and key")
    try:
        return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as exc:
        raise VerificationError("verifier key is not a valid Ed25519 key") from exc


def open_checkpoint(note: str, key: str) -> tuple[str, int, bytes]:
    """Verify the note's signature by `key`, then parse origin, tree size and root strictly."""
    name, key_id, public_key = parse_verifier_key(key)
    if any(c < " " and c != "\n" for c in note):
        raise VerificationError("checkpoint contains control characters")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationError("checkpoint has no blank line before its signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs.endswith("\n"):
        raise VerificationError("checkpoint signatures must end with a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > 100:
        raise VerificationError("checkpoint has too many signatures")
    verified = False
    for line in lines:
        if not line.startswith("\u2014 "):
            raise VerificationError("signature line does not start with an em dash and a space")
        sig_name, sep, sig64 = line[2:].partition(" ")
        if not sep or not _valid_name(sig_name):
            raise VerificationError("malformed signature line")
        raw = b64decode(sig64, "signature")
        if len(raw) < 5:
            raise VerificationError("signature is too short")
        if sig_name != name or raw[:4] != key_id:
            continue  # another key's signature (a witness, a rotated key): not ours to judge
        try:
            public_key.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature as exc:
            raise VerificationError("checkpoint signature is invalid") from exc
        verified = True
    if not verified:
        raise VerificationError(f"checkpoint is not signed by {name}+{key_id.hex()}")
    body = text.split("\n")
    if len(body) != 4 or body[3] != "" or not body[0]:
        raise VerificationError("checkpoint body must be exactly origin, size and root lines")
    if not re.fullmatch(r"0|[1-9][0-9]*", body[1]) or int(body[1]) >= 1 << 64:
        raise VerificationError("checkpoint tree size is not a canonical decimal number")
    root = b64decode(body[2], "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise VerificationError("checkpoint root hash is not 32 bytes")
    return body[0], int(body[1]), root


# --- inputs -------------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key would let what a reader sees differ from what was hashed.
    obj: dict[str, Any] = {}
    for k, v in pairs:
        if k in obj:
            raise VerificationError(f"duplicate JSON key {k!r}")
        obj[k] = v
    return obj


def _bad_constant(name: str) -> None:
    raise VerificationError(f"{name} is not JSON")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_text(path: str, what: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise VerificationError(f"cannot read {what} file: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise VerificationError(f"{what} file is too large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(f"{what} file is not UTF-8") from exc


def read_json_object(path: str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(
            read_text(path, what), object_pairs_hook=_no_duplicates, parse_constant=_bad_constant
        )
    except json.JSONDecodeError as exc:
        raise VerificationError(f"{what} file is not JSON: {exc.msg}") from exc
    if not isinstance(obj, dict):
        raise VerificationError(f"{what} file must hold a JSON object")
    return obj


def verify(key: str, checkpoint_path: str, event_path: str, proof_path: str) -> str:
    """Run every check; return the success message or raise VerificationError."""
    origin, size, root = open_checkpoint(read_text(checkpoint_path, "checkpoint"), key)

    event = read_json_object(event_path, "event")
    if "index" not in event or "leaf_hash" not in event:
        raise VerificationError("event must carry `index` and `leaf_hash`")
    index = event["index"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise VerificationError("event index must be a non-negative integer")
    # The leaf commits to the event's own fields; index and leaf_hash are added on export.
    fields = {k: v for k, v in event.items() if k not in ("index", "leaf_hash")}
    claimed = b64decode(event["leaf_hash"], "event leaf_hash")
    try:
        computed = leaf_hash(canonical_json(fields))
    except (TypeError, ValueError) as exc:
        raise VerificationError("event fields cannot be encoded as canonical JSON") from exc
    if not hmac.compare_digest(computed, claimed):
        raise VerificationError("event fields do not hash to its leaf_hash (the event was altered)")

    proof = read_json_object(proof_path, "proof")
    for k in ("index", "tree_size", "leaf_hash", "proof"):
        if k not in proof:
            raise VerificationError(f"proof is missing `{k}`")
    if not _is_int(proof["index"]) or proof["index"] != index:
        raise VerificationError("proof index differs from the event index")
    if b64decode(proof["leaf_hash"], "proof leaf_hash") != claimed:
        raise VerificationError("proof leaf_hash differs from the event leaf_hash")
    # A proof for another size would need that size's root, which no signature vouches for.
    if not _is_int(proof["tree_size"]) or proof["tree_size"] != size:
        raise VerificationError(
            f"proof is for tree size {proof['tree_size']!r}, the checkpoint is for {size}"
        )
    if not isinstance(proof["proof"], list):
        raise VerificationError("proof `proof` must be a list of base64 hashes")
    path = [b64decode(p, f"proof element {i}") for i, p in enumerate(proof["proof"])]
    verify_inclusion(computed, index, size, path, root)
    return f"OK: event {index} is in {origin} at tree size {size}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True, help="the log's verifier key string")
    parser.add_argument("--checkpoint", required=True, help="signed checkpoint file")
    parser.add_argument("--event", required=True, help="exported event JSON file")
    parser.add_argument("--proof", required=True, help="inclusion proof JSON file")
    args = parser.parse_args(argv)
    try:
        print(verify(args.key, args.checkpoint, args.event, args.proof))
    except VerificationError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
