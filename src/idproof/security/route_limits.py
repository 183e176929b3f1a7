"""Rate limits per route group: per client, per IP, per session, per link, per operator."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial

import anyio.to_thread
import structlog
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from idproof.core.channel import Channel
from idproof.security.rate_limit import sync_storage

log = structlog.get_logger("idproof.security")
_NS = "idproof-rl"

# The API route groups; a client's override names one of these (`--rate sessions=600/minute`).
CLIENT_GROUPS: tuple[str, ...] = ("oauth", "sessions", "uploads", "webhooks", "audit", "vault",
                                  "api")
# Per-IP limits also cover the hosted pages and the console.
IP_GROUPS: tuple[str, ...] = (*CLIENT_GROUPS, "hosted", "console")
# Never limited: health checks and metrics (load balancers, scrapers), static assets, docs.
_EXEMPT = re.compile(r"^/(healthz|readyz|metrics|openapi\.json|docs|redoc|sdk/|verify/assets/|"
                     r"console/static/|\.well-known/)")
_API_UPLOAD = re.compile(r"^/v1/sessions/([^/]+)/(documents|selfie|liveness)$")
_API_OTP = re.compile(r"^/v1/sessions/([^/]+)/otp(/.*)?$")
_HOSTED_UPLOAD = re.compile(r"^/verify/s/(documents|selfie|liveness)$")
_HOSTED_OTP = re.compile(r"^/verify/s/otp(/.*)?$")
_HOSTED_PROBE = "/verify/s/pose"  # the live pose feedback, polled a few times a second
_HOSTED_LINK = re.compile(r"^/verify/([^/]+)$")


@dataclass(frozen=True, slots=True)
class Route:
    """Which limits a request falls under: its group, and the per-session step if any."""

    group: str
    step: str | None = None  # "uploads", "otp" or "probe": the per-session limit applies
    session: str | None = None  # the session id, for API uploads and OTP steps


def classify(path: str) -> Route | None:
    """The route group of a path, or None for paths that are never limited (pure)."""
    if _EXEMPT.match(path):
        return None
    if path.startswith("/oauth/"):
        return Route("oauth")
    if path.startswith("/v1/"):
        if m := _API_UPLOAD.match(path):
            return Route("uploads", "uploads", m.group(1))
        if m := _API_OTP.match(path):
            return Route("sessions", "otp", m.group(1))
        if path.startswith("/v1/sessions"):
            return Route("sessions")
        if path.startswith(("/v1/webhooks", "/v1/webhook-deliveries")):
            return Route("webhooks")
        if path.startswith("/v1/audit"):
            return Route("audit")
        if path.startswith("/v1/vault"):
            return Route("vault")
        return Route("api")
    if path.startswith("/verify/"):
        if _HOSTED_UPLOAD.match(path):
            return Route("hosted", "uploads")
        if _HOSTED_OTP.match(path):
            return Route("hosted", "otp")
        if path == _HOSTED_PROBE:
            return Route("hosted", "probe")
        return Route("hosted")
    if path == "/console" or path.startswith("/console/"):
        return Route("console")
    return None


def hosted_link(path: str) -> str | None:
    """The link token of `GET /verify/{link}` (its first open), else None."""
    m = _HOSTED_LINK.match(path)
    return m.group(1) if m and m.group(1) not in {"s", "assets"} else None


def opaque(value: str) -> str:
    """A storage key for a secret-bearing value (a link, a cookie): never stored as is."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def parse_overrides(specs: Iterable[str]) -> dict[str, str]:
    """`["sessions=600/minute", ...]` into {group: limit}; ValueError on a bad one."""
    out: dict[str, str] = {}
    for spec in specs:
        group, sep, limit = spec.partition("=")
        group, limit = group.strip(), limit.strip()
        if not sep or group not in CLIENT_GROUPS:
            raise ValueError(f"expected GROUP=LIMIT with GROUP one of {', '.join(CLIENT_GROUPS)}")
        if limit in {"", "default"}:
            out[group] = ""  # back to the default
            continue
        try:
            parse(limit)
        except ValueError:
            raise ValueError(f"not a rate limit: {limit!r} (e.g. 600/minute)") from None
        out[group] = limit
    return out


