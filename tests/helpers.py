"""Small helpers shared by the API tests."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.testclient import TestClient


@dataclass
class ApiClient:
    client_id: str
    secret: str
    tenant: str


def get_token(api: TestClient, c: ApiClient, **extra: str) -> str:
    r = api.post("/oauth/token", data={"grant_type": "client_credentials", **extra},
                 auth=(c.client_id, c.secret))
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
