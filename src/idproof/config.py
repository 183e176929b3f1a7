"""The one settings tree: IDPROOF_ prefix, `__` nesting, SecretStr, and `*_FILE` secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "IDPROOF_"


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


class SmsSettings(BaseModel):
    """The SMS gateway of the workflow phone step (IDPROOF_SMS__PROVIDER, __URL, ...):
    `http` posts {to, from, text} with a bearer token; `log` (development) writes codes to
    the operator log only with __LOG_ENABLED=true; `none` refuses to send."""

    provider: Literal["none", "http", "log"] = "none"
    url: str | None = None
    token: SecretStr | None = None
    sender: str = Field("idproof", max_length=20)
    log_enabled: bool = False


class SecuritySettings(BaseModel):
    trusted_proxies: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    brute_force: BruteForceSettings = Field(default_factory=BruteForceSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    detectors: DetectorSettings = Field(default_factory=DetectorSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)


class MetricsSettings(BaseModel):
    """GET /metrics: served only to a scraper presenting this bearer token."""

    # Unset: /metrics answers 404. Use IDPROOF_METRICS__TOKEN_FILE; 32+ random characters.
    token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _long_enough(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("the metrics token must be at least 32 characters")
        return v


class LoggingSettings(BaseModel):
    level: str = "INFO"
    json_logs: bool = True
    # Field names whose values are personal data; redacted wherever they appear in a log event.
    pii_fields: list[str] = Field(default_factory=lambda: [
        "name", "first_name", "last_name", "full_name", "given_names", "surname",
        "date_of_birth", "dob", "birth_date", "document_number", "personal_number",
        "address", "email", "phone", "nationality", "mrz", "selfie", "image", "value",
    ])


class KmsSettings(BaseModel):
    """Where the key-encryption keys live: a local keyring file or a PKCS#11 HSM."""

    backend: Literal["local", "pkcs11"] = "local"
    keyring_path: Path | None = None  # local: default <data_dir>/keyring.json (0600)
    pkcs11_lib: str | None = None  # pkcs11: path of the vendor's PKCS#11 library
    pkcs11_token_label: str = "idproof"  # noqa: S105 - a token name, not a secret
    pkcs11_pin: SecretStr | None = None  # the user PIN; use IDPROOF_KMS__PKCS11_PIN_FILE
    pkcs11_label_prefix: str = "idproof"
    # Unwrapped data keys stay in memory this long at most: a key shredded by another
    # process stops working here within this time.
    dek_cache_seconds: float = Field(60.0, gt=0, le=900)
    dek_cache_size: int = Field(10_000, ge=1)


class JobsSettings(BaseModel):
    """The task queue: how soon a job lost with a killed worker is queued again."""

    stuck_after_seconds: int = Field(120, ge=1, le=86_400)
    # A submitted session whose jobs have not answered this long is decided without them
    # (the unfinished step fails with `processing_timeout`, which sends it to review).
    timeout_seconds: int = Field(600, ge=10, le=86_400)
    sweep_every_minutes: int = Field(1, ge=1, le=60)
    # Webhook deliveries run on threads of their own (a slow receiver never delays documents).
    webhook_threads: int = Field(2, ge=1, le=64)
    # Deployments that share one Redis between several idproof installs give each its own name.
    queue_name: str = Field("idproof", pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class WebhookSettings(BaseModel):
    """Webhook delivery: request timeout, retry schedule, the secret rotation grace period."""

    timeout_seconds: float = Field(10.0, gt=0, le=60)
    # One attempt in total (connect, TLS, request, response headers): a receiver trickling
    # bytes under timeout_seconds cannot hold a worker longer than this.
    deadline_seconds: float = Field(30.0, gt=0, le=300)
    # Seconds to wait after each failed attempt; after the last one the delivery has failed.
    schedule: list[float] = Field(default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 3600.0,
                                                           21_600.0, 86_400.0],
                                  min_length=0, max_length=20)
    secret_grace_hours: float = Field(24.0, ge=0, le=24 * 30)
    sweep_batch: int = Field(500, ge=1, le=10_000)
    # Settled events (delivered, failed, cancelled) and their attempt logs are kept this long.
    retention_days: int = Field(30, ge=1, le=3650)


class VaultSettings(BaseModel):
    detokenize_rate_limit: str = "60/minute"  # per API client, `limits` notation

    @field_validator("detokenize_rate_limit")
    @classmethod
    def _parse_limit(cls, v: str) -> str:
        from limits import parse

        parse(v)  # raises ValueError on a malformed limit
        return v


