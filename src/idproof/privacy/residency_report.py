"""The residency report: per region, what each tenant has in which store, and what is misplaced."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, column, create_engine, func, inspect, select, table

from idproof.config import RegionStores, ResidencySettings

# Tables whose rows say what kind of data they are (every table with a tenant_id is counted).
KINDS = {
    "verification_sessions": "sessions", "session_captures": "images",
    "session_documents": "extracted_fields", "selfie_templates": "face_templates",
    "vault_tokens": "vault_entries", "privacy_consent_grants": "consents",
    "audit_events": "audit_events", "subject_keys": "data_keys",
}


@dataclass
class RegionReport:
    """What one region's stores hold, by tenant name; `problems` is empty when all is home."""

    region: str
    stores: dict[str, str]
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _engine(url: str) -> Engine:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)
                         if url.startswith("postgresql://") else url)


def _tenant_rows(engine: Engine) -> dict[str, tuple[str, str]]:
    """tenant id -> (name, region) as stored in this database."""
    t = table("tenants", column("id"), column("name"), column("region"))
    with engine.connect() as c:
        return {r.id: (r.name, r.region) for r in c.execute(select(t.c.id, t.c.name,
                                                                  t.c.region))}


def _counts(engine: Engine, skip: set[str]) -> dict[str, dict[str, int]]:
    """table -> tenant_id -> rows, for every table with a tenant_id column."""
    insp = inspect(engine)
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as c:
        for name in sorted(insp.get_table_names()):
            if name in skip or "tenant_id" not in {col["name"] for col in
                                                    insp.get_columns(name)}:
                continue
            t = table(name, column("tenant_id"))
            out[name] = {str(r[0]): int(r[1]) for r in c.execute(
                select(t.c.tenant_id, func.count()).group_by(t.c.tenant_id))
                if r[0] is not None}
    return out


def _blob_counts(engine: Engine, stores: RegionStores) -> dict[str, int]:
    """tenant_id -> live captures whose sealed bytes are present in this region's blob store."""
    from idproof.db.engine import Database
    from idproof.verification.blobs import BlobStore, LocalBlobStore

    caps = table("session_captures", column("tenant_id"), column("blob_key"),
                 column("deleted_at"))
    with engine.connect() as c:
        rows = list(c.execute(select(caps.c.tenant_id, caps.c.blob_key)
                              .where(caps.c.deleted_at.is_(None))))
    store: BlobStore
    db: Database | None = None
    if not stores.blobs:
        from idproof.verification.blobs_sql import DatabaseBlobStore

        db = Database(stores.database_url.get_secret_value())
        store = DatabaseBlobStore(db)
    elif stores.blobs.startswith(("http://", "https://")):
        from idproof.verification.blobs_s3 import S3BlobStore

        store = S3BlobStore.from_url(stores.blobs)
    else:
        store = LocalBlobStore(Path(stores.blobs))
    out: dict[str, int] = defaultdict(int)
    try:
        for tenant_id, key in rows:
            if key and store.exists(key):
                out[tenant_id] += 1
    finally:
        if db is not None:
            db.dispose()
    return dict(out)


def region_report(region: str, stores: RegionStores) -> RegionReport:
    """Open one region's database, key store and blob store and count what each tenant has."""
    report = RegionReport(region, {
        "database": _redacted(stores.database_url.get_secret_value()),
        "key_store": _redacted(stores.key_database_url.get_secret_value()
                               if stores.key_database_url else stores.database_url
                               .get_secret_value()),
        "blobs": _redacted(stores.blobs) if stores.blobs else "database",
        "kms": stores.kms or "(not declared)"})
    engine = _engine(stores.database_url.get_secret_value())
    key_engine = (_engine(stores.key_database_url.get_secret_value())
                  if stores.key_database_url else None)
    try:
        tenants = _tenant_rows(engine)
        counts = _counts(engine, skip={"tenants"})
        if key_engine is not None:
            counts.update(_counts(key_engine, skip=set()))
        blobs = _blob_counts(engine, stores)
    finally:
        engine.dispose()
        if key_engine is not None:
            key_engine.dispose()
    for tid, (name, home) in tenants.items():
        kinds: dict[str, int] = {}
        for tname, per in counts.items():
            if per.get(tid):
                kinds[KINDS.get(tname, tname)] = per[tid]
        kinds["blobs"] = blobs.get(tid, 0)
        report.tenants[name] = {"id": tid, "region": home, "data": kinds}
        if home != region:
            report.problems.append(f"tenant {name} (region {home}) has data in region {region}")
    for tname, per in counts.items():
        for tid, n in per.items():
            if tid not in tenants:
                report.problems.append(
                    f"{n} row(s) of {tname} belong to tenant {tid}, not a tenant of {region}")
    return report


def _redacted(url: str) -> str:
    """A store's address without its password (the report is shown and archived)."""
    if "://" not in url or "@" not in url.split("://", 1)[1].split("/", 1)[0]:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.split("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def residency_report(cfg: ResidencySettings) -> list[RegionReport]:
    """Every declared region's report, plus a problem for a tenant name in two regions."""
    reports = [region_report(name, stores) for name, stores in sorted(cfg.regions.items())]
    seen: dict[str, str] = {}
    for rep in reports:
        for name in rep.tenants:
            if name in seen:
                rep.problems.append(f"tenant {name} exists in regions {seen[name]} and "
                                    f"{rep.region}")
            seen.setdefault(name, rep.region)
    return reports


def as_dict(reports: list[RegionReport]) -> dict[str, Any]:
    return {"regions": [{"region": r.region, "stores": r.stores, "tenants": r.tenants,
                         "problems": r.problems} for r in reports],
            "ok": not any(r.problems for r in reports)}
