"""The edge's pure decisions, without FastAPI: request identity, headers, body limits."""

from __future__ import annotations

from idproof.web.edge_context import request_identity
from idproof.web.edge_guards import body_limit_refusal
from idproof.web.edge_headers import with_security_headers

PROXY = ("10.0.0.1",)


def test_request_id_kept_only_when_well_formed() -> None:
    rid, _, _ = request_identity({"x-request-id": "abcdefgh-123"}, "1.2.3.4", "http", (), False)
    assert rid == "abcdefgh-123"
    rid, _, _ = request_identity({"x-request-id": "bad id\n"}, "1.2.3.4", "http", (), False)
    assert rid.startswith("req_") and "\n" not in rid


def test_forwarded_for_and_proto_count_only_from_a_trusted_proxy() -> None:
    headers = {"x-forwarded-for": "9.9.9.9", "x-forwarded-proto": "https"}
    _, ip, tls = request_identity(headers, "1.2.3.4", "http", PROXY, True)
    assert (ip, tls) == ("1.2.3.4", False)  # an untrusted peer proves nothing
    _, ip, tls = request_identity(headers, "10.0.0.1", "http", PROXY, True)
    assert (ip, tls) == ("9.9.9.9", True)
    _, _, tls = request_identity(headers, "10.0.0.1", "http", PROXY, False)
    assert tls is False  # an http public URL never pins itself with HSTS


def test_security_headers_added_without_replacing_the_responses_own() -> None:
    own = [(b"content-security-policy", b"frame-ancestors https://a.example"),
           (b"cache-control", b"max-age=5")]
    out = dict(with_security_headers(list(own), path="/v1/me", rid="req_1", hsts=True))
    assert out[b"content-security-policy"] == b"frame-ancestors https://a.example"
    assert out[b"cache-control"] == b"max-age=5"
    assert b"x-frame-options" not in out  # the CSP lets an origin frame it
    assert out[b"x-request-id"] == b"req_1"
    assert out[b"strict-transport-security"].startswith(b"max-age=")
    bare = dict(with_security_headers([], path="/v1/me", rid="r", hsts=False))
    assert bare[b"x-frame-options"] == b"DENY" and bare[b"cache-control"] == b"no-store"
    assert b"strict-transport-security" not in bare


def test_body_limit_refusals() -> None:
    assert body_limit_refusal(None, 10) is None
    assert body_limit_refusal("10", 10) is None
    assert body_limit_refusal("11", 10) == (413, "payload_too_large",
                                            "the request body is too large")
    assert body_limit_refusal("-1", 10) == (400, "bad_request", "invalid Content-Length")
