"""core.channel: listeners in order, a failing one logged (its type only) and skipped."""

from __future__ import annotations

import structlog

from idproof.core.channel import Channel


def test_listeners_run_in_order_and_a_failure_does_not_reach_the_publisher() -> None:
    seen: list[str] = []
    ch: Channel[str] = Channel("test.things")

    def broken(item: str) -> None:
        raise RuntimeError(f"secret {item}")

    ch.subscribe(lambda item: seen.append(f"a:{item}"))
    ch.subscribe(broken)
    ch.subscribe(lambda item: seen.append(f"b:{item}"))
    with structlog.testing.capture_logs() as logs:
        ch.publish("x")
    assert seen == ["a:x", "b:x"]
    assert logs == [{"channel": "test.things", "error_type": "RuntimeError",
                     "event": "channel_listener_failed", "log_level": "error"}]
    assert "secret" not in repr(logs)
    assert ch.listeners()[1].endswith("broken")
