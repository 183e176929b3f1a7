"""Settings of authentication and threat protection: tokens, brute force, rate limits,
detectors, alerts and their SMTP server, mTLS."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr


class AuthSettings(BaseModel):
    """OAuth2 authorization server behaviour."""

    issuer: str | None = None  # defaults to public_url
    audience: str = "idproof-api"
    token_ttl_seconds: int = Field(600, ge=60, le=900)
    leeway_seconds: int = Field(30, ge=0, le=120)
    max_token_bytes: int = Field(4096, ge=512, le=16384)
    assertion_max_lifetime_seconds: int = Field(300, ge=30, le=300)
    # How stale each process's view of revocations and of clients' status may be: a revoked
    # token or a disabled client is refused by every process within this time.
    revocation_cache_seconds: float = Field(0.5, ge=0, le=10)
    client_cache_seconds: float = Field(0.5, ge=0, le=10)
    # Distinct access tokens whose signature each process remembers having checked (LRU).
    bearer_cache_size: int = Field(10_000, ge=0, le=1_000_000)
    # Serve the usual grant (client and secret cached) on the event loop, its audit INSERT
    # batched with other requests' (auth/oauth.py: token_cached); off: every grant runs the
    # full use case in a thread. Both audit and count failures alike; a switch to compare them.
    grant_on_event_loop: bool = True


class BruteForceSettings(BaseModel):
    """Brute-force limits (see docs/security-model.md for what each one blocks)."""

    # Failed client authentications from one IP before it is blocked on /oauth and /v1.
    max_failures: int = Field(20, ge=1)
    window_seconds: int = Field(60, ge=1)
    block_seconds: int = Field(900, ge=1)
    # Failed authentications of one existing client, from any address, before that client's
    # authentication is blocked for block_seconds (catches guessing spread over many IPs).
    client_max_failures: int = Field(100, ge=1)
    client_window_seconds: int = Field(600, ge=1)
    # Rejected bearer tokens per token issuer before further invalid ones answer 429; this
    # never blocks a valid token, another credential, an IP, health checks or hosted pages.
    bearer_max_failures: int = Field(300, ge=1)
    bearer_window_seconds: int = Field(60, ge=1)


def _valid_limit(v: str) -> str:
    from limits import parse

    parse(v)  # raises ValueError on a malformed limit
    return v


Limit = Annotated[str, AfterValidator(_valid_limit)]


class ClientRateLimits(BaseModel):
    """Requests per API client and route group (`limits` notation); a client's own override
    (`idproof clients update ID --rate sessions=600/minute`) wins."""

    oauth: Limit = "300/minute"
    sessions: Limit = "600/minute"
    uploads: Limit = "600/minute"
    webhooks: Limit = "300/minute"
    audit: Limit = "600/minute"
    vault: Limit = "600/minute"
    api: Limit = "1200/minute"


class IpRateLimits(BaseModel):
    """Requests per client IP and route group, the hosted pages and the console included."""

    oauth: Limit = "600/minute"
    sessions: Limit = "1200/minute"
    uploads: Limit = "1200/minute"
    webhooks: Limit = "600/minute"
    audit: Limit = "1200/minute"
    vault: Limit = "1200/minute"
    api: Limit = "2400/minute"
    hosted: Limit = "600/minute"
    console: Limit = "600/minute"


class RateLimitSettings(BaseModel):
    """Rate limits per route group (docs/api/rate-limits.md). Health checks are never limited."""

    enabled: bool = True
    per_client: ClientRateLimits = Field(default_factory=ClientRateLimits)
    per_ip: IpRateLimits = Field(default_factory=IpRateLimits)
    # Per verification session: capture uploads and one-time-code steps (API and hosted).
    session_uploads: Limit = "30/minute"
    session_otp: Limit = "10/minute"
    # Per hosted session: the live pose feedback of the selfie and video pages (the page asks
    # about 4 times a second while the camera runs; beyond this it falls back to its own checks).
    session_probes: Limit = "300/minute"
    # Per hosted link (one person's browser) and per console operator (signed-in session).
    per_link: Limit = "120/minute"
    per_operator: Limit = "600/minute"


class DetectorSettings(BaseModel):
    """Anomaly thresholds (0 turns a detector off); see docs/security-model.md."""

    # Failed client authentications (and attempts refused while blocked) per IP per window:
    # the IP is blocked for the block period and an alert raised.
    auth_failures_per_ip: int = Field(100, ge=0)
    auth_failures_window_seconds: int = Field(60, ge=1)
    # PII reads or detokenizations of one client or operator in a day: an alert above
    # factor x the median of its last baseline_days days, and at least minimum.
    pii_baseline_days: int = Field(7, ge=1, le=90)
    pii_baseline_factor: float = Field(10.0, gt=1)
    pii_baseline_minimum: int = Field(50, ge=1)
    webhook_failures_per_endpoint: int = Field(50, ge=0)  # per hour
    malformed_uploads_per_ip: int = Field(30, ge=0)  # per 10 minutes
    sessions_per_client_per_minute: int = Field(600, ge=0)


class AlertSettings(BaseModel):
    """Where security alerts go besides the audit log and the metrics counter."""

    webhook: bool = True  # a `security.alert` webhook to the tenant's subscribed endpoints
    # The tenant's admins' addresses, by tenant name ({"demo": ["sec@demo.example"]});
    # `platform` receives alerts that belong to no tenant. Needs IDPROOF_SMTP__HOST.
    email_to: dict[str, list[str]] = Field(default_factory=dict)


class SmtpSettings(BaseModel):
    """The SMTP relay for alert e-mails (IDPROOF_SMTP__HOST, __PORT, __FROM, ...)."""

    model_config = ConfigDict(populate_by_name=True)

    host: str | None = None  # unset: no e-mail
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field("idproof@localhost", alias="from")
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False


class MtlsSettings(BaseModel):
    """Client certificates forwarded by a TLS-terminating gateway (see docs/security-model.md)."""

    # Off by default. When set (e.g. "X-SSL-Client-Cert", nginx's $ssl_client_escaped_cert),
    # the header is read only from a peer in trusted_proxies; from anyone else it is ignored.
    client_cert_header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{1,64}$")


class SecuritySettings(BaseModel):
    trusted_proxies: list[str] = Field(default_factory=list)
    mtls: MtlsSettings = Field(default_factory=MtlsSettings)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    brute_force: BruteForceSettings = Field(default_factory=BruteForceSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    detectors: DetectorSettings = Field(default_factory=DetectorSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
