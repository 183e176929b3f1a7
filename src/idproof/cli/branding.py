"""`idproof branding show|set|logo --tenant T`: the hosted pages' branding from the shell."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from idproof.cli.screening import _container, _fail, _tenant_id, err, out
from idproof.core.errors import IdproofError
from idproof.hosted.branding_rules import BrandingIn

branding_app = typer.Typer(help="Hosted pages' branding per tenant (name, colours, logo, links).",
                           no_args_is_help=True)
TenantOpt = Annotated[str, typer.Option("--tenant", help="The tenant's name")]


def _actor() -> str:
    return f"cli:{os.environ.get('USER', 'operator')}"


@branding_app.command("show")
def show(tenant: TenantOpt) -> None:
    """The tenant's branding as JSON (what GET /v1/branding answers); {} when unset."""
    c = _container()
    try:
        view = c.hosted.branding.get(_tenant_id(c, tenant))
    finally:
        c.close()
    out.print_json(json.dumps(view.public() if view is not None else {}))


@branding_app.command("set")
def set_branding(
    tenant: TenantOpt,
    name: Annotated[str | None, typer.Option("--name", help="Shown as the business")] = None,
    accent: Annotated[str | None, typer.Option("--accent", help="#rrggbb, white text on it")
                      ] = None,
    background: Annotated[str | None, typer.Option("--background", help="#rrggbb or ''")
                          ] = None,
    privacy_url: Annotated[str | None, typer.Option("--privacy-url", help="https://... or ''")
                           ] = None,
    support: Annotated[str | None, typer.Option("--support", help="an e-mail address, "
                                                "an https:// URL, or ''")] = None,
) -> None:
    """Changes the given fields, keeps the others; the same checks as PUT /v1/branding
    (contrast, https links): a refused value changes nothing. '' clears an optional field."""
    c = _container()
    try:
        tenant_id = _tenant_id(c, tenant)
        now = c.hosted.branding.get(tenant_id)
        current = now.public() if now is not None else {}
        current.pop("logo", None)
        given = {"display_name": name, "accent_color": accent,
                 "background_color": background, "privacy_url": privacy_url,
                 "support_contact": support}
        for key, value in given.items():
            if value is not None:
                current[key] = value or None
        try:
            body = BrandingIn.model_validate(current)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                                 for e in exc.errors())
            err.print(f"[red]error:[/red] {problems} (validation_failed)")
            raise typer.Exit(2) from None
        view = c.hosted.branding.put(tenant_id, body, actor_id=_actor())
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        c.close()
    out.print_json(json.dumps(view.public()))


@branding_app.command("logo")
def logo(tenant: TenantOpt,
         file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                              help="PNG, JPEG or WebP, at most 512 KB")]
         ) -> None:
    """Sets the logo (re-encoded as a PNG, as PUT /v1/branding/logo does)."""
    c = _container()
    try:
        view = c.hosted.branding.set_logo(_tenant_id(c, tenant), file.read_bytes(),
                                          actor_id=_actor())
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        c.close()
    out.print(f"logo set ({view.logo_sha256})")
