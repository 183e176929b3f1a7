"""The signals as workflow-rule variables (pure): `signals.ip_tor`, `signals.ip_country`, ..."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from babel.core import get_global

from idproof.signals.rules import Report
from idproof.verification.document.countries import ISO_3166_ALPHA3

# Signal -> its value's name in `signals.*` (the booleans keep their reason code's name).
BOOLEANS = ("ip_datacenter", "ip_vpn", "ip_tor", "ip_country_mismatch", "device_reused",
            "automation_suspected", "emulator_suspected", "velocity_exceeded",
            "face_duplicate", "face_blocklisted")


@lru_cache(maxsize=1)
def _alpha3() -> dict[str, str]:
    """ISO alpha-2 -> alpha-3 (CLDR's territory aliases list each alpha-3 code)."""
    out: dict[str, str] = {}
    for code, aliases in get_global("territory_aliases").items():
        # Only assigned codes (CLDR also lists withdrawn ones: DDR for DE).
        if code.upper() in ISO_3166_ALPHA3 and aliases and len(str(aliases[0])) == 2:
            out[str(aliases[0]).upper()] = code.upper()
    return out


def alpha3(country: str | None) -> str:
    """'DE' -> 'DEU' (the documents' code), '' when unknown."""
    if not country:
        return ""
    return _alpha3().get(country.upper(), "")


def rule_values(report: Report, meta: dict[str, Any]) -> dict[str, Any]:
    """`signals.*` of one session: booleans, the IP's country (alpha-3) and ASN, the
    number of other identities on the device, the reason codes."""
    sig = report.signals
    values: dict[str, Any] = {name: sig.get(name) is True for name in BOOLEANS}
    values.update({
        "ip_country": alpha3(sig.get("ip_country")),
        "ip_asn": int(sig.get("ip_asn") or 0),
        "device_identities": int(sig.get("device_identities") or 0),
        "reasons": list(report.reasons),
        "new_account": meta.get("new_account") is True,
    })
    return values
