"""The security headers every response gets at the edge (a pure function)."""

from __future__ import annotations

import re

_NO_STORE_PREFIXES = ("/v1", "/oauth", "/.well-known/oauth")
_FRAME_ANCESTORS = re.compile(rb"frame-ancestors\s+([^;]*)")
_HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
_DEFAULT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_BASE = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))

Headers = list[tuple[bytes, bytes]]


def frames_refused(headers: Headers) -> bool:
    """True unless the response's own CSP lets some origin frame it."""
    for name, value in headers:
        if name.lower() == b"content-security-policy":
            m = _FRAME_ANCESTORS.search(value)
            if m is not None and m.group(1).strip() != b"'none'":
                return False
    return True


def with_security_headers(raw: Headers, *, path: str, rid: str, hsts: bool,
                          extra: Headers | None = None) -> Headers:
    """`raw` plus the edge's headers, none of which replaces one the response already set."""
    names = {k.lower() for k, _ in raw}
    added: Headers = [(b"x-request-id", rid.encode()), *_BASE]
    if frames_refused(raw):
        # Only where the CSP refuses framing too: DENY next to a frame-ancestors that
        # allows an origin contradicts it (and wins in older browsers).
        added.append((b"x-frame-options", b"DENY"))
    if hsts:
        added.append(_HSTS)
    if path.startswith(_NO_STORE_PREFIXES) and b"cache-control" not in names:
        added.append((b"cache-control", b"no-store"))
    if b"content-security-policy" not in names:
        added.append(_DEFAULT_CSP)
    added.extend(extra or ())
    return raw + [h for h in added if h[0] not in names]
