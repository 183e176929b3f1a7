"""`idproof` commands: serve, db, tenants, clients, keys, audit, operators."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from idproof.bootstrap import Container, prepare, start_background_services
from idproof.cli.audit import audit_app
from idproof.cli.branding import branding_app
from idproof.cli.keys import keys_app
from idproof.cli.lifecycle import command_settings, exit_after_cleanup
from idproof.cli.mtls_clients import clients_tls_command, tls_identity
from idproof.cli.operators import operators_app
from idproof.cli.privacy import privacy_app
from idproof.cli.screening import screening_app
from idproof.cli.security import security_app
from idproof.cli.sequencer_process import SequencerProcess
from idproof.cli.signals import signals_app
from idproof.cli.workflows import workflows_app
from idproof.config import Settings, load_settings
from idproof.core.errors import IdproofError

app = typer.Typer(help="idproof: self-hosted identity verification.", no_args_is_help=True,
                  add_completion=False)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (one per business using the service).",
                          no_args_is_help=True)
clients_app = typer.Typer(help="OAuth2 API clients.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(clients_app, name="clients")
clients_app.command("tls")(clients_tls_command)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(operators_app, name="operators")
app.add_typer(screening_app, name="screening")
app.add_typer(signals_app, name="signals")
app.add_typer(branding_app, name="branding")
app.add_typer(privacy_app, name="privacy")
app.add_typer(security_app, name="security")
app.add_typer(workflows_app, name="workflows")

# Piped output (scripts, CI logs) gets wide lines instead of wrapped ids.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)
_DURATION = re.compile(r"^(\d+)([smhd])$")


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if not m:
        raise typer.BadParameter("use a number and a unit: 30s, 15m, 24h, 7d")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])


def _container() -> Container:
    os.umask(0o077)
    return prepare(load_settings())


def _fail(exc: IdproofError) -> None:
    err.print(f"[red]error:[/red] {exc.detail} ({exc.code})")
    raise typer.Exit(2)


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port")] = 8000,
          workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
          jobs: Annotated[bool, typer.Option(help="Run the job consumer in this process "
                                                  "(single worker only)")] = True,
          tls_cert: Annotated[str | None, typer.Option(help="Serve HTTPS: certificate "
                                                            "chain (PEM)")] = None,
          tls_key: Annotated[str | None, typer.Option(help="The certificate's private key "
                                                           "(PEM)")] = None,
          client_ca: Annotated[str | None, typer.Option(help="Request client certificates "
                                                             "chaining to these CAs (mTLS, "
                                                             "PEM)")] = None) -> None:
    """Initialise the data dir if needed and serve the API (and, by default, the jobs)."""
    import uvicorn

    from idproof.cli.tls import ssl_options
    from idproof.web.app import create_app
    from idproof.web.heap import freeze_startup_heap

    try:
        tls = ssl_options(tls_cert, tls_key, client_ca)
    except ValueError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from None
    settings = command_settings()
    container = prepare(settings)
    if not container.clients.list():
        err.print("No API client yet. Create one with: idproof clients create --tenant demo "
                  '--scopes "identity.verify identity.read_status"')
    log_config = None  # our structlog handler is already on the root logger
    if workers > 1:
        container.close()
        if jobs:
            err.print("With several workers, run the job consumer apart: idproof worker")
        _serve_workers(settings, host, port, workers, tls)
        return
    if jobs:
        container.jobs.start_consumer()
    start_background_services(container, serving=True)
    with exit_after_cleanup("serve"):
        child = _sequencer_process(settings)
        served = create_app(container)
        freeze_startup_heap()
        try:
            uvicorn.run(served, host=host, port=port, log_config=log_config,
                        proxy_headers=False, server_header=False, **tls)
        finally:
            container.jobs.stop_consumer()
            if child is not None:
                child.stop()  # after the jobs: it integrates what they recorded last
            container.audit_sequencer.stop()


def _serve_workers(settings: Settings, host: str, port: int, workers: int,
                   tls: dict[str, Any]) -> None:
    """`workers` processes, each building the app from the environment and listening on a
    socket of its own (cli/supervisor.py), and the audit sequencer's process beside them."""
    from idproof.cli.supervisor import Supervisor, claim_port

    try:
        port = claim_port(host, port)
    except OSError as exc:
        err.print(f"cannot listen on {host}:{port}: {exc.strerror}")
        raise typer.Exit(1) from None
    child = _sequencer_process(settings)
    try:
        code = Supervisor(host, port, workers, tls).run()
    finally:
        if child is not None:
            child.stop()
    if code:
        err.print("a worker could not start; its error is above")
        raise typer.Exit(code)


