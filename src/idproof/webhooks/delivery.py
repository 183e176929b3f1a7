"""Sending one signed request to a checked address: pinned IP, Host/SNI of the URL, no redirects.

The connection goes to the IP the SSRF guard checked; the Host header and TLS (SNI and
certificate verification) use the URL's host name, so https still proves it is talking to
that host while DNS is never consulted a second time.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass

import httpx

from idproof.webhooks.ssrf import Target

USER_AGENT = "idproof-webhooks/1"
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


def _pinned_url(target: Target) -> httpx.URL:
    return httpx.URL(target.url).copy_with(host=target.ip, port=target.port)


def send(target: Target, headers: dict[str, str], body: bytes, *,
         timeout: float, tls: ssl.SSLContext | None = None) -> SendResult:
    """POST `body` to the pinned address. 2xx is success; anything else (3xx too) a failure."""
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
                          verify=tls or _tls()) as client:
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
