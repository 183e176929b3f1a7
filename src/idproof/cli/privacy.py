"""`idproof privacy ...`: subject export and erasure, retention policies, purge, legal holds."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from idproof.bootstrap import Container, prepare
from idproof.config import load_settings
from idproof.core.errors import IdproofError
from idproof.privacy.package import Encryption
from idproof.verification.service import Actor

privacy_app = typer.Typer(help="Data subjects (export, erasure), retention, legal holds.",
                          no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)
PASSPHRASE_ENV = "IDPROOF_EXPORT_PASSPHRASE"  # noqa: S105 - the variable's name


def _container() -> Container:
    os.umask(0o077)
    return prepare(load_settings())


def _fail(exc: IdproofError) -> None:
    err.print(f"[red]error:[/red] {exc.detail} ({exc.code})")
    raise typer.Exit(2)


def _actor(container: Container, tenant: str, operator: str) -> Actor:
    return Actor(tenant_id=container.tenants.get(tenant).id, client_id=operator,
                 actor_type="operator")


TenantOpt = Annotated[str, typer.Option("--tenant", help="The tenant's name")]
ReferenceOpt = Annotated[str, typer.Option("--reference", help="The subject's reference "
                                                               "(your app's user id)")]
OperatorOpt = Annotated[str, typer.Option("--operator", help="Who runs this (audit log)")]


@privacy_app.command("export")
def export(
    tenant: TenantOpt, reference: ReferenceOpt,
    purpose: Annotated[str, typer.Option(help="Why (on the audit log)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the "
                                                              ".zip.age file")],
    recipient: Annotated[str | None, typer.Option(help="age public key (age1…) or SSH "
                                                       "public key to encrypt to")] = None,
    passphrase_env: Annotated[bool, typer.Option(
        "--passphrase-from-env", help=f"Encrypt to the passphrase in ${PASSPHRASE_ENV} "
                                      "(never on the command line)")] = False,
    operator: OperatorOpt = "cli",
) -> None:
    """Everything held about a subject, as an age-encrypted zip (audited with the purpose)."""
    passphrase = os.environ.get(PASSPHRASE_ENV) if passphrase_env else None
    if passphrase_env and not passphrase:
        err.print(f"[red]error:[/red] ${PASSPHRASE_ENV} is empty (encryption_required)")
        raise typer.Exit(2)
    container = _container()
    try:
        result = container.subjects.export(_actor(container, tenant, operator), reference,
                                           purpose, Encryption(passphrase, recipient),
                                           tenant_name=tenant)
    except IdproofError as exc:
        _fail(exc)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(result.content)
    out.print(f"wrote {output}: {result.sessions} sessions, {result.images} images "
              f"(audit event {result.audit_event_id})")


@privacy_app.command("erase")
def erase(tenant: TenantOpt, reference: ReferenceOpt, operator: OperatorOpt = "cli",
          yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False) -> None:
    """Erase every session of a subject (keys shredded); prints the receipt as JSON."""
    if not yes:
        typer.confirm("Erase every session of this subject? This cannot be undone",
                      abort=True, err=True)
    container = _container()
    try:
        receipt = container.subjects.erase(_actor(container, tenant, operator), reference)
    except IdproofError as exc:
        _fail(exc)
        return
    sys.stdout.write(json.dumps(receipt, indent=2) + "\n")
