"""The console's form models and filters, without FastAPI or a database."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from idproof.console.audit_view import AuditFilters
from idproof.console.forms import (
    ClientForm,
    EndpointForm,
    SettingsForm,
    failure_text,
    parse_form,
    version_of,
)
from idproof.core.errors import ValidationFailed


def test_client_form_lists_and_lines() -> None:
    form = FormData([("csrf_token", "x"), ("scopes", "identity.verify"),
                     ("scopes", "analytics.read"), ("allowed_ips", "10.0.0.0/8, 192.0.2.1\n"),
                     ("allowed_origins", "https://a.example\nhttps://b.example")])
    body = parse_form(ClientForm, form)
    assert body.scopes == ["identity.verify", "analytics.read"]
    assert body.ips() == ["10.0.0.0/8", "192.0.2.1"]
    assert body.origins() == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("pairs,field", [
    ([("scopes", "root")], "scopes"),
    ([], "scopes"),
    ([("scopes", "identity.verify"), ("is_admin", "1")], "is_admin"),
    ([("scopes", "identity.verify"), ("name", "x" * 101)], "name"),
])
def test_client_form_refusals_name_the_field_not_the_value(pairs, field) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_form(ClientForm, FormData(pairs))
    assert caught.value.code == "invalid_form" and caught.value.extra["fields"] == [field]
    text = failure_text(caught.value, {})
    assert field in text and "x" * 101 not in text


def test_endpoint_form_refuses_unknown_events() -> None:
    with pytest.raises(ValidationFailed):
        parse_form(EndpointForm, FormData([("url", "https://8.8.8.8/h"),
                                           ("event_types", "session.nope")]))
    ok = parse_form(EndpointForm, FormData([("url", "https://8.8.8.8/h"),
                                            ("event_types", "webhook.test")]))
    assert ok.event_types == ["webhook.test"]


def test_settings_form_ranges_and_checkbox() -> None:
    base = {"version": "v", "sla_hours": "24", "raw_images_hours": "0",
            "extracted_fields_days": "1825", "unsuccessful_days": "30",
            "face_templates_hours": "0"}
    assert parse_form(SettingsForm, FormData(list(base.items()))).four_eyes is False
    on = parse_form(SettingsForm, FormData([*base.items(), ("four_eyes", "true")]))
    assert on.four_eyes is True
    for bad in ({"sla_hours": "0"}, {"sla_hours": "721"}, {"extracted_fields_days": "29"},
                {"raw_images_hours": "abc"}):
        with pytest.raises(ValidationFailed):
            parse_form(SettingsForm, FormData(list({**base, **bad}.items())))


def test_settings_version_changes_with_any_value() -> None:
    a = {"sla_hours": 24, "four_eyes": False, "raw_images_hours": 0}
    assert version_of(a) == version_of(dict(reversed(list(a.items()))))
    assert version_of(a) != version_of({**a, "four_eyes": True})


def test_audit_filters_accept_ids_and_codes_only() -> None:
    assert AuditFilters(actor="opr_1", action="client.created", subject="tok_doc_x-1").actor
    for bad in ("<script>", "a b", "x" * 65, "'; drop"):
        with pytest.raises(ValidationFailed):
            AuditFilters(subject=bad)
