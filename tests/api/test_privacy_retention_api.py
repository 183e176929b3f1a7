"""`/v1/privacy/retention`: a tenant's retention policy and region read and changed over the
API (scope privacy.manage), validated, audited, and no other tenant's touched."""

from __future__ import annotations

from idproof.privacy.retention import DEFAULT
from tests.helpers import bearer, get_token

SCOPES = "identity.verify privacy.manage"


def test_read_and_change_the_policy(api, make_client, container) -> None:
    auth = bearer(get_token(api, make_client(scopes=SCOPES)))
    r = api.get("/v1/privacy/retention", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant"] == "demo" and body["region"] == container.tenants.get("demo").region
    assert body["retention"] == body["defaults"] == DEFAULT.as_dict()
    assert body["limits"]["raw_images_hours"] == {"min": 0, "max": 720, "unit": "hours"}

    r = api.put("/v1/privacy/retention", headers=auth,
                json={"extracted_fields_days": 30, "raw_images_hours": 24})
    assert r.status_code == 200, r.text
    assert r.json()["retention"] == {**DEFAULT.as_dict(), "extracted_fields_days": 30,
                                     "raw_images_hours": 24}
    tenant = container.tenants.get("demo")
    assert tenant.image_retention_seconds == 24 * 3600  # what the decision reads
    assert container.retention.policy(tenant.id).extracted_fields_days == 30
    (ev,) = container.audit.list(action="privacy.retention_changed")
    assert ev.actor_type == "client" and ev.tenant_id == tenant.id
    assert api.get("/v1/privacy/retention", headers=auth).json()["retention"][
        "raw_images_hours"] == 24


def test_bad_input_changes_nothing(api, make_client, container) -> None:
    container.tenants.ensure("acme")
    auth = bearer(get_token(api, make_client(scopes=SCOPES)))
    for body in ({"raw_images_hours": 721}, {"extracted_fields_days": 5},
                 {"unsuccessful_days": 0}):
        r = api.put("/v1/privacy/retention", headers=auth, json=body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_retention", r.text
    for body in ({}, {"raw_images_hours": 1, "images": 2}, {"raw_images_hours": "x"},
                 {"raw_images_hours": True}):
        r = api.put("/v1/privacy/retention", headers=auth, json=body)
        assert r.status_code == 422, (body, r.text)
    assert container.audit.list(action="privacy.retention_changed") == []
    demo = container.tenants.get("demo").id
    assert container.retention.policy(demo) == DEFAULT
    # the scope is needed; another tenant's client changes its own tenant only
    plain = bearer(get_token(api, make_client(scopes="identity.verify")))
    assert api.get("/v1/privacy/retention", headers=plain).status_code == 403
    assert api.put("/v1/privacy/retention", headers=plain,
                   json={"unsuccessful_days": 7}).status_code == 403
    other = bearer(get_token(api, make_client(tenant="acme", scopes=SCOPES)))
    r = api.put("/v1/privacy/retention", headers=other, json={"unsuccessful_days": 7})
    assert r.status_code == 200 and r.json()["tenant"] == "acme"
    assert container.retention.policy(demo) == DEFAULT
    assert container.retention.policy(container.tenants.get("acme").id).unsuccessful_days == 7
