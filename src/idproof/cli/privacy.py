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


@privacy_app.command("retention")
def retention_show(tenant: TenantOpt) -> None:
    """Show a tenant's retention policy (defaults where unset)."""
    container = _container()
    try:
        policy = container.retention.policy(container.tenants.get(tenant).id)
    except IdproofError as exc:
        _fail(exc)
        return
    sys.stdout.write(json.dumps(policy.as_dict(), indent=2) + "\n")


@privacy_app.command("set-retention")
def set_retention(
    tenant: TenantOpt,
    raw_images_hours: Annotated[int | None, typer.Option(
        help="Raw images after the decision: 0 (default) to 720 hours")] = None,
    extracted_fields_days: Annotated[int | None, typer.Option(
        help="Approved sessions and their extracted fields: 30 to 3650 days "
             "(default 1825, five years)")] = None,
    unsuccessful_days: Annotated[int | None, typer.Option(
        help="Declined, expired, abandoned, cancelled sessions: 1 to 3650 days "
             "(default 30)")] = None,
    face_templates_hours: Annotated[int | None, typer.Option(
        help="Face templates after the decision: 0 (default) to 720 hours")] = None,
    operator: OperatorOpt = "cli",
) -> None:
    """Change a tenant's retention policy (audited); the purge applies it."""
    changes = {k: v for k, v in {
        "raw_images_hours": raw_images_hours, "extracted_fields_days": extracted_fields_days,
        "unsuccessful_days": unsuccessful_days, "face_templates_hours": face_templates_hours,
    }.items() if v is not None}
    try:
        policy = _container().retention.set_policy(tenant, changes, actor=operator)
    except IdproofError as exc:
        _fail(exc)
        return
    sys.stdout.write(json.dumps(policy.as_dict(), indent=2) + "\n")


@privacy_app.command("purge")
def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would "
                                                                  "go")] = False,
          operator: OperatorOpt = "cli",
          as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
          ) -> None:
    """Apply every tenant's retention policy now (the daily sweep does this too)."""
    container = _container()

    def progress(done: int, total: int) -> None:
        err.print(f"{'would purge' if dry_run else 'purged'} {done}/{total} sessions")

    report = container.retention.purge(dry_run=dry_run, actor=operator, progress=progress)
    if as_json:
        sys.stdout.write(json.dumps({"run_id": report.run_id, "dry_run": dry_run,
                                     "counts": report.counts(),
                                     "sessions": report.sessions, "held": report.held,
                                     "skipped": report.skipped}) + "\n")
        return
    verb = "would erase" if dry_run else "erased"
    for why, ids in report.sessions.items():
        out.print(f"{verb} {len(ids)} sessions past their {why.replace('_', ' ')} retention")
        for sid in ids[:50]:
            out.print(f"  {sid}")
    counts = report.counts()
    out.print(f"kept under legal hold: {counts['held']}; changed meanwhile: "
              f"{counts['skipped']}; images due: {counts['images_due']}; face templates: "
              f"{counts['face_templates']}; consent IPs to truncate: {counts['ips_truncated']}")


@privacy_app.command("hold")
def hold(tenant: TenantOpt, session: Annotated[str, typer.Option(help="The session id")],
         case: Annotated[str, typer.Option(help="Your case reference (a code)")],
         operator: OperatorOpt = "cli") -> None:
    """Place a legal hold: the session is not purged until released (audited)."""
    container = _container()
    try:
        hold_id = container.retention.place_hold(container.tenants.get(tenant).id, session,
                                                 case, actor=operator)
    except IdproofError as exc:
        _fail(exc)
        return
    out.print(f"legal hold {hold_id} placed on {session}")


@privacy_app.command("release")
def release(tenant: TenantOpt, session: Annotated[str, typer.Option(help="The session id")],
            operator: OperatorOpt = "cli") -> None:
    """Release a session's legal hold (audited); the next purge applies the policy."""
    container = _container()
    try:
        container.retention.release_hold(container.tenants.get(tenant).id, session,
                                         actor=operator)
    except IdproofError as exc:
        _fail(exc)
        return
    out.print(f"legal hold on {session} released")


@privacy_app.command("consent-text")
def consent_text(tenant: TenantOpt,
                 locale: Annotated[str, typer.Option(help="e.g. en, de, pt-BR")],
                 version: Annotated[str, typer.Option(help="e.g. 2026-12")],
                 file: Annotated[Path, typer.Option("--file", help="The text (UTF-8)")],
                 operator: OperatorOpt = "cli") -> None:
    """Publish a new version of a tenant's consent text for a locale (immutable, audited)."""
    container = _container()
    try:
        view = container.consents.publish(container.tenants.get(tenant).id, locale, version,
                                          file.read_text(encoding="utf-8"), actor=operator)
    except IdproofError as exc:
        _fail(exc)
        return
    out.print(f"consent text {view.version} ({view.locale}) published for {tenant}")


@privacy_app.command("withdraw-consent")
def withdraw_consent(tenant: TenantOpt, reference: ReferenceOpt,
                     operator: OperatorOpt = "cli") -> None:
    """Record a subject's withdrawal: open sessions cancelled, erasure per policy (JSON)."""
    container = _container()
    try:
        result = container.consents.withdraw(_actor(container, tenant, operator), reference)
    except IdproofError as exc:
        _fail(exc)
        return
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


@privacy_app.command("residency-report")
def residency_report_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Per region and tenant: which stores hold which data, with counts; exit 1 if any
    tenant's data is outside its region (reads IDPROOF_RESIDENCY__REGIONS)."""
    from idproof.privacy.residency_report import as_dict, residency_report

    cfg = load_settings().residency
    if not cfg.regions:
        err.print("[red]error:[/red] no regions declared (IDPROOF_RESIDENCY__REGIONS)")
        raise typer.Exit(2)
    result = as_dict(residency_report(cfg))
    if as_json:
        out.print_json(json.dumps(result))
    else:
        for reg in result["regions"]:
            stores = ", ".join(f"{k} {v}" for k, v in reg["stores"].items())
            out.print(f"region {reg['region']}: {stores}")
            for name, t in sorted(reg["tenants"].items()):
                data = ", ".join(f"{k} {v}" for k, v in sorted(t["data"].items()))
                out.print(f"  tenant {name} (region {t['region']}): {data or 'no data'}")
            for problem in reg["problems"]:
                out.print(f"  [red]PROBLEM[/red] {problem}")
        out.print("every tenant's data is in its region" if result["ok"]
                  else "[red]data found outside its region[/red]")
    if not result["ok"]:
        raise typer.Exit(1)
