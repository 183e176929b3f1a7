"""The fraud signals on the console's case page: each signal, whether it fired, its evidence
(never an address, attributes or personal data), what a role may see (pure formatting)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idproof.core.errors import NotFound
from idproof.signals.rules import Report
from idproof.signals.service import SignalService

# (signal, label, the evidence shown beside it to those who may read the case)
SHOWN: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ip_tor", "Tor exit address", ("ip_country", "ip_asn")),
    ("ip_vpn", "VPN address", ("ip_country", "ip_asn")),
    ("ip_datacenter", "Datacenter or hosting address", ("ip_country", "ip_asn")),
    ("ip_country_mismatch", "IP country differs from the document", ("ip_country",)),
    ("automation_suspected", "Automation suspected", ("automation_hints",)),
    ("emulator_suspected", "Emulator suspected", ("emulator_hints",)),
    ("device_reused", "Device seen with other identities", ("device_identities",)),
    ("velocity_exceeded", "Too many sessions in the window", ("velocity", "velocity_over")),
    ("face_duplicate", "Face matches another approved subject",
     ("face_duplicate_sessions", "face_distance")),
    ("face_blocklisted", "Face matches a blocklisted face", ("face_distance",)),
)


@dataclass(frozen=True)
class SignalRow:
    code: str
    label: str
    fired: bool
    evidence: str  # '' for roles that see reason codes only


@dataclass(frozen=True)
class CaseSignals:
    computed: bool
    reasons: list[str]
    rows: list[SignalRow]
    ip_seen: bool = False
    device_seen: bool = False
    duplicates: tuple[str, ...] = ()  # other sessions with the same face (full view only)


def _text(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def view_of(report: Report | None, *, full: bool) -> CaseSignals:
    """Everyone who may list the session sees which signals fired; its evidence (the IP's
    country and ASN, hints, counts, the other sessions with the same face) only those who
    may read the case (`full`)."""
    if report is None:
        return CaseSignals(False, [], [])
    sig = report.signals
    rows = []
    for code, label, keys in SHOWN:
        evidence = "; ".join(f"{k.replace('_', ' ')}: {_text(sig.get(k))}" for k in keys)
        rows.append(SignalRow(code, label, sig.get(code) is True, evidence if full else ""))
    duplicates = tuple(str(x) for x in sig.get("face_duplicate_sessions") or ()) if full else ()
    return CaseSignals(True, list(report.reasons), rows, bool(sig.get("ip_seen")),
                       bool(sig.get("device_seen")), duplicates)


def case_signals(signals: SignalService, tenant_id: str, session_id: str, *,
                 full: bool) -> CaseSignals:
    try:
        report: Report | None = signals.result(tenant_id, session_id)
    except NotFound:
        report = None
    return view_of(report, full=full)
