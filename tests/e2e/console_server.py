"""A real idproof server (uvicorn in a thread) on a hand-moved clock, for console browser tests."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp
import uvicorn

from idproof.bootstrap import Container, build_container, prepare
from idproof.config import Settings
from idproof.core.clock import FrozenClock
from idproof.web.app import create_app
from tests.conftest import TEST_SECRET

PASSWORD = "plum-orbit-canyon-42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ClockedServer:
    """The app on http://localhost:PORT (WebAuthn wants a domain) with a FrozenClock."""

    def __init__(self, tmp: Path, **operators: Any) -> None:
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.clock = FrozenClock()
        settings = Settings(data_dir=tmp / "data", secret_key=TEST_SECRET, public_url=self.url)
        if operators:
            settings = settings.model_copy(update={
                "operators": settings.operators.model_copy(update=operators)})
        prepare(settings).close()  # data dir, migrations, keys, the demo tenant
        self.container: Container = build_container(settings, self.clock)
        config = uvicorn.Config(create_app(self.container), host="127.0.0.1", port=self.port,
                                log_config=None, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.container.close()

    def code(self, secret: str) -> str:
        """A TOTP code of a step not used yet (the clock moves on one step each time)."""
        self.clock.advance(30)
        return pyotp.TOTP(secret).at(self.clock.timestamp())

    def enrolled(self, email: str, role: str = "analyst") -> str:
        """An operator enrolled with TOTP through the forms (no browser); its TOTP secret."""
        issued = self.container.operators.create(email, role, [] if role == "owner"
                                                 else ["demo"])
        with httpx.Client(base_url=self.url.replace("localhost", "127.0.0.1"),
                          follow_redirects=True, timeout=30) as web:
            path = "/" + issued.enrollment_url.split("/", 3)[3]
            page = web.get(path)
            r = web.post(path, data={"password": PASSWORD, "password_confirm": PASSWORD,
                                     "csrf_token": _csrf(page.text)})
            secret = re.findall(r"secret=([A-Z2-7]+)", r.text)[0]
            r = web.post("/console/enroll/mfa", data={"code": self.code(secret),
                                                      "csrf_token": _csrf(r.text)})
            assert r.status_code == 200 and "recovery-code" in r.text, r.text
        return secret


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, page
    return m.group(1)
