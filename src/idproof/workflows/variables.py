"""The variables workflow expressions may read: step namespaces, scalars, signals, types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from idproof.workflows.cel import Env, Namespace, list_of

NodeType = Literal["document", "selfie", "liveness", "email", "phone", "questionnaire",
                   "screening", "review", "end"]
Action = Literal["decline", "review", "approve"]
STEP_TYPES: tuple[str, ...] = ("document", "selfie", "liveness", "email", "phone",
                               "questionnaire", "screening")
TERMINAL_TYPES = frozenset({"review", "end"})
# The steps this server can run (e-mail, phone, questionnaire and screening through
# /v1/sessions/{id}/steps/...); a step type added later validates in drafts before it runs.
RUNNABLE_STEPS = frozenset({"document", "selfie", "liveness", "email", "phone",
                            "questionnaire", "screening"})
MAX_NODES = 100
MAX_RULES = 100
ReasonCode = str
CODE_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"
NODE_ID_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"

# The fraud signals (`signals/`): computed for every session before its decision, known on
# every path (a signal with no data, no IP posted for instance, is false / '' / 0).
_SIGNAL_FLAGS = {
    "ip_datacenter": "the client IP is in a datacenter or hosting range",
    "ip_vpn": "the client IP is a known VPN exit", "ip_tor": "the client IP is a Tor exit",
    "ip_country_mismatch": "the IP's country is neither the document's issuing country nor "
                           "its nationality",
    "device_reused": "the device was seen with other identities (documents)",
    "automation_suspected": "headless or automation hints (navigator.webdriver, ...)",
    "emulator_suspected": "emulator hints in the device's attributes",
    "velocity_exceeded": "too many sessions per IP, device, document or face in the window",
    "face_duplicate": "the selfie matches an approved subject of another session",
    "face_blocklisted": "the selfie matches a blocklisted face"}
_SIGNAL_TYPES: dict[str, str] = {
    "ip_country": "string", "ip_asn": "int", "device_identities": "int",
    "reasons": list_of("string"), "new_account": "bool",
    **{name: "bool" for name in _SIGNAL_FLAGS}}
_SIGNAL_DOC = {
    "ip_country": "ICAO code of the client IP's country, '' if unknown",
    "ip_asn": "the client IP's autonomous system number, 0 if unknown",
    "device_identities": "other documents seen on this session's device",
    "reasons": "the signals' reason codes (ip_tor, face_duplicate, ...)",
    "new_account": "the session's metadata says new_account", **_SIGNAL_FLAGS}

# -- the variables -------------------------------------------------------------------------
COMMON_FIELDS = {"done": "bool", "passed": "bool", "state": "string", "reasons": list_of("string")}
COMMON_DOC = {
    "done": "the step ran and has a final result (always known)",
    "passed": "the step passed", "state": "passed or failed",
    "reasons": "the step's reason codes"}
NAMESPACES: dict[str, Namespace] = {
    "document": Namespace("document", {
        **COMMON_FIELDS, "valid": "bool", "age_over_18": "bool", "type": "string",
        "issuing_country": "string", "nationality": "string", "age": "int"}, doc={
        **COMMON_DOC, "valid": "not expired, checksums and policy passed",
        "age_over_18": "the holder is 18 or older", "type": "passport, id_card, "
        "driving_licence, residence_permit or visa", "issuing_country": "ICAO code (DEU)",
        "nationality": "ICAO code", "age": "the holder's age in whole years"}),
    "selfie": Namespace("selfie", {**COMMON_FIELDS, "match": "bool"},
                        doc={**COMMON_DOC, "match": "the face matches the document"}),
    "face": Namespace("selfie", {"done": "bool", "match": "bool", "score": "double"}, doc={
        "done": "the selfie step ran", "match": "the face matches the document",
        "score": "distance between the faces (lower is closer; 0.5 is the default "
                 "threshold)"}),
    "liveness": Namespace("liveness", dict(COMMON_FIELDS), doc=dict(COMMON_DOC)),
    "email": Namespace("email", {**COMMON_FIELDS, "verified": "bool", "domain": "string",
                                 "disposable": "bool"},
                       doc={**COMMON_DOC, "verified": "the code was confirmed",
                            "domain": "the address's domain",
                            "disposable": "a disposable-address domain"}),
    "phone": Namespace("phone", {**COMMON_FIELDS, "verified": "bool", "country": "string",
                                 "line_type": "string"},
                       doc={**COMMON_DOC, "verified": "the code was confirmed",
                            "country": "ISO 3166 alpha-2 of the number",
                            "line_type": "mobile, fixed_line, voip, ..."}),
    "questionnaire": Namespace("questionnaire", dict(COMMON_FIELDS), doc=dict(COMMON_DOC)),
    "screening": Namespace("screening", {**COMMON_FIELDS, "hit": "bool"},
                           doc={**COMMON_DOC, "hit": "a possible sanctions or PEP match"}),
    "signals": Namespace("signals", dict(_SIGNAL_TYPES), always=frozenset(_SIGNAL_TYPES),
                         doc=_SIGNAL_DOC),
}
SCALARS: dict[str, str] = {"reasons": list_of("string"), "passed": "bool"}
SCALAR_DOC = {"reasons": "every reason code of the steps so far, in order",
              "passed": "every step so far passed"}
# Step facts (as the step jobs record them) -> field of the step's variable.
FACT_FIELDS: dict[str, dict[str, str]] = {
    "document": {"document_valid": "valid", "age_over_18": "age_over_18",
                 "document_type": "type", "issuing_country": "issuing_country",
                 "nationality": "nationality", "age": "age"},
    "selfie": {"face_match": "match"},
}
FACE_FACTS = {"face_match": "match", "face_score": "score"}
_ZERO: dict[str, Any] = {"string": "", "int": 0, "bool": False}
SIGNAL_DEFAULTS: dict[str, Any] = {name: _ZERO.get(kind, []) for name, kind in
                                   _SIGNAL_TYPES.items()}


# -- questionnaire answers ---------------------------------------------------------------
# The answers rules may read, as `answers.<question id>`: those whose values the workflow
# itself defines (a choice's option, a checkbox). Text and date answers are the person's own
# words and dates: they stay sealed in session_contacts and are never step facts.
ANSWERS = "answers"
ANSWER_TYPES: dict[str, str] = {"choice": "string", "checkbox": "bool"}
ANSWER_DEFAULTS: dict[str, Any] = {"string": "", "bool": False}
ANSWERS_DOC = ("the questionnaire's choice (string, the option chosen, '' when an optional "
               "question was left out) and checkbox (bool) answers by question id")


def answers_namespace(questions: Sequence[tuple[str, str]]) -> Namespace:
    """`answers`, typed from (question id, question type) pairs; known after the
    questionnaire ran (or where `questionnaire.done` guards it)."""
    fields = {qid: ANSWER_TYPES[kind] for qid, kind in questions if kind in ANSWER_TYPES}
    return Namespace("questionnaire", fields, always=frozenset(),
                     doc={qid: f"answer to question {qid!r}" for qid in fields})


def answer_values(questions: Sequence[tuple[str, str]], recorded: Mapping[str, Any]
                  ) -> dict[str, Any]:
    """The `answers` values: each readable question's recorded answer, or its type's
    default when an optional question was left out."""
    out: dict[str, Any] = {}
    for qid, kind in questions:
        t = ANSWER_TYPES.get(kind)
        if t is None:
            continue
        value = recorded.get(qid, ANSWER_DEFAULTS[t])
        if isinstance(value, dict):  # a checkbox with a legal text: {accepted, version}
            value = bool(value.get("accepted"))
        out[qid] = value
    return out


def env_at(steps: frozenset[str], extra: Mapping[str, Namespace] | None = None) -> Env:
    """The variables an expression may use where `steps` have run on every path (`extra`:
    the flow's own namespaces, such as its questionnaire's `answers`)."""
    namespaces = {**NAMESPACES, **(extra or {})}
    avail = frozenset(k for k, ns in namespaces.items() if ns.step in steps
                      or k == "signals")
    return Env(SCALARS, namespaces, avail)


def variables_doc() -> list[dict[str, str]]:
    """Every variable expressions may read, with its type and meaning (the published JSON
    Schema's `x-variables`); `answers.<id>` stands for each choice and checkbox question."""
    out = [{"name": k, "type": t, "doc": SCALAR_DOC[k]} for k, t in SCALARS.items()]
    for name, ns in NAMESPACES.items():
        out += [{"name": f"{name}.{f}", "type": t, "doc": ns.doc.get(f, ""),
                 "known": "always" if f in ns.always else f"after {ns.step}"}
                for f, t in ns.fields.items()]
    out += [{"name": f"{ANSWERS}.<question id>", "type": f"{t} ({kind} question)",
             "doc": ANSWERS_DOC, "known": "after questionnaire"}
            for kind, t in ANSWER_TYPES.items()]
    return out

