"""The architecture's rules, checked on the code: every route guarded, modules and functions
within their limits, no new hook or setter wiring outside bootstrap's table.

Each rule has a list of the known exceptions (debt, each a refactor to do). The lists only
shrink: a new violation fails, and so does an entry that no longer violates (remove it)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from idproof.bootstrap import Container
from idproof.web.app import create_app

SRC = Path(__file__).resolve().parents[1] / "src" / "idproof"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# -- routes --------------------------------------------------------------------------------------

# Dependencies that authorize a request: an OAuth scope, an operator's role or sign-in stage.
GUARDS = {
    "require_scopes.<locals>.check",
    "role_may.<locals>.dependency",
    "signed_in.<locals>.dependency",
    "at_stage.<locals>.dependency",
    "_step_up_live",
}
# Routes open by design, each with what protects it instead.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/docs"): "API reference page",
    ("GET", "/redoc"): "API reference page",
    ("GET", "/docs/assets/{name}"): "static files of the reference pages",
    ("GET", "/healthz"): "liveness probe, no data",
    ("GET", "/readyz"): "readiness probe, no data",
    ("GET", "/metrics"): "Prometheus counters without labels of personal data",
    ("POST", "/oauth/token"): "client authentication in the request (RFC 6749)",
    ("POST", "/oauth/revoke"): "client authentication in the request (RFC 7009)",
    ("POST", "/oauth/introspect"): "client authentication in the request (RFC 7662)",
    ("GET", "/.well-known/jwks.json"): "public keys",
    ("GET", "/.well-known/oauth-authorization-server"): "server metadata (RFC 8414)",
    ("GET", "/v1/workflows/schema"): "the JSON schema of workflow definitions",
    ("GET", "/sdk/idproof.js"): "the embeddable script",
    ("GET", "/sdk/device.js"): "the device-signal collector script",
    ("GET", "/sdk/device-post.js"): "the hosted pages' poster of the device signal",
    ("GET", "/console/assets/{name}"): "static files of the console",
    ("GET", "/console/login"): "the sign-in form",
    ("POST", "/console/login"): "password check, throttled per account and IP",
    ("POST", "/console/login/passkey/options"): "WebAuthn challenge, throttled",
    ("POST", "/console/login/passkey"): "WebAuthn assertion check, throttled",
    ("GET", "/console/static/{name}"): "static files of the console (the chart library)",
    ("GET", "/console/login/oidc"): "starts single sign-on: a redirect with sealed state",
    ("GET", "/console/login/oidc/callback"): "state, PKCE and the id_token's signature",
    ("GET", "/console/enroll/{token}"): "single-use enrolment token in the path",
    ("POST", "/console/enroll/{token}"): "single-use enrolment token in the path",
}
# The hosted pages are authorized by the signed single-use link and the session cookie it
# sets (checked in the handlers, every one of them).
PUBLIC_PREFIXES = ("/verify/",)
# Authenticated by a bearer token, with no scope needed: who am I.
TOKEN_ONLY = {("GET", "/v1/me"): "current_principal"}


def _calls(dependant: Any, out: list[str]) -> list[str]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            out.append(getattr(sub.call, "__qualname__", repr(sub.call)))
        _calls(sub, out)
    return out


def _routes(routes: list[Any], prefix: str = "",
            deps: tuple[str, ...] = ()) -> Iterator[tuple[str, str, set[str]]]:
    for route in routes:
        if type(route).__name__ == "_IncludedRouter":  # FastAPI >= 0.165 keeps includes lazy
            ctx = route.include_context
            extra = tuple(getattr(d.dependency, "__qualname__", "") for d in ctx.dependencies)
            yield from _routes(route.original_router.routes, prefix + ctx.prefix, deps + extra)
        elif isinstance(route, APIRoute):
            found = set(deps) | set(_calls(route.dependant, []))
            for method in route.methods:
                yield method, prefix + route.path, found


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_route_has_a_scope_or_an_operator_policy(app: FastAPI) -> None:
    routes = list(_routes(app.routes))
    assert len(routes) > 50  # the walk sees the included routers
    unguarded = []
    for method, path, deps in routes:
        key = (method, path)
        if deps & GUARDS or key in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            continue
        if key in TOKEN_ONLY and TOKEN_ONLY[key] in deps:
            continue
        unguarded.append(f"{method} {path}")
    assert not unguarded, f"routes without a scope or an operator policy: {unguarded}"
    listed = {key for key in PUBLIC} | set(TOKEN_ONLY)
    present = {(m, p) for m, p, _d in routes}
    assert listed <= present, f"listed routes that no longer exist: {listed - present}"


def test_the_route_walk_sees_a_missing_guard() -> None:
    """The check above can fail: a router without a guard is reported."""
    from fastapi import APIRouter

    router = APIRouter(prefix="/v1/new")

    @router.get("/thing")
    def thing() -> dict[str, str]:
        return {}

    probe = FastAPI()
    probe.include_router(router)
    found = [(m, p) for m, p, deps in _routes(probe.routes) if not deps & GUARDS]
    assert found == [("GET", "/v1/new/thing")]


# -- sizes ---------------------------------------------------------------------------------------

# Modules over MAX_MODULE_LINES and functions over MAX_FUNCTION_LINES today (to be split).
KNOWN_LONG_MODULES: set[str] = set()
KNOWN_LONG_FUNCTIONS: set[str] = set()


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if not rel.startswith("db/migrations/"):
            yield rel, path


def long_modules() -> set[str]:
    return {rel for rel, path in _modules()
            if len(path.read_text().splitlines()) > MAX_MODULE_LINES}


def long_functions() -> set[str]:
    out = set()
    for rel, path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.add(f"{rel}:{node.name}")
    return out


def test_no_module_outgrows_the_limit() -> None:
    found = long_modules()
    assert not found - KNOWN_LONG_MODULES, (
        f"modules over {MAX_MODULE_LINES} lines: {sorted(found - KNOWN_LONG_MODULES)}")
    assert not KNOWN_LONG_MODULES - found, (
        f"now within the limit, remove from KNOWN_LONG_MODULES: "
        f"{sorted(KNOWN_LONG_MODULES - found)}")


def test_no_function_outgrows_the_limit() -> None:
    found = long_functions()
    assert not found - KNOWN_LONG_FUNCTIONS, (
        f"functions over {MAX_FUNCTION_LINES} lines: {sorted(found - KNOWN_LONG_FUNCTIONS)}")
    assert not KNOWN_LONG_FUNCTIONS - found, (
        f"now within the limit, remove from KNOWN_LONG_FUNCTIONS: "
        f"{sorted(KNOWN_LONG_FUNCTIONS - found)}")


# -- wiring --------------------------------------------------------------------------------------

# Hooks and setters that wire services together after construction (to become events in the
# subscription table, or constructor arguments).
KNOWN_HOOKS: set[str] = set()
# Constructors that subscribe themselves to another service (order depends on wiring).
KNOWN_SELF_SUBSCRIPTIONS: set[str] = set()


def _is_hook(fn: ast.FunctionDef) -> bool:
    """A method `on_x`/`set_x` taking a callable, or doing nothing but store its argument."""
    if not fn.name.startswith(("on_", "set_")):
        return False
    params = [a for a in fn.args.args if a.arg != "self"]
    if any(a.annotation is not None and "Callable" in ast.unparse(a.annotation)
           for a in params):
        return True
    body = [s for s in fn.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    names = {a.arg for a in params}
    if len(body) != 1 or len(params) != 1:
        return False
    stmt = body[0]
    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Name):
        return stmt.value.id in names and isinstance(stmt.targets[0], ast.Attribute)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        return (isinstance(call.func, ast.Attribute) and call.func.attr == "append"
                and any(isinstance(a, ast.Name) and a.id in names for a in call.args))
    return False


def hooks() -> tuple[set[str], set[str]]:
    found: set[str] = set()
    self_subscribing: set[str] = set()
    for rel, path in _modules():
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef):
                continue
            for fn in cls.body:
                if not isinstance(fn, ast.FunctionDef):
                    continue
                if _is_hook(fn):
                    found.add(f"{rel}:{cls.name}.{fn.name}")
                if fn.name == "__init__" and any(
                        isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                        and c.func.attr.startswith("on_") for c in ast.walk(fn)):
                    self_subscribing.add(f"{rel}:{cls.name}.__init__")
    return found, self_subscribing


def test_no_new_hook_or_setter_wiring() -> None:
    found, self_subscribing = hooks()
    assert not found - KNOWN_HOOKS, (
        "wire it in bootstrap's table (an event or a constructor argument), not with a new "
        f"hook or setter: {sorted(found - KNOWN_HOOKS)}")
    assert not KNOWN_HOOKS - found, f"gone, remove from KNOWN_HOOKS: {KNOWN_HOOKS - found}"
    assert not self_subscribing - KNOWN_SELF_SUBSCRIPTIONS, (
        f"constructors subscribing themselves: {self_subscribing - KNOWN_SELF_SUBSCRIPTIONS}")
    assert not KNOWN_SELF_SUBSCRIPTIONS - self_subscribing


def test_the_hook_detector_sees_a_hook() -> None:
    source = (
        "class A:\n"
        "    def set_thing(self, thing):\n"
        "        self._thing = thing\n"
        "    def on_done(self, hook: Callable[[], None]) -> None:\n"
        "        self._hooks.append(hook)\n"
        "    def set_status(self, s, row, target):\n"
        "        row.status = target\n"
    )
    fns = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)]
    assert [f.name for f in fns if _is_hook(f)] == ["set_thing", "on_done"]


# -- migrations ----------------------------------------------------------------------------------

MIGRATIONS = SRC / "db" / "migrations" / "versions"


def live_imports(source: str) -> set[str]:
    """Modules of the idproof package a migration imports (it must carry its own copy)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "idproof"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "idproof":
            found.add(node.module or "")
    return found


