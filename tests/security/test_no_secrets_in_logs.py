"""Drive every endpoint that carries a credential with DEBUG logs on; no secret may leak."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

import structlog
from joserfc import jwt
from joserfc.jwk import OKPKey

from idproof.core.logging import Redactor, configure_logging
from tests.helpers import bearer


def test_no_credentials_in_logs(api, make_client) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", ["document_number"], stream=stream)
    try:
        key = OKPKey.generate_key("Ed25519")
        c = make_client(jwk=key.as_dict(private=False))
        secrets = [c.secret]
        r = api.post("/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(c.client_id, c.secret))
        token = r.json()["access_token"]
        secrets.append(token)
        r = api.post("/oauth/token", data={"grant_type": "client_credentials",
                                           "client_id": c.client_id, "client_secret": c.secret})
        secrets.append(r.json()["access_token"])
        now = int(time.time())
        assertion = jwt.encode({"alg": "EdDSA"}, {
            "iss": c.client_id, "sub": c.client_id, "aud": "http://testserver/oauth/token",
            "exp": now + 60, "jti": uuid.uuid4().hex}, key, algorithms=["EdDSA"])
        secrets.append(assertion)
        r = api.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
        secrets.append(r.json()["access_token"])
        # replay (refused) and a wrong secret close to the right one
        api.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
        wrong = c.secret[:-4] + "AAAA"
        secrets.append(wrong)
        api.post("/oauth/token", data={"grant_type": "client_credentials"},
                 auth=(c.client_id, wrong))
        api.get("/v1/me", headers=bearer(token))
        api.get("/v1/me", headers=bearer(token + "x"))
        api.get(f"/v1/me?access_token={token}")
        api.post("/oauth/introspect", data={"token": token}, auth=(c.client_id, c.secret))
        api.post("/oauth/revoke", data={"token": token}, auth=(c.client_id, c.secret))
        api.get("/v1/me", headers=bearer(token))
        structlog.get_logger("idproof.test").debug(
            "probe", document_number="X1234567", headers={"Authorization": "Bearer abcdefghij"})
        logging.getLogger("idproof.test").debug("stdlib probe with Bearer abcdefghij")
    finally:
        configure_logging("INFO")
    text = stream.getvalue()
    assert text.count("\n") > 10, "logs were not captured"
    for line in text.splitlines():
        json.loads(line)  # every line is JSON
    for secret in secrets:
        assert secret not in text
        # nor any long piece of it (a token's signature alone would be a leak too)
        for part in secret.split("."):
            if len(part) > 16:
                assert part not in text
    assert "X1234567" not in text and "abcdefghij" not in text
    assert "probe" in text


def test_redactor_scrubs_nested_and_messages() -> None:
    r = Redactor(["date_of_birth"])
    out = r(None, "info", {"event": "failed with Bearer abcdefghijkl and idpsk_abcdefghijkl",
                           "nested": {"date_of_birth": "1990-01-01", "ok": 1},
                           "client_secret": "x", "list": ["eyJhbGciOi.eyJzdWIi.sig"]})
    assert "abcdefghijkl" not in out["event"]
    assert out["nested"] == {"date_of_birth": "[redacted]", "ok": 1}
    assert out["client_secret"] == "[redacted]"
    assert out["list"] == ["[redacted]"]
