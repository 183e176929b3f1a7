"""Workflow rules on the fraud signals: `signals.*` are typed variables known on every path,
their values come from a signals report, and a rule on one changes the decision."""

from __future__ import annotations

from typing import Any

import pytest

from idproof.signals.ipintel import IpFacts
from idproof.signals.rules import Limits, Observed, evaluate
from idproof.signals.variables import alpha3, rule_values
from idproof.workflows.flow import Flow, Outcome, compiled, decide_flow, validate_flow
from idproof.workflows.variables import NAMESPACES, SIGNAL_DEFAULTS

FLAGS = ("ip_datacenter", "ip_vpn", "ip_tor", "ip_country_mismatch", "device_reused",
         "automation_suspected", "emulator_suspected", "velocity_exceeded", "face_duplicate",
         "face_blocklisted")


def flow(when: str, action: str = "decline") -> Flow:
    return Flow.model_validate({
        "start": "doc",
        "nodes": {"doc": {"type": "document", "next": [
                      {"to": "review", "when": "signals.velocity_exceeded"}, {"to": "end"}]},
                  "review": {"type": "review"}, "end": {"type": "end"}},
        "decision": [{"id": "signal", "action": action, "when": when,
                      "reasons": ["signal_rule"]},
                     {"id": "failed", "action": "decline", "when": "!passed"},
                     {"id": "ok", "action": "approve", "when": "true"}]})


def test_every_signal_is_a_typed_variable_known_on_every_path() -> None:
    fields = NAMESPACES["signals"].fields
    assert {f: fields[f] for f in FLAGS} == dict.fromkeys(FLAGS, "bool")
    assert (fields["ip_country"], fields["ip_asn"], fields["reasons"]) == (
        "string", "int", "list(string)")
    assert set(NAMESPACES["signals"].always) == set(fields) == set(SIGNAL_DEFAULTS)
    assert {k: SIGNAL_DEFAULTS[k] for k in ("ip_country", "ip_asn", "ip_tor", "reasons")} == {
        "ip_country": "", "ip_asn": 0, "ip_tor": False, "reasons": []}
    for when in ("signals.ip_tor || signals.face_blocklisted",
                 "signals.ip_country in ['RUS', 'PRK'] && !signals.ip_vpn",
                 "signals.device_identities >= 2", "'face_duplicate' in signals.reasons"):
        assert validate_flow(flow(when)) == [], when


@pytest.mark.parametrize(("when", "code"), [
    ("signals.ip_tor == 1", "cel_type"), ("signals.ip_asn", "cel_type"),
    ("signals.tor", "cel_unknown_variable"), ("signal.ip_tor", "cel_unknown_variable")])
def test_a_wrong_signal_expression_is_refused_at_publish(when: str, code: str) -> None:
    assert [i.code for i in validate_flow(flow(when))] == [code]


def test_a_rule_on_a_signal_changes_the_decision() -> None:
    doc = {"document": Outcome("passed", (), {"document_valid": True})}
    f = flow("signals.ip_tor || signals.face_duplicate")
    assert decide_flow(compiled(f), doc).outcome == "approve"  # no signal: defaults
    assert decide_flow(compiled(f), doc, {"ip_tor": False}).outcome == "approve"
    d = decide_flow(compiled(f), doc, {"ip_tor": True})
    assert (d.outcome, d.reasons, d.fired[0]) == ("decline", ("signal_rule",), "signal")
    # A transition on a signal: the walk goes to the review node.
    d = decide_flow(compiled(f), doc, {"velocity_exceeded": True})
    assert d.outcome == "review" and d.path[-1] == "review"


def _report(**seen: Any) -> dict[str, Any]:
    return rule_values(evaluate(Observed(**seen), Limits()), {"new_account": True})


def test_values_come_from_the_signals_report() -> None:
    v = _report(ip=IpFacts(country="DE", asn=64501, tor=True), document_countries=("FR",),
                automation=("navigator.webdriver",), velocity={"ip": 11},
                face_duplicate_of=("ses_1",))
    assert v["ip_country"] == "DEU" and v["ip_asn"] == 64501 and v["new_account"] is True
    assert {k for k in FLAGS if v[k]} == {"ip_tor", "ip_country_mismatch",
                                         "automation_suspected", "velocity_exceeded",
                                         "face_duplicate"}
    assert v["reasons"] == ["ip_tor", "ip_country_mismatch", "automation_suspected",
                            "velocity_exceeded", "face_duplicate"]
    empty = _report()
    assert {k: empty[k] for k in SIGNAL_DEFAULTS if k != "new_account"} == {
        k: d for k, d in SIGNAL_DEFAULTS.items() if k != "new_account"}
    assert set(empty) == set(SIGNAL_DEFAULTS)  # every variable has a value
    assert (alpha3("de"), alpha3("GB"), alpha3(None), alpha3("ZZ")) == ("DEU", "GBR", "", "")
