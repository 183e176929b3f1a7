"""A real HTTP receiver for webhook tests: records each request, answers as told."""

from __future__ import annotations

import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = "hang"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """`plan` holds the answers to give, in order (an int status, a (status, location)
    redirect, or HANG); once empty every request gets `default`."""

    plan: deque[object] = field(default_factory=deque)
    default: int = 204
    hang_seconds: float = 3.0
    received: list[Received] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)  # TLS server names asked for
    server: ThreadingHTTPServer | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
        return list(self.received)


def start_receiver(tls: ssl.SSLContext | None = None) -> Receiver:
    """Serve on 127.0.0.1 (plain http, or https with `tls`, a server-side context)."""
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with rec.arrived:
                rec.received.append(Received(self.path, {k.lower(): v for k, v in
                                                         self.headers.items()}, body))
                rec.arrived.notify_all()
            answer = rec.plan.popleft() if rec.plan else rec.default
            if answer == HANG:
                time.sleep(rec.hang_seconds)
                answer = 204
            if isinstance(answer, tuple):
                status, location = answer
                self.send_response(status)
                self.send_header("Location", location)
            else:
                self.send_response(int(answer))  # type: ignore[call-overload]
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: rec.sni.append(name)  # type: ignore[assignment]
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    rec.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return rec


def stop_receiver(rec: Receiver) -> None:
    if rec.server is not None:
        rec.server.shutdown()
        rec.server.server_close()
