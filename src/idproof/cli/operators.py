"""`idproof operators`: create (with an enrolment link), list, set-role, disable, reset-mfa."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from idproof.bootstrap import Container, prepare
from idproof.config import load_settings
from idproof.core.errors import IdproofError
from idproof.operators.accounts import Issued

operators_app = typer.Typer(help="Console operators (people who sign in to /console).",
                            no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _container() -> Container:
    os.umask(0o077)
    return prepare(load_settings())


def _fail(exc: IdproofError) -> None:
    err.print(f"[red]error:[/red] {exc.detail} ({exc.code})", markup=True)
    raise typer.Exit(2)


def _print_issued(issued: Issued, as_json: bool) -> None:
    op = issued.operator
    if as_json:
        sys.stdout.write(json.dumps({"id": op.id, "email": op.email, "role": op.role,
                                     "tenants": list(op.tenants),
                                     "enrollment_url": issued.enrollment_url}) + "\n")
        return
    out.print(f"operator:       {op.id} ({op.role})", markup=False)
    out.print(f"tenants:        {', '.join(op.tenants) or 'all'}", markup=False)
    out.print(f"enrollment_url: {issued.enrollment_url}", markup=False)
    err.print("Send the link to the operator: it works once, for 24 hours.")


@operators_app.command("create")
def create(
    email: Annotated[str, typer.Option(help="The operator's email (used to sign in)")],
    role: Annotated[str, typer.Option(
        help="owner, admin, reviewer, analyst, auditor or developer")],
    tenant: Annotated[list[str] | None, typer.Option(
        help="A tenant the operator may see (repeatable; none: all tenants)")] = None,
    region: Annotated[list[str] | None, typer.Option(
        help="A region the operator may see (repeatable; none: every region)")] = None,
    assigned_only: Annotated[bool, typer.Option(
        help="Reviewer: only sessions assigned to it")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create an operator and print its single-use enrolment link."""
    container = _container()
    try:
        issued = container.operators.create(email, role, tenant or [], regions=region or [],
                                            assigned_only=assigned_only)
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        container.close()
    _print_issued(issued, as_json)


@operators_app.command("list")
def list_operators(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array")] = False,
) -> None:
    """List operators (never their secrets)."""
    container = _container()
    try:
        views = container.operators.list()
    finally:
        container.close()
    if as_json:
        sys.stdout.write(json.dumps([
            {"id": v.id, "email": v.email, "role": v.role, "tenants": list(v.tenants),
             "regions": list(v.regions), "status": v.status, "totp": v.has_totp,
             "passkeys": v.passkeys} for v in views]) + "\n")
        return
    table = Table(Column("id", no_wrap=True), "email", "role", "tenants", "status", "mfa")
    for v in views:
        mfa = ", ".join(([("totp")] if v.has_totp else [])
                        + ([f"{v.passkeys} passkey(s)"] if v.passkeys else [])) or "none"
        table.add_row(v.id, v.email, v.role, ", ".join(v.tenants) or "all", v.status, mfa)
    out.print(table)


@operators_app.command("set-role")
def set_role(
    operator: Annotated[str, typer.Argument(help="Operator id or email")],
    role: Annotated[str, typer.Option(
        help="owner, admin, reviewer, analyst, auditor or developer")],
    tenant: Annotated[list[str] | None, typer.Option(
        help="A tenant the operator may see (repeatable; none: all tenants)")] = None,
    region: Annotated[list[str] | None, typer.Option(
        help="A region the operator may see (repeatable; none: every region)")] = None,
) -> None:
    """Change an operator's role, tenants and regions; its sessions are signed out."""
    container = _container()
    try:
        view = container.operators.set_role(operator, role, tenant or [], regions=region or [])
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        container.close()
    out.print(f"operator {view.id} is now {view.role} "
              f"({', '.join(view.tenants) or 'all tenants'}); its sessions are signed out",
              markup=False)


@operators_app.command("disable")
def disable(operator: Annotated[str, typer.Argument(help="Operator id or email")]) -> None:
    """Disable an operator: sign-in refused, live sessions ended."""
    container = _container()
    try:
        view = container.operators.disable(operator)
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        container.close()
    out.print(f"operator {view.id} disabled; its sessions are signed out", markup=False)


@operators_app.command("reset-mfa")
def reset_mfa(
    operator: Annotated[str, typer.Argument(help="Operator id or email")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Remove password and second factors, end sessions, print a new enrolment link."""
    container = _container()
    try:
        issued = container.operators.reset_mfa(operator)
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        container.close()
    _print_issued(issued, as_json)
