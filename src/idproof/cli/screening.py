"""`idproof screening ...`: import list files as snapshots, list them, set tenant thresholds."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from idproof.bootstrap import Container, prepare
from idproof.config import load_settings
from idproof.core.errors import IdproofError
from idproof.screening.importers import SOURCES

screening_app = typer.Typer(help="Sanctions and PEP screening: list imports and settings.",
                            no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _container() -> Container:
    os.umask(0o077)
    return prepare(load_settings(), demo_tenant=False)


def _fail(exc: IdproofError) -> None:
    err.print(f"[red]error:[/red] {exc.detail} ({exc.code})")
    raise typer.Exit(2)


def _tenant_id(c: Container, tenant: str) -> str:
    found = c.tenants.find(tenant)
    if found is None:
        err.print(f"[red]error:[/red] no tenant {tenant!r} (tenant_not_found)")
        raise typer.Exit(2)
    return str(found.id)


@screening_app.command("import")
def import_list(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="The list file, as published")],
    source: Annotated[str, typer.Option(help=f"One of: {', '.join(SOURCES)}")],
) -> None:
    """Import a list file as a new snapshot of SOURCE; it becomes active only when complete
    (a malformed or truncated file is refused whole and the previous snapshot stays)."""
    if source not in SOURCES:
        err.print(f"[red]error:[/red] unknown source; use one of {', '.join(SOURCES)} "
                  "(source_unknown)")
        raise typer.Exit(2)
    c = _container()
    size = file.stat().st_size
    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                      TextColumn("{task.fields[entries]} entries"), TimeElapsedColumn(),
                      console=err, transient=not sys.stderr.isatty()) as bar:
            task = bar.add_task(f"importing {source}", total=size, entries=0)
            with file.open("rb") as fh:
                result = c.screening.import_file(
                    source, fh, actor=os.environ.get("USER", "cli"),
                    progress=lambda n, b: bar.update(task, completed=b, entries=n))
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        c.close()
    out.print(f"{source} version {result.version} active: {result.entries} entries "
              f"(+{result.added} added, -{result.removed} removed, ~{result.changed} changed) "
              f"in {result.seconds:.1f}s; snapshot {result.snapshot_id}")


@screening_app.command("snapshots")
def snapshots(source: Annotated[str | None, typer.Option(help="Only this source")] = None
              ) -> None:
    """The imported snapshots per source, newest first."""
    c = _container()
    try:
        rows = c.screening.snapshots(source)
    finally:
        c.close()
    table = Table("source", "version", "status", "entries", "added", "removed", "changed",
                  "imported", "id")
    for r in rows:
        table.add_row(r.source, str(r.version), r.status, str(r.entries), str(r.added),
                      str(r.removed), str(r.changed), r.created_at.isoformat(timespec="seconds"),
                      r.id)
    out.print(table)


@screening_app.command("set-threshold")
def set_threshold(
    threshold: Annotated[float, typer.Argument(help="0.5 to 1; hits below are not reported")],
    tenant: Annotated[str, typer.Option(help="Tenant name")],
) -> None:
    """Set a tenant's screening threshold (default 0.85)."""
    c = _container()
    try:
        row = c.screening.configure(_tenant_id(c, tenant), threshold=threshold,
                                    actor=os.environ.get("USER", "cli"))
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        c.close()
    out.print(f"tenant {tenant}: screening threshold {row.threshold:.2f}")


@screening_app.command("monitoring")
def monitoring(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    enable: Annotated[bool, typer.Option("--on/--off", help="Re-screen after imports")] = True,
) -> None:
    """Turn ongoing monitoring on or off for a tenant (re-screening after each import)."""
    c = _container()
    try:
        row = c.screening.configure(_tenant_id(c, tenant), monitoring=enable,
                                    actor=os.environ.get("USER", "cli"))
    finally:
        c.close()
    out.print(f"tenant {tenant}: monitoring {'on' if row.monitoring else 'off'}")
