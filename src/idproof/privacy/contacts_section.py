"""The export's `workflow_contacts`: what the person gave the e-mail, phone and
questionnaire steps (sealed in session_contacts), opened for the subject's own package."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idproof.crypto.errors import CryptoError
from idproof.crypto.protection import DataProtection
from idproof.workflows.models import SessionContact


def workflow_contacts(protection: DataProtection, s: Session, tenant_id: str,
                      session_ids: list[str]) -> list[dict[str, Any]]:
    """One item per step given something, by session then step: the e-mail address, the
    phone number (E.164), the questionnaire's answers (a consent checkbox with the legal
    version accepted); `erased` when the person's key is gone."""
    if not session_ids:
        return []
    out: list[dict[str, Any]] = []
    order = {sid: i for i, sid in enumerate(session_ids)}
    rows = s.scalars(select(SessionContact).where(
        SessionContact.tenant_id == tenant_id, SessionContact.session_id.in_(session_ids)))
    for row in sorted(rows, key=lambda r: (order[r.session_id], r.step)):
        item: dict[str, Any] = {"session_id": row.session_id, "step": row.step,
                                "given_at": row.created_at.isoformat()}
        try:
            value = protection.decrypt(row.tenant_id, "session_contacts", "sealed_value",
                                       f"{row.session_id}:{row.step}", None,
                                       row.sealed_value).decode()
        except CryptoError:
            item["erased"] = True
        else:
            if row.step == "questionnaire":
                item["answers"] = json.loads(value)
            else:
                item["value"] = value
        out.append(item)
    return out
