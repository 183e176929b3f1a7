"""Retention over a year of sessions with a fake clock, on SQLite and PostgreSQL: the weekly
purge erases exactly what is past its retention, a legal hold keeps a session until released,
a dry run changes nothing, and a session that changes under the purge is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from idproof.bootstrap import Container
from idproof.core.clock import FrozenClock
from idproof.core.errors import IdproofError
from idproof.privacy.purge import truncate_ip
from idproof.privacy.retention import DEFAULT, Policy, session_due
from idproof.verification.models import VerificationSession
from idproof.verification.schemas import CreateSession
from idproof.verification.service import Actor
from tests.colour_engines import capture
from tests.task_log import TaskLog

pytestmark = [pytest.mark.slow, pytest.mark.hold_tasks("process_capture")]
DAY = 86_400


@pytest.fixture
def queue(task_queue: TaskLog) -> list[tuple[str, ...]]:
    return task_queue.of("process_capture")


def _session(c: Container, actor: Actor, jobs: list[tuple[str, str]], kind: str,
             n: int) -> str:
    view, _url, _ = c.sessions.create(actor, CreateSession(
        reference=f"u-{n}", workflow="document_only", expires_in=3600))
    if kind == "abandoned":
        return view.id  # never started: abandoned by the sweep an hour later
    c.captures.upload_document(actor, view.id, "front",
                               capture("good" if kind == "approved" else "forged", n))
    while jobs:
        c.captures.process(*jobs.pop(0))
    c.captures.submit(actor, view.id)
    return view.id


def _statuses(c: Container) -> dict[str, tuple[str, object]]:
    with c.db.read() as s:
        return {r.id: (r.status, r.decided_at or r.updated_at)
                for r in s.scalars(select(VerificationSession))}


def test_a_year_of_sessions(colour_container: Container, clock: FrozenClock,
                            queue: list[tuple[str, str]]) -> None:
    c = colour_container
    tenant = c.tenants.get("demo")
    actor = Actor(tenant_id=tenant.id, client_id="cli_year")
    policy = c.retention.set_policy("demo", {"extracted_fields_days": 90,
                                             "unsuccessful_days": 30})
    assert policy == Policy(extracted_fields_days=90, unsuccessful_days=30)
    kinds = ["approved", "declined", "abandoned"]
    held = ""
    created: list[str] = []
    erased: set[str] = set()
    for day in range(0, 365, 4):  # a session every four days, a purge every week
        created.append(_session(c, actor, queue, kinds[day % 3], day))
        if day == 8:
            held = created[-1]
            c.retention.place_hold(tenant.id, held, "CASE-17")
        if day % 7 < 4:
            clock.advance(3 * DAY)
            c.captures.sweep()
            before = set(_statuses(c))
            report = c.retention.purge()
            erased |= before - set(_statuses(c))
            assert not set(report.sessions["unsuccessful"]) & {held}
        clock.advance(4 * DAY - (3 * DAY if day % 7 < 4 else 0))
    c.captures.sweep()
    now = clock.now()
    # a dry run reports and changes nothing
    before = _statuses(c)
    dry = c.retention.purge(dry_run=True)
    assert _statuses(c) == before
    report = c.retention.purge()
    assert sorted(report.sessions["unsuccessful"] + report.sessions["extracted_fields"]) == \
        sorted(dry.sessions["unsuccessful"] + dry.sessions["extracted_fields"])
    erased |= set(before) - set(_statuses(c))
    left = _statuses(c)
    # nothing past its retention is left (but the held one), nothing within it went
    for sid, (status, ended) in left.items():
        if sid != held:
            assert session_due(policy, status, ended, now) is None, (sid, status, ended)
    assert held in left and len(erased) > 40
    assert set(created) == set(left) | erased
    for sid in erased:
        with pytest.raises(IdproofError):
            c.sessions.get(tenant.id, sid)
    # erasures are audited as the system's; the runs are audited and recorded
    assert c.audit.list(action="privacy.purged", limit=1000)
    assert any(e.actor_type == "system" for e in c.audit.list(action="session.erased",
                                                              limit=1000))
    # released, the held session goes with the next purge
    c.retention.release_hold(tenant.id, held)
    assert c.retention.purge().sessions["unsuccessful"] == [held]
    assert held not in _statuses(c)
    (placed,) = c.audit.list(action="privacy.legal_hold_placed")
    (released,) = c.audit.list(action="privacy.legal_hold_released")
    assert placed.target_id == released.target_id == held


def test_a_session_reviewed_or_held_during_the_purge_is_kept(
        colour_container: Container, clock: FrozenClock, queue: list[tuple[str, str]]) -> None:
    c = colour_container
    tenant = c.tenants.get("demo")
    actor = Actor(tenant_id=tenant.id, client_id="cli_race")
    sid = _session(c, actor, queue, "declined", 1)
    clock.advance(DEFAULT.unsuccessful_days * DAY + 60)
    real = c.captures.erase

    def erase_after_a_hold(a, session_id, check=None):  # type: ignore[no-untyped-def]
        c.retention.place_hold(tenant.id, session_id, "RACE-1")  # lands between scan and erase
        return real(a, session_id, check)

    c.captures.erase = erase_after_a_hold  # type: ignore[method-assign]
    report = c.retention.purge()
    c.captures.erase = real  # type: ignore[method-assign]
    assert report.skipped == [sid] and sid in _statuses(c)


def test_policy_limits_and_ip_truncation(colour_container: Container) -> None:
    c = colour_container
    with pytest.raises(IdproofError) as exc:
        c.retention.set_policy("demo", {"raw_images_hours": 31 * 24})
    assert exc.value.code == "invalid_retention"
    with pytest.raises(IdproofError):
        c.retention.set_policy("demo", {"extracted_fields_days": 5})
    assert c.retention.policy(c.tenants.get("demo").id) == DEFAULT
    c.retention.set_policy("demo", {"raw_images_hours": 48})
    assert c.tenants.image_retention(c.tenants.get("demo").id) == 48 * 3600
    assert truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert timedelta(days=DEFAULT.extracted_fields_days) >= timedelta(days=5 * 365)
