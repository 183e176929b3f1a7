"""`idproof workflows ...`: list, export, import and publish a tenant's workflows (JSON or YAML)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from idproof.bootstrap import Container, prepare
from idproof.config import load_settings
from idproof.core.errors import IdproofError, NotFound

workflows_app = typer.Typer(help="Tenant workflows: versioned definitions with CEL rules.",
                            no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)
Tenant = Annotated[str, typer.Option("--tenant", help="The tenant's name")]


def _container() -> Container:
    os.umask(0o077)
    return prepare(load_settings(), demo_tenant=False)


def _fail(message: str, code: str) -> None:
    err.print(f"[red]error:[/red] {message} ({code})")
    raise typer.Exit(2)


def _tenant_id(c: Container, tenant: str) -> str:
    found = c.tenants.find(tenant)
    if found is None:
        _fail(f"no tenant {tenant!r}", "tenant_not_found")
    return str(found.id)  # type: ignore[union-attr]


def _problem(exc: IdproofError) -> None:
    issues = exc.extra.get("issues") if exc.extra else None
    for issue in issues or []:  # type: ignore[attr-defined]
        if isinstance(issue, dict):
            where = " ".join(str(issue[k]) for k in ("node", "rule", "path", "expression")
                             if issue.get(k))
            err.print(f"  - {issue.get('code', 'invalid')}"
                      f"{f' at {where}' if where else ''}: {issue.get('message', '')}",
                      markup=False)
        else:
            err.print(f"  - {issue}", markup=False)
    _fail(exc.detail, exc.code)


def _read_definition(path: Path) -> dict[str, Any]:
    """A definition document, JSON or YAML (by extension; YAML is read with the safe loader)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = (yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml")
                else json.loads(text))
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        _fail(f"{path.name} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}"
              f" ({type(exc).__name__})", "invalid_document")
    if not isinstance(data, dict):
        _fail("a definition is an object", "invalid_document")
    return dict(data)


@workflows_app.command("list")
def list_workflows(tenant: Tenant,
                   as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The tenant's workflows and their versions, and the built-in templates."""
    c = _container()
    try:
        rows = c.workflows.list(_tenant_id(c, tenant))
    finally:
        c.close()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("id", "title", "template", "latest", "published", "versions")
    for r in rows:
        table.add_row(r["id"], r["title"], "yes" if r["template"] else "",
                      str(r["latest_version"]), str(r["published_version"] or "-"),
                      ", ".join(f"{v['version']}:{v['status']}" for v in r["versions"]))
    out.print(table)


@workflows_app.command("export")
def export_workflow(
    workflow_id: Annotated[str, typer.Argument(help="A tenant workflow or a built-in template")],
    tenant: Tenant,
    version: Annotated[int | None, typer.Option(help="Default: the latest")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or yaml")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Default: standard output")] = None,
) -> None:
    """Write a version's definition document (what `import` reads back)."""
    if fmt not in ("json", "yaml"):
        _fail("--format is json or yaml", "invalid_format")
    c = _container()
    try:
        info = c.workflows.get_version(_tenant_id(c, tenant), workflow_id, version)
    except IdproofError as exc:
        _problem(exc)
    finally:
        c.close()
    document = dict(info.definition)
    text = (yaml.safe_dump(document, sort_keys=False, allow_unicode=True) if fmt == "yaml"
            else json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {workflow_id} version {info.version} ({info.status}) to {output}")


@workflows_app.command("import")
def import_workflow(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A definition document, .json or .yaml")],
    tenant: Tenant,
    workflow_id: Annotated[str | None, typer.Option("--id",
                                                    help="Default: the document's id")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish it at once")] = False,
) -> None:
    """Add the document as a new draft version (version 1 of a new workflow, or the next
    version of an existing one); validated first, nothing stored when it is not valid."""
    data = _read_definition(file)
    wid = workflow_id or data.get("id")
    if not isinstance(wid, str) or not wid:
        _fail("give the workflow's id with --id or in the document", "workflow_id_required")
    c = _container()
    try:
        tid = _tenant_id(c, tenant)
        try:
            info = c.workflows.add_version(tid, str(wid), data, actor="cli")
        except NotFound:  # a new workflow (a built-in id is refused there as reserved)
            info = c.workflows.create(tid, str(wid), data, actor="cli")
        if publish:
            info = c.workflows.publish(tid, str(wid), info.version, actor="cli")
    except IdproofError as exc:
        _problem(exc)
    finally:
        c.close()
    out.print(f"{wid} version {info.version}: {info.status}")


@workflows_app.command("publish")
def publish_workflow(
    workflow_id: Annotated[str, typer.Argument()], tenant: Tenant,
    version: Annotated[int, typer.Option(help="The draft version to publish")],
) -> None:
    """Publish a draft version after the publish-time checks (every path ends, every variable
    known, every expression typed and within its cost)."""
    c = _container()
    try:
        info = c.workflows.publish(_tenant_id(c, tenant), workflow_id, version, actor="cli")
    except IdproofError as exc:
        _problem(exc)
    finally:
        c.close()
    out.print(f"{workflow_id} version {info.version}: {info.status}")
