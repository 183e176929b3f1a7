"""Use cases of signals: assess a session (IP, device, velocity, faces), keep its result."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import NotFound
from idproof.core.ids import new_id
from idproof.db.engine import Database
from idproof.signals.datasets import Datasets
from idproof.signals.device import (
    DeviceAttributes,
    automation_hints,
    emulator_hints,
    fingerprint,
)
from idproof.signals.face_store import FaceStore
from idproof.signals.ipintel import IpFacts
from idproof.signals.models import SignalObservation, SignalResult
from idproof.signals.rules import Limits, Observed, Report, evaluate


@dataclass(frozen=True)
class Assessment:
    """The facts of one session that signals are computed from (all optional)."""

    ip: str | None = None
    device: DeviceAttributes | None = None
    document_index: str | None = None  # the blind index of the document (duplicates)
    document_countries: tuple[str, ...] = ()
    embedding: npt.NDArray[np.floating] | None = None


class SignalService:
    """Signals on sessions. Values (IP, device, document, face) are stored only as keyed
    per-tenant hashes; results hold reason codes and evidence without personal data."""

    def __init__(self, db: Database, audit: AuditService, datasets: Datasets,
                 faces: FaceStore, hash_key: bytes, clock: Clock | None = None,
                 limits: Limits | None = None) -> None:
        self._db = db
        self._audit = audit
        self.datasets = datasets
        self.faces = faces
        self._hash_key = hash_key
        self._clock = clock or SystemClock()
        self.limits = limits or Limits()

    def tenant_key(self, tenant_id: str) -> bytes:
        return hmac.new(self._hash_key, b"tenant:" + tenant_id.encode(), hashlib.sha256).digest()

    def _key(self, tenant_id: str, kind: str, value: str) -> str:
        msg = f"{kind}:{value}".encode()
        return hmac.new(self.tenant_key(tenant_id), msg, hashlib.sha256).hexdigest()

    def assess(self, tenant_id: str, session_id: str, facts: Assessment) -> Report:
        """Record what this session was seen with, compute its signals, keep and audit them
        (reason codes only). Calling it again with more facts adds to what was seen."""
        with self._db.session() as s:
            report = self.assess_in(s, tenant_id, session_id, facts)
        self.faces.forget(tenant_id)
        return report

    def assess_in(self, s: Session, tenant_id: str, session_id: str,
                  facts: Assessment) -> Report:
        """`assess` in the caller's transaction (the step jobs and the decision): an IP or
        device posted earlier stays in the evidence when this call has none."""
        keys: dict[str, str] = {}
        if facts.ip:
            keys["ip"] = self._key(tenant_id, "ip", facts.ip)
        if facts.device is not None:
            keys["device"] = fingerprint(self.tenant_key(tenant_id), facts.device)
        if facts.document_index:
            keys["document"] = self._key(tenant_id, "document", facts.document_index)
        prior = s.get(SignalResult, session_id)
        ip, device = self._carried(facts, dict(prior.evidence) if prior is not None else {})
        duplicates: tuple[str, ...] = ()
        blocklisted, best = False, None
        if facts.embedding is not None:
            matches = self.faces.search(tenant_id, facts.embedding, exclude_session=session_id)
            matches = [m for m in matches if m.list != "pending"]
            duplicates = tuple(m.session_id for m in matches
                               if m.list == "approved" and m.session_id)
            blocklisted = any(m.list == "blocklist" for m in matches)
            best = matches[0].distance if matches else None
        now = self._clock.now()
        self._observe(s, tenant_id, session_id, keys, now)
        velocity = self._velocity(s, tenant_id, session_id, now)
        if duplicates:
            velocity["face"] = len(duplicates)
        identities = self._device_identities(s, tenant_id, session_id)
        report = evaluate(Observed(ip, facts.document_countries, device[0], device[1],
                                   velocity, identities, duplicates, blocklisted, best,
                                   device_seen=device[2]), self.limits)
        self._store(s, tenant_id, session_id, report, now)
        if facts.embedding is not None and not self.faces.has_session(s, tenant_id, session_id):
            # Pending until the session is approved (signals.sessions.session_changed promotes it).
            self.faces.enrol_in(s, tenant_id, session_id, facts.embedding, "pending")
        return report

    def _carried(self, facts: Assessment, prior: dict[str, Any]
                 ) -> tuple[IpFacts | None, tuple[tuple[str, ...], tuple[str, ...], bool]]:
        """The IP's facts and the device's hints: from this call, else from the evidence of
        an earlier one (the raw IP and attributes are never stored)."""
        if facts.ip:
            ip: IpFacts | None = self.datasets.intel().lookup(facts.ip)
        elif prior.get("ip_seen"):
            ip = IpFacts(country=prior.get("ip_country"), asn=prior.get("ip_asn"),
                         datacenter=bool(prior.get("ip_datacenter")),
                         vpn=bool(prior.get("ip_vpn")), tor=bool(prior.get("ip_tor")))
        else:
            ip = None
        if facts.device is not None:
            return ip, (tuple(automation_hints(facts.device)),
                        tuple(emulator_hints(facts.device)), True)
        return ip, (tuple(prior.get("automation_hints") or ()),
                    tuple(prior.get("emulator_hints") or ()), bool(prior.get("device_seen")))

    def _observe(self, s: Session, tenant_id: str, session_id: str, keys: dict[str, str],
                 now: Any) -> None:
        for kind, key in keys.items():
            seen = s.scalar(select(SignalObservation.id).where(
                SignalObservation.session_id == session_id, SignalObservation.kind == kind,
                SignalObservation.key == key))
            if seen is None:
                s.add(SignalObservation(id=new_id("obs"), tenant_id=tenant_id,
                                        session_id=session_id, kind=kind, key=key,
                                        observed_at=now))
        s.flush()

    def _velocity(self, s: Session, tenant_id: str, session_id: str, now: Any
                  ) -> dict[str, int]:
        """Per kind: other sessions seen with one of this session's keys within the window."""
        mine = select(SignalObservation.kind, SignalObservation.key).where(
            SignalObservation.session_id == session_id).subquery()
        q = (select(SignalObservation.kind,
                    func.count(func.distinct(SignalObservation.session_id)))
             .join(mine, (mine.c.kind == SignalObservation.kind)
                   & (mine.c.key == SignalObservation.key))
             .where(SignalObservation.tenant_id == tenant_id,
                    SignalObservation.session_id != session_id,
                    SignalObservation.observed_at >= now - self.limits.window)
             .group_by(SignalObservation.kind))
        return {kind: int(n) for kind, n in s.execute(q)}

    def _device_identities(self, s: Session, tenant_id: str, session_id: str) -> int:
        """Other documents seen on this session's device (any time): one device, many
        identities."""
        devices = select(SignalObservation.key).where(
            SignalObservation.session_id == session_id, SignalObservation.kind == "device")
        sessions = select(SignalObservation.session_id).where(
            SignalObservation.tenant_id == tenant_id, SignalObservation.kind == "device",
            SignalObservation.key.in_(devices))
        mine = select(SignalObservation.key).where(
            SignalObservation.session_id == session_id, SignalObservation.kind == "document")
        q = select(func.count(func.distinct(SignalObservation.key))).where(
            SignalObservation.tenant_id == tenant_id, SignalObservation.kind == "document",
            SignalObservation.session_id.in_(sessions), SignalObservation.key.not_in(mine))
        return int(s.scalar(q) or 0)

    def _store(self, s: Session, tenant_id: str, session_id: str, report: Report,
               now: Any) -> None:
        row = s.get(SignalResult, session_id)
        if row is None:
            row = SignalResult(session_id=session_id, tenant_id=tenant_id)
            s.add(row)
        row.reasons, row.evidence, row.computed_at = report.reasons, report.signals, now
        self._audit.record_in(s, AuditEvent(
            action="signals.assessed", actor_type="system", tenant_id=tenant_id,
            target_type="session", target_id=session_id,
            details={"reasons": report.reasons}))

    def result(self, tenant_id: str, session_id: str) -> Report:
        with self._db.read() as s:
            row = s.get(SignalResult, session_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound("no signals for this session", code="signals_not_found")
            return Report(dict(row.evidence), list(row.reasons))

    def reasons(self, tenant_id: str, session_id: str) -> list[str]:
        """The reason codes for the decision (empty when the session was never assessed)."""
        try:
            return self.result(tenant_id, session_id).reasons
        except NotFound:
            return []

    def erase_session(self, s: Session, tenant_id: str, session_id: str) -> None:
        """On `session.erased`, in its transaction: observations, result and face go."""
        for model in (SignalObservation, SignalResult):
            s.execute(delete(model).where(model.session_id == session_id))
        self.faces.remove_session(s, tenant_id, session_id)
