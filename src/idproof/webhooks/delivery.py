"""Sending one signed request to a checked address: pinned IP, Host/SNI of the URL, no redirects.

The connection goes to the IP the SSRF guard checked; the Host header and TLS (SNI and
certificate verification) use the URL's host name, so https still proves it is talking to
that host while DNS is never consulted a second time.

Besides the per-read timeout, every attempt has a total deadline: a receiver trickling its
answer a byte at a time, each under the read timeout, would otherwise hold a worker forever.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

from idproof.webhooks.ssrf import Target

USER_AGENT = "idproof-webhooks/1"
DEFAULT_DEADLINE_SECONDS = 30.0
_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every delivery (building one costs ~20 ms; it holds
    only the trusted CAs, no per-connection state, so sharing it is safe)."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a receiver answered: a status code or an error kind, never its body."""

    ok: bool
    status_code: int | None
    error: str | None  # timeout, connection_failed, redirect, http_status, ...
    duration_ms: int


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write waits at most until the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the delivery deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     self._left(timeout)), self._deadline)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend with one deadline over connect, TLS, writes and reads."""

    def __init__(self, deadline: float) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                    ) -> httpcore.NetworkStream:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the delivery deadline passed")
        stream = self._inner.connect_tcp(host, port, left if timeout is None else
                                         min(timeout, left), local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are never delivered to unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _transport(tls: ssl.SSLContext, deadline: float) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(verify=tls, trust_env=False)
    # httpx does not take a network backend; its pool is replaced by one built the same way
    # (verifying TLS, HTTP/1.1, no retries) around the deadline backend.
    transport._pool = httpcore.ConnectionPool(ssl_context=tls,
                                              network_backend=_DeadlineBackend(deadline))
    return transport


def _pinned_url(target: Target) -> httpx.URL:
    return httpx.URL(target.url).copy_with(host=target.ip, port=target.port)


def send(target: Target, headers: dict[str, str], body: bytes, *,
         timeout: float, tls: ssl.SSLContext | None = None,
         deadline: float = DEFAULT_DEADLINE_SECONDS) -> SendResult:
    """POST `body` to the pinned address. 2xx is success; anything else (3xx too) a failure.

    `timeout` bounds each connect, write and read; `deadline` the whole attempt.
    """
    if deadline <= 0:
        raise ValueError("the deadline must be positive")
    url = _pinned_url(target)
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    if target.port != default_port:
        host_header = f"{host_header}:{target.port}"
    request_headers = {**headers, "host": host_header, "user-agent": USER_AGENT}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    started = time.perf_counter()
    # A client per request: a pooled TLS connection to this IP may have been verified for
    # another host name, so none is reused across deliveries. trust_env=False: proxies from
    # the environment would take the connection away from the checked address.
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False,
                          transport=_transport(tls or _tls(),
                                               time.monotonic() + deadline)) as client:
            req = client.build_request("POST", url, headers=request_headers, content=body,
                                       extensions=extensions)
            resp = client.send(req, stream=True)
            resp.close()  # the body is not read: it is not ours to store
    except httpx.TimeoutException:
        return SendResult(False, None, "timeout", _ms(started))
    except httpx.HTTPError:
        return SendResult(False, None, "connection_failed", _ms(started))
    code = resp.status_code
    if 200 <= code < 300:
        return SendResult(True, code, None, _ms(started))
    kind = "redirect" if 300 <= code < 400 else "http_status"
    return SendResult(False, code, kind, _ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
