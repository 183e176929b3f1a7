"""Signals' pure logic: dataset parsing and lookup, device fingerprint and hints, rules, faces."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from idproof.signals.device import (
    DeviceAttributes,
    automation_hints,
    emulator_hints,
    fingerprint,
)
from idproof.signals.faces import FaceIndex
from idproof.signals.ipintel import DatasetError, IpFacts, IpIntel, RangeTable, parse
from idproof.signals.rules import REASONS, Limits, Observed, evaluate

DATA = Path(__file__).parents[2] / "data" / "signals"
FILES = {"geoip": "geoip.csv", "tor": "exit-addresses", "datacenter": "datacenters.txt",
         "vpn": "vpn.txt"}


def intel() -> IpIntel:
    return IpIntel({kind: RangeTable(parse(kind, io.BytesIO((DATA / name).read_bytes())))
                    for kind, name in FILES.items()})


def test_lookup_over_every_dataset() -> None:
    ip = intel()
    assert ip.lookup("192.0.2.10") == IpFacts("FR", 64500, "Example Telecom FR")
    assert ip.lookup("192.0.2.130") == IpFacts("FR", 64500, "Example Telecom FR", vpn=True)
    assert ip.lookup("203.0.113.5") == IpFacts("US", 64502, "Example Cloud US",
                                               datacenter=True)
    assert ip.lookup("203.0.113.200") == IpFacts("GB", 64503, None)
    assert ip.lookup("198.51.100.77") == IpFacts("DE", 64501, "Beispiel Netz", tor=True)
    assert ip.lookup("2001:db8::77") == IpFacts("NL", 64504, "Voorbeeld BV", tor=True)
    assert ip.lookup("2001:db8:ff12::1").datacenter  # type: ignore[union-attr]
    assert ip.lookup("::ffff:192.0.2.10") == ip.lookup("192.0.2.10")  # IPv4-mapped
    assert ip.lookup("8.8.8.8") == IpFacts()
    assert ip.lookup("not an address") is None


def test_nested_ranges_answer_the_most_specific() -> None:
    raw = b"network,country\n10.0.0.0/8,FR\n10.1.0.0/16,DE\n10.1.2.0/24,IT\n"
    table = RangeTable(parse("geoip", io.BytesIO(raw)))
    found = [table.find(_v4(a)) for a in ("10.1.2.3", "10.1.3.3", "10.2.0.1", "11.0.0.1")]
    assert [r.country if r else None for r in found] == ["IT", "DE", "FR", None]


def _v4(text: str) -> int:
    from idproof.signals.ipintel import parse_ip

    value = parse_ip(text)
    assert value is not None
    return value


@pytest.mark.parametrize(("kind", "raw", "code"), [
    ("geoip", b"net,cc\n1.2.3.0/24,FR\n", "header_invalid"),
    ("geoip", b"network,country\n1.2.3.0/33,FR\n", "network_invalid"),
    ("geoip", b"network,country\n1.2.3.0/24,France\n", "country_invalid"),
    ("geoip", b"network,country,asn\n1.2.3.0/24,FR,x12\n", "asn_invalid"),
    ("geoip", b"network,country\n1.2.3.0/24,FR,1,a,b\n", "columns_invalid"),
    ("tor", b"ExitAddress 999.1.1.1 2024-01-01\n", "address_invalid"),
    ("datacenter", b"10.0.0.9-10.0.0.1\n", "network_invalid"),
    ("datacenter", b"10.0.0.0/8\n\xff\xfe\n", "encoding_invalid"),
    ("vpn", b"10.0.0.0/8\x07\n", "control_characters"),
    ("vpn", b"10.0.0.0/8," + b"x" * 5000 + b"\n", "line_too_long"),
    ("asn", b"", "kind_unknown"),
])
def test_malformed_files_are_refused_with_a_code(kind: str, raw: bytes, code: str) -> None:
    with pytest.raises(DatasetError) as exc:
        list(parse(kind, io.BytesIO(raw)))
    assert exc.value.code == code


CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.6367.91 Safari/537.36")


def device(**kw: object) -> DeviceAttributes:
    base: dict[str, object] = {
        "user_agent": CHROME, "platform": "Win32", "languages": ["en-GB", "en"],
        "timezone": "Europe/London", "screen_width": 1920, "screen_height": 1080,
        "color_depth": 24, "hardware_concurrency": 8, "webgl_renderer": "ANGLE (NVIDIA)",
        "canvas_hash": "a1b2c3d4e5f60718"}
    return DeviceAttributes.model_validate({**base, **kw})


def test_fingerprint_is_stable_keyed_and_survives_a_browser_update() -> None:
    a = fingerprint(b"k1" * 16, device())
    assert a == fingerprint(b"k1" * 16, device(user_agent=CHROME.replace("124.0.6367.91",
                                                                          "125.0.6422.60")))
    assert a != fingerprint(b"k2" * 16, device())  # another tenant: unrelated
    assert a != fingerprint(b"k1" * 16, device(screen_width=1280))
    assert len(a) == 64 and "Win32" not in a


def test_automation_and_emulator_hints() -> None:
    assert automation_hints(device()) == []
    assert "navigator.webdriver" in automation_hints(device(webdriver=True))
    headless = device(user_agent=CHROME.replace("Chrome/", "HeadlessChrome/"))
    assert "headless user agent" in automation_hints(headless)
    assert "user agent and platform disagree" in automation_hints(device(platform="Linux x86_64"))
    assert "no languages" in automation_hints(device(languages=[]))
    mobile = ("Mozilla/5.0 (Linux; Android 14; sdk_gphone64_x86_64) AppleWebKit/537.36 "
              "Chrome/124.0 Mobile Safari/537.36")
    emu = device(user_agent=mobile, platform="Linux x86_64", touch_points=5,
                 webgl_renderer="Google SwiftShader")
    assert emulator_hints(emu) == ["emulator build", "mobile with software renderer"]
    assert emulator_hints(device()) == []


def test_unknown_device_fields_are_refused() -> None:
    with pytest.raises(ValueError):
        DeviceAttributes.model_validate({"user_agent": "x", "serial": "123"})
    with pytest.raises(ValueError):
        DeviceAttributes.model_validate({"user_agent": "x", "canvas_hash": "not hex!"})


def test_rules_name_each_signal_and_reason() -> None:
    quiet = evaluate(Observed(IpFacts("FR", 1), ("FR",)), Limits())
    assert quiet.reasons == [] and quiet.signals["ip_country"] == "FR"
    loud = evaluate(Observed(IpFacts("US", 2, datacenter=True, vpn=True, tor=True), ("FR",),
                             ("navigator.webdriver",), ("emulator build",),
                             {"ip": 11, "device": 4, "document": 1}, 2, ("ses_a",), True,
                             0.97), Limits())
    assert loud.reasons == list(REASONS)
    assert loud.signals["velocity_over"] == ["device", "ip"]
    assert loud.signals["face_duplicate_sessions"] == ["ses_a"]
    # at the limit is not over it; a window and limits are the tenant's to set
    edge = evaluate(Observed(velocity={"ip": 10}), Limits())
    assert "velocity_exceeded" not in edge.reasons
    strict = evaluate(Observed(velocity={"ip": 2}),
                      Limits(window=timedelta(hours=1), max_per_ip=1))
    assert strict.reasons == ["velocity_exceeded"]
    assert evaluate(Observed(device_identities=1), Limits()).reasons == ["device_reused"]


def test_face_index_finds_the_same_face_and_forgets_an_erased_one() -> None:
    rng = np.random.default_rng(7)
    people = rng.normal(size=(500, 128))
    index = FaceIndex()
    for i, vec in enumerate(people):
        index.add(f"face_{i}", f"ses_{i}", "blocklist" if i == 3 else "approved", vec)
    probe = people[42] + rng.normal(scale=0.02, size=128)  # the same face, another photo
    (match,) = index.search(probe)
    assert (match.session_id, match.list) == ("ses_42", "approved") and match.distance < 0.5
    assert index.search(people[3])[0].list == "blocklist"
    assert index.search(rng.normal(size=128)) == []  # a stranger
    assert index.search(probe, exclude_session="ses_42") == []
    assert index.remove_session("ses_42") == 1 and index.search(probe) == []
    assert len(index) == 499
    with pytest.raises(ValueError):
        index.add("face_x", None, "approved", np.zeros(128))
