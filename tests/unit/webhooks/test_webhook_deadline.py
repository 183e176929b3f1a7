"""A slow-drip receiver (bytes trickled under the per-read timeout) hits the total deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from idproof.webhooks import delivery
from idproof.webhooks.ssrf import resolve

DRIP_SECONDS = 30.0  # how long the receiver would keep the attempt alive without a deadline


@pytest.fixture
def slow_drip() -> Iterator[int]:
    """A receiver that reads the request, then sends its answer one byte every 0.1 s."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                answer = b"HTTP/1.1 204 No Content\r\n" + b"X-Drip: " + b"a" * 400
                started = time.monotonic()
                for byte in answer:
                    if stop.is_set() or time.monotonic() - started > DRIP_SECONDS:
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break  # the client gave up: what the deadline is for
                    time.sleep(0.1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def test_slow_drip_receiver_bounded_by_total_deadline(slow_drip: int) -> None:
    target = resolve(f"http://127.0.0.1:{slow_drip}/hook", allow_private=True)
    started = time.monotonic()
    result = delivery.send(target, {"content-type": "application/json"}, b"{}",
                           timeout=1.0, deadline=1.5)
    elapsed = time.monotonic() - started
    assert not result.ok and result.error == "timeout"
    # Every read arrived well within the 1 s read timeout; only the deadline ends it.
    assert elapsed < DRIP_SECONDS / 3, elapsed


def test_deadline_defaults_and_is_never_shorter_than_needed() -> None:
    with pytest.raises(ValueError):
        delivery.send(resolve("http://127.0.0.1:9/h", allow_private=True), {}, b"",
                      timeout=1.0, deadline=0)