def _sequencer_process(settings: Settings) -> SequencerProcess | None:
    """The audit sequencer's own process, unless `audit.sequencer` says thread or inline."""
    if settings.audit.sequencer != "process":
        return None
    child = SequencerProcess()
    child.start()
    return child


@app.command()
def worker(threads: Annotated[int, typer.Option(help="Worker threads")] = 2) -> None:
    """Run the job consumers alone (documents, sweeps; webhooks on threads of their own)."""
    settings = command_settings()
    container = prepare(settings, demo_tenant=False)
    documents, *others = container.jobs.consumers(threads)
    for consumer in others:
        consumer.start()
    start_background_services(container)
    try:
        documents.run()  # blocks; handles SIGTERM/SIGINT for a graceful stop
    finally:
        for consumer in others:
            consumer.stop(graceful=True)
        container.audit_sequencer.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (done automatically by `serve`)."""
    from idproof.bootstrap_backends import open_key_store
    from idproof.db.migrate import upgrade

    settings = load_settings()
    upgrade(settings.sqlalchemy_url())
    open_key_store(settings).dispose()  # the separate key store's schema
    out.print("database is up to date")


@tenants_app.command("create")
def tenants_create(name: str, region: Annotated[str | None, typer.Option(
        help="Data region (default: this deployment's, else eu)")] = None) -> None:
    """Create a tenant."""
    try:
        t = _container().tenants.create(name, region)
    except IdproofError as exc:
        _fail(exc)
        return
    out.print(f"tenant {t.name} ({t.id}) created in region {t.region}")


@tenants_app.command("set-retention")
def tenants_set_retention(
    name: str,
    images_hours: Annotated[float, typer.Option(
        "--images-hours", help="Hours raw document images are kept after the decision "
        "(0: deleted at decision, the default; at most 2160)")],
) -> None:
    """Set how long a tenant's raw document images are kept after the decision."""
    try:
        t = _container().tenants.set_image_retention(name, round(images_hours * 3600))
    except IdproofError as exc:
        _fail(exc)
        return
    out.print(f"tenant {t.name}: raw images kept {t.image_retention_seconds} s after decision")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    table = Table("name", Column("id", no_wrap=True), "region", "image retention", "created")
    for t in _container().tenants.list():
        table.add_row(t.name, t.id, t.region, f"{t.image_retention_seconds} s",
                      t.created_at.isoformat(timespec="seconds"))
    out.print(table)


