"""Behind TLS (an https public URL) the hosted cookie is Secure."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from idproof.config import Settings
from idproof.hosted.router import COOKIE
from idproof.web.app import create_app
from tests.conftest import TEST_SECRET
from tests.helpers import bearer, get_token


@pytest.fixture
def settings(tmp_path, db_url) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
                    public_url="https://testserver")


def test_secure_cookie_over_tls(container, make_client) -> None:
    with TestClient(create_app(container), base_url="https://testserver",
                    client=("127.0.0.1", 50000)) as api:
        token = get_token(api, make_client())
        url = api.post("/v1/sessions", json={"reference": "u-1", "workflow": "document_only"},
                       headers=bearer(token)).json()["url"]
        assert url.startswith("https://testserver/verify/")
        r = api.get(url.removeprefix("https://testserver"))
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "Secure" in cookie and "HttpOnly" in cookie
        assert "strict-transport-security" in r.headers
        # The cookie goes back over https: the flow continues.
        assert api.get("/verify/s").status_code == 200