@lru_cache(maxsize=256)
def _item(limit: str) -> RateLimitItem:
    parsed = parse(limit)
    return type(parsed)(parsed.amount, parsed.multiples, namespace=_NS)


@dataclass(frozen=True, slots=True)
class Check:
    """One limit to apply: its policy name (in headers), limit string and key."""

    policy: str  # e.g. "sessions;client"
    limit: str
    key: str


@dataclass(slots=True)
class Outcome:
    """The result of a set of checks: allowed, or the seconds to wait, plus headers."""

    retry_after: int | None = None
    policy: str | None = None
    first: bool = False  # the first refusal of this policy and key in its window
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.retry_after is None


def _sf_policy(name: str, item: RateLimitItem) -> str:
    # draft-ietf-httpapi-ratelimit-headers: a structured-field list of named policies.
    return f'"{name}";q={item.amount};w={item.get_expiry()}'


class RouteLimiter:
    """Counts requests in a `limits` storage (memory, or Redis shared by every worker)."""

    def __init__(self, storage: Storage | str, *, enabled: bool = True) -> None:
        self.storage: Storage = (sync_storage(storage) if isinstance(storage, str)
                                 else storage)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self.enabled = enabled

    def check(self, checks: Iterable[Check], *, report: bool = False) -> Outcome:
        """Count one request against each check in turn; stop at the first one exceeded.

        On refusal the outcome carries `Retry-After`, `RateLimit-Policy` and `RateLimit` for
        the exceeded policy. With `report`, an allowed outcome carries the last check's
        `RateLimit-Policy` and `RateLimit` (one more storage round trip)."""
        out = Outcome()
        if not self.enabled:
            return out
        last: Check | None = None
        try:
            for c in checks:
                item = _item(c.limit)
                if not self._limiter.hit(item, c.policy, c.key):
                    stats = self._limiter.get_window_stats(item, c.policy, c.key)
                    retry = max(1, math.ceil(stats.reset_time - time.time()))
                    out.retry_after, out.policy = retry, c.policy
                    flag = f"{_NS}/refused/{c.policy}/{c.key}"
                    out.first = self.storage.incr(flag, item.get_expiry()) == 1
                    out.headers = [("Retry-After", str(retry)),
                                   ("RateLimit-Policy", _sf_policy(c.policy, item)),
                                   ("RateLimit", f'"{c.policy}";r=0;t={retry}')]
                    return out
                last = c
            if report and last is not None:
                item = _item(last.limit)
                stats = self._limiter.get_window_stats(item, last.policy, last.key)
                reset = max(0, math.ceil(stats.reset_time - time.time()))
                out.headers = [("RateLimit-Policy", _sf_policy(last.policy, item)),
                               ("RateLimit", f'"{last.policy}";r={stats.remaining};t={reset}')]
        except Exception as exc:  # a storage outage must not stop the API
            log.warning("rate_limit_storage_error", error=type(exc).__name__)
            return Outcome()
        return out

    async def check_async(self, checks: list[Check], *, report: bool = False) -> Outcome:
        """`check` for a coroutine, never waiting on a socket on the event loop: the memory
        storage is counted in place (no I/O), any other (Redis) in a worker thread, with the
        very same code and keys as `check`."""
        if not self.enabled:
            return Outcome()
        if isinstance(self.storage, MemoryStorage):
            return self.check(checks, report=report)
        return await anyio.to_thread.run_sync(partial(self.check, checks, report=report))

    def clear(self, check: Check) -> None:
        self._limiter.clear(_item(check.limit), check.policy, check.key)


