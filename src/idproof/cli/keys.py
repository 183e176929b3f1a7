"""`idproof keys ...`: token signing key rotation and KEK rotation, status and retirement."""

from __future__ import annotations

import json
import os
import sys
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
from rich.table import Table

from idproof.bootstrap import Container, prepare
from idproof.config import load_settings
from idproof.crypto.errors import CryptoError, KekInUseError
from idproof.crypto.protection import KeyStatus

keys_app = typer.Typer(help="Key management: signing keys, KEKs and data keys.",
                       no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _container() -> Container:
    os.umask(0o077)
    try:
        return prepare(load_settings())
    except CryptoError as exc:  # KMS or key store unavailable: say which, without a traceback
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@keys_app.command("rotate-signing")
def keys_rotate_signing() -> None:
    """Make a new token signing key current; the old one verifies until its tokens expire."""
    kid = _container().keys.rotate()
    out.print(f"new signing key {kid} is current")


@keys_app.command("rotate")
def keys_rotate(
    batch_size: Annotated[int, typer.Option(min=1, max=100_000,
                                            help="Data keys re-wrapped per transaction")] = 500,
    throttle: Annotated[float, typer.Option(min=0, help="Seconds to pause between batches "
                                                        "(spares a busy database)")] = 0.0,
) -> None:
    """Make a new KEK current and re-wrap every data key under it (resumable).

    If an earlier run was interrupted, this finishes it instead of creating another KEK.
    """
    container = _container()
    progress = Progress(TextColumn("re-wrapping data keys"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                        transient=False)
    try:
        with progress:
            task = progress.add_task("rewrap", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = container.protection.rotate_kek(batch_size, report,
                                                     throttle_seconds=throttle)
    except CryptoError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        container.close()
    verb = "finished the interrupted rotation to" if result.resumed else "rotated to"
    out.print(f"{verb} KEK version {result.to_version}; {result.rewrapped} data keys "
              "re-wrapped")
    if result.failed:
        err.print(f"[red]{len(result.failed)} data keys could not be unwrapped[/red] "
                  f"(damaged): {', '.join(result.failed[:20])}")
        raise typer.Exit(1)


def _status_json(st: KeyStatus) -> dict[str, object]:
    return {
        "current_version": st.current_version,
        "live_keys": st.live_keys,
        "shredded_keys": st.shredded_keys,
        "awaiting_retirement": st.awaiting_retirement,
        "rotation_pending": st.rotation_pending,
        "versions": [{"version": v.version, "current": v.current, "retired": v.retired,
                      "created": v.created.isoformat() if v.created else None,
                      "retired_at": v.retired_at.isoformat() if v.retired_at else None,
                      "live_keys": v.live_keys, "shredded_keys": v.shredded_keys}
                     for v in st.versions],
    }


@keys_app.command("status")
def keys_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """KEK versions, the data keys each still wraps, and erasures awaiting KEK retirement."""
    container = _container()
    try:
        st = container.protection.status()
    finally:
        container.close()
    if as_json:
        sys.stdout.write(json.dumps(_status_json(st)) + "\n")
        return
    table = Table("KEK version", "state", "created", "data keys", "erased keys")
    for v in st.versions:
        state = "current" if v.current else ("retired" if v.retired else "active")
        table.add_row(str(v.version), state,
                      v.created.isoformat(timespec="seconds") if v.created else "-",
                      str(v.live_keys), str(v.shredded_keys))
    out.print(table)
    out.print(f"data keys: {st.live_keys} live, {st.shredded_keys} erased")
    if st.rotation_pending:
        out.print(f"rotation unfinished: {st.rotation_pending} data keys not on version "
                  f"{st.current_version}; run `idproof keys rotate` to finish it")
    out.print(f"erased keys awaiting KEK retirement: {st.awaiting_retirement}")
    if st.awaiting_retirement:
        out.print("  (backups of the key store can still unwrap them; rotate, then retire "
                  "every older version, to make those erasures final)")


@keys_app.command("retire")
def keys_retire(version: int) -> None:
    """Destroy KEK VERSION; refused while it is current or any data key still uses it."""
    container = _container()
    try:
        container.protection.retire(version)
    except KekInUseError as exc:
        err.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(2) from None
    except CryptoError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        container.close()
    out.print(f"KEK version {version} retired")
