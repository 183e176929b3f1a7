"""A tenant's accepted documents: validation, matching, narrowing, and the hard decline."""

from __future__ import annotations

from datetime import date

import pytest

from idproof.core.errors import ValidationFailed
from idproof.verification.decision import StepResult, StepState, decide, incomplete_steps, ready
from idproof.verification.document.accepted import (
    DOCUMENT_TYPES,
    EVERYTHING,
    NOT_ACCEPTED,
    AcceptedDocuments,
    accepted,
    split_countries,
)
from idproof.verification.document.checks import ExtractedDocument, check_document
from idproof.verification.lifecycle import Status
from idproof.workflows.catalog import Workflow, get_workflow

TODAY = date(2026, 11, 29)
NOT_OK = StepResult(StepState.FAILED, (NOT_ACCEPTED,), {"document_valid": False})


def _wf(name: str) -> Workflow:
    wf = get_workflow(name)
    assert wf is not None
    return wf


def _doc(document_type: str = "passport", country: str = "FRA") -> ExtractedDocument:
    return ExtractedDocument(
        document_type=document_type, issuing_country=country, document_number="X1234567",
        surname="TESTER", given_names="ALEX", nationality=country,
        birth_date=date(1990, 1, 1), sex="F", expiry_date=date(2035, 1, 1),
        names_verified=True)


def test_settings_are_validated_and_canonical() -> None:
    got = accepted(split_countries(" fra, deu\nITA;deu "), ["id_card", "passport"])
    assert got == AcceptedDocuments(("DEU", "FRA", "ITA"), ("passport", "id_card"))
    assert accepted([], []) == EVERYTHING
    # every type ticked is the same as none: stored as "every type"
    assert accepted([], DOCUMENT_TYPES).types == ()
    assert accepted(["RKS", "EUE"], []).countries == ("EUE", "RKS")  # ICAO codes too
    assert set(DOCUMENT_TYPES) == {"passport", "id_card", "driving_licence",
                                   "residence_permit", "visa"}


@pytest.mark.parametrize(("countries", "types", "code", "unknown"), [
    (["FRA", "XYZ", "FR"], [], "unknown_country", ["FR", "XYZ"]),
    (["<script>"], [], "unknown_country", []),  # never echoed
    ([], ["passport", "library_card"], "unknown_document_type", ["library_card"]),
])
def test_unknown_codes_are_refused_by_name(countries: list[str], types: list[str], code: str,
                                           unknown: list[str]) -> None:
    with pytest.raises(ValidationFailed) as exc:
        accepted(countries, types)
    assert exc.value.code == code and exc.value.extra["unknown"] == unknown


def test_matching_and_narrowing() -> None:
    assert EVERYTHING.allows("visa", "ZWE")
    only = AcceptedDocuments(("DEU", "FRA"), ("passport",))
    assert only.allows("passport", "FRA") and only.allows("passport", "D")  # German MRZ
    assert not only.allows("id_card", "FRA") and not only.allows("passport", "ITA")
    assert only.narrow_types(("passport", "id_card")) == ("passport",)
    assert only.narrow_countries(None) == ("DEU", "FRA")
    assert only.narrow_countries(("FRA", "ITA")) == ("FRA",)
    assert EVERYTHING.narrow_countries(("ITA", "FRA")) == ("FRA", "ITA")
    assert EVERYTHING.narrow_countries(None) is None
    assert EVERYTHING.narrow_types(("passport", "id_card")) == ("passport", "id_card")


def test_check_document_flags_a_document_the_tenant_does_not_accept() -> None:
    wf = _wf("document_only")
    fine = check_document(_doc(), wf, TODAY)
    assert fine.state == StepState.PASSED and fine.reasons == ()
    limited = AcceptedDocuments(("DEU",), ())
    out = check_document(_doc(), wf, TODAY, accepted=limited)
    assert out.state == StepState.FAILED and out.reasons == (NOT_ACCEPTED,)
    assert out.facts["document_valid"] is False
    assert check_document(_doc(country="DEU"), wf, TODAY, accepted=limited).reasons == ()
    out = check_document(_doc("id_card"), wf, TODAY,
                         accepted=AcceptedDocuments((), ("passport",)))
    assert out.reasons == (NOT_ACCEPTED,)


@pytest.mark.parametrize("name", ["document_only", "age_check", "kyc_standard"])
def test_a_document_not_accepted_declines_whatever_the_rules(name: str) -> None:
    wf = _wf(name)
    assert NOT_ACCEPTED not in wf.rules.decline  # not listed: declined anyway
    for flow in (wf, wf.as_template()):  # the reason lists and the graph with CEL rules
        results = {"document": NOT_OK}
        assert ready(flow, results)
        assert incomplete_steps(flow, results) == []
        d = decide(flow, results)
        assert d.status == Status.DECLINED and d.reasons[0] == NOT_ACCEPTED
        assert d.checks["is_verified"] is False


def test_a_hard_decline_waits_for_a_side_still_being_read() -> None:
    wf = _wf("kyc_standard")
    results = {"document": NOT_OK, "selfie": StepResult(StepState.PROCESSING)}
    assert not ready(wf, results)
    # without the hard decline, the selfie and liveness are still owed
    assert incomplete_steps(wf, {"document": StepResult(
        StepState.FAILED, ("document_expired",))}) == ["selfie", "liveness"]
