"""Workflow rules: CEL evaluation per decision (20 rules) and the cost of loading a version."""

from __future__ import annotations

import statistics
import time

from idproof.workflows.flow import Outcome, compiled, decide_flow
from idproof.workflows.service import parse_definition

EU = '["DEU", "FRA", "ITA", "ESP", "NLD", "BEL", "AUT", "POL"]'


def definition() -> dict[str, object]:
    rules = [{"id": f"r{i}", "action": "review",
              "when": f"document.age == {100 + i} && face.score > 0.{i % 9 + 1}",
              "reasons": [f"rule_{i}"]} for i in range(17)]
    rules += [
        {"id": "underage", "action": "decline", "when": "document.age < 18"},
        {"id": "borderline", "action": "review",
         "when": "face.score >= 0.45 && face.score <= 0.55"},
        {"id": "ok", "action": "approve", "when": 'reasons.all(r, r != "x") && passed'},
    ]
    return {"title": "bench", "minimum_age": 18, "max_attempts": 3,
            "document": {"types": ["passport"]},
            "flow": {"start": "doc", "nodes": {
                "doc": {"type": "document", "next": [{"to": "face"}]},
                "face": {"type": "selfie", "next": [
                    {"to": "live", "when": f"!(document.issuing_country in {EU})"},
                    {"to": "end"}]},
                "live": {"type": "liveness", "next": [{"to": "end"}]},
                "end": {"type": "end"}}, "decision": rules}}


def timed(fn: object, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    spec = definition()
    cold = timed(lambda: compiled(parse_definition(spec, "bench", 1).flow), 50)  # type: ignore[arg-type]
    wf = parse_definition(spec, "bench", 1)
    assert wf.flow is not None
    flow = wf.flow
    warm = timed(lambda: compiled(flow), 10_000)
    cf = compiled(flow)
    outcomes = {"document": Outcome("passed", (), {"issuing_country": "USA", "age": 30}),
                "selfie": Outcome("passed", (), {"face_match": True, "face_score": 0.3}),
                "liveness": Outcome("passed")}
    assert decide_flow(cf, outcomes).outcome == "approve"
    per = timed(lambda: decide_flow(cf, outcomes), 5_000)
    print(f"workflows: {len(cf.rules)} rules + 1 transition, walk and decision per session: "
          f"median {statistics.median(per):.3f} ms, p99 {sorted(per)[int(len(per) * .99)]:.3f}"
          f" ms (target < 1 ms)")
    print(f"workflows: load a version (parse, validate, compile {len(cf.rules)} rules): "
          f"median {statistics.median(cold):.2f} ms; cached: "
          f"median {statistics.median(warm) * 1000:.2f} us")


if __name__ == "__main__":
    main()
