"""Signal rules (pure): from the facts gathered on a session to named signals and reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from idproof.signals.ipintel import IpFacts

# The reason codes: a contract (workflow rules and decisions name them).
REASONS = ("ip_datacenter", "ip_vpn", "ip_tor", "ip_country_mismatch", "device_reused",
           "automation_suspected", "emulator_suspected", "velocity_exceeded",
           "face_duplicate", "face_blocklisted")


@dataclass(frozen=True)
class Limits:
    """Velocity windows and limits: more than `max` other sessions with the same key within
    `window` is `velocity_exceeded`; a device seen with at least `device_identities` other
    documents than this session's is `device_reused`."""

    window: timedelta = timedelta(hours=24)
    max_per_ip: int = 10
    max_per_device: int = 3
    max_per_document: int = 3
    max_per_face: int = 3
    device_identities: int = 1


@dataclass(frozen=True)
class Observed:
    """What is known of one session when its signals are computed."""

    ip: IpFacts | None = None
    document_countries: tuple[str, ...] = ()  # issuing country, nationality (alpha-2)
    automation: tuple[str, ...] = ()
    emulator: tuple[str, ...] = ()
    # Other sessions within the window with the same key, by kind (ip, device, ...).
    velocity: dict[str, int] = field(default_factory=dict)
    device_identities: int = 0  # other documents seen on this device
    face_duplicate_of: tuple[str, ...] = ()  # other sessions' ids with the same face
    face_blocklisted: bool = False
    face_best_distance: float | None = None
    device_seen: bool = False  # the page or the API posted the device's attributes


@dataclass(frozen=True)
class Report:
    signals: dict[str, Any]
    reasons: list[str]


def _limit(limits: Limits, kind: str) -> int:
    return int(getattr(limits, f"max_per_{kind}"))


def evaluate(seen: Observed, limits: Limits) -> Report:
    """Named booleans and numbers, and the reason codes they raise (in REASONS order)."""
    ip = seen.ip or IpFacts()
    countries = {c.upper() for c in seen.document_countries if c}
    mismatch = bool(ip.country and countries and ip.country.upper() not in countries)
    over = sorted(k for k, n in seen.velocity.items() if n > _limit(limits, k))
    signals: dict[str, Any] = {
        "ip_country": ip.country, "ip_asn": ip.asn, "ip_datacenter": ip.datacenter,
        "ip_vpn": ip.vpn, "ip_tor": ip.tor, "ip_country_mismatch": mismatch,
        "ip_seen": seen.ip is not None, "device_seen": seen.device_seen,
        "automation_suspected": bool(seen.automation), "automation_hints": list(seen.automation),
        "emulator_suspected": bool(seen.emulator), "emulator_hints": list(seen.emulator),
        "velocity": dict(sorted(seen.velocity.items())), "velocity_exceeded": bool(over),
        "velocity_over": over, "device_identities": seen.device_identities,
        "device_reused": 0 < limits.device_identities <= seen.device_identities,
        "face_duplicate": bool(seen.face_duplicate_of),
        "face_duplicate_sessions": list(seen.face_duplicate_of),
        "face_blocklisted": seen.face_blocklisted,
        "face_distance": seen.face_best_distance,
    }
    if "device" in over:
        signals["device_reused"] = True
    reasons = [r for r in REASONS if signals.get(r) is True]
    return Report(signals, reasons)
