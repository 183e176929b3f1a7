"""HTTPS for `idproof serve`: TLS 1.2+ with modern ciphers, and client certificates to the app."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are always modern).
MODERN_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")


def tls_context(config: Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context, then pinned: no protocol below TLS 1.2, no compression, no
    renegotiation, and the client certificate requested (not required) when a CA is given."""
    ctx = default()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.set_ciphers(MODERN_CIPHERS)
    return ctx


class MtlsH11Protocol(H11Protocol):
    """h11 that passes the verified client certificate on in the ASGI TLS extension
    (`scope["extensions"]["tls"]["client_cert_chain"]`, PEM), which uvicorn leaves out."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return
        pem = ssl.DER_cert_to_PEM_cert(der)
        inner = self.app

        # One protocol object per connection, so the wrapper is this connection's only.
        async def with_cert(scope: Any, receive: Any, send: Any) -> None:
            extensions = scope.setdefault("extensions", {})
            extensions["tls"] = {"client_cert_chain": [pem],
                                 "tls_version": ssl_object.version()}
            await inner(scope, receive, send)

        self.app = with_cert


def ssl_options(tls_cert: str | None, tls_key: str | None,
                client_ca: str | None) -> dict[str, Any]:
    """The uvicorn.run keyword arguments for these options (none without a certificate)."""
    if tls_cert is None:
        if tls_key is not None or client_ca is not None:
            raise ValueError("--tls-key and --client-ca need --tls-cert")
        return {}
    if tls_key is None:
        raise ValueError("--tls-cert needs --tls-key")
    out: dict[str, Any] = {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key,
                           "ssl_context_factory": tls_context}
    if client_ca is not None:
        # Optional, not required: clients with a secret or a private_key_jwt still connect;
        # a certificate that is presented must chain to this CA and be in date.
        out |= {"ssl_ca_certs": client_ca, "ssl_cert_reqs": ssl.CERT_OPTIONAL,
                "http": "idproof.cli.tls:MtlsH11Protocol"}
    return out
