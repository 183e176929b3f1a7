"""The one settings tree: IDPROOF_ prefix, `__` nesting, SecretStr, and `*_FILE` secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from idproof.config_security import (
    AlertSettings,
    AuthSettings,
    BruteForceSettings,
    ClientRateLimits,
    DetectorSettings,
    IpRateLimits,
    MtlsSettings,
    RateLimitSettings,
    SecuritySettings,
    SmtpSettings,
)

# Re-exported: callers import every settings section from here.
__all__ = [
    "AlertSettings", "AuthSettings", "BruteForceSettings", "ClientRateLimits",
    "DetectorSettings", "IpRateLimits", "MtlsSettings", "RateLimitSettings",
    "SecuritySettings", "SmtpSettings",
]

ENV_PREFIX = "IDPROOF_"


class SmsSettings(BaseModel):
    """The SMS gateway of the workflow phone step (IDPROOF_SMS__PROVIDER, __URL, ...):
    `http` posts {to, from, text} with a bearer token; `twilio` sends through Twilio's
    Messaging API (__ACCOUNT_SID, __TOKEN: the auth token, __SENDER: a number or messaging
    service SID); `log` (development) writes codes to the operator log only with
    __LOG_ENABLED=true; `none` refuses to send."""

    provider: Literal["none", "http", "twilio", "log"] = "none"
    url: str | None = None  # http: the gateway; twilio: another API base URL (optional)
    token: SecretStr | None = None  # http: the bearer token; twilio: the auth token
    account_sid: str | None = Field(None, max_length=64)  # twilio
    sender: str = Field("idproof", max_length=40)
    log_enabled: bool = False


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
    # process: requests only queue their events; `idproof serve` runs one sequencer process
    # (`idproof audit sequencer`, restarted if it dies) that integrates them into the tree every
    # interval (or per full batch); `idproof worker` runs a standby thread.
    # background: the same, the sequencer a thread elected among the serve/worker processes.
    # inline: every commit integrates its own events before returning (slower; no thread).
    sequencer: Literal["process", "background", "inline"] = "process"
    sequencer_interval_seconds: float = Field(0.05, gt=0, le=10)
    # Events per integration transaction. None: 250 on SQLite, where the transaction holds
    # every process's writers off (append p99 6-8 ms instead of 10-11, ~5 % fewer/s), 1,000
    # on PostgreSQL, where it holds up no one.
    sequencer_batch: int | None = Field(None, ge=1, le=100_000)


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


class OidcRoleRule(BaseModel):
    """An identity-provider group and the role (and tenants, regions) it grants."""

    model_config = ConfigDict(extra="forbid")

    group: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=16)
    tenants: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)


class OidcSettings(BaseModel):
    """Operator single sign-on with OpenID Connect (authorization code + PKCE); off unless
    `issuer` and `client_id` are set. See docs/operators/sso.md."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = None
    label: str = "Sign in with your company account"
    scopes: str = "openid email profile groups"
    groups_claim: str = "groups"
    # First matching rule wins; a person in no listed group is refused.
    roles: list[OidcRoleRule] = Field(default_factory=list)
    # `amr` values (RFC 8176) that count as multi-factor at the provider; else MFA is local.
    mfa_amr: list[str] = Field(default_factory=lambda: ["mfa", "hwk"])
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "EdDSA"])
    clock_skew_seconds: int = Field(60, ge=0, le=300)
    timeout_seconds: float = Field(5.0, gt=0, le=60)

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)

class RegionStores(BaseModel):
    """One data region's own stores: its database, key store, blob store and KMS keyring."""

    model_config = ConfigDict(extra="forbid")

    database_url: SecretStr
    key_database_url: SecretStr | None = None  # default: the key store in database_url
    blobs: str = ""  # a folder (local backend) or s3://bucket[/prefix]; "" = in the database
    kms: str = ""  # the keyring path or the PKCS#11 token label of this region's KEK
    public_url: str | None = None  # where this region's API answers (for refused requests)


class ResidencySettings(BaseModel):
    """Data residency: the region this deployment serves and every region's stores. Unset
    `region` means one region, no checks (docs/operator/privacy.md#data-residency)."""

    region: str | None = None
    regions: dict[str, RegionStores] = Field(default_factory=dict)


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
    oidc: OidcSettings = Field(default_factory=OidcSettings)


class SignalsSettings(BaseModel):
    """Fraud-signal velocity: more other sessions than max_per_* in window_hours is a signal."""

    window_hours: float = Field(24.0, gt=0, le=24 * 90)
    max_per_ip: int = Field(10, ge=0)
    max_per_device: int = Field(3, ge=0)
    max_per_document: int = Field(3, ge=0)
    max_per_face: int = Field(3, ge=0)
    device_identities: int = Field(1, ge=0)  # other documents on one device: device_reused
    face_distance: float = Field(0.5, gt=0, le=1.2)  # 1:N face match (Euclidean, dlib)


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
    residency: ResidencySettings = Field(default_factory=ResidencySettings)
    signals: SignalsSettings = Field(default_factory=SignalsSettings)
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