def test_migrations_are_frozen() -> None:
    """An old migration must not change when live code changes: no idproof import in one."""
    offenders = {path.name: sorted(mods) for path in sorted(MIGRATIONS.glob("*.py"))
                 if (mods := live_imports(path.read_text()))}
    assert not offenders, f"migrations importing live code: {offenders}"


def test_the_migration_check_sees_a_live_import() -> None:
    assert live_imports("import idproof.db.base\nfrom idproof.audit import leaf\n"
                        "import sqlalchemy as sa\n") == {"idproof.db.base", "idproof.audit"}


# -- HTTP plumbing -------------------------------------------------------------------------------

# The request plumbing of the feature routers: principal and scopes (`auth.http`), in-memory
# forms (`http.forms`). Services never deal in requests.
WEB_PLUMBING = ("idproof.auth.http", "idproof.http.forms")


def misplaced_plumbing(rel: str, source: str) -> bool:
    """A feature module using `auth.http`/`http.forms` that is not an HTTP adapter: it defines
    a service class, or does not deal in FastAPI requests at all."""
    if rel.startswith(("web/", "cli/")) or rel in {"bootstrap.py", "bootstrap_alerts.py"}:
        return False
    tree = ast.parse(source)
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    if not imported & set(WEB_PLUMBING):
        return False
    services = [n.name for n in tree.body
                if isinstance(n, ast.ClassDef) and n.name.endswith("Service")]
    http = any((m or "").split(".")[0] in {"fastapi", "starlette"} for m in imported)
    return bool(services) or not http


