"""`idproof signals ...`: import IP datasets (geoip, tor, datacenter, vpn), list, look up."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from idproof.cli.screening import _container, _fail, err, out
from idproof.core.errors import IdproofError
from idproof.signals.ipintel import KINDS

signals_app = typer.Typer(help="Fraud signals: the IP datasets they are computed from.",
                          no_args_is_help=True)


@signals_app.command("import")
def import_dataset(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="The dataset file (docs/api/signals.md)")],
) -> None:
    """Import FILE as the active KIND dataset; a malformed file is refused whole and the
    previous dataset stays active. No network access: the operator brings the file."""
    if kind not in KINDS:
        err.print(f"[red]error:[/red] unknown dataset; use one of {', '.join(KINDS)} "
                  "(dataset_kind_unknown)")
        raise typer.Exit(2)
    c = _container()
    try:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                      TextColumn("{task.fields[entries]} ranges"), TimeElapsedColumn(),
                      console=err, transient=not sys.stderr.isatty()) as bar:
            task = bar.add_task(f"importing {kind}", total=file.stat().st_size, entries=0)
            with file.open("rb") as fh:
                result = c.signals.datasets.import_file(
                    kind, fh, actor=os.environ.get("USER", "cli"),
                    progress=lambda n, b: bar.update(task, completed=b, entries=n))
    except IdproofError as exc:
        _fail(exc)
        return
    finally:
        c.close()
    out.print(f"{kind} active: {result.entries} ranges in {result.seconds:.1f}s; "
              f"dataset {result.dataset_id}")


@signals_app.command("datasets")
def datasets() -> None:
    """The active dataset of each kind."""
    c = _container()
    try:
        for kind, (dataset_id, entries) in sorted(c.signals.datasets.active().items()):
            out.print(f"{kind}\t{entries}\t{dataset_id}")
    finally:
        c.close()


@signals_app.command("lookup")
def lookup(address: Annotated[str, typer.Argument(help="An IPv4 or IPv6 address")]) -> None:
    """What the active datasets say of ADDRESS."""
    c = _container()
    try:
        facts = c.signals.datasets.intel().lookup(address)
    finally:
        c.close()
    if facts is None:
        err.print("[red]error:[/red] not an IP address (ip_invalid)")
        raise typer.Exit(2)
    out.print(f"country={facts.country or '-'} asn={facts.asn or '-'} "
              f"org={facts.org or '-'} datacenter={facts.datacenter} vpn={facts.vpn} "
              f"tor={facts.tor}")