@clients_app.command("create")
def clients_create(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    scopes: Annotated[str, typer.Option(help='Space-separated scopes, e.g. "identity.verify"')],
    allowed_ip: Annotated[list[str] | None, typer.Option(help="Allowed CIDR (repeatable)")
                          ] = None,
    jwk: Annotated[Path | None, typer.Option(help="Public JWK file for private_key_jwt")] = None,
    name: Annotated[str | None, typer.Option(help="A label for operators")] = None,
    origin: Annotated[list[str] | None, typer.Option(
        help="Web origin of your pages using the web SDK, e.g. https://app.example "
             "(repeatable)")] = None,
    tls_subject: Annotated[str | None, typer.Option(
        help="mTLS tls_client_auth: the certificate's subject DN, or san:<value>")] = None,
    tls_self_signed: Annotated[Path | None, typer.Option(
        help="mTLS self_signed_tls_client_auth: the client's certificate (PEM)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Create an API client; its secret is shown this once only."""
    jwk_data = None
    if jwk is not None:
        try:
            jwk_data = json.loads(jwk.read_text())
        except (OSError, ValueError):
            err.print("[red]error:[/red] the JWK file is not readable JSON")
            raise typer.Exit(2) from None
    container = _container()
    try:
        tls = tls_identity(tls_subject, tls_self_signed)
        issued = container.clients.create(tenant, scopes, allowed_ips=allowed_ip or [],
                                          jwk=jwk_data, name=name,
                                          allowed_origins=origin or [])
        if tls is not None:
            container.mtls.register(issued.client.id, **tls)
    except IdproofError as exc:
        _fail(exc)
        return
    c = issued.client
    if as_json:
        sys.stdout.write(json.dumps({"client_id": c.id, "client_secret": issued.secret,
                                     "tenant": c.tenant_name, "scopes": list(c.scopes),
                                     "allowed_origins": list(c.allowed_origins)}) + "\n")
        return
    out.print(f"client_id:     {c.id}")
    out.print(f"client_secret: {issued.secret}")
    out.print(f"tenant:        {c.tenant_name}")
    out.print(f"scopes:        {' '.join(c.scopes)}")
    err.print("Store the secret now: it is not shown again.")


@clients_app.command("rotate-secret")
def clients_rotate(
    client_id: str,
    grace: Annotated[str, typer.Option(help="How long the old secret keeps working")] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Issue a new secret; the old one works until the grace period ends."""
    try:
        issued = _container().clients.rotate_secret(client_id, parse_duration(grace))
    except IdproofError as exc:
        _fail(exc)
        return
    if as_json:
        sys.stdout.write(json.dumps({"client_id": issued.client.id,
                                     "client_secret": issued.secret,
                                     "old_secret_valid_for_seconds":
                                         int(parse_duration(grace).total_seconds())}) + "\n")
        return
    out.print(f"client_secret: {issued.secret}")
    err.print(f"The previous secret keeps working for {grace}.")


@clients_app.command("list")
def clients_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant")] = None
                 ) -> None:
    """List API clients (never their secrets)."""
    table = Table("tenant", "scopes", "allowed IPs", "auth", "status")
    table.columns.insert(0, Column("client_id", no_wrap=True))
    for c in _container().clients.list(tenant):
        table.add_row(c.id, c.tenant_name, " ".join(c.scopes), " ".join(c.allowed_ips) or "any",
                      "secret+jwk" if c.jwk else "secret",
                      "disabled" if c.disabled else "active")
    out.print(table)


@clients_app.command("disable")
def clients_disable(client_id: str) -> None:
    """Disable a client: its secrets and tokens stop working."""
    try:
        _container().clients.disable(client_id)
    except IdproofError as exc:
        _fail(exc)
        return
    out.print(f"client {client_id} disabled")


@clients_app.command("update")
def clients_update(
    client_id: str,
    rate: Annotated[list[str] | None, typer.Option(
        help='This client\'s own limit for a route group, e.g. "sessions=600/minute"; '
             '"sessions=default" restores the default (repeatable)')] = None,
) -> None:
    """Change a client's settings (today: its rate limits per route group)."""
    from idproof.security.route_limits import parse_overrides

    try:
        overrides = parse_overrides(rate or [])
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        view = _container().clients.set_rate_limits(client_id, overrides)
    except IdproofError as exc:
        _fail(exc)
        return
    shown = ", ".join(f"{g}={v}" for g, v in view.rate_limits) or "defaults"
    out.print(f"client {client_id}: rate limits {shown}")


if __name__ == "__main__":  # pragma: no cover
    app()
