"""/metrics is not public: served only with the operator's metrics token."""

from __future__ import annotations

from pydantic import SecretStr

METRICS_TOKEN = "m" * 40


def test_metrics_not_served_without_a_configured_token(api) -> None:
    r = api.get("/metrics")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_metrics_need_the_token(api, container) -> None:
    container.settings.metrics.token = SecretStr(METRICS_TOKEN)
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": METRICS_TOKEN},
                    {"authorization": f"Basic {METRICS_TOKEN}"}):
        r = api.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["code"] == "metrics_auth_required"
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = api.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200 and "idproof_http_requests_total" in r.text
    # wrong metrics tokens are not client authentications: the IP is not blocked for them
    assert container.guard.retry_after("127.0.0.1") is None
