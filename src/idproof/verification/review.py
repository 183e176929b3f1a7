"""A reviewer's decision on a session in review: reason catalogue, four-eyes rule (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from idproof.core.errors import ValidationFailed

DECISIONS = ("approved", "declined", "resubmit")

# Reason codes a reviewer may give (docs/api/sessions.md lists them with their meaning).
REVIEW_REASONS: dict[str, str] = {
    "document_fraudulent": "The document looks forged or altered",
    "document_expired": "The document has expired",
    "document_unreadable": "The document cannot be read, even by a person",
    "document_not_supported": "The document type or issuing country is not accepted",
    "duplicate_document": "The document was used in another verification",
    "duplicate_confirmed_same_person": "A duplicate, but the same person verifying again",
    "face_mismatch": "The selfie is not the holder of the document",
    "presentation_attack": "A photo, screen or mask was shown instead of a live person",
    "underage": "The person is under the required age",
    "poor_image_quality": "Blurred, glared or cropped images",
    "incomplete_capture": "A side or a step is missing",
    "manual_check_passed": "A reviewer checked the document and the person",
    "other": "Another reason, explained in the note",
}
NOTE_MAX = 2000
MAX_REASONS = 10


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """What the reviewer decided; `steps` only for `resubmit`."""

    decision: str
    reasons: tuple[str, ...] = ()
    note: str = ""
    steps: tuple[str, ...] = field(default_factory=tuple)


def validate(req: ReviewRequest, workflow_steps: Sequence[str]) -> ReviewRequest:
    """The request cleaned up, or a 422 with a stable code."""
    if req.decision not in DECISIONS:
        raise ValidationFailed("decision must be approved, declined or resubmit",
                               code="invalid_decision")
    reasons = tuple(dict.fromkeys(r.strip() for r in req.reasons if r.strip()))
    unknown = [r for r in reasons if r not in REVIEW_REASONS]
    if unknown or len(reasons) > MAX_REASONS:
        raise ValidationFailed("reasons must come from the review reason catalogue",
                               code="unknown_reason",
                               extra={"known": sorted(REVIEW_REASONS)})
    note = req.note.strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(f"the note is longer than {NOTE_MAX} characters",
                               code="note_too_long")
    if any(not (c.isprintable() or c in "\n\r\t") for c in note):
        raise ValidationFailed("the note holds control characters", code="invalid_note")
    if req.decision == "declined" and not reasons:
        raise ValidationFailed("a decline needs at least one reason code",
                               code="reasons_required")
    if "other" in reasons and not note:
        raise ValidationFailed("the reason `other` needs a note", code="note_required")
    steps = tuple(dict.fromkeys(req.steps))
    if req.decision == "resubmit":
        if not steps:
            raise ValidationFailed("say which steps the person must redo",
                                   code="steps_required")
        bad = [st for st in steps if st not in workflow_steps]
        if bad:
            raise ValidationFailed("a step is not in the session's workflow",
                                   code="step_not_in_workflow",
                                   extra={"steps": list(workflow_steps)})
    elif steps:
        raise ValidationFailed("steps are only for a resubmit", code="steps_not_allowed")
    return ReviewRequest(req.decision, reasons, note, steps)


def needs_second_reviewer(decision: str, session_reasons: Iterable[str],
                          four_eyes: bool) -> bool:
    """Four eyes: a decline, or an approval despite a duplicate document, needs a second
    reviewer when the tenant asks for it."""
    if not four_eyes:
        return False
    return decision == "declined" or (decision == "approved"
                                      and "duplicate_document" in set(session_reasons))


def review_version(updated_at: datetime, status: str) -> str:
    """An opaque version of a session for optimistic concurrency (forms and If-Match)."""
    raw = f"{status}|{updated_at.isoformat()}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]
