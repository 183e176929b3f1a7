"""Residency on two PostgreSQL databases: an EU and a US deployment, each with its own
database, key store, blob folder and keyring; no row, key or blob of a tenant outside its
region, requests for another region's tenant refused, and the residency report proving it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from starlette.testclient import TestClient
from typer.testing import CliRunner

from idproof.bootstrap import Container, build_container
from idproof.cli.main import app as cli_app
from idproof.config import RegionStores, ResidencySettings, Settings
from idproof.core.clock import FrozenClock
from idproof.core.errors import Conflict
from idproof.privacy.residency import ResidencyMisconfigured
from idproof.privacy.residency_report import as_dict, residency_report
from idproof.web.app import create_app
from tests.colour_engines import ColourFaces, ColourReader, capture
from tests.conftest import TEST_SECRET, _pg_admin_url, _pg_exec
from tests.helpers import ApiClient, bearer, get_token
from tests.task_log import TaskLog

pytestmark = pytest.mark.postgres


@pytest.fixture
def region_dbs(pg_template: str) -> Iterator[dict[str, str]]:
    """Two migrated PostgreSQL databases, one per region."""
    from sqlalchemy.engine import make_url

    names = {r: f"idproof_{r}_{uuid.uuid4().hex[:10]}" for r in ("eu", "us")}
    for name in names.values():
        _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield {r: make_url(_pg_admin_url()).set(database=n).render_as_string(hide_password=False)
           for r, n in names.items()}
    for name in names.values():
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stores(tmp: Path, urls: dict[str, str]) -> ResidencySettings:
    return ResidencySettings(regions={r: RegionStores(
        database_url=urls[r], key_database_url=f"sqlite:///{tmp / r / 'keystore.db'}",
        blobs=str(tmp / r / "blobs"), kms=str(tmp / r / "keyring.json"),
        public_url=f"https://{r}.idproof.test") for r in urls})


def _settings(tmp: Path, urls: dict[str, str], region: str, db_region: str | None = None
              ) -> Settings:
    res = _stores(tmp, urls)
    res.region = region
    return Settings(data_dir=tmp / region, database_url=urls[db_region or region],
                    key_database_url=f"sqlite:///{tmp / region / 'keystore.db'}",
                    blobs={"path": tmp / region / "blobs"},
                    kms={"keyring_path": tmp / region / "keyring.json"},
                    secret_key=TEST_SECRET, public_url=f"https://{region}.idproof.test",
                    residency=res)


def _container(tmp: Path, urls: dict[str, str], region: str) -> Container:
    settings = _settings(tmp, urls, region)
    (tmp / region).mkdir(mode=0o700, exist_ok=True)
    tasks = TaskLog("process_capture")
    c = build_container(settings, FrozenClock(), document_reader=ColourReader(),
                        face_analyzer=ColourFaces(), tasks=tasks)
    tasks.forward = c.jobs
    HELD[id(c)] = tasks
    c.keys.ensure_key()
    return c


HELD: dict[int, TaskLog] = {}  # each container's held document jobs


def _verified(api: TestClient, c: Container, auth: dict[str, str], reference: str) -> str:
    jobs = HELD[id(c)].of("process_capture")
    sid = api.post("/v1/sessions", json={"reference": reference, "workflow": "document_only"},
                   headers=auth).json()["id"]
    r = api.post(f"/v1/sessions/{sid}/documents", data={"side": "front"},
                 files={"file": ("d.jpg", capture("good", 1), "image/jpeg")}, headers=auth)
    assert r.status_code == 202, r.text
    while jobs:
        c.captures.process(*jobs.pop(0))
    assert api.post(f"/v1/sessions/{sid}/submit", headers=auth).json()["status"] == "approved"
    return sid


def _tenant_rows(url: str, tenant_id: str) -> dict[str, int]:
    """Rows of `tenant_id` in every table with a tenant_id column of that database."""
    engine = create_engine(url)
    found: dict[str, int] = {}
    try:
        insp = inspect(engine)
        with engine.connect() as conn:
            for name in insp.get_table_names():
                if "tenant_id" in {c["name"] for c in insp.get_columns(name)}:
                    n = conn.execute(text(f'SELECT count(*) FROM "{name}" WHERE tenant_id = :t'),
                                     {"t": tenant_id}).scalar_one()
                    if n:
                        found[name] = n
    finally:
        engine.dispose()
    return found


def _client(api: TestClient, c: Container, tenant: str) -> dict[str, str]:
    issued = c.clients.create(tenant, "identity.verify identity.read_status")
    return bearer(get_token(api, ApiClient(issued.client.id, issued.secret, tenant)))


def test_two_regions_keep_each_tenants_data_home(region_dbs, tmp_path) -> None:
    eu = _container(tmp_path, region_dbs, "eu")
    us = _container(tmp_path, region_dbs, "us")
    try:
        eu_tenant = eu.tenants.create("acme-eu")  # the deployment's region by default
        us_tenant = us.tenants.create("acme-us", "us")
        eu.tenants.set_image_retention("acme-eu", 3600)  # images kept an hour after decision
        assert (eu_tenant.region, us_tenant.region) == ("eu", "us")
        with pytest.raises(Conflict) as exc:  # a US tenant is not created in the EU
            eu.tenants.create("wrong-place", "us")
        assert exc.value.code == "residency_mismatch"

        with TestClient(create_app(eu), raise_server_exceptions=False) as eu_api, \
                TestClient(create_app(us), raise_server_exceptions=False) as us_api:
            eu_auth = _client(eu_api, eu, "acme-eu")
            us_auth = _client(us_api, us, "acme-us")
            eu_sids = [_verified(eu_api, eu, eu_auth, f"eu-user-{i}") for i in range(2)]
            _verified(us_api, us, us_auth, "us-user-1")
            # the US client is unknown to the EU deployment: its token is not valid there
            assert eu_api.post("/v1/sessions", json={"reference": "x",
                                                     "workflow": "document_only"},
                               headers=us_auth).status_code == 401

        # -- no row of the EU tenant in the US database, and the other way round ---------
        eu_rows = _tenant_rows(region_dbs["eu"], eu_tenant.id)
        assert eu_rows["verification_sessions"] == 2 and eu_rows["session_captures"] >= 2
        assert _tenant_rows(region_dbs["us"], eu_tenant.id) == {}
        assert _tenant_rows(region_dbs["eu"], us_tenant.id) == {}
        assert _tenant_rows(region_dbs["us"], us_tenant.id)["verification_sessions"] == 1
        # keys and blobs: each region's own key store and folder
        assert _tenant_rows(f"sqlite:///{tmp_path / 'us' / 'keystore.db'}", eu_tenant.id) == {}
        assert _tenant_rows(f"sqlite:///{tmp_path / 'eu' / 'keystore.db'}",
                            eu_tenant.id)["subject_keys"] == 2
        assert any((tmp_path / "eu" / "blobs").rglob("*"))

        report = as_dict(residency_report(_stores(tmp_path, region_dbs)))
        assert report["ok"], report
        regions = {r["region"]: r for r in report["regions"]}
        eu_data = regions["eu"]["tenants"]["acme-eu"]["data"]
        assert eu_data["sessions"] == 2 and eu_data["data_keys"] == 2
        assert eu_data["blobs"] == 2  # one document front per session, in the EU folder
        assert "acme-eu" not in regions["us"]["tenants"]
        assert regions["us"]["tenants"]["acme-us"]["data"]["sessions"] == 1
        assert "***" in regions["eu"]["stores"]["database"]  # no password in the report
        assert eu_sids[0] not in json.dumps(report)  # counts, not ids

        _stray_tenant_refused_and_reported(eu, region_dbs, tmp_path)
    finally:
        eu.close()
        us.close()


def _stray_tenant_refused_and_reported(eu: Container, region_dbs: dict[str, str],
                                       tmp_path: Path) -> None:
    """A tenant of region us found in the EU database, with a client, a token and a hosted
    link from before residency was configured: no new token, its old token, its link and
    its browser session refused, nothing written, and the report shows it."""
    region = eu.settings.residency.region
    eu.settings.residency.region = None  # as an older deployment without residency did
    eu.tenants.home_region = None
    stray = eu.tenants.create("stray", "us")
    issued = eu.clients.create("stray", "identity.verify identity.read_status")
    creds = ApiClient(issued.client.id, issued.secret, "stray")
    with TestClient(create_app(eu), raise_server_exceptions=False) as eu_api:
        auth = bearer(get_token(eu_api, creds))
        made = eu_api.post("/v1/sessions", json={"reference": "s-0",
                                                 "workflow": "document_only"}, headers=auth)
        assert made.status_code == 201, made.text
        opened_link = "/verify/" + made.json()["url"].split("/verify/", 1)[1]
        assert eu_api.get(opened_link).status_code == 200  # a browser session from then
        unused_link = "/verify/" + eu_api.post(
            "/v1/sessions", json={"reference": "s-00", "workflow": "document_only"},
            headers=auth).json()["url"].split("/verify/", 1)[1]
        eu.settings.residency.region = region  # residency configured: the same browser
        eu.tenants.home_region = "eu"
        before = _tenant_rows(region_dbs["eu"], stray.id)
        # the token endpoint mints nothing for it: 421 problem, audited
        r = eu_api.post("/oauth/token", data={"grant_type": "client_credentials"},
                        auth=(creds.client_id, creds.secret))
        assert r.status_code == 421, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "residency_mismatch" and r.json()["region"] == "us"
        assert "access_token" not in r.text
        refused = eu.audit.list(action="token.refused")
        assert any(e.details == {"reason": "residency_mismatch"} for e in refused)
        # a token minted before: the API answers 421
        r = eu_api.post("/v1/sessions", json={"reference": "s-1",
                                              "workflow": "document_only"}, headers=auth)
        assert r.status_code == 421, r.text
        body = r.json()
        assert body["code"] == "residency_mismatch" and body["region"] == "us"
        assert "https://us.idproof.test" in body["detail"]
        # the hosted link: a 421 page, the link left unused; the old browser session: none
        page = eu_api.get(unused_link)
        assert page.status_code == 421 and "another region" in page.text
        assert "set-cookie" not in page.headers
        framed = eu_api.get(unused_link, headers={"sec-fetch-dest": "iframe",
                                                  "sec-fetch-site": "cross-site"})
        assert framed.status_code == 421
        assert eu_api.get("/verify/s").status_code == 401  # its cookie is not honoured
        assert eu_api.get(opened_link).status_code == 421
    after = _tenant_rows(region_dbs["eu"], stray.id)
    assert after["verification_sessions"] == before["verification_sessions"] == 2
    assert after.get("browser_sessions") == before.get("browser_sessions")
    bad = as_dict(residency_report(_stores(tmp_path, region_dbs)))
    assert not bad["ok"]
    assert any("tenant stray (region us) has data in region eu" in p
               for p in bad["regions"][0]["problems"])


def test_report_cli_and_refusal_to_start_outside_the_region(region_dbs, tmp_path,
                                                            monkeypatch) -> None:
    eu = _container(tmp_path, region_dbs, "eu")
    eu.tenants.create("acme-eu")
    eu.close()
    # an EU deployment pointed at the US database does not start
    wrong = _settings(tmp_path, region_dbs, "eu", db_region="us")
    with pytest.raises(ResidencyMisconfigured, match="database is not region eu's"):
        build_container(wrong)

    regions = {r: {"database_url": region_dbs[r], "blobs": str(tmp_path / r / "blobs"),
                   "key_database_url": f"sqlite:///{tmp_path / r / 'keystore.db'}"}
               for r in region_dbs}
    (tmp_path / "us").mkdir(exist_ok=True)
    monkeypatch.setenv("IDPROOF_RESIDENCY__REGIONS", json.dumps(regions))
    result = CliRunner().invoke(cli_app, ["privacy", "residency-report", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["regions"][0]["tenants"]["acme-eu"]["region"] == "eu"
    # a US tenant's row planted in the EU database: the report fails
    engine = create_engine(region_dbs["eu"])
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, name, region, created_at, "
                          "image_retention_seconds) VALUES ('ten_planted', 'planted', 'us', "
                          "now(), 0)"))
    engine.dispose()
    result = CliRunner().invoke(cli_app, ["privacy", "residency-report"])
    assert result.exit_code == 1, result.output
    assert "tenant planted (region us) has data in region eu" in result.output
