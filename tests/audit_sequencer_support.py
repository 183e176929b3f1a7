"""Processes for the audit sequencer tests: writers that only queue, and a sequencer that can
be killed in the middle of a batch."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

from sqlalchemy import insert

from idproof.audit.events import AuditEvent
from idproof.audit.models import AuditPending


def queue_from_process(url: str, worker: int, events: int, start: Any,
                       threads: int = 1, coroutines: int = 0) -> None:
    """One OS process recording without integrating any (the request path of a server whose
    sequencer runs elsewhere): `threads` request threads calling `record` (and every 20th
    event `record_many` of 5), and `coroutines` awaiting `record_async` on one event loop,
    `events` events each, every stream numbering its own from 0 (actor `w<worker>s<stream>`)."""
    from idproof.audit.service import AuditService
    from idproof.db.engine import Database

    db = Database(url)
    audit = AuditService(db, inline=False)

    def thread_stream(actor: str) -> None:
        i = 0
        while i < events:
            if i % 20 == 0 and events - i >= 5:
                audit.record_many(AuditEvent(action="concurrent.batch", actor_id=actor,
                                             details={"i": i + j}) for j in range(5))
                i += 5
            else:
                audit.record(AuditEvent(action="concurrent.single", actor_id=actor,
                                        details={"i": i}))
                i += 1

    async def coroutine_stream(actor: str) -> None:
        for i in range(events):
            await audit.record_async(AuditEvent(action="concurrent.async", actor_id=actor,
                                                details={"i": i}))

    async def coroutine_streams() -> None:
        await asyncio.gather(*(coroutine_stream(f"w{worker}s{threads + k}")
                               for k in range(coroutines)))

    start.wait(30)
    try:
        pool = [threading.Thread(target=thread_stream, args=(f"w{worker}s{k}",))
                for k in range(threads)]
        for t in pool:
            t.start()
        if coroutines:
            asyncio.run(coroutine_streams())
        for t in pool:
            t.join()
    finally:
        db.dispose()


def hold_write(url: str) -> None:
    """`python -m tests.audit_sequencer_support hold URL`: queue one event inside a write
    transaction, say so, and wait there (for a line on stdin, or to be killed) before
    committing it."""
    from idproof.audit.service import AuditService
    from idproof.db.engine import Database

    db = Database(url)
    audit = AuditService(db, inline=False)
    with db.write() as conn:
        conn.execute(insert(AuditPending.__table__),
                     [audit.values(AuditEvent(action="held.event"))])
        print("holding", flush=True)
        sys.stdin.readline()
    print("committed", flush=True)
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
    real = audit._write_batch

    def integrate_and_hang(conn: Any, prepared: Any) -> int:
        new_size = real(conn, prepared)  # events, nodes, head and queue all written
        print(f"inside {len(prepared.ids)}", flush=True)
        time.sleep(120)
        return new_size

    audit._write_batch = integrate_and_hang  # type: ignore[method-assign]
    seq = Sequencer(audit, db)
    seq.run_once()


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record_then_hang(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "hold":
        hold_write(sys.argv[2])
    else:
        integrate_then_hang(sys.argv[2])
