"""`POST /v1/vault/detokenize`: scope, purpose, tenant isolation, erasure, rate limit, audit."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from idproof.bootstrap import Container
from idproof.config import Settings, VaultSettings
from idproof.core.logging import configure_logging
from idproof.crypto.errors import DecryptionError
from tests.helpers import bearer, get_token

VALUE = "X4421987Q"
PATH = "/v1/vault/detokenize"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"vault": VaultSettings(detokenize_rate_limit="8/minute")})


@pytest.fixture
def token(container: Container) -> str:
    t = container.tenants.ensure("demo").id
    key = container.protection.subject_key(t, "sub_api")
    return container.vault.tokenize(t, "passport_number", VALUE, key)


@pytest.fixture
def reader(api: TestClient, make_client) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    c = make_client(scopes="vault.detokenize")
    yield bearer(get_token(api, c))


def test_detokenize_with_purpose(api: TestClient, container: Container, token: str,
                                 reader: dict[str, str]) -> None:
    r = api.post(PATH, json={"token": token, "purpose": "  AML re-screening  "}, headers=reader)
    assert r.status_code == 200, r.text
    assert r.json() == {"token": token, "kind": "passport_number", "value": VALUE}
    assert r.headers["cache-control"] == "no-store"
    events = container.audit.list(action="vault.detokenized")
    assert len(events) == 1
    e = events[0]
    assert e.purpose == "AML re-screening" and e.target_id == token
    assert e.actor_type == "client" and e.actor_id and e.details == {"kind": "passport_number"}
    assert VALUE not in repr(e.details) and VALUE not in (e.purpose or "")


def test_scope_is_required(api: TestClient, make_client, token: str) -> None:  # type: ignore[no-untyped-def]
    c = make_client(scopes="identity.verify identity.read_pii")
    r = api.post(PATH, json={"token": token, "purpose": "x"},
                 headers=bearer(get_token(api, c)))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    assert VALUE not in r.text
    r = api.post(PATH, json={"token": token, "purpose": "x"})
    assert r.status_code == 401


@pytest.mark.parametrize("purpose", ["", "   ", "\t\n"])
def test_empty_purpose_is_refused(api: TestClient, container: Container, token: str,
                                  reader: dict[str, str], purpose: str) -> None:
    r = api.post(PATH, json={"token": token, "purpose": purpose}, headers=reader)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "purpose_required"
    assert VALUE not in r.text
    assert container.audit.list(action="vault.detokenized") == []


def test_bad_bodies(api: TestClient, token: str, reader: dict[str, str]) -> None:
    for body in ({"token": token}, {"purpose": "x"}, {"token": token, "purpose": "x", "a": 1},
                 {"token": "tok_passport_number_bad", "purpose": "x"},
                 {"token": token, "purpose": "x" * 300}):
        r = api.post(PATH, json=body, headers=reader)
        assert r.status_code == 422, body
        assert r.json()["code"] == "validation_failed"
    r = api.post(PATH, json={"token": token, "purpose": "ok\x00then"}, headers=reader)
    assert r.status_code == 422 and r.json()["code"] == "invalid_purpose"


def test_unknown_and_foreign_tokens_are_404(api: TestClient, container: Container,
                                            make_client, token: str) -> None:  # type: ignore[no-untyped-def]
    other = make_client(tenant="acme", scopes="vault.detokenize")
    h = bearer(get_token(api, other))
    r = api.post(PATH, json={"token": token, "purpose": "audit"}, headers=h)
    assert r.status_code == 404 and r.json()["code"] == "token_not_found"
    unknown = "tok_passport_number_" + "0" * 24
    r2 = api.post(PATH, json={"token": unknown, "purpose": "audit"}, headers=h)
    assert r2.status_code == 404
    # Foreign and unknown look exactly alike.
    strip = ("request_id",)
    assert {k: v for k, v in r.json().items() if k not in strip} == \
        {k: v for k, v in r2.json().items() if k not in strip}
    refused = container.audit.list(action="vault.detokenize_refused")
    assert [e.details["reason"] for e in refused] == ["not_found", "not_found"]


def test_erased_subject_answers_410(api: TestClient, container: Container, token: str,
                                    reader: dict[str, str]) -> None:
    t = container.tenants.ensure("demo").id
    key = container.protection.subject_key(t, "sub_api")
    assert container.vault.tokens_of(t, key) == [token]
    container.protection.shred(key)
    r = api.post(PATH, json={"token": token, "purpose": "support"}, headers=reader)
    assert r.status_code == 410 and r.json()["code"] == "token_erased"


def test_rate_limited_per_client(api: TestClient, make_client, token: str,
                                 reader: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    codes = [api.post(PATH, json={"token": token, "purpose": "bulk"}, headers=reader).status_code
             for _ in range(8)]
    assert codes == [200] * 8
    r = api.post(PATH, json={"token": token, "purpose": "bulk"}, headers=reader)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["content-type"].startswith("application/problem+json")
    # Another client of the same tenant has its own budget.
    other = make_client(scopes="vault.detokenize")
    r = api.post(PATH, json={"token": token, "purpose": "bulk"},
                 headers=bearer(get_token(api, other)))
    assert r.status_code == 200


def test_crypto_failure_is_a_plain_500(api: TestClient, container: Container, token: str,
                                       reader: dict[str, str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: object, **_k: object) -> bytes:
        raise DecryptionError("authentication failed", key_id="sk_secretkeyid")

    monkeypatch.setattr(container.protection, "decrypt", broken)
    r = api.post(PATH, json={"token": token, "purpose": "x"}, headers=reader)
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert "sk_secretkeyid" not in r.text and "vault_tokens" not in r.text
    assert token not in r.text


def test_no_value_in_logs(api: TestClient, token: str, reader: dict[str, str]) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", [], stream=stream)
    try:
        api.post(PATH, json={"token": token, "purpose": "kyc"}, headers=reader)
        api.post(PATH, json={"token": token, "purpose": ""}, headers=reader)
        for _ in range(10):
            api.post(PATH, json={"token": token, "purpose": "x"}, headers=reader)
    finally:
        configure_logging("INFO")
    logs = stream.getvalue()
    assert "vault_detokenize_rate_limited" in logs
    assert VALUE not in logs


def test_openapi_documents_the_endpoint(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    op = spec["paths"][PATH]["post"]
    assert {"404", "410", "422", "429"} <= set(op["responses"])
