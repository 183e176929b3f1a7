"""The hosted link is a credential: its secret part never reaches a log line."""

from __future__ import annotations

import io
import json

from idproof.core.logging import configure_logging, scrub_text
from tests.helpers import bearer, get_token


def test_hosted_link_secret_not_in_logs(api, make_client) -> None:
    token = get_token(api, make_client())
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    try:
        url = api.post("/v1/sessions", json={"reference": "u-1", "workflow": "document_only"},
                       headers=bearer(token)).json()["url"]
        path = url.removeprefix("http://testserver")
        sid, _, secret = path.removeprefix("/verify/").partition(".")
        assert len(secret) > 20
        assert api.get(path).status_code == 200
        assert api.get(path).status_code in (200, 410)  # used, or the same browser again
        api.get(path + "/", follow_redirects=False)  # a near-miss path is scrubbed too
        forged = "/verify/ses_nothing." + "A" * 43
        assert api.get(forged).status_code == 404
    finally:
        configure_logging("INFO")
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    opened = [entry for entry in lines if entry.get("event") == "request"
              and str(entry.get("path", "")).startswith(f"/verify/{sid}")]
    assert opened, "the access log has the request (with the secret part redacted)"
    assert secret not in text
    assert secret[:16] not in text and secret[-16:] not in text
    assert "A" * 43 not in text


def test_scrub_text_redacts_link_secrets_anywhere() -> None:
    mac = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"
    for text in (f"/verify/ses_01J.{mac}", f"https://id.example/verify/ses_01J.{mac}?x=1",
                 f"GET /verify/ses_01J.{mac} HTTP/1.1", f"link=ses_01J.{mac}"):
        out = scrub_text(text)
        assert mac not in out and "ses_01J" in out, out
    # ordinary file names and short dotted segments stay readable
    assert scrub_text("/verify/assets/hosted.js") == "/verify/assets/hosted.js"
    assert scrub_text("/v1/sessions/ses_01J/documents") == "/v1/sessions/ses_01J/documents"
