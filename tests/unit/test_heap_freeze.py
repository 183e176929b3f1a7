"""The serving process's start-up heap is frozen: out of full collections, later garbage
still collected. Each case runs in a child process (a frozen heap lasts the process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_freeze_moves_the_startup_heap_out_of_collections() -> None:
    out = _run("""
        import gc
        from idproof.web.heap import freeze_startup_heap
        before = [[i] for i in range(1000)]          # long-lived start-up state
        garbage = []; garbage.append(garbage); del garbage  # start-up's own cyclic garbage
        frozen = freeze_startup_heap()
        tracked = {id(o) for o in gc.get_objects()}
        print(frozen >= 1000, gc.get_freeze_count() == frozen,
              any(id(x) in tracked for x in before))
        cycle = []; cycle.append(cycle); del cycle   # a request's garbage, after start-up
        print(gc.collect() >= 1)
    """)
    assert out.split() == ["True", "True", "False", "True"]


def test_the_multi_worker_factory_freezes_its_heap(tmp_path: Path) -> None:
    # `idproof serve --workers N` builds each worker's app with this factory.
    out = _run(f"""
        import gc, os
        os.environ["IDPROOF_DATA_DIR"] = {str(tmp_path)!r}
        os.environ["IDPROOF_LOGGING__LEVEL"] = "WARNING"
        from idproof.bootstrap import prepare
        from idproof.config import load_settings
        prepare(load_settings()).close()
        assert gc.get_freeze_count() == 0
        from idproof.web import app
        built = app.create_app_from_env()
        print(gc.get_freeze_count() > 100000, type(built).__name__)
        built.state.container.audit_sequencer.stop()
        built.state.container.close()
    """)
    assert out.splitlines()[-1] == "True FastAPI"
