"""A tiny webhook receiver for trying idproof locally: verifies each Standard Webhooks
signature and prints the event type, never the payload.

Standard library only:

    IDPROOF_WEBHOOK_SECRET=whsec_... python3 examples/webhook_receiver.py [--port 8787]

It answers 204 to a genuine delivery and 400 to anything else (bad or missing signature,
timestamp more than five minutes away). idproof refuses webhook URLs on this machine unless
the server runs with `IDPROOF_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true` (development only).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300
MAX_BODY = 1 << 20


def verify(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    """True if one of the `v1,` signatures is HMAC-SHA256(key, "id.timestamp.body")."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and timestamp.isdigit() and signatures and secret.startswith("whsec_")):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        return False  # too old or from the future: a replay, or a clock to fix
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    # Several signatures, space-separated, while a secret rotation's grace period lasts.
    return any(sig.startswith("v1,") and hmac.compare_digest(sig[3:], expected)
               for sig in signatures.split())


def make_handler(secret: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # lets a script wait until the receiver listens
            body = b"idproof webhook receiver: POST deliveries here\n"
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._answer(413)
                return
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if not verify(secret, headers, body):
                sys.stdout.write("rejected: bad signature\n")
                sys.stdout.flush()
                self._answer(400)
                return
            try:
                event_type = str(json.loads(body).get("type", "?"))
            except (ValueError, AttributeError):
                event_type = "?"
            # The type and the id only: a payload is the app's business, not this log's.
            # One write per line: print() writes the text and the newline apart, and two
            # deliveries answered by two threads at once came out on one line.
            sys.stdout.write(f"verified {event_type} {headers['webhook-id']}\n")
            sys.stdout.flush()
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass  # quiet: the lines above say what matters

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    args = parser.parse_args(argv)
    secret = os.environ.get("IDPROOF_WEBHOOK_SECRET", "")
    if not secret.startswith("whsec_"):
        sys.exit("set IDPROOF_WEBHOOK_SECRET to the endpoint's whsec_ secret")
    server = ThreadingHTTPServer((args.host, args.port), make_handler(secret))
    print(f"listening on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