def test_only_http_adapters_use_the_request_plumbing() -> None:
    """Any feature may import `auth.http` (a lateral import): only its routers should."""
    found = {rel for rel, path in _modules() if misplaced_plumbing(rel, path.read_text())}
    assert not found, f"not an HTTP adapter, yet imports auth.http/http.forms: {sorted(found)}"


def test_the_plumbing_check_sees_a_service() -> None:
    source = ("from fastapi import Request\nfrom idproof.auth.http import get_container\n"
              "class SessionService:\n    pass\n")
    assert misplaced_plumbing("verification/service.py", source)
    assert not misplaced_plumbing("verification/api.py",
                                  "from fastapi import APIRouter\n"
                                  "from idproof.auth.http import get_container\n")


# -- backends ------------------------------------------------------------------------------------

# Concrete backends picked from settings: only the composition root chooses them.
BACKEND_MODULES = {"idproof.crypto.kms.pkcs11", "idproof.crypto.kms.local",
                   "idproof.verification.blobs_s3", "idproof.verification.blobs_sql"}
BACKEND_NAMES = {"RedisHuey", "SqliteHuey", "MemoryHuey"}
# The kms package re-exports its classes; the residency report opens every region's stores.
BACKEND_CHOOSERS = {"bootstrap_backends.py", "crypto/kms/__init__.py", "schema.py",
                    "privacy/residency_report.py"}


