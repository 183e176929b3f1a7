"""tools/verify_audit_proof.py run as a third party would: a subprocess over exported files."""

from __future__ import annotations

import ast
import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from idproof.audit.canonical import canonical_json
from idproof.audit.checkpoint import sign_checkpoint, verifier_key
from idproof.audit.merkle import MemoryNodeStore, inclusion_proof, leaf_hash

TOOL = Path(__file__).resolve().parents[3] / "tools" / "verify_audit_proof.py"
ORIGIN = "idproof.test/audit"
KEY = Ed25519PrivateKey.generate()
VKEY = verifier_key(ORIGIN, KEY.public_key())


def _event(i: int) -> dict[str, Any]:
    return {
        "action": "pii.read",
        "actor_id": f"cli_{i}",
        "details": {"fields": ["name", "dob"], "n": i, "ratio": 0.5, "note": "é\u2014"},
        "occurred_at": f"2025-01-01T00:00:{i:02d}Z",
        "outcome": "success",
        "purpose": None,
    }


EVENTS = [_event(i) for i in range(13)]
STORE = MemoryNodeStore()
for _e in EVENTS:
    STORE.append(leaf_hash(canonical_json(_e)))
SIZE = STORE.size
CHECKPOINT = sign_checkpoint(ORIGIN, SIZE, STORE.root(), ORIGIN, KEY)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _export(index: int) -> dict[str, Any]:
    leaf = leaf_hash(canonical_json(EVENTS[index]))
    return {**EVENTS[index], "index": index, "leaf_hash": _b64(leaf)}


def _proof(index: int, size: int = SIZE) -> dict[str, Any]:
    return {
        "index": index,
        "tree_size": size,
        "leaf_hash": _b64(leaf_hash(canonical_json(EVENTS[index]))),
        "proof": [_b64(h) for h in inclusion_proof(index, size, STORE)],
    }


