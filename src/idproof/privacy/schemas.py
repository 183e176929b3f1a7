"""Request bodies of the privacy API (Pydantic, extra fields forbidden)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ExportRequest(BaseModel):
    """Why the export is made, and how to encrypt it: a passphrase or an age public key."""

    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=1, max_length=200,
                         description="Why (on the audit log), e.g. `GDPR art. 15 request`")
    passphrase: SecretStr | None = Field(None, max_length=1024,
                                         description="Encrypt with age to this passphrase "
                                                     "(scrypt; at least 12 characters)")
    recipient: str | None = Field(None, max_length=4096,
                                  description="Encrypt with age to this public key (`age1…`, "
                                              "or an SSH ed25519/RSA public key)")


class ReceiptSession(BaseModel):
    session_id: str
    status: str
    images_deleted: int
    document_records_deleted: int
    face_templates_deleted: int
    consent_records_deleted: int
    face_index_entries_deleted: int = 0
    vault_entries_erased: int
    data_key: str | None = Field(description="The id of the data key shredded (not the key)")
    data_keys_shredded: int
    already_gone: bool = False


class ErasureReceipt(BaseModel):
    """What was destroyed: ids and counts, never personal data."""

    receipt_id: str
    reference: str
    erased_at: str
    sessions: list[ReceiptSession]
    totals: dict[str, int]
    kept: list[str]
    audit_event_id: str
