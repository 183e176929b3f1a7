"""A long-running command's start (private files, settings, logging) and its exit on SIGTERM.

uvicorn, once it has shut down on SIGTERM, raises the signal again so that the process ends
the way its parent expects. With the default handler that ends the process on the spot, and
`idproof serve` never reached its clean-up: the job consumer stopped mid-job and the audit
sequencer's process was left to notice its parent had gone. `exit_after_cleanup` turns that
signal into an exception, lets the clean-up run, and then ends the process by the same signal.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import structlog

from idproof.config import Settings, load_settings
from idproof.core.logging import configure_logging

log = structlog.get_logger("idproof.cli")


def command_settings() -> Settings:
    """What every server command does first: files it creates private to its user (keys,
    database, blobs), the settings, and the logging they ask for."""
    os.umask(0o077)
    settings = load_settings()
    configure_logging(settings.logging.level, settings.logging.pii_fields,
                      settings.logging.json_logs)
    return settings


class Terminated(BaseException):
    """SIGTERM arrived: unwind (running every `finally`), then end by that signal.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` swallows it."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    # One unwinding is enough: a second SIGTERM must not interrupt the clean-up itself (the
    # sequencer's stop is bounded; a supervisor that cannot wait sends SIGKILL).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


@contextmanager
def exit_after_cleanup(command: str) -> Iterator[None]:
    """Run the block with SIGTERM raising `Terminated`; once the block has unwound, log that
    the command stopped and end the process by SIGTERM, as the default handler would have."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    terminated = False
    try:
        yield
    except Terminated:
        terminated = True
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info(f"{command}_stopped", signal="SIGTERM" if terminated else None)
    if terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise SystemExit(128 + signal.SIGTERM)  # not reached: the signal ends the process
