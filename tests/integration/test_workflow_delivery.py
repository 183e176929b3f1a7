"""Codes delivered for real: SMTP to a local aiosmtpd server, SMS to a local HTTP gateway,
and code states in Redis shared by concurrent checkers."""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from idproof.workflows.steps.delivery import (
    DeliveryError,
    HttpSmsGateway,
    LogSmsGateway,
    SmtpCodeSender,
    sms_text,
)
from idproof.workflows.steps.otp import OtpError, check, issue
from idproof.workflows.steps.otp_store import RedisOtpStore
from tests.conftest import REDIS_URL

KEY = b"q" * 32


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[EmailMessage] = []

    def handle_message(self, message: EmailMessage) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), _port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield inbox, port
    ctl.stop()


def test_the_code_arrives_by_smtp(smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    state, code = issue(None, KEY, "sess:email", 0.0)
    SmtpCodeSender("127.0.0.1", port, "verify@idproof.test").send_code(
        "jane@example.com", code, minutes=10)
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["To"] == "jane@example.com" and msg["From"] == "verify@idproof.test"
    body = msg.get_payload(decode=True)
    assert isinstance(body, bytes) and code in body.decode()
    assert check(state, KEY, "sess:email", code, 1.0).verified  # the received code works


def test_smtp_down_is_a_delivery_error_naming_no_address() -> None:
    with pytest.raises(DeliveryError) as exc:
        SmtpCodeSender("127.0.0.1", _port(), "v@idproof.test", timeout=2).send_code(
            "jane@example.com", "123456", minutes=10)
    assert "jane" not in str(exc.value) and "123456" not in str(exc.value)


class _Gateway(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []
    status = 202

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.headers.get("Authorization", ""), body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[type[_Gateway], str]]:
    handler = type("G", (_Gateway,), {"received": [], "status": 202})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/sms"
    server.shutdown()
    server.server_close()


def test_the_code_goes_to_the_http_sms_gateway(gateway: tuple[type[_Gateway], str]) -> None:
    handler, url = gateway
    HttpSmsGateway(url, "tok-1", "IDPROOF").send_sms("+4915123456789", sms_text("042137", 10))
    assert handler.received == [("Bearer tok-1", {
        "to": "+4915123456789", "from": "IDPROOF",
        "text": "Your verification code is 042137. It expires in 10 minutes."})]


def test_a_refusing_or_absent_gateway_is_a_delivery_error(
        gateway: tuple[type[_Gateway], str]) -> None:
    handler, url = gateway
    handler.status = 401
    with pytest.raises(DeliveryError, match="401"):
        HttpSmsGateway(url, "bad", "IDPROOF").send_sms("+4915123456789", "x")
    with pytest.raises(DeliveryError) as exc:
        HttpSmsGateway(f"http://127.0.0.1:{_port()}/", "t", "I", timeout=2).send_sms(
            "+4915123456789", "x")
    assert "+49" not in str(exc.value)


def test_the_log_provider_writes_only_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(DeliveryError):
        LogSmsGateway().send_sms("+4915123456789", "code 111222")
    assert "111222" not in caplog.text
    with caplog.at_level(logging.WARNING, "idproof.workflows.delivery"):
        LogSmsGateway(enabled=True).send_sms("+4915123456789", "code 111222")
    assert "111222" in caplog.text and "+4915123456789" not in caplog.text


def _guesses(store: RedisOtpStore, scope: str, codes: list[str]) -> list[str]:
    outcomes: list[str] = []

    def guess(c: str) -> None:
        try:
            store.update(scope, lambda st: (check(st, KEY, scope, c, 1.0), None))
            outcomes.append("ok")
        except OtpError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=guess, args=(c,)) for c in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.fixture
def redis_store() -> Iterator[tuple[RedisOtpStore, str, Any]]:
    import redis

    client = redis.Redis.from_url(str(REDIS_URL))
    scope = f"test:{uuid.uuid4()}"
    yield RedisOtpStore(client), scope, client
    client.delete(f"idproof:otp:{scope}")


@pytest.mark.redis
def test_redis_store_loses_no_concurrent_wrong_guess(redis_store: Any) -> None:
    store, scope, client = redis_store
    code = store.update(scope, lambda prev: issue(prev, KEY, scope, 0.0))
    wrong = "000000" if code != "000000" else "111111"
    assert _guesses(store, scope, [wrong] * 5) == ["otp_wrong"] * 5
    state = store.update(scope, lambda st: (None, st))
    assert state is not None and state.attempts == 5 and not state.verified
    assert _guesses(store, scope, [code]) == ["otp_too_many_attempts"]
    assert 0 < client.ttl(f"idproof:otp:{scope}") <= 86_400


@pytest.mark.redis
def test_redis_store_accepts_one_code_once_among_concurrent_checks(redis_store: Any) -> None:
    store, scope, _ = redis_store
    code = store.update(scope, lambda prev: issue(prev, KEY, scope, 0.0))
    assert sorted(_guesses(store, scope, [code] * 4)) == ["ok"] + ["otp_replayed"] * 3
    with pytest.raises(OtpError) as exc:  # and no new code for a confirmed step
        store.update(scope, lambda prev: issue(prev, KEY, scope, 100.0))
    assert exc.value.code == "otp_already_verified"
