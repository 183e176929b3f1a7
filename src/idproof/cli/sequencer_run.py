"""`idproof audit sequencer`: the audit sequencer alone until SIGTERM, from the audit services only.

`idproof serve` runs it as `python -m idproof audit sequencer --exit-with <pid>`, and
`idproof/__main__.py` hands that command line to `main` here before the whole command line
(and every feature the container imports) is loaded: built from the container, the child took
about 1.6 s of CPU and 227 MB to start; from the audit services alone, about a quarter.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading

from idproof.audit.assembly import sequencer_only
from idproof.cli.lifecycle import command_settings
from idproof.web.heap import freeze_startup_heap


def run(exit_with: int | None) -> None:
    """Stand for election and integrate until SIGTERM/SIGINT, or until the process
    `exit_with` is gone (its children are then re-parented: even after a kill -9)."""
    db, sequencer = sequencer_only(command_settings())
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sequencer.start()
    freeze_startup_heap()
    try:
        while not stop.wait(0.5):
            if exit_with is not None and os.getppid() != exit_with:
                break
    finally:
        sequencer.stop()  # the last integration, then the election lock is released
        db.dispose()


def main(argv: list[str]) -> int:
    """`python -m idproof audit sequencer [--exit-with PID]`."""
    parser = argparse.ArgumentParser(prog="idproof audit sequencer",
                                     description="Run the audit sequencer alone until SIGTERM.")
    parser.add_argument("--exit-with", type=int, default=None, metavar="PID",
                        help="stop when the process with this id is gone")
    run(parser.parse_args(argv).exit_with)
    return 0
