"""structlog JSON logging with a redaction processor for secrets, tokens and personal data."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
SECRET_KEYS = frozenset({
    "authorization", "password", "secret", "client_secret", "token", "access_token",
    "refresh_token", "client_assertion", "assertion", "cookie", "set-cookie", "api_key",
    "private_key", "pepper", "otp", "totp",
})
# Values that look like credentials wherever they appear (inside messages too).
_PATTERNS = [
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # JWT / JWS
    re.compile(r"idpsk_[A-Za-z0-9_-]{8,}"),  # client secrets
    re.compile(r"whsec_[A-Za-z0-9+/=_-]{8,}"),  # webhook secrets
    re.compile(r"(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
]
# Hosted links (`/verify/{session id}.{MAC}`) and anything shaped like them (an id, a dot, a
# long base64url secret) are credentials: keep the id for debugging, drop the secret part.
_ID_DOT_SECRET = re.compile(
    r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_.-])")


# Every field of every log line is scrubbed, and five substitutions per field were a third of
# an access-log line's CPU. Most fields hold nothing secret: one search of all the patterns at
# once (and none for text shorter than the shortest match, a 13-character JWT) clears them.
_SHORTEST_MATCH = 13
_ANY = re.compile("|".join(f"(?:{p.pattern})" for p in (*_PATTERNS, _ID_DOT_SECRET)))


def scrub_text(text: str) -> str:
    if len(text) < _SHORTEST_MATCH or _ANY.search(text) is None:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return _ID_DOT_SECRET.sub(rf"\1.{REDACTED}", text)


class Redactor:
    """A structlog processor: drops values of sensitive keys and credential-shaped strings."""

    def __init__(self, pii_fields: Iterable[str]) -> None:
        self._keys = SECRET_KEYS | {f.lower() for f in pii_fields}

    def _clean(self, value: Any, depth: int = 0) -> Any:
        if depth > 6:
            return REDACTED
        if isinstance(value, str):
            return scrub_text(value)
        if isinstance(value, dict):
            return {k: (REDACTED if str(k).lower() in self._keys else self._clean(v, depth + 1))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v, depth + 1) for v in value]
        return value

    def __call__(self, _logger: Any, _method: str,
                 event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if key.lower() in self._keys:
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self._clean(event_dict[key])
        return event_dict


def configure_logging(level: str = "INFO", pii_fields: Iterable[str] = (),
                      json_logs: bool = True, stream: Any = None) -> None:
    """Route structlog and stdlib logging through one redacting JSON renderer."""
    redactor = Redactor(pii_fields)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redactor,
    ]
    renderer = (structlog.processors.JSONRenderer() if json_logs
                else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        # Drop events below the level before any processor (redaction regexes) runs.
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer])
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_idproof", False):
            root.removeHandler(h)
    handler._idproof = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's access log prints the raw request line (paths, query strings); ours is scrubbed.
    logging.getLogger("uvicorn.access").disabled = True
