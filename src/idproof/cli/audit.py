"""`idproof audit ...`: the log's public key, checkpoints, full verification, SIEM export."""

from __future__ import annotations

import base64
import enum
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from idproof.audit.checkpoint import CheckpointError
from idproof.audit.events import AuditEvent
from idproof.bootstrap import Container, build_container, prepare
from idproof.config import load_settings

audit_app = typer.Typer(help="The tamper-evident audit log: key, checkpoints, verify, export.",
                        no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_MAX_CHECKPOINT_BYTES = 1 << 20


class ExportFormat(enum.StrEnum):
    jsonl = "jsonl"


def _prepared() -> Container:
    """For commands that may write (create the log key, sign a checkpoint)."""
    os.umask(0o077)
    return prepare(load_settings(), demo_tenant=False)


def _reader() -> Container:
    # Verification and export read only: no migration, no first-run work that would append to
    # (or trip over) a log under examination.
    os.umask(0o077)
    return build_container(load_settings())


def parse_since(text: str, now: datetime) -> datetime:
    """`24h`, `7d`, `30m`, `90s` ago, or an ISO-8601 date/time (UTC when no zone is given)."""
    m = _RELATIVE.match(text.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return now - timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter("use ISO-8601 (2026-01-31, 2026-01-31T12:00:00Z) or an age "
                                 "such as 24h or 7d") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _read_note(path: Path) -> str:
    with path.open("rb") as fh:
        data = fh.read(_MAX_CHECKPOINT_BYTES + 1)
    try:
        if len(data) <= _MAX_CHECKPOINT_BYTES:
            return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    err.print("[red]error:[/red] the checkpoint file is not a signed note")
    raise typer.Exit(2)


@audit_app.command("public-key")
def public_key() -> None:
    """Print the log's verifier key (signed-note format) to publish out of band."""
    sys.stdout.write(_prepared().audit_log.public_key() + "\n")


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the log as it is now and print it (a C2SP signed note)."""
    sys.stdout.write(_prepared().audit_log.checkpoint().note)


@audit_app.command("sequencer")
def sequencer(
    exit_with: Annotated[int | None, typer.Option(
        help="Stop when the process with this id is gone (set by `idproof serve`)",
        hidden=True)] = None,
) -> None:
    """Run the audit sequencer alone until SIGTERM: it integrates queued events into the tree.

    `idproof serve` starts one itself (audit.sequencer = process); run this where the API runs
    without it. Several may run: one is elected, the others stand by."""
    from idproof.cli.sequencer_run import run

    run(exit_with)


@audit_app.command("verify")
def verify(
    checkpoint_file: Annotated[Path | None, typer.Option(
        "--checkpoint", help="A checkpoint kept elsewhere (a witness copy) to check as well",
        exists=True, dir_okay=False, readable=True)] = None,
    key: Annotated[str | None, typer.Option(
        help="Trust only this verifier key (as printed by public-key), not the database's")
                   ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Recompute the whole tree from the stored events and check every stored checkpoint.

    Exits 1 naming the first bad index when an event was edited, deleted, inserted, reordered
    or truncated (even with the database triggers bypassed).
    """
    witness = _read_note(checkpoint_file) if checkpoint_file is not None else None
    container = _reader()
    progress = Progress(TextColumn("verifying audit log"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                        disable=quiet, transient=False)
    task = progress.add_task("verify", total=None)
    try:
        with progress:
            report = container.audit_log.verify(
                witness=witness, key=key,
                on_size=lambda n: progress.update(task, total=n),
                progress=lambda n: progress.update(task, completed=n))
    except CheckpointError as exc:
        err.print(f"[red]error:[/red] --key: {exc}")
        raise typer.Exit(2) from None
    finally:
        container.close()
    for problem in report.problems:
        out.print(f"FAIL: {problem}", markup=False)
    if report.finding is not None:
        out.print(f"FAIL: {report.finding.describe()}", markup=False)
    if not report.ok:
        raise typer.Exit(1)
    root = base64.b64encode(report.root).decode()
    extra = " and the witness checkpoint" if witness is not None else ""
    out.print(f"OK: {report.events} events, root {root}; {report.checkpoints_checked} stored "
              f"checkpoints{extra} verified", markup=False)


@audit_app.command("export")
def export(
    since: Annotated[str | None, typer.Option(
        help="Only events at or after this time: ISO-8601 or an age (24h, 7d)")] = None,
    after_index: Annotated[int | None, typer.Option(
        min=0, help="Only events after this index (resume a previous export)")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format")
                   ] = ExportFormat.jsonl,
) -> None:
    """Stream events to stdout, one JSON object a line: fields, `index`, `leaf_hash` (base64).

    Every line can be checked with tools/verify_audit_proof.py against a checkpoint.
    """
    container = _reader()
    try:
        start = parse_since(since, container.clock.now()) if since else None
        count = 0
        write = sys.stdout.write
        for event in container.audit_log.export(since=start, after=after_index):
            write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
        sys.stdout.flush()
        container.audit.record(AuditEvent(
            action="audit.exported", actor_type="operator", actor_id="cli",
            details={"events": count, "format": fmt.value, "since": since is not None}))
    finally:
        container.close()
