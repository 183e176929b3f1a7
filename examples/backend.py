"""A minimal integrating backend for idproof: creates sessions and receives signed webhooks.

Standard library + httpx + standardwebhooks only. Run it next to `idproof serve`:

    IDPROOF_URL=http://127.0.0.1:8000 IDPROOF_CLIENT_ID=cli_... IDPROOF_CLIENT_SECRET=idpsk_... \
    IDPROOF_WEBHOOK_SECRET=whsec_... python examples/backend.py

then open http://127.0.0.1:8080/ . The client must have been created with
`--origin http://127.0.0.1:8080` so the hosted page talks to this page.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

HERE = Path(__file__).resolve().parent


@dataclass
class ExampleApp:
    idproof_url: str
    client_id: str
    client_secret: str
    webhook_secret: str | None = None
    workflow: str = "kyc_standard"
    events: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def _token(self) -> str:
        r = httpx.post(f"{self.idproof_url}/oauth/token", data={"grant_type":
                                                               "client_credentials"},
                       auth=(self.client_id, self.client_secret), timeout=10)
        r.raise_for_status()
        return str(r.json()["access_token"])

    def start_session(self, reference: str) -> dict[str, str]:
        """Create a session for one of our users (`reference` is our own opaque id)."""
        r = httpx.post(f"{self.idproof_url}/v1/sessions",
                       json={"workflow": self.workflow, "reference": reference},
                       headers={"authorization": f"Bearer {self._token()}"}, timeout=10)
        r.raise_for_status()
        body = r.json()
        return {"session_id": body["id"], "url": body["url"]}

    def receive(self, headers: dict[str, str], body: bytes) -> bool:
        """Verify a webhook's Standard Webhooks signature; keep the event if it is genuine."""
        if not self.webhook_secret:
            return False
        try:
            event = Webhook(self.webhook_secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        with self.arrived:
            self.events.append(event)
            self.arrived.notify_all()
        return True

    def wait_for(self, event_type: str, timeout: float = 30.0) -> dict[str, Any] | None:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events if e.get("type") == event_type), None)

        with self.arrived:
            self.arrived.wait_for(lambda: found() is not None, timeout)
            return found()


def serve(app: ExampleApp, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """Start the example's HTTP server in a thread and return it (stop with .shutdown())."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass  # quiet: this is an example

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?")[0] in {"/", "/index.html"}:
                page = (HERE / "index.html").read_text().replace("{{IDPROOF_URL}}",
                                                                 app.idproof_url)
                self._send(200, page.encode(), "text/html; charset=utf-8")
            elif self.path == "/app.js":
                self._send(200, (HERE / "app.js").read_bytes(),
                           "application/javascript; charset=utf-8")
            elif self.path == "/events":
                self._send(200, json.dumps(app.events).encode(), "application/json")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if self.path == "/start":
                started = app.start_session("user-42")
                self._send(200, json.dumps(started).encode(), "application/json")
            elif self.path == "/webhooks/idproof":
                ok = app.receive({k.lower(): v for k, v in self.headers.items()}, body)
                self._send(204 if ok else 400, b"", "text/plain")
            else:
                self._send(404, b"not found", "text/plain")

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":  # pragma: no cover - the manual demo
    example = ExampleApp(os.environ["IDPROOF_URL"].rstrip("/"), os.environ["IDPROOF_CLIENT_ID"],
                         os.environ["IDPROOF_CLIENT_SECRET"],
                         os.environ.get("IDPROOF_WEBHOOK_SECRET"),
                         os.environ.get("IDPROOF_WORKFLOW", "kyc_standard"))
    srv = serve(example, port=int(os.environ.get("PORT", "8080")))
    print(f"open http://127.0.0.1:{srv.server_address[1]}/")
    threading.Event().wait()
