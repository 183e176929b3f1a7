"""From a read document to the document step's result: type, country, expiry, age (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from idproof.verification.decision import StepResult, StepState
from idproof.verification.document.aamva import AamvaRecord
from idproof.verification.document.accepted import EVERYTHING, NOT_ACCEPTED, AcceptedDocuments
from idproof.verification.document.mrz import MrzFormat, ParsedMrz
from idproof.workflows.catalog import Workflow


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """What was read from a document: personal data, handled only inside the service."""

    document_type: str
    issuing_country: str
    document_number: str
    surname: str
    given_names: str
    nationality: str | None
    birth_date: date | None
    sex: str | None
    expiry_date: date | None
    names_verified: bool

    def __repr__(self) -> str:  # never print personal data by accident
        return f"ExtractedDocument(type={self.document_type!r})"


def _type_from_mrz(p: ParsedMrz) -> str:
    code = p.document_code.replace("<", "")
    if p.document_type in (MrzFormat.MRV_A, MrzFormat.MRV_B) or code.startswith("V"):
        return "visa"
    if code.startswith("P"):
        return "passport"
    if code in {"IR", "AR", "CR", "RP"} or code.startswith("R"):
        return "residence_permit"
    return "id_card"


def from_mrz(p: ParsedMrz, names_verified: bool) -> ExtractedDocument:
    return ExtractedDocument(
        document_type=_type_from_mrz(p), issuing_country=p.issuing_country,
        document_number=p.document_number, surname=p.surname, given_names=p.given_names,
        nationality=p.nationality, birth_date=p.birth_date,
        sex=p.sex if p.sex in {"M", "F", "X"} else None, expiry_date=p.expiry_date,
        names_verified=names_verified)


def from_aamva(r: AamvaRecord) -> ExtractedDocument:
    return ExtractedDocument(
        document_type="driving_licence" if r.document_type == "DL" else "id_card",
        issuing_country=r.country, document_number=r.customer_id, surname=r.family_name,
        given_names=r.given_names, nationality=None, birth_date=r.birth_date, sex=r.sex,
        expiry_date=r.expiry_date, names_verified=True)


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def check_document(doc: ExtractedDocument, workflow: Workflow, today: date, *,
                   duplicate: bool = False,
                   accepted: AcceptedDocuments = EVERYTHING) -> StepResult:
    """Reason codes for everything wrong with an (already valid, read) document; `accepted`
    is the tenant's (a document outside it is `document_not_accepted`, a hard decline)."""
    reasons: list[str] = []
    if not accepted.allows(doc.document_type, doc.issuing_country):
        reasons.append(NOT_ACCEPTED)
    policy = workflow.document
    if doc.document_type not in policy.types:
        reasons.append("document_type_not_allowed")
    if policy.countries is not None and doc.issuing_country not in policy.countries:
        reasons.append("country_not_allowed")
    expired = doc.expiry_date is None or doc.expiry_date < today
    if expired:
        reasons.append("document_expired")
    # What the workflow rules read (document.type, .issuing_country, .nationality, .age):
    # coarse values, never the name, number or date of birth.
    facts: dict[str, Any] = {"document_type": doc.document_type,
                             "issuing_country": doc.issuing_country}
    if doc.nationality:
        facts["nationality"] = doc.nationality
    if doc.birth_date is not None:
        age = age_on(doc.birth_date, today)
        facts["age"] = age
        facts[f"age_over_{workflow.minimum_age}"] = age >= workflow.minimum_age
        facts["age_over_18"] = age >= 18
        if age < workflow.minimum_age:
            reasons.append("underage")
    else:
        reasons.append("document_unreadable")  # no usable date of birth
    if duplicate:
        reasons.append("duplicate_document")
    facts["document_valid"] = not expired and not {
        "document_type_not_allowed", "country_not_allowed", NOT_ACCEPTED} & set(reasons)
    state = StepState.PASSED if not reasons else StepState.FAILED
    return StepResult(state, tuple(reasons), facts)
