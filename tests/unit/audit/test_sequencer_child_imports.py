"""The sequencer's process (`python -m idproof audit sequencer`) loads the audit services only."""

from __future__ import annotations

import json
import subprocess
import sys

# The packages of the features and the wiring of the whole app: none of them is needed to
# integrate queued events, and each costs start-up CPU and memory in the child.
HEAVY = ("idproof.bootstrap", "idproof.cli.main", "idproof.auth", "idproof.verification",
         "idproof.screening", "idproof.signals", "idproof.console", "idproof.hosted",
         "idproof.webhooks", "idproof.workflows", "idproof.operators", "idproof.privacy")


def _loaded_by(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\nprint(json.dumps("
                          "sorted(m for m in sys.modules if m.startswith('idproof'))))"],
                         capture_output=True, text=True, check=True, timeout=120)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_child_entry_loads_no_feature() -> None:
    loaded = _loaded_by("import idproof.__main__, idproof.cli.sequencer_run")
    assert "idproof.audit.sequencer" in loaded  # the check would pass on an empty list
    assert [m for m in loaded if m.startswith(HEAVY)] == []


def test_the_whole_command_does_load_them() -> None:
    # The same check against the full command: it sees what it looks for.
    loaded = _loaded_by("import idproof.cli.main")
    assert "idproof.bootstrap" in loaded and any(m.startswith("idproof.auth") for m in loaded)
