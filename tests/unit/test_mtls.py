"""Pure RFC 8705 logic: thumbprints, subject and SAN matching, binding, header decoding."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from idproof.auth.mtls import (
    BadCertificate,
    ClientCertificate,
    bound_to,
    certificate_from_header,
    normalise_dn,
    subject_matches,
    thumbprint_matches,
)
from idproof.cli.tls import ssl_options
from tests.mtls_certs import make_cert, pem


def test_x5t_is_the_sha256_of_the_der_certificate() -> None:
    cert = make_cert("svc")[0]
    der = cert.public_bytes(Encoding.DER)
    c = ClientCertificate.from_pem(pem(cert))
    assert c.x5t_s256 == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(
        b"=").decode()
    assert ClientCertificate.from_der(der).x5t_s256 == c.x5t_s256


def test_subject_and_san_matching() -> None:
    c = ClientCertificate.from_pem(pem(make_cert("svc-a", san_dns="svc.example")[0]))
    assert subject_matches(c, "CN=svc-a, O=Test")
    assert not subject_matches(c, "CN=svc-b,O=Test")
    assert subject_matches(c, "san:svc.example")
    assert not subject_matches(c, "san:evil.example")
    assert normalise_dn("CN=a\\, b , O=x") == "CN=a\\, b,O=x"
    with pytest.raises(ValueError):
        normalise_dn("not a dn")


def test_thumbprint_follows_the_key_not_the_certificate() -> None:
    first, key = make_cert("svc")
    renewed = make_cert("svc", key=key)[0]
    a, b = ClientCertificate.from_pem(pem(first)), ClientCertificate.from_pem(pem(renewed))
    assert a.x5t_s256 != b.x5t_s256
    assert thumbprint_matches(b, a.jwk_thumbprint())
    assert not thumbprint_matches(ClientCertificate.from_pem(pem(make_cert("x")[0])),
                                  a.jwk_thumbprint())


def test_binding() -> None:
    assert bound_to({}, None) and bound_to({}, "x")  # unbound tokens pass
    cnf = {"cnf": {"x5t#S256": "abc"}}
    assert bound_to(cnf, "abc")
    assert not bound_to(cnf, "abd") and not bound_to(cnf, None)
    assert not bound_to({"cnf": "abc"}, "abc") and not bound_to({"cnf": {}}, "abc")


def test_header_decoding() -> None:
    cert = make_cert("svc")[0]
    der = cert.public_bytes(Encoding.DER)
    assert certificate_from_header(quote(pem(cert).decode(), safe="")).der == der
    assert certificate_from_header(base64.b64encode(der).decode()).der == der
    for bad in ("", "x" * 20_000, "%%%", base64.b64encode(b"not der").decode(),
                quote("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")):
        with pytest.raises(BadCertificate):
            certificate_from_header(bad)


def test_validity_window() -> None:
    c = ClientCertificate.from_pem(pem(make_cert("svc", expired=True)[0]))
    now = datetime.now(UTC)
    assert not c.valid_at(now) and c.valid_at(now - timedelta(days=5))


def test_serve_tls_options() -> None:
    assert ssl_options(None, None, None) == {}
    with pytest.raises(ValueError):
        ssl_options("c.pem", None, None)
    with pytest.raises(ValueError):
        ssl_options(None, None, "ca.pem")
    assert "http" not in ssl_options("c.pem", "k.pem", None)
    assert ssl_options("c.pem", "k.pem", "ca.pem")["http"] == "idproof.cli.tls:MtlsH11Protocol"
