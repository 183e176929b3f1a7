"""Signing per the Standard Webhooks specification, checked with the reference library."""

from __future__ import annotations

import base64
import json
import random
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from idproof.webhooks.schedule import DEFAULT_SCHEDULE, JITTER, retry_delay
from idproof.webhooks.signing import generate_secret, headers, secret_key, sign


def test_secret_format() -> None:
    s = generate_secret()
    assert s.startswith("whsec_") and len(secret_key(s)) == 32
    assert generate_secret() != s
    with pytest.raises(ValueError):
        secret_key("sk_" + s)


def test_reference_library_verifies() -> None:
    secret = generate_secret()
    body = json.dumps({"type": "session.created", "data": {"session_id": "ses_1"}}).encode()
    h = headers([secret], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, h)["type"] == "session.created"
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, h)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", h)


def test_two_signatures_during_rotation() -> None:
    new, old = generate_secret(), generate_secret()
    body = b'{"type":"webhook.test"}'
    h = headers([new, old], "msg_2", int(time.time()), body)
    sigs = h["webhook-signature"].split(" ")
    assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs)
    Webhook(new).verify(body, h)
    Webhook(old).verify(body, h)


def test_known_vector() -> None:
    # The specification's example: secret, id, timestamp and body give this signature.
    secret = "whsec_" + base64.b64encode(b"\x01" * 24).decode()
    sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert sig == Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek",
                                       _dt(1614265330), '{"test": 2432232314}')


def _dt(ts: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def test_retry_schedule() -> None:
    rng = random.Random(1)
    delays = [retry_delay(n, DEFAULT_SCHEDULE, rng) for n in range(1, 9)]
    assert delays[-1] is None and retry_delay(0, DEFAULT_SCHEDULE) is None
    for got, base in zip(delays[:-1], DEFAULT_SCHEDULE, strict=True):
        assert got is not None and base * (1 - JITTER) <= got <= base * (1 + JITTER)
    # jitter spreads receivers that failed together
    assert len({round(retry_delay(1, (100,), rng) or 0, 6) for _ in range(20)}) > 1
    assert retry_delay(1, ()) is None
