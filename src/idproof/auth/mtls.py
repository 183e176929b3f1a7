"""Mutual TLS client certificates (RFC 8705): thumbprints, subject matching, header decoding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc.jwk import JWKRegistry

TLS_CLIENT_AUTH = "tls_client_auth"
SELF_SIGNED_TLS_CLIENT_AUTH = "self_signed_tls_client_auth"
METHODS = (TLS_CLIENT_AUTH, SELF_SIGNED_TLS_CLIENT_AUTH)
MAX_HEADER_CHARS = 16_384  # a PEM certificate with a long chain stays well below


class BadCertificate(ValueError):
    """The presented certificate cannot be parsed."""


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A parsed client certificate with what RFC 8705 needs of it."""

    der: bytes
    cert: x509.Certificate

    @classmethod
    def from_der(cls, der: bytes) -> ClientCertificate:
        try:
            return cls(der, x509.load_der_x509_certificate(der))
        except ValueError:
            raise BadCertificate("not a DER certificate") from None

    @classmethod
    def from_pem(cls, pem: str | bytes) -> ClientCertificate:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise BadCertificate("not a PEM certificate") from None
        return cls(cert.public_bytes(Encoding.DER), cert)

    @property
    def x5t_s256(self) -> str:
        """The `cnf` confirmation: base64url SHA-256 of the DER certificate (RFC 8705 §3.1)."""
        return b64url(hashlib.sha256(self.der).digest())

    @property
    def subject_dn(self) -> str:
        """The subject as an RFC 4514 string (`CN=svc,O=Example`)."""
        return self.cert.subject.rfc4514_string()

    def san_values(self) -> list[str]:
        """DNS names, URIs, e-mail addresses and IP addresses of the subjectAltName."""
        try:
            ext = self.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return []
        san = ext.value
        out: list[str] = []
        for kind in (x509.DNSName, x509.UniformResourceIdentifier, x509.RFC822Name):
            out += [str(v) for v in san.get_values_for_type(kind)]
        out += [str(v) for v in san.get_values_for_type(x509.IPAddress)]
        return out

    def jwk_thumbprint(self) -> str:
        """RFC 7638 thumbprint of the certificate's public key (self-signed registration)."""
        return jwk_thumbprint_of(self.cert.public_key())

    def valid_at(self, now: datetime) -> bool:
        return self.cert.not_valid_before_utc <= now <= self.cert.not_valid_after_utc


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwk_thumbprint_of(public_key: Any) -> str:
    """RFC 7638 thumbprint of an EC, RSA or Ed25519 public key."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        kty = "EC"
    elif isinstance(public_key, rsa.RSAPublicKey):
        kty = "RSA"
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        kty = "OKP"
    else:
        raise BadCertificate("unsupported public key type")
    return str(JWKRegistry.import_key(public_key, kty).thumbprint())


def normalise_dn(dn: str) -> str:
    """A subject DN in RFC 4514 form, so that `CN=a, O=b` and `CN=a,O=b` compare equal."""
    # Spaces around the separators are common in hand-written DNs; the parser refuses them.
    parts = [p.strip() for p in re.split(r"(?<!\\)[,+]", dn)]
    seps = re.findall(r"(?<!\\)[,+]", dn)
    text = parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=True))
    try:
        return x509.Name.from_rfc4514_string(text).rfc4514_string()
    except ValueError:
        raise ValueError("not an RFC 4514 distinguished name") from None


def subject_matches(cert: ClientCertificate, registered: str) -> bool:
    """tls_client_auth: the registered subject DN, or one of the SAN values when the
    registration names one with a `san:` prefix (`san:svc.example.com`)."""
    if registered.startswith("san:"):
        want = registered[4:]
        return any(hmac.compare_digest(v.encode(), want.encode()) for v in cert.san_values())
    return hmac.compare_digest(cert.subject_dn.encode(), normalise_dn(registered).encode())


def thumbprint_matches(cert: ClientCertificate, registered: str) -> bool:
    """self_signed_tls_client_auth: the registered JWK thumbprint of the client's key."""
    return hmac.compare_digest(cert.jwk_thumbprint().encode(), registered.encode())


def bound_to(claims: dict[str, Any], presented_x5t: str | None) -> bool:
    """True unless the token is certificate-bound and the connection shows another (or no)
    certificate. Unbound tokens pass: binding is the client's opt-in by using mTLS."""
    cnf = claims.get("cnf")
    if cnf is None:
        return True
    want = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
    if not isinstance(want, str) or presented_x5t is None:
        return False
    return hmac.compare_digest(want.encode(), presented_x5t.encode())


def certificate_from_header(value: str) -> ClientCertificate:
    """The certificate a trusted gateway forwards: URL-escaped PEM (nginx
    `$ssl_client_escaped_cert`) or bare base64 DER (a single line)."""
    if not value or len(value) > MAX_HEADER_CHARS:
        raise BadCertificate("empty or oversized certificate header")
    text = unquote(value.strip())
    if "-----BEGIN CERTIFICATE-----" in text:
        return ClientCertificate.from_pem(text)
    try:
        der = base64.b64decode(text, validate=True)
    except ValueError:
        raise BadCertificate("not base64") from None
    return ClientCertificate.from_der(der)


__all__ = ["METHODS", "SELF_SIGNED_TLS_CLIENT_AUTH", "TLS_CLIENT_AUTH", "BadCertificate",
           "ClientCertificate", "bound_to", "certificate_from_header", "jwk_thumbprint_of",
           "normalise_dn", "subject_matches", "thumbprint_matches"]
