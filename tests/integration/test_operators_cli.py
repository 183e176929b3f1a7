"""`idproof operators create|list|disable|reset-mfa`, and migration 0009 matching the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from idproof.cli.main import app
from idproof.db.migrate import alembic_config
from idproof.schema import metadata

runner = CliRunner()
TABLES = {"operators", "operator_enrollments", "operator_recovery_codes", "operator_passkeys",
          "operator_sessions"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("IDPROOF_DATA_DIR", str(data))
    monkeypatch.setenv("IDPROOF_PUBLIC_URL", "https://idproof.example")
    monkeypatch.delenv("IDPROOF_DATABASE_URL", raising=False)
    return data


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_create_list_disable_reset(env: Path) -> None:
    owner = json.loads(run("operators", "create", "--email", "Boss@Example.com", "--role",
                           "owner", "--json"))
    assert set(owner) == {"id", "email", "role", "tenants", "enrollment_url"}
    assert owner["email"] == "boss@example.com" and owner["role"] == "owner"
    assert owner["tenants"] == []
    assert owner["enrollment_url"].startswith("https://idproof.example/console/enroll/")

    run("tenants", "create", "acme")
    rev = json.loads(run("operators", "create", "--email", "rev@example.com", "--role",
                         "reviewer", "--tenant", "acme", "--tenant", "demo", "--json"))
    assert rev["tenants"] == ["acme", "demo"]
    plain = run("operators", "create", "--email", "dev@example.com", "--role", "developer")
    assert "/console/enroll/" in plain

    listed = json.loads(run("operators", "list", "--json"))
    assert [o["role"] for o in listed] == ["owner", "reviewer", "developer"]
    assert all(o["status"] == "pending" for o in listed)
    assert "rev@example.com" in run("operators", "list")

    assert "disabled" in run("operators", "disable", rev["id"])
    listed = {o["id"]: o for o in json.loads(run("operators", "list", "--json"))}
    assert listed[rev["id"]]["status"] == "disabled"

    again = json.loads(run("operators", "reset-mfa", "boss@example.com", "--json"))
    assert again["id"] == owner["id"]
    assert again["enrollment_url"] != owner["enrollment_url"]


@pytest.mark.parametrize("args", [
    ["--email", "x@example.com", "--role", "emperor"],
    ["--email", "not-an-email", "--role", "admin"],
    ["--email", "x@example.com", "--role", "admin", "--tenant", "nope"],
    ["--email", "x@example.com", "--role", "owner", "--tenant", "demo"],
])
def test_bad_input(env: Path, args: list[str]) -> None:
    res = runner.invoke(app, ["operators", "create", *args])
    assert res.exit_code == 2
    listed = json.loads(run("operators", "list", "--json"))
    assert listed == []


def test_duplicate_email_and_unknown_operator(env: Path) -> None:
    run("operators", "create", "--email", "a@example.com", "--role", "analyst")
    res = runner.invoke(app, ["operators", "create", "--email", "A@example.com", "--role",
                              "admin"])
    assert res.exit_code == 2 and "operator_exists" in res.output
    res = runner.invoke(app, ["operators", "disable", "opr_nope"])
    assert res.exit_code == 2 and "operator_not_found" in res.output


def test_models_match_migration(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(ctx, metadata) if "operator" in str(d)]
            assert diff == []
            assert set(inspect(conn).get_table_names()) >= TABLES
    finally:
        engine.dispose()
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0008")
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert not set(inspect(conn).get_table_names()) & TABLES
    finally:
        engine.dispose()
    command.upgrade(cfg, "head")
