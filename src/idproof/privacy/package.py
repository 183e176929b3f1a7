"""The subject-access package: a zip of JSON, an HTML summary and files, with a SHA-256
manifest, encrypted with age to a passphrase or an X25519 recipient (pure, no I/O)."""

from __future__ import annotations

import hashlib
import html
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyrage

from idproof.core.errors import ValidationFailed

MANIFEST = "manifest.json"
DATA = "subject.json"
SUMMARY = "summary.html"
# Fixed timestamps make the archive a function of its content only.
_ZIP_DATE = (2000, 1, 1, 0, 0, 0)
MIN_PASSPHRASE = 12


@dataclass(frozen=True, slots=True)
class Encryption:
    """Exactly one of a passphrase and an age recipient (`age1…`)."""

    passphrase: str | None = None
    recipient: str | None = None


def build_zip(data: Mapping[str, Any], files: Mapping[str, bytes]) -> bytes:
    """The zip: subject.json, summary.html, the given files, and manifest.json listing the
    SHA-256 and size of every other member."""
    members: dict[str, bytes] = {
        DATA: json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).encode(),
        SUMMARY: render_summary(data).encode(),
        **files,
    }
    manifest = {"format": "idproof-subject-export/1",
                "files": [{"name": n, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
                          for n, b in sorted(members.items())]}
    members[MANIFEST] = json.dumps(manifest, indent=2).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zf.writestr(info, members[name])
    return buf.getvalue()


def verify_zip(archive: bytes) -> dict[str, bytes]:
    """Open a package and check every member against the manifest; the members by name."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members.pop(MANIFEST))
    listed = {f["name"]: f for f in manifest["files"]}
    if set(listed) != set(members):
        raise ValueError("the manifest does not list exactly the archive's files")
    for name, body in members.items():
        if hashlib.sha256(body).hexdigest() != listed[name]["sha256"]:
            raise ValueError(f"{name}: SHA-256 does not match the manifest")
    return members


def check_encryption(enc: Encryption) -> None:
    """422 `encryption_required` unless exactly one usable way to encrypt is given."""
    if (enc.passphrase is None) == (enc.recipient is None):
        raise ValidationFailed("give a passphrase or a recipient public key (one of them)",
                               code="encryption_required")
    if enc.passphrase is not None and len(enc.passphrase) < MIN_PASSPHRASE:
        raise ValidationFailed(f"the passphrase needs at least {MIN_PASSPHRASE} characters",
                               code="passphrase_too_short")
    if enc.recipient is not None:
        _recipient(enc.recipient)


def _recipient(text: str) -> Any:
    text = text.strip()
    parse = (pyrage.x25519.Recipient.from_str if text.startswith("age1") else
             pyrage.ssh.Recipient.from_str if text.startswith(("ssh-ed25519 ", "ssh-rsa "))
             else None)
    try:
        if parse is not None:
            return parse(text)
    except (pyrage.RecipientError, ValueError):
        parse = None
    raise ValidationFailed("the recipient must be an age public key (age1…) or an SSH "
                           "ed25519/RSA public key", code="invalid_recipient")


def encrypt(archive: bytes, enc: Encryption) -> bytes:
    """The age-encrypted archive (binary age format, `.zip.age`)."""
    check_encryption(enc)
    if enc.passphrase is not None:
        return bytes(pyrage.passphrase.encrypt(archive, enc.passphrase))
    assert enc.recipient is not None
    return bytes(pyrage.encrypt(archive, [_recipient(enc.recipient)]))


# -- the human-readable summary ---------------------------------------------------------------
def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return html.escape("" if value is None else str(value))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_summary(data: Mapping[str, Any]) -> str:
    """A self-contained HTML page (no scripts, no external resources); every value escaped."""
    parts = [f"<h1>Your data held by {_cell(data.get('tenant'))}</h1>",
             f"<p>Reference: {_cell(data.get('reference'))}. Exported at "
             f"{_cell(data.get('exported_at'))}. The file subject.json holds the same data "
             "in machine-readable form; manifest.json lists every file's SHA-256.</p>"]
    sessions = list(data.get("sessions", []))
    parts.append(f"<h2>Verifications ({len(sessions)})</h2>")
    for ses in sessions:
        parts.append(f"<h3>Session {_cell(ses.get('id'))}</h3>")
        parts.append(_table([{k: ses.get(k) for k in (
            "workflow", "status", "created_at", "decided_at", "decision")}],
            ["workflow", "status", "created_at", "decided_at", "decision"]))
        parts.append("<h4>Steps</h4>" + _table(list(ses.get("steps", [])),
                                               ["step", "state", "reasons", "attempts"]))
        fields = ses.get("extracted_fields")
        parts.append("<h4>Data read from your document</h4>")
        parts.append(_table([fields], sorted(fields)) if fields else "<p>None.</p>")
        parts.append("<h4>Images kept</h4>" + _table(list(ses.get("images", [])),
                                                      ["file", "kind", "created_at"]))
        parts.append("<h4>Consent</h4>" + _table(list(ses.get("consents", [])),
                                                  ["text_version", "locale", "accepted_at",
                                                   "withdrawn_at"]))
    for name, title in (("workflow_contacts", "What you gave in the verification steps "
                                              "(e-mail, phone, questionnaire)"),
                        ("screening_hits", "Screening results"),
                        ("audit_events", "Who accessed your data, and why")):
        rows = list(data.get(name, []))
        columns = sorted({k for r in rows for k in r})
        parts.append(f"<h2>{title}</h2>" + _table(rows, columns))
    style = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2rem .4rem}")
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Data export</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
