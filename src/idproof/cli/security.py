"""`idproof security`: list and lift IP blocks (shared through Redis by every worker)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

security_app = typer.Typer(help="IP blocks and security alerts.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


if TYPE_CHECKING:
    from idproof.bootstrap import Container


def _guard() -> Container:
    from idproof.bootstrap import build_container
    from idproof.config import load_settings

    settings = load_settings()
    if settings.redis_url is None:
        err.print("note: without IDPROOF_REDIS_URL blocks live in each serving process's "
                  "memory; this command sees none of them")
    return build_container(settings)


@security_app.command("blocks")
def blocks() -> None:
    """List the blocked addresses and the seconds left."""
    table = Table("address", "seconds left")
    for ip, left in _guard().guard.blocks():
        table.add_row(ip, str(left))
    out.print(table)


@security_app.command("unblock")
def unblock(ip: str) -> None:
    """Lift the block of an address (every worker sees it at once)."""
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        err.print("[red]error:[/red] not an IP address")
        raise typer.Exit(2) from None
    container = _guard()
    was = container.guard.retry_after(ip)
    container.guard.unblock(ip)
    from idproof.audit.events import AuditEvent

    container.audit.record(AuditEvent(action="security.ip_unblocked", actor_type="operator",
                                      actor_id="cli", ip=ip))
    out.print(f"{ip} unblocked" if was is not None else f"{ip} was not blocked")