class AuditSettings(BaseModel):
    """The tamper-evident audit log: when signed checkpoints are made, and the log's name."""

    checkpoint_every_events: int = Field(1000, ge=0)  # 0: no event-count trigger
    checkpoint_every_seconds: float = Field(60.0, ge=0)  # 0: no periodic task
    # The checkpoint origin line and note key name; default "<public URL host>/idproof/audit".
    origin: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[^\s+]+$")
    # background: requests only queue their events; `idproof serve`/`worker` processes elect
    # one sequencer that integrates them into the tree every interval (or per full batch).
    # inline: every commit integrates its own events before returning (slower; no thread).
    sequencer: Literal["background", "inline"] = "background"
    sequencer_interval_seconds: float = Field(0.05, gt=0, le=10)
    sequencer_batch: int = Field(1000, ge=1, le=100_000)


class BlobSettings(BaseModel):
    """Where sealed captures live: a local folder (one machine), the database (PostgreSQL:
    every machine shares it) or an S3-compatible bucket. Only ciphertext is ever stored."""

    backend: Literal["local", "database", "s3"] = "local"
    path: Path | None = None  # local: default <data_dir>/blobs
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None  # MinIO, Ceph, ...; unset for AWS
    s3_region: str | None = None
    s3_prefix: str = ""
    s3_access_key_id: str | None = None  # unset: the usual AWS credential chain
    s3_secret_access_key: SecretStr | None = None


class PrivacySettings(BaseModel):
    """Retention: the daily purge (`idproof privacy purge` runs it by hand too)."""

    daily_purge: bool = True  # the periodic sweep runs the purge once a day
    purge_progress_every: int = Field(200, ge=1, le=100_000)  # a progress log line per N


class OperatorSettings(BaseModel):
    """Console operators: enrolment links, session lifetimes, step-up, sign-in brute force."""

    enrollment_ttl_hours: float = Field(24.0, gt=0, le=24 * 7)
    idle_minutes: float = Field(30.0, gt=0, le=24 * 60)
    absolute_hours: float = Field(12.0, gt=0, le=72)
    # Password checked, second factor pending: how long the half-signed-in session lives.
    mfa_pending_minutes: float = Field(10.0, gt=0, le=60)
    step_up_seconds: int = Field(300, ge=30, le=3600)
    slow_after: int = Field(5, ge=1)
    lock_after: int = Field(10, ge=2)
    lock_minutes: float = Field(15.0, gt=0)
    ip_slow_after: int = Field(20, ge=1)
    ip_lock_after: int = Field(50, ge=2)


class Settings(BaseSettings):
    """All configuration; built once at start-up and passed down."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore",
        case_sensitive=False,
    )

    data_dir: Path = Path("./data")
    database_url: SecretStr | None = None  # default: sqlite in data_dir
    key_database_url: SecretStr | None = None  # the key store; default: its own sqlite file
    redis_url: SecretStr | None = None
    # 32+ random bytes (base64) from which the client-secret pepper and the signing-key seal are
    # derived; default: generated on first run into <data_dir>/secret.key (0600).
    secret_key: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    env: str = "development"
    auth: AuthSettings = Field(default_factory=AuthSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    kms: KmsSettings = Field(default_factory=KmsSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    operators: OperatorSettings = Field(default_factory=OperatorSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    blobs: BlobSettings = Field(default_factory=BlobSettings)
    # IDPROOF_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true: webhook URLs may point to private, loopback
    # and other inward addresses and use plain http. Local development and tests only.
    webhook_allow_private_networks: bool = False
    # A file holding the passphrase that seals the local keyring (read by the KMS itself).
    master_key_file: Path | None = None

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def issuer(self) -> str:
        return (self.auth.issuer or self.public_url).rstrip("/")

    @property
    def token_endpoint(self) -> str:
        return f"{self.public_url}/oauth/token"

    def sqlalchemy_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'idproof.db').resolve()}"

    def key_store_url(self) -> str:
        if self.key_database_url is not None:
            return self.key_database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'keystore.db').resolve()}"


def _file_secrets(environ: dict[str, str]) -> dict[str, str]:
    """Resolve `IDPROOF_X_FILE=/path` into `IDPROOF_X=<file contents>` (Docker/systemd secrets)."""
    out: dict[str, str] = {}
    for key, path in environ.items():
        upper = key.upper()
        if not (upper.startswith(ENV_PREFIX) and upper.endswith("_FILE")):
            continue
        # IDPROOF_MASTER_KEY_FILE names a file the KMS reads itself; it is not a value.
        if upper == "IDPROOF_MASTER_KEY_FILE":
            continue
        target = upper[: -len("_FILE")]
        if target in {k.upper() for k in environ}:
            continue
        out[target] = Path(path).read_text().strip()
    return out


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and `*_FILE` secrets), then explicit overrides."""
    resolved = _file_secrets(dict(os.environ))
    if resolved:
        saved = {k: os.environ.get(k) for k in resolved}
        os.environ.update(resolved)
        try:
            return Settings(**overrides)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return Settings(**overrides)