def _run(
    tmp_path: Path,
    *,
    event: Any,
    proof: Any,
    checkpoint: str = CHECKPOINT,
    key: str = VKEY,
) -> subprocess.CompletedProcess[str]:
    files = {
        "checkpoint": checkpoint,
        "event": event if isinstance(event, str) else json.dumps(event, ensure_ascii=False),
        "proof": proof if isinstance(proof, str) else json.dumps(proof),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            str(TOOL),
            "--key",
            key,
            "--checkpoint",
            str(tmp_path / "checkpoint"),
            "--event",
            str(tmp_path / "event"),
            "--proof",
            str(tmp_path / "proof"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("index", [0, 5, 8, SIZE - 1])
def test_valid_proof_is_accepted(tmp_path: Path, index: int) -> None:
    result = _run(tmp_path, event=_export(index), proof=_proof(index))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK: event {index} is in {ORIGIN} at tree size {SIZE}")


def _tampered_event() -> dict[str, Any]:
    e = _export(3)
    e["outcome"] = "failure"
    return e


def _tampered_proof() -> dict[str, Any]:
    p = _proof(3)
    p["proof"][1] = _b64(leaf_hash(b"forged"))
    return p


def _with(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**obj, **changes}


OTHER_KEY = Ed25519PrivateKey.generate()
STALE = MemoryNodeStore()
for _e in EVENTS[:-1]:
    STALE.append(leaf_hash(canonical_json(_e)))

NEGATIVE_CASES: dict[str, dict[str, Any]] = {
    "event-field-changed": {"event": _tampered_event(), "proof": _proof(3), "why": "altered"},
    "event-field-added": {
        "event": _with(_export(3), extra=1),
        "proof": _proof(3),
        "why": "altered",
    },
    "event-leaf-hash-swapped": {
        "event": _with(_export(3), leaf_hash=_export(4)["leaf_hash"]),
        "proof": _proof(4),
        "why": "altered",
    },
    "proof-element-changed": {"event": _export(3), "proof": _tampered_proof(), "why": "root"},
    "proof-element-dropped": {
        "event": _export(3),
        "proof": _with(_proof(3), proof=_proof(3)["proof"][:-1]),
        "why": "hashes",
    },
    "proof-for-another-index": {
        "event": _export(3),
        "proof": _with(_proof(2), index=3, leaf_hash=_proof(3)["leaf_hash"]),
        "why": "root",
    },
    "proof-index-differs": {
        "event": _export(3),
        "proof": _with(_proof(3), index=4),
        "why": "index",
    },
    "proof-tree-size-differs": {
        "event": _export(3),
        "proof": _proof(3, SIZE - 1),
        "why": "tree size",
    },
    "proof-leaf-hash-differs": {
        "event": _export(3),
        "proof": _with(_proof(3), leaf_hash=_proof(4)["leaf_hash"]),
        "why": "leaf_hash",
    },
    "proof-garbage-base64": {
        "event": _export(3),
        "proof": _with(_proof(3), proof=["not base64!"]),
        "why": "base64",
    },
    "event-not-json": {"event": "{not json", "proof": _proof(3), "why": "not JSON"},
    "event-duplicate-key": {
        "event": json.dumps(_export(3))[:-1] + ', "outcome": "failure"}',
        "proof": _proof(3),
        "why": "duplicate",
    },
    "event-index-missing": {
        "event": {k: v for k, v in _export(3).items() if k != "index"},
        "proof": _proof(3),
        "why": "index",
    },
    "checkpoint-other-key": {
        "event": _export(3),
        "proof": _proof(3),
        "checkpoint": sign_checkpoint(ORIGIN, SIZE, STORE.root(), ORIGIN, OTHER_KEY),
        "why": "not signed",
    },
    "checkpoint-size-edited": {
        "event": _export(3),
        "proof": _proof(3, SIZE - 1),
        "checkpoint": CHECKPOINT.replace(f"\n{SIZE}\n", f"\n{SIZE - 1}\n", 1),
        "why": "signature",
    },
    "checkpoint-root-of-other-tree": {
        "event": _export(3),
        "proof": _proof(3),
        "checkpoint": sign_checkpoint(ORIGIN, SIZE, STALE.root(), ORIGIN, KEY),
        "why": "root",
    },
    "checkpoint-hyphen-signature": {
        "event": _export(3),
        "proof": _proof(3),
        "checkpoint": CHECKPOINT.replace("\u2014 ", "-- "),
        "why": "em dash",
    },
    "wrong-verifier-key": {
        "event": _export(3),
        "proof": _proof(3),
        "key": VKEY[:-2] + "AA",
        "why": "key",
    },
}


@pytest.mark.parametrize("case", NEGATIVE_CASES.values(), ids=NEGATIVE_CASES.keys())
def test_bad_inputs_are_refused(tmp_path: Path, case: dict[str, Any]) -> None:
    why = case.pop("why")
    try:
        result = _run(tmp_path, **case)
    finally:
        case["why"] = why
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert result.stderr.startswith("FAIL: ")
    assert why in result.stderr


def test_missing_file_is_a_failure_not_a_traceback(tmp_path: Path) -> None:
    nope = str(tmp_path / "nope")
    args = ["--key", VKEY, "--checkpoint", nope, "--event", nope, "--proof", nope]
    result = subprocess.run(
        [sys.executable, str(TOOL), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: cannot read checkpoint file")


def test_tool_depends_only_on_stdlib_and_cryptography() -> None:
    tree = ast.parse(TOOL.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            imported.add((node.module or "").split(".")[0])
    assert "idproof" not in imported
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_tool_canonical_json_matches_the_service() -> None:
    spec = importlib.util.spec_from_file_location("verify_audit_proof_tool", TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for event in [*EVENTS, {"x": [1, {"b": 2, "a": "\U0001f600"}], "y": -0.0, "z": 10**30}]:
        assert tool.canonical_json(event) == canonical_json(event)
    with pytest.raises(ValueError):
        tool.canonical_json({"x": float("nan")})
