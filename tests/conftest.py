"""Shared fixtures: a migrated database per test on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pluggy import Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from idproof.bootstrap import Container, build_container
from idproof.config import Settings
from idproof.core.clock import FrozenClock
from idproof.crypto.kms.softhsm import SoftHsmToken, find_softhsm, init_token
from idproof.db.migrate import upgrade
from idproof.testing import FontMissing
from idproof.web.app import create_app
from tests.helpers import ApiClient
from tests.task_log import TaskLog

PG_URL = os.environ.get("IDPROOF_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("IDPROOF_TEST_REDIS_URL")
IN_CI = bool(os.environ.get("CI"))
TEST_SECRET = base64.b64encode(b"k" * 32).decode()


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _pg_admin_url() -> str:
    assert PG_URL is not None
    return make_url(PG_URL).set(drivername="postgresql+psycopg").render_as_string(
        hide_password=False)


def _pg_exec(sql: str) -> None:
    engine = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not PG_URL:
        unavailable(UNAVAILABLE["postgres"]())
    name = f"idproof_tmpl_{_worker()}_{uuid.uuid4().hex[:6]}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    url = make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield name
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database for this test."""
    if request.param == "sqlite":
        tmpl: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "data" / "idproof.db"
        target.parent.mkdir(mode=0o700)
        shutil.copyfile(tmpl, target)
        yield f"sqlite:///{target}"
        return
    tmpl_name: str = request.getfixturevalue("pg_template")
    name = f"idproof_t_{uuid.uuid4().hex[:12]}"
    _pg_exec(f'CREATE DATABASE "{name}" TEMPLATE "{tmpl_name}"')
    yield make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key=TEST_SECRET,
                    public_url="http://testserver")


@pytest.fixture
def task_queue(request: pytest.FixtureRequest) -> TaskLog | None:
    """With `@pytest.mark.hold_tasks("process_capture", ...)`, those tasks are held in a
    `TaskLog` for the test to run (or lose, as a killed worker would); others run as usual."""
    marker = request.node.get_closest_marker("hold_tasks")
    return TaskLog(*marker.args) if marker is not None else None


def _with_tasks(c: Container, tasks: TaskLog | None) -> Container:
    if tasks is not None:
        tasks.forward = c.jobs
    return c


@pytest.fixture
def container(settings: Settings, clock: FrozenClock,
              task_queue: TaskLog | None) -> Iterator[Container]:
    c = _with_tasks(build_container(settings, clock, tasks=task_queue), task_queue)
    # Most tests run no worker: a hosted upload would wait its full bound for a verdict.
    c.hosted.settle_seconds = 0.0
    c.keys.ensure_key()
    c.tenants.ensure("demo")
    yield c
    c.close()


@pytest.fixture
def colour_container(settings: Settings, clock: FrozenClock,
                     task_queue: TaskLog | None) -> Iterator[Container]:
    """The real services, with OCR and face engines that answer from the image's colour
    (tests/colour_engines.py): for tests of the session lifecycle, not of the engines."""
    from tests.colour_engines import ColourFaces, ColourReader

    c = _with_tasks(build_container(settings, clock, document_reader=ColourReader(),
                                    face_analyzer=ColourFaces(), tasks=task_queue), task_queue)
    c.keys.ensure_key()
    c.tenants.ensure("demo")
    yield c
    c.close()


@pytest.fixture
def api(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), client=("127.0.0.1", 50000),
                    raise_server_exceptions=False) as tc:
        yield tc


@pytest.fixture
def make_client(container: Container):  # type: ignore[no-untyped-def]
    def make(tenant: str = "demo", scopes: str = "identity.verify identity.read_status",
             **kw: object) -> ApiClient:
        if container.tenants.find(tenant) is None:
            container.tenants.create(tenant)
        issued = container.clients.create(tenant, scopes, **kw)  # type: ignore[arg-type]
        return ApiClient(issued.client.id, issued.secret, tenant)

    return make


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


# -- what a test needs from the machine ---------------------------------------------------------
# tools/dev-services.sh (run by `make test` and CI) installs or starts all of these. A test that
# needs one that is missing is skipped with one line saying what to install; with CI set it
# fails instead, so CI cannot go green by skipping.
_SETUP = "run tools/dev-services.sh as root (make test does)"


def _no_postgres() -> str | None:
    return None if PG_URL else (
        f"PostgreSQL is not available: {_SETUP}, or set IDPROOF_TEST_DATABASE_URL")


def _no_redis() -> str | None:
    return None if REDIS_URL else (
        f"Redis is not available: {_SETUP}, or set IDPROOF_TEST_REDIS_URL")


def _no_browser() -> str | None:
    return None if shutil.which("chromium") or Path("/usr/bin/chromium").exists() else (
        f"Chromium is not installed: apt-get install -y chromium ({_SETUP})")


def _no_softhsm() -> str | None:
    return None if find_softhsm() is not None else (
        f"SoftHSM2 is not installed: apt-get install -y softhsm2 ({_SETUP})")


def _no_gateway() -> str | None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        return f"nginx is not installed: {_GATEWAY_APT} ({_SETUP})"
    if not Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so").exists():
        return f"the nginx ModSecurity module is not installed: {_GATEWAY_APT} ({_SETUP})"
    if not Path("/usr/share/modsecurity-crs/rules").is_dir():
        return f"the OWASP CRS is not installed: {_GATEWAY_APT} ({_SETUP})"
    return None


_GATEWAY_APT = "apt-get install -y nginx libnginx-mod-http-modsecurity modsecurity-crs"
UNAVAILABLE = {"postgres": _no_postgres, "redis": _no_redis, "e2e": _no_browser,
               "softhsm": _no_softhsm, "gateway": _no_gateway}


def unavailable(reason: str | None) -> None:
    """Skip (or, in CI, fail) the current test for a missing machine resource."""
    if reason is None:
        return
    if _in_ci():
        pytest.fail(f"{reason}. It is required when CI is set.", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name, check in UNAVAILABLE.items():
        if item.get_closest_marker(name) is not None:
            unavailable(check())


def _font_missing_to_skip(outcome: Result[None]) -> None:
    exc = outcome.exception
    if isinstance(exc, FontMissing):
        # Documents are only ever drawn in OCR-B; without it the test cannot mean anything.
        outcome.force_exception(
            pytest.fail.Exception(f"{exc}. It is required when CI is set.", pytrace=False)
            if _in_ci() else pytest.skip.Exception(str(exc), _use_item_location=True))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    outcome = yield
    _font_missing_to_skip(outcome)  # type: ignore[arg-type]


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: object, request: object) -> Iterator[None]:
    outcome = yield
    _font_missing_to_skip(outcome)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsmToken]:
    """One initialised SoftHSM2 token per test process; tests isolate by label prefix.

    SoftHSM2 only sees tokens that exist when the library initialises, so one token per
    session (each test uses its own object-label prefix) beats re-initialising per test.
    """
    unavailable(_no_softhsm())
    previous = os.environ.get("SOFTHSM2_CONF")
    token = init_token(tmp_path_factory.mktemp("softhsm"), label="idproof-test")
    yield token
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
