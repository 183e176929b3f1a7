"""`idproof clients create --tls-subject/--tls-self-signed` and `idproof clients tls`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from idproof.auth.mtls import BadCertificate, ClientCertificate, normalise_dn
from idproof.core.errors import IdproofError, ValidationFailed

err = Console(stderr=True)


def tls_identity(tls_subject: str | None, self_signed: Path | None) -> dict[str, Any] | None:
    """The keyword arguments of ClientTlsService.register for the options given, or None."""
    if tls_subject is not None and self_signed is not None:
        raise ValidationFailed("give --tls-subject or --tls-self-signed, not both",
                               code="invalid_tls_registration")
    if tls_subject is not None:
        # Checked before the client exists, so a bad subject creates nothing.
        if not tls_subject.startswith("san:"):
            try:
                tls_subject = normalise_dn(tls_subject)
            except ValueError:
                raise ValidationFailed("the TLS subject is not an RFC 4514 DN",
                                       code="invalid_tls_subject") from None
        elif not 1 <= len(tls_subject) - 4 <= 253:
            raise ValidationFailed("the SAN value is empty or too long",
                                   code="invalid_tls_subject")
        return {"tls_subject": tls_subject}
    if self_signed is None:
        return None
    try:
        cert = ClientCertificate.from_pem(self_signed.read_bytes())
    except (OSError, BadCertificate):
        raise ValidationFailed("the certificate file is not a readable PEM certificate",
                               code="invalid_certificate") from None
    # Only the key's thumbprint is kept: a renewed certificate on the same key still works.
    return {"jwk_thumbprint": cert.jwk_thumbprint()}


def clients_tls_command(
    client_id: str,
    tls_subject: Annotated[str | None, typer.Option(
        help="tls_client_auth: the certificate's subject DN, or san:<value>")] = None,
    tls_self_signed: Annotated[Path | None, typer.Option(
        help="self_signed_tls_client_auth: the client's certificate (PEM)")] = None,
) -> None:
    """Register (or replace) an existing client's mTLS identity (RFC 8705)."""
    from idproof.bootstrap import prepare
    from idproof.config import load_settings

    os.umask(0o077)
    try:
        tls = tls_identity(tls_subject, tls_self_signed)
        if tls is None:
            raise ValidationFailed("give --tls-subject or --tls-self-signed",
                                   code="invalid_tls_registration")
        reg = prepare(load_settings()).mtls.register(client_id, **tls)
    except IdproofError as exc:
        err.print(f"[red]error:[/red] {exc.detail} ({exc.code})")
        raise typer.Exit(2) from None
    typer.echo(f"client {reg.client_id}: {reg.method} "
               f"{reg.tls_subject or reg.jwk_thumbprint}")
