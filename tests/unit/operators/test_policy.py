"""The access policy as a table: every role x action, then tenant, region, assignment, purpose
and step-up cases."""

from __future__ import annotations

import pytest

from idproof.operators.policy import (
    PERMISSIONS,
    STEP_UP_ACTIONS,
    STEP_UP_SECONDS,
    Action,
    OperatorContext,
    Resource,
    Role,
    can,
)

# Expected permissions, written out independently of PERMISSIONS: the documented table.
A = Action
EXPECTED: dict[Role, set[Action]] = {
    Role.OWNER: set(Action),
    Role.ADMIN: {A.CONSOLE_VIEW, A.ACCOUNT_MANAGE, A.TENANT_SETTINGS, A.CLIENTS_MANAGE,
                 A.WEBHOOKS_MANAGE, A.DELIVERIES_READ, A.OPERATORS_MANAGE, A.ROLES_CHANGE,
                 A.DASHBOARD_VIEW, A.SESSIONS_LIST, A.WORKFLOWS_MANAGE},
    Role.REVIEWER: {A.CONSOLE_VIEW, A.ACCOUNT_MANAGE, A.SESSIONS_LIST, A.SESSION_READ,
                    A.REVIEW_DECIDE, A.PII_REVEAL},
    Role.ANALYST: {A.CONSOLE_VIEW, A.ACCOUNT_MANAGE, A.DASHBOARD_VIEW, A.SESSIONS_LIST},
    Role.AUDITOR: {A.CONSOLE_VIEW, A.ACCOUNT_MANAGE, A.AUDIT_READ, A.AUDIT_EXPORT,
                   A.PROOFS_READ},
    Role.DEVELOPER: {A.CONSOLE_VIEW, A.ACCOUNT_MANAGE, A.CLIENTS_MANAGE, A.WEBHOOKS_MANAGE,
                     A.DELIVERIES_READ},
}
NO_PII_ROLES = {Role.ANALYST, Role.DEVELOPER, Role.AUDITOR, Role.ADMIN}


def op(role: Role, **kw: object) -> OperatorContext:
    kw.setdefault("mfa_age_seconds", 10.0)
    return OperatorContext(id="opr_me", role=role, **kw)  # type: ignore[arg-type]


def test_table_is_the_documented_one() -> None:
    assert {r: set(a) for r, a in PERMISSIONS.items()} == EXPECTED


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_role_by_action(role: Role, action: Action) -> None:
    decision = can(op(role), action, Resource(tenant_id="ten_a", purpose="fraud review"))
    if action in EXPECTED[role]:
        assert decision.allowed, decision
    else:
        assert not decision.allowed and decision.reason == "role_not_permitted"
        assert decision.status == 403


@pytest.mark.parametrize("role", sorted(NO_PII_ROLES))
def test_no_pii_for_roles_without_it(role: Role) -> None:
    assert not can(op(role), Action.PII_REVEAL, Resource(purpose="x"))


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", [A.SESSIONS_LIST, A.CLIENTS_MANAGE, A.AUDIT_READ,
                                    A.SESSION_READ])
@pytest.mark.parametrize(("tenants", "tenant", "allowed"), [
    (None, "ten_a", True),                    # all tenants
    (frozenset({"ten_a"}), "ten_a", True),
    (frozenset({"ten_a"}), "ten_b", False),   # another tenant: 404
    (frozenset({"ten_a", "ten_b"}), "ten_b", True),
])
def test_tenant_attribute(role: Role, action: Action, tenants: frozenset[str] | None,
                          tenant: str, allowed: bool) -> None:
    if action not in EXPECTED[role]:
        return
    d = can(op(role, tenants=tenants), action, Resource(tenant_id=tenant))
    assert d.allowed is allowed
    if not allowed:
        assert (d.status, d.reason) == (404, "other_tenant")


@pytest.mark.parametrize(("regions", "region", "allowed"), [
    (None, "eu", True), (frozenset({"eu"}), "eu", True), (frozenset({"eu"}), "us", False),
    (frozenset({"eu", "us"}), "us", True), (frozenset({"eu"}), None, True),
])
def test_region_attribute(regions: frozenset[str] | None, region: str | None,
                          allowed: bool) -> None:
    d = can(op(Role.REVIEWER, regions=regions), A.SESSION_READ,
            Resource(tenant_id="ten_a", region=region))
    assert d.allowed is allowed
    if not allowed:
        assert (d.status, d.reason) == (404, "other_region")


@pytest.mark.parametrize(("assigned_only", "assigned_to", "action", "allowed"), [
    (False, None, A.SESSION_READ, True),
    (True, None, A.SESSION_READ, False),
    (True, "opr_other", A.REVIEW_DECIDE, False),
    (True, "opr_me", A.REVIEW_DECIDE, True),
    (True, "opr_me", A.PII_REVEAL, True),
    (True, None, A.SESSIONS_LIST, True),  # lists are filtered, not refused
])
def test_reviewer_assignment(assigned_only: bool, assigned_to: str | None, action: Action,
                             allowed: bool) -> None:
    d = can(op(Role.REVIEWER, assigned_only=assigned_only), action,
            Resource(assigned_to=assigned_to, purpose="check"))
    assert d.allowed is allowed
    if not allowed:
        assert d.reason == "not_assigned" and d.status == 404


@pytest.mark.parametrize("purpose", [None, "", "   "])
def test_pii_needs_a_purpose(purpose: str | None) -> None:
    d = can(op(Role.REVIEWER), A.PII_REVEAL, Resource(purpose=purpose))
    assert not d and d.reason == "purpose_required"
    assert can(op(Role.REVIEWER), A.PII_REVEAL, Resource(purpose="fraud check"))


@pytest.mark.parametrize("action", sorted(STEP_UP_ACTIONS))
@pytest.mark.parametrize(("age", "step_up"), [(0, False), (STEP_UP_SECONDS, False),
                                              (STEP_UP_SECONDS + 1, True), (3600, True)])
def test_step_up(action: Action, age: float, step_up: bool) -> None:
    d = can(op(Role.OWNER, mfa_age_seconds=age), action, Resource(purpose="p"))
    assert d.allowed is not step_up
    assert d.step_up is step_up


def test_no_step_up_for_ordinary_actions() -> None:
    assert can(op(Role.ANALYST, mfa_age_seconds=3600), A.SESSIONS_LIST)


def test_no_second_factor_no_access() -> None:
    d = can(op(Role.OWNER, mfa_age_seconds=None), A.CONSOLE_VIEW)
    assert not d and d.reason == "mfa_required"


def test_own_things_only() -> None:
    assert can(op(Role.ANALYST), A.ACCOUNT_MANAGE, Resource(owner_id="opr_me"))
    d = can(op(Role.OWNER), A.ACCOUNT_MANAGE, Resource(owner_id="opr_other"))
    assert not d and d.status == 404
