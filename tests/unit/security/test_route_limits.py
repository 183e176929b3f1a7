"""Route groups, client overrides and the IETF RateLimit headers, without a server."""

from __future__ import annotations

import asyncio

import pytest

from idproof.config import RateLimitSettings
from idproof.security.route_limits import (
    Check,
    Route,
    RouteLimiter,
    RouteLimits,
    classify,
    opaque,
    parse_overrides,
)


@pytest.mark.parametrize(("path", "route"), [
    ("/healthz", None),
    ("/readyz", None),
    ("/metrics", None),
    ("/sdk/idproof.js", None),
    ("/verify/assets/hosted.js", None),
    ("/.well-known/jwks.json", None),
    ("/oauth/token", Route("oauth")),
    ("/v1/sessions", Route("sessions")),
    ("/v1/sessions/ses_1", Route("sessions")),
    ("/v1/sessions/ses_1/documents", Route("uploads", "uploads", "ses_1")),
    ("/v1/sessions/ses_1/selfie", Route("uploads", "uploads", "ses_1")),
    ("/v1/sessions/ses_1/liveness", Route("uploads", "uploads", "ses_1")),
    ("/v1/sessions/ses_1/otp/verify", Route("sessions", "otp", "ses_1")),
    ("/v1/webhooks", Route("webhooks")),
    ("/v1/webhook-deliveries/d1", Route("webhooks")),
    ("/v1/audit/events", Route("audit")),
    ("/v1/vault/detokenize", Route("vault")),
    ("/v1/me", Route("api")),
    ("/v1/workflows", Route("api")),
    ("/verify/ses_1.abc", Route("hosted")),
    ("/verify/s/documents", Route("hosted", "uploads")),
    ("/verify/s/otp", Route("hosted", "otp")),
    ("/verify/s/pose", Route("hosted", "probe")),
    ("/console/", Route("console")),
    ("/console/login", Route("console")),
    ("/", None),
])
def test_classify(path: str, route: Route | None) -> None:
    assert classify(path) == route


def test_parse_overrides() -> None:
    assert parse_overrides(["sessions=600/minute", " vault = 10/second "]) == {
        "sessions": "600/minute", "vault": "10/second"}
    assert parse_overrides(["sessions=default"]) == {"sessions": ""}
    for bad in ["sessions", "nope=1/minute", "sessions=lots", "hosted=1/minute"]:
        with pytest.raises(ValueError):
            parse_overrides([bad])


def test_limiter_headers_follow_the_ietf_draft() -> None:
    limiter = RouteLimiter("memory://")
    check = Check("sessions.client", "3/minute", "cli_1")
    allowed = limiter.check([check], report=True)
    assert allowed.allowed
    assert dict(allowed.headers) == {"RateLimit-Policy": '"sessions.client";q=3;w=60',
                                     "RateLimit": '"sessions.client";r=2;t=60'}
    assert limiter.check([check]).allowed and limiter.check([check]).allowed
    refused = limiter.check([check])
    assert not refused.allowed and refused.first and refused.policy == "sessions.client"
    headers = dict(refused.headers)
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["RateLimit"] == f'"sessions.client";r=0;t={headers["Retry-After"]}'
    assert not limiter.check([check]).first  # one audit event per window, not per request
    # another key is unaffected
    assert limiter.check([Check("sessions.client", "3/minute", "cli_2")]).allowed


def test_disabled_limiter_allows_everything() -> None:
    limiter = RouteLimiter("memory://", enabled=False)
    check = Check("api.ip", "1/minute", "203.0.113.1")
    assert all(limiter.check([check]).allowed for _ in range(5))


def test_edge_checks_per_session_link_and_operator() -> None:
    limits = RouteLimits(RouteLimiter("memory://"), RateLimitSettings())
    assert limits.edge_checks("/healthz", {}, "203.0.113.1") == []
    upload = limits.edge_checks("/v1/sessions/ses_1/documents", {}, "203.0.113.1")
    assert [c.policy for c in upload] == ["uploads.ip", "uploads.session"]
    assert upload[1].key == "ses_1" and upload[1].limit == "30/minute"
    hosted = limits.edge_checks("/verify/s/selfie", {"cookie": "idproof_hosted=abc"}, "ip")
    assert [c.policy for c in hosted] == ["hosted.ip", "hosted.link", "uploads.session"]
    assert hosted[1].key == opaque("abc") != "abc"  # the cookie itself is never a key
    # The pose probe, polled while the camera runs, has its own budget instead of the link's.
    probe = limits.edge_checks("/verify/s/pose", {"cookie": "idproof_hosted=abc"}, "ip")
    assert [c.policy for c in probe] == ["hosted.ip", "probe.session"]
    assert probe[1].key == opaque("abc") and probe[1].limit == "300/minute"
    first_open = limits.edge_checks("/verify/ses_9.sig", {}, "ip")
    assert first_open[1].key == "ses_9"
    console = limits.edge_checks("/console/", {"cookie": "a=b; __Host-idproof_console=s1"}, "ip")
    assert [c.policy for c in console] == ["console.ip", "console.operator"]
    assert console[1].key == opaque("s1")


def test_client_override_wins() -> None:
    limits = RouteLimits(RouteLimiter("memory://"), RateLimitSettings())

    def allowed(path: str) -> bool:
        return asyncio.run(limits.for_client_async(
            path, "cli_1", "ten_1", [("sessions", "2/minute")], "ip", None)).allowed

    assert allowed("/v1/sessions") and allowed("/v1/sessions")
    assert not allowed("/v1/sessions")
    # other groups keep the default
    assert allowed("/v1/me")


def test_edge_limit_refuses_once_over_and_tells_the_first_refusal() -> None:
    settings = RateLimitSettings()
    settings.per_ip.api = "2/minute"
    limits = RouteLimits(RouteLimiter("memory://"), settings)
    refusals: list[object] = []
    limits.refused.subscribe(refusals.append)

    def edge() -> list[tuple[bytes, bytes]] | None:
        return asyncio.run(limits.at_edge_async("/v1/me", {}, "203.0.113.9", "req_1"))

    assert edge() is None and edge() is None
    refused = edge()
    assert refused is not None and dict(refused)[b"retry-after"].isdigit()
    assert edge() is not None
    assert len(refusals) == 1  # one audit event per window, not per request
    assert asyncio.run(limits.at_edge_async("/healthz", {}, "203.0.113.9", None)) is None
