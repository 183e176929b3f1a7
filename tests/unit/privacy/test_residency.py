"""Residency logic without a database: store comparison, start-up problems, the request guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from idproof.config import RegionStores, ResidencySettings, Settings
from idproof.privacy.residency import (
    ResidencyGuard,
    ResidencyMismatch,
    check_deployment,
    deployment_problems,
    same_url,
)
from idproof.privacy.residency_report import _redacted

EU_DB = "postgresql+psycopg://idproof:pw@db.eu:5432/idproof"
US_DB = "postgresql+psycopg://idproof:pw@db.us:5432/idproof"


def _settings(tmp: Path, db: str, region: str | None = "eu", **stores: str) -> Settings:
    declared = {"database_url": EU_DB, "blobs": str(tmp / "blobs"),
                "kms": str(tmp / "keyring.json"), **stores}
    return Settings(data_dir=tmp, database_url=db, residency=ResidencySettings(
        region=region, regions={"eu": RegionStores.model_validate(declared),
                                "us": RegionStores(database_url=US_DB)}))


def test_same_url_ignores_driver_and_password() -> None:
    assert same_url(EU_DB, "postgresql://idproof:other@db.eu:5432/idproof")
    assert not same_url(EU_DB, US_DB)
    assert not same_url(EU_DB, "postgresql://idproof@db.eu:5432/idproof_copy")


def test_deployment_problems(tmp_path: Path) -> None:
    assert deployment_problems(_settings(tmp_path, EU_DB)) == []
    assert deployment_problems(_settings(tmp_path, US_DB, region=None)) == []  # off
    assert deployment_problems(_settings(tmp_path, US_DB)) == [
        "the database is not region eu's"]
    assert deployment_problems(_settings(tmp_path, EU_DB, blobs="/srv/us-blobs")) == [
        "the blob store is not region eu's"]
    assert deployment_problems(_settings(tmp_path, EU_DB, kms="/srv/us-keyring.json")) == [
        "the KMS key is not region eu's"]
    assert deployment_problems(_settings(tmp_path, EU_DB, key_database_url=US_DB)) == [
        "the key store is not region eu's"]
    unknown = _settings(tmp_path, EU_DB)
    unknown.residency.region = "ch"
    assert "not declared" in deployment_problems(unknown)[0]
    with pytest.raises(RuntimeError, match="database is not region eu's") as exc:
        check_deployment(_settings(tmp_path, US_DB))
    assert "pw" not in str(exc.value)  # no password in the refusal


def test_guard_refuses_other_regions_tenants() -> None:
    cfg = ResidencySettings(region="eu", regions={
        "eu": RegionStores(database_url=EU_DB),
        "us": RegionStores(database_url=US_DB, public_url="https://us.example")})
    lookups: list[str] = []
    regions = {"ten_eu": "eu", "ten_us": "us"}

    def region_of(tenant_id: str) -> str | None:
        lookups.append(tenant_id)
        return regions.get(tenant_id)

    guard = ResidencyGuard(cfg, region_of)
    guard.check("ten_eu")
    guard.check("ten_unknown")  # unknown tenants are refused by authentication, not here
    with pytest.raises(ResidencyMismatch) as exc:
        guard.check("ten_us")
    assert (exc.value.status, exc.value.code) == (421, "residency_mismatch")
    assert exc.value.extra == {"region": "us"} and "https://us.example" in exc.value.detail
    with pytest.raises(ResidencyMismatch):
        guard.check("ten_us")
    assert lookups.count("ten_us") == 1  # cached
    ResidencyGuard(ResidencySettings(), region_of).check("ten_us")  # residency off


def test_report_hides_passwords() -> None:
    assert _redacted(EU_DB) == "postgresql+psycopg://idproof:***@db.eu:5432/idproof"
    assert _redacted("https://KEY:SECRET@s3.example/bucket") == (
        "https://KEY:***@s3.example/bucket")
    assert _redacted("/srv/blobs") == "/srv/blobs"
