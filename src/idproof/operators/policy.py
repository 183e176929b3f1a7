"""The access policy: roles with fixed permissions, tenant/region/assignment attributes, step-up.

`can(operator, action, resource) -> Decision` is pure (no I/O, no clock: the caller passes
how old the operator's last second factor is). Every console route names its action and goes
through it; docs/operator/console.md shows the same table as `PERMISSIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    REVIEWER = "reviewer"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    DEVELOPER = "developer"


class Action(StrEnum):
    CONSOLE_VIEW = "console.view"            # the landing page, one's own account
    ACCOUNT_MANAGE = "account.manage"        # one's own passkeys, TOTP, recovery codes, sessions
    DASHBOARD_VIEW = "dashboard.view"
    SESSIONS_LIST = "sessions.list"          # session lists without personal data
    SESSION_READ = "sessions.read"           # one session's details (still no personal data)
    REVIEW_DECIDE = "review.decide"          # the review queue: approve / decline
    PII_REVEAL = "pii.reveal"                # extracted personal data, with a stated purpose
    SESSION_EXPORT = "sessions.export"
    SESSION_ERASE = "sessions.erase"
    TENANT_SETTINGS = "tenant.settings"
    CLIENTS_MANAGE = "clients.manage"
    WEBHOOKS_MANAGE = "webhooks.manage"
    DELIVERIES_READ = "deliveries.read"
    OPERATORS_MANAGE = "operators.manage"    # operators of one's tenants
    ROLES_CHANGE = "roles.change"
    KEYS_MANAGE = "keys.manage"
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"
    PROOFS_READ = "proofs.read"
    PLATFORM_MANAGE = "platform.manage"      # tenants themselves, installation settings
    WORKFLOWS_MANAGE = "workflows.manage"    # the tenant's workflows: build, simulate, publish


_EVERYONE = frozenset({Action.CONSOLE_VIEW, Action.ACCOUNT_MANAGE})

# The one table of what each role may do (docs/operator/console.md repeats it).
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.ADMIN: _EVERYONE | {Action.TENANT_SETTINGS, Action.CLIENTS_MANAGE,
                             Action.WEBHOOKS_MANAGE, Action.DELIVERIES_READ,
                             Action.OPERATORS_MANAGE, Action.ROLES_CHANGE,
                             Action.DASHBOARD_VIEW, Action.SESSIONS_LIST,
                             Action.WORKFLOWS_MANAGE},
    Role.REVIEWER: _EVERYONE | {Action.SESSIONS_LIST, Action.SESSION_READ,
                                Action.REVIEW_DECIDE, Action.PII_REVEAL},
    Role.ANALYST: _EVERYONE | {Action.DASHBOARD_VIEW, Action.SESSIONS_LIST},
    Role.AUDITOR: _EVERYONE | {Action.AUDIT_READ, Action.AUDIT_EXPORT, Action.PROOFS_READ},
    Role.DEVELOPER: _EVERYONE | {Action.CLIENTS_MANAGE, Action.WEBHOOKS_MANAGE,
                                 Action.DELIVERIES_READ},
}

# Asking for the second factor again when the last one is older than STEP_UP_SECONDS.
STEP_UP_ACTIONS = frozenset({Action.PII_REVEAL, Action.SESSION_EXPORT, Action.SESSION_ERASE,
                             Action.AUDIT_EXPORT, Action.KEYS_MANAGE, Action.ROLES_CHANGE,
                             Action.OPERATORS_MANAGE})
STEP_UP_SECONDS = 300
# Actions on personal data: a purpose must be stated.
PURPOSE_ACTIONS = frozenset({Action.PII_REVEAL, Action.SESSION_EXPORT, Action.SESSION_ERASE})
# Actions a reviewer limited to its assigned sessions may only take on those.
ASSIGNABLE_ACTIONS = frozenset({Action.SESSION_READ, Action.REVIEW_DECIDE, Action.PII_REVEAL})


@dataclass(frozen=True, slots=True)
class OperatorContext:
    """Who is asking: role, attributes, and how fresh their second factor is."""

    id: str
    role: Role
    tenants: frozenset[str] | None = None   # None: all tenants
    regions: frozenset[str] | None = None   # None: every region
    assigned_only: bool = False
    mfa_age_seconds: float | None = None    # None: no second factor in this session


@dataclass(frozen=True, slots=True)
class Resource:
    """What is acted on: its tenant and region, who it is assigned to, the stated purpose."""

    tenant_id: str | None = None
    region: str | None = None
    assigned_to: str | None = None
    purpose: str | None = None
    owner_id: str | None = None  # an operator's own things (account pages)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    # The status a refusal answers with: 404 hides another tenant's (or region's) object.
    status: int = 200
    step_up: bool = False

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True, "allowed")


def can(operator: OperatorContext, action: Action, resource: Resource | None = None
        ) -> Decision:
    """May `operator` take `action` on `resource`? The first failing rule is the reason."""
    resource = resource or Resource()
    if operator.mfa_age_seconds is None:
        return Decision(False, "mfa_required", 401)
    if action not in PERMISSIONS.get(operator.role, frozenset()):
        return Decision(False, "role_not_permitted", 403)
    if resource.owner_id is not None and resource.owner_id != operator.id:
        return Decision(False, "not_owner", 404)
    if (resource.tenant_id is not None and operator.tenants is not None
            and resource.tenant_id not in operator.tenants):
        return Decision(False, "other_tenant", 404)
    if (resource.region is not None and operator.regions is not None
            and resource.region not in operator.regions):
        return Decision(False, "other_region", 404)
    if (operator.assigned_only and action in ASSIGNABLE_ACTIONS
            and resource.assigned_to != operator.id):
        return Decision(False, "not_assigned", 404)
    if action in PURPOSE_ACTIONS and not (resource.purpose or "").strip():
        return Decision(False, "purpose_required", 422)
    if action in STEP_UP_ACTIONS and operator.mfa_age_seconds > STEP_UP_SECONDS:
        return Decision(False, "step_up_required", 401, step_up=True)
    return ALLOW
