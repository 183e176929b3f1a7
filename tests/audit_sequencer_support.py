"""Processes for the audit sequencer tests: writers that only queue, and a sequencer that can
be killed in the middle of a batch."""

from __future__ import annotations

import sys
import time
from typing import Any

from idproof.audit.events import AuditEvent


def queue_from_process(url: str, worker: int, events: int, start: Any) -> None:
    """One OS process recording `events` events (singly and in batches of 5) without
    integrating any: the request path of a server whose sequencer runs elsewhere."""
    from idproof.audit.service import AuditService
    from idproof.db.engine import Database

    db = Database(url)
    audit = AuditService(db, inline=False)
    start.wait(30)
    try:
        i = 0
        while i < events:
            if i % 20 == 0 and events - i >= 5:
                audit.record_many(AuditEvent(action="concurrent.batch", actor_id=f"w{worker}",
                                             details={"i": i + j}) for j in range(5))
                i += 5
            else:
                audit.record(AuditEvent(action="concurrent.single", actor_id=f"w{worker}",
                                        details={"i": i}))
                i += 1
    finally:
        db.dispose()


def record_then_hang(url: str, events: int) -> None:
    """`python -m tests.audit_sequencer_support record URL N`: commit N events to the queue,
    say so, then wait to be killed (-9) before anything integrates them."""
    from idproof.audit.service import AuditService
    from idproof.db.engine import Database

    audit = AuditService(Database(url), inline=False)
    for i in range(events):
        audit.record(AuditEvent(action="crash.recorded", details={"i": i}))
    print("recorded", flush=True)
    time.sleep(120)


def integrate_then_hang(url: str) -> None:
    """`python -m tests.audit_sequencer_support integrate URL`: start integrating a batch as
    the elected sequencer, stop inside its transaction (events and nodes written, not
    committed), say so, then wait to be killed (-9)."""
    from idproof.audit.sequencer import Sequencer
    from idproof.audit.service import AuditService
    from idproof.db.engine import Database

    db = Database(url)
    audit = AuditService(db, inline=False)
    real = audit._integrate_batch

    def integrate_and_hang(conn: Any, size: int, batch: list[tuple[Any, ...]]) -> int:
        new_size = real(conn, size, batch)  # events, nodes, head and queue all written
        print(f"inside {len(batch)}", flush=True)
        time.sleep(120)
        return new_size

    audit._integrate_batch = integrate_and_hang  # type: ignore[method-assign]
    seq = Sequencer(audit, db)
    seq.run_once()


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record_then_hang(sys.argv[2], int(sys.argv[3]))
    else:
        integrate_then_hang(sys.argv[2])