def chooses_a_backend(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
            full = {f"{node.module}.{n}" for n in names}
            if node.module in BACKEND_MODULES or full & BACKEND_MODULES or (
                    node.module == "huey" and names & BACKEND_NAMES):
                return True
    return False


def test_every_backend_is_chosen_in_the_composition_root() -> None:
    found = {rel for rel, path in _modules()
             if rel not in BACKEND_CHOOSERS and chooses_a_backend(path.read_text())}
    assert not found, f"backends chosen outside bootstrap_backends.py: {sorted(found)}"


def test_the_backend_check_sees_a_choice() -> None:
    assert chooses_a_backend("from huey import RedisHuey\n")
    assert chooses_a_backend("from idproof.verification import blobs_s3\n")
    assert not chooses_a_backend("from huey import Huey\n")


# -- features' public surfaces -------------------------------------------------------------------

# What other features may import from each feature package (modules, relative to it); the
# rest is the feature's own. Widening a surface is a decision: add the module here, and say
# why in docs/architecture.md ("Who owns what").
SURFACES: dict[str, set[str]] = {
    "auth": {"clients", "http", "models", "scopes", "tenants"},  # http: principal, scopes, IP
    "console": {"review", "web"},  # the console's page helpers and review queue, for screening
    "hosted": {"branding", "branding_rules", "pages"},  # the console edits the branding
    "operators": {"console", "models", "policy", "router", "sessions"},
    "privacy": {"retention"},
    "screening": {"console_review", "countries", "hits", "service"},  # the console mounts its page
    "signals": {"console_view", "models"},
    "vault": {"models", "service"},
    "verification": {"actor", "biometrics.models", "blobs", "blobs_s3", "blobs_sql",
                     "captures", "decision", "document.accepted", "document.countries",
                     "lifecycle", "links", "models", "review", "schemas", "service"},
    "webhooks": {"schemas", "service"},
    "workflows": {"catalog", "diff", "flow", "models", "service", "steps.questionnaire",
                  "steps.screening_step", "steps.service", "variables"},
}


def foreign_imports(feature: str, source: str) -> set[tuple[str, str]]:
    """(feature, module) pairs a module of `feature` imports from other features."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("idproof."):
            parts = (node.module or "").split(".")
            if parts[1] in SURFACES and parts[1] != feature:
                module = ".".join(parts[2:])
                found |= ({(parts[1], f"{module}.{a.name}".strip(".")) for a in node.names}
                          if module == "" else {(parts[1], module)})
    return found


def test_no_feature_imports_anothers_internals() -> None:
    bad = set()
    for rel, path in _modules():
        feature = rel.split("/")[0]
        if feature not in SURFACES:
            continue
        for other, module in foreign_imports(feature, path.read_text()):
            if module not in SURFACES[other] and module.split(".")[0] not in SURFACES[other] - {""}:
                bad.add(f"{rel} -> {other}.{module}")
    assert not bad, f"imports of another feature's internals: {sorted(bad)}"


def test_the_surface_check_sees_an_internal_import() -> None:
    assert foreign_imports("console", "from idproof.verification.session_core import X\n") == {
        ("verification", "session_core")}
    assert foreign_imports("console", "from idproof.verification import models\n") == {
        ("verification", "models")}


# -- test modules --------------------------------------------------------------------------------

def test_test_modules_have_unique_names() -> None:
    """tests/ holds no packages (rootdir imports): two test files with one basename make pytest
    refuse the second ("import file mismatch") and its tests never run."""
    tests = Path(__file__).resolve().parent
    seen: dict[str, list[str]] = {}
    for path in tests.rglob("test_*.py"):
        seen.setdefault(path.name, []).append(path.relative_to(tests).as_posix())
    assert not {k: v for k, v in seen.items() if len(v) > 1}
