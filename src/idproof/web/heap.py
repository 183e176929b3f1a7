"""A serving process's start-up heap, moved out of the cyclic garbage collector's way.

After start-up a worker holds a quarter of a million long-lived objects (the routes, models,
SQLAlchemy metadata, pydantic validators, key rings) that will never be garbage. CPython's full
collection scans every tracked object: measured on the 2-core bench machine, one pass took
about 200 ms, stopping every request in the process for that long. It runs whenever enough new
objects have survived, so under load it came back as the slowest percent of requests.
`gc.freeze()` moves the objects alive at that moment into a permanent generation the collector
never scans; what requests allocate afterwards is collected as before. Called once per
serving process, after its app is built (not in tests, which build many apps in one process
and would keep every earlier app's garbage).
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left as garbage, then freeze the rest; returns how many objects
    the collector no longer scans."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