def client_limit(group: str, defaults: Mapping[str, str], overrides: Mapping[str, str]) -> str:
    """The per-client limit of a group: the client's own override, else the default."""
    return overrides.get(group) or defaults[group]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request refused by a rate limit, for the audit hook (the first one of a window)."""

    policy: str
    ip: str
    client_id: str | None
    tenant_id: str | None
    request_id: str | None


class _Limits:
    """The subset of `RateLimitSettings` read here (security imports no config)."""

    enabled: bool
    session_uploads: str
    session_otp: str
    session_probes: str
    per_link: str
    per_operator: str


def _cookies(header: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out[name] = value
    return out


class RouteLimits:
    """The route-group limits as the edge and the bearer dependency apply them."""

    def __init__(self, limiter: RouteLimiter, settings: object,
                 refused: Channel[Refusal] | None = None) -> None:
        self.limiter = limiter
        self.settings = settings
        self._per_ip: dict[str, str] = dict(vars(settings.per_ip))  # type: ignore[attr-defined]
        self._per_client: dict[str, str] = dict(
            vars(settings.per_client))  # type: ignore[attr-defined]
        # Each refusal (audited by a listener; its failure never turns a 429 into a 500).
        self.refused = refused or Channel[Refusal]("rate_limit.refused")

    def _refused(self, refusal: Refusal) -> None:
        self.refused.publish(refusal)

    def edge_checks(self, path: str, headers: Mapping[str, str], ip: str) -> list[Check]:
        """Per IP for every group; per session on uploads, OTP steps and pose probes; per
        hosted link (but the probes, which have their own budget so that polling never uses
        up the pages'); per console operator (its signed-in session). Pure but for settings."""
        route = classify(path)
        if route is None:
            return []
        s: _Limits = self.settings  # type: ignore[assignment]
        checks = [Check(f"{route.group}.ip", self._per_ip[route.group], ip)]
        cookies = _cookies(headers.get("cookie")) if route.group in {"hosted", "console"} \
            else {}
        if route.group == "hosted":
            link = hosted_link(path)
            browser = cookies.get("idproof_hosted")
            # The link names its session before the dot; later pages carry its cookie.
            key = (link.split(".")[0] if link else (opaque(browser) if browser else None))
            if key and route.step != "probe":
                checks.append(Check("hosted.link", s.per_link, key))
        if route.step is not None:
            session = route.session or (opaque(cookies["idproof_hosted"])
                                        if cookies.get("idproof_hosted") else None)
            if session:
                limit = {"uploads": s.session_uploads, "otp": s.session_otp,
                         "probe": s.session_probes}[route.step]
                checks.append(Check(f"{route.step}.session", limit, session))
        if route.group == "console":
            cookie = cookies.get("__Host-idproof_console") or cookies.get("idproof_console")
            if cookie:
                checks.append(Check("console.operator", s.per_operator, opaque(cookie)))
        return checks

    async def at_edge_async(self, path: str, headers: Mapping[str, str], ip: str,
                            request_id: str | None) -> list[tuple[bytes, bytes]] | None:
        """None when allowed; else the 429's headers (the refusal is counted and hooked).

        Never blocks the event loop: Redis is counted in a worker thread (the memory storage
        in place), and a refusal's listeners (its audit event) run in one too."""
        if not self.limiter.enabled:
            return None
        checks = self.edge_checks(path, headers, ip)
        if not checks:
            return None
        out = await self.limiter.check_async(checks)
        if not out.allowed and out.first:
            await anyio.to_thread.run_sync(self._refused, Refusal(
                out.policy or "", ip, None, None, request_id))
        return None if out.allowed else _raw(out.headers)

    def _client_check(self, path: str, client_id: str,
                      overrides: Iterable[tuple[str, str]]) -> Check | None:
        route = classify(path)
        if route is None or route.group not in self._per_client or not self.limiter.enabled:
            return None
        limit = client_limit(route.group, self._per_client, dict(overrides))
        return Check(f"{route.group}.client", limit, client_id)

    async def for_client_async(self, path: str, client_id: str, tenant_id: str,
                               overrides: Iterable[tuple[str, str]], ip: str,
                               request_id: str | None) -> Outcome:
        """Count an authenticated request against its client's limit for the route group
        (without blocking the event loop, as `at_edge_async`)."""
        check = self._client_check(path, client_id, overrides)
        if check is None:
            return Outcome()
        out = await self.limiter.check_async([check], report=True)
        if not out.allowed and out.first:
            await anyio.to_thread.run_sync(self._refused, Refusal(
                out.policy or "", ip, client_id, tenant_id, request_id))
        return out


def _raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers]
