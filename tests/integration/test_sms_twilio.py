"""The Twilio SMS adapter against a local server speaking Twilio's Messages API: the path,
basic auth, the form, a refusal, and no phone number or code in an error."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from idproof.config import Settings, SmsSettings
from idproof.workflows.steps.delivery import DeliveryError, TwilioSmsGateway, sms_text
from idproof.workflows.steps.wiring import sms_gateway

SID = "AC" + "0123456789abcdef" * 2


class _Twilio(BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict[str, list[str]]]] = []
    status = 201

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).received.append((self.path, self.headers.get("Authorization", ""),
                                    parse_qs(body)))
        payload = b'{"sid": "SM1", "status": "queued"}'
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def twilio() -> Iterator[tuple[type[_Twilio], str]]:
    handler = type("T", (_Twilio,), {"received": [], "status": 201})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_code_goes_through_twilios_messages_api(twilio, tmp_path) -> None:  # type: ignore[no-untyped-def]
    handler, base = twilio
    settings = Settings(data_dir=tmp_path, sms=SmsSettings(
        provider="twilio", account_sid=SID, token="auth-token-1", sender="+15005550006",
        url=base))
    gateway = sms_gateway(settings)
    assert isinstance(gateway, TwilioSmsGateway)
    gateway.send_sms("+4915123456789", sms_text("042137", 10))
    [(path, auth, form)] = handler.received
    assert path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert auth == "Basic " + base64.b64encode(f"{SID}:auth-token-1".encode()).decode()
    assert form == {"To": ["+4915123456789"], "From": ["+15005550006"],
                    "Body": ["Your verification code is 042137. It expires in 10 minutes."]}


def test_a_messaging_service_sends_as_itself(twilio) -> None:  # type: ignore[no-untyped-def]
    handler, base = twilio
    TwilioSmsGateway(SID, "t", "MG" + "1" * 32, base_url=base).send_sms("+4915123456789", "x")
    assert handler.received[0][2]["MessagingServiceSid"] == ["MG" + "1" * 32]
    assert "From" not in handler.received[0][2]


def test_a_refusal_is_a_delivery_error_without_the_number(twilio) -> None:  # type: ignore[no-untyped-def]
    handler, base = twilio
    handler.status = 400
    with pytest.raises(DeliveryError, match="400") as exc:
        TwilioSmsGateway(SID, "t", "+15005550006", base_url=base).send_sms(
            "+4915123456789", "code 111222")
    assert "+49" not in str(exc.value) and "111222" not in str(exc.value)


def test_twilio_without_credentials_sends_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert sms_gateway(Settings(data_dir=tmp_path, sms=SmsSettings(provider="twilio"))) is None
