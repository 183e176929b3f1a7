"""Consent records: versioned texts per tenant and locale, acceptances kept with their IP
(cut to the network after 30 days), exported with the subject, and withdrawal (a cancelled
upload, erasure per policy)."""

from __future__ import annotations

import json

import pyrage
import pytest
from sqlalchemy import select

from idproof.core.errors import IdproofError
from idproof.privacy.models import ConsentGrant
from idproof.privacy.package import verify_zip
from tests.api.test_hosted import ORIGIN, consent, jpeg, opened
from tests.helpers import bearer, get_token

DAY = 86_400


@pytest.fixture
def auth(api, make_client):  # type: ignore[no-untyped-def]
    return bearer(get_token(api, make_client(
        scopes="identity.verify identity.read_status privacy.manage",
        allowed_origins=[ORIGIN])))


def test_acceptance_stored_versioned_exported_and_ip_truncated(api, auth, container,
                                                               clock) -> None:
    tenant = container.tenants.get("demo").id
    container.consents.publish(tenant, "en", "2026-12", "We check your document ...")
    with pytest.raises(IdproofError) as exc:
        container.consents.publish(tenant, "en", "2026-12", "changed")
    assert exc.value.code == "consent_version_exists"
    assert container.consents.current(tenant, "en-GB").version == "2026-12"  # type: ignore[union-attr]
    sid, _path, page = opened(api, auth, reference="user-c")
    assert consent(api, page.text).status_code == 303
    with container.db.read() as s:
        (grant,) = s.scalars(select(ConsentGrant).where(ConsentGrant.session_id == sid))
        assert (grant.text_version, grant.locale, grant.ip) == ("2026-12", "en", "127.0.0.1")

    ident = pyrage.x25519.Identity.generate()
    r = api.post("/v1/subjects/user-c/export", headers=auth,
                 json={"purpose": "art. 15", "recipient": str(ident.to_public())})
    data = json.loads(verify_zip(pyrage.decrypt(r.content, [ident]))["subject.json"])
    assert data["sessions"][0]["consents"][0]["text_version"] == "2026-12"

    clock.advance(29 * DAY)
    assert container.retention.purge(dry_run=True).ips_truncated == 0
    clock.advance(2 * DAY)
    assert container.retention.purge().ips_truncated == 1
    with container.db.read() as s:
        grant = s.scalars(select(ConsentGrant)).one()
        assert grant.ip == "127.0.0.0/24" and grant.ip_truncated


def test_withdrawal_during_upload_cancels_and_erases(api, auth, container) -> None:
    sid, _path, page = opened(api, auth, reference="user-w")
    assert consent(api, page.text).status_code == 303
    r = api.post("/v1/subjects/user-w/withdraw-consent", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cancelled"] == [sid] and body["erased"] == [sid] and body["kept"] == []
    # the upload that was on its way finds nothing to write to
    r = api.post("/verify/s/document", data={"side": "front", "csrf_token": "x"},
                 files={"file": ("d.jpg", jpeg(), "image/jpeg")})
    assert r.status_code in (303, 400, 403, 404, 409, 410)
    assert api.get(f"/v1/sessions/{sid}", headers=auth).status_code == 404
    with container.db.read() as s:
        assert s.scalars(select(ConsentGrant)).all() == []
    (ev,) = container.audit.list(action="privacy.consent_withdrawn")
    assert ev.details["cancelled"] == 1 and "user-w" not in json.dumps(ev.details)
    r = api.post("/v1/subjects/user-w/withdraw-consent", headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "subject_not_found"
