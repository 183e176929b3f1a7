"""Data residency: a deployment holds its own region's data only and refuses other tenants."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import make_url

from idproof.config import RegionStores, ResidencySettings, Settings
from idproof.core.errors import IdproofError

# (tenant_id) -> the tenant's region, or None for an unknown tenant (bootstrap reads tenants).
RegionOf = Callable[[str], str | None]


class ResidencyMismatch(IdproofError):
    """421 Misdirected Request: this tenant's data lives in another region's deployment."""

    status = 421
    code = "residency_mismatch"
    title = "This tenant is served by another region"


class ResidencyMisconfigured(RuntimeError):
    """The deployment's stores are not the ones declared for its region: it must not start."""


def same_url(a: str, b: str) -> bool:
    """Two database URLs name the same database (driver spelling and password aside)."""
    ua, ub = make_url(a), make_url(b)
    return (ua.get_backend_name(), ua.host, ua.port, ua.database, ua.username) == (
        ub.get_backend_name(), ub.host, ub.port, ub.database, ub.username)


def blob_location(settings: Settings) -> str:
    """Where this deployment writes blobs, in the spelling of `RegionStores.blobs`."""
    cfg = settings.blobs
    if cfg.backend == "database":
        return ""
    if cfg.backend == "s3":
        return f"s3://{cfg.s3_bucket}/{cfg.s3_prefix}".rstrip("/")
    return str((cfg.path or settings.data_dir / "blobs").resolve())


def _declared_blobs(stores: RegionStores) -> str:
    text = stores.blobs.strip()
    if text.startswith("s3://") or not text:
        return text.rstrip("/")
    if text.startswith(("http://", "https://")):
        # http(s)://KEY:SECRET@host/bucket/prefix: compare bucket and prefix only
        path = text.split("://", 1)[1].split("/", 1)
        return ("s3://" + path[1]).rstrip("/") if len(path) > 1 else text
    from pathlib import Path

    return str(Path(text).resolve())


def deployment_problems(settings: Settings) -> list[str]:
    """Why this deployment's stores are not its region's (empty: they are). No secrets."""
    res = settings.residency
    if res.region is None:
        return []
    stores = res.regions.get(res.region)
    if stores is None:
        return [f"region {res.region!r} is not declared in IDPROOF_RESIDENCY__REGIONS"]
    problems = []
    if not same_url(settings.sqlalchemy_url(), stores.database_url.get_secret_value()):
        problems.append(f"the database is not region {res.region}'s")
    if stores.key_database_url is not None and not same_url(
            settings.key_store_url(), stores.key_database_url.get_secret_value()):
        problems.append(f"the key store is not region {res.region}'s")
    declared = _declared_blobs(stores)
    if declared != blob_location(settings):
        problems.append(f"the blob store is not region {res.region}'s")
    if stores.kms and stores.kms not in _kms_names(settings):
        problems.append(f"the KMS key is not region {res.region}'s")
    return problems


def _kms_names(settings: Settings) -> set[str]:
    kms = settings.kms
    if kms.backend == "pkcs11":
        return {kms.pkcs11_token_label}
    path = kms.keyring_path or settings.data_dir / "keyring.json"
    return {str(path), str(path.resolve())}


def check_deployment(settings: Settings) -> None:
    """Refuse to start a deployment whose stores lie outside its declared region."""
    problems = deployment_problems(settings)
    if problems:
        raise ResidencyMisconfigured("residency: " + "; ".join(problems))


class ResidencyGuard:
    """Refuses requests for tenants whose region is not this deployment's (421)."""

    def __init__(self, cfg: ResidencySettings, region_of: RegionOf,
                 cache_seconds: float = 30.0) -> None:
        self._cfg = cfg
        self._region_of = region_of
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._ttl = cache_seconds
        self._lock = threading.Lock()

    @property
    def region(self) -> str | None:
        return self._cfg.region

    def _lookup(self, tenant_id: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(tenant_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        region = self._region_of(tenant_id)
        with self._lock:
            self._cache[tenant_id] = (now, region)
        return region

    def check(self, tenant_id: str) -> None:
        """Pass, or raise `ResidencyMismatch` naming the tenant's region (no tenant data)."""
        if self._cfg.region is None:
            return
        region = self._lookup(tenant_id)
        if region is None or region == self._cfg.region:
            return
        stores = self._cfg.regions.get(region)
        where = f" at {stores.public_url}" if stores is not None and stores.public_url else ""
        raise ResidencyMismatch(
            f"this tenant's data lives in region {region}; call that region's API{where}",
            code="residency_mismatch", extra={"region": region})
