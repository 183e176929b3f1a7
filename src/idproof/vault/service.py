"""Vault use cases: tokenize a value, detokenize with a stated purpose, forget a subject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import structlog
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from idproof.audit.events import AuditEvent
from idproof.audit.service import AuditService
from idproof.core.clock import Clock, SystemClock
from idproof.core.errors import Gone, NotFound, TooManyRequests, ValidationFailed
from idproof.crypto.errors import SubjectKeyShredded
from idproof.crypto.fields import bind_protection
from idproof.crypto.protection import DataProtection
from idproof.db.engine import Database
from idproof.db.tenancy import scoped
from idproof.security.rate_limit import RateLimiter
from idproof.vault.models import VaultToken
from idproof.vault.tokens import PurposeError, check_kind, clean_purpose, new_token

log = structlog.get_logger("idproof.vault")
_RATE_NAME = "vault-detokenize"


@dataclass(frozen=True, slots=True)
class Detokenized:
    token: str
    kind: str
    value: str

    def __repr__(self) -> str:  # never print the value by accident
        return f"Detokenized(token={self.token!r}, kind={self.kind!r})"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks, for the audit record and the per-client rate limit."""

    client_id: str
    ip: str | None = None
    request_id: str | None = None


class VaultService:
    def __init__(self, db: Database, protection: DataProtection, audit: AuditService,
                 limiter: RateLimiter, *, detokenize_limit: str = "60/minute",
                 clock: Clock | None = None) -> None:
        self._db = db
        self._protection = protection
        self._audit = audit
        self._limiter = limiter
        self._limit = detokenize_limit
        self._clock = clock or SystemClock()

    def tokenize(self, tenant_id: str, kind: str, value: str, subject_key_id: str) -> str:
        """The tenant's token for this value of this kind, created on first sight.

        A value already tokenized in this tenant keeps its first token (and stays sealed under
        the first subject's key); another tenant gets an unrelated token.
        """
        check_kind(kind)
        if not isinstance(value, str) or not value.strip():
            raise ValueError("value must be a non-empty string")
        index = self._protection.blind_index(tenant_id, kind, value)
        for attempt in range(2):
            try:
                return self._tokenize_once(tenant_id, kind, value, subject_key_id, index)
            except IntegrityError:
                # A concurrent tokenize of the same value won the unique index; use its token.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _tokenize_once(self, tenant_id: str, kind: str, value: str, subject_key_id: str,
                       index: str) -> str:
        with self._db.session() as s:
            bind_protection(s, self._protection)
            row = s.scalar(scoped(VaultToken, tenant_id).where(
                VaultToken.kind == kind, VaultToken.blind_index == index))
            if row is not None:
                if row.value_sealed is not None and \
                        self._protection.key_is_live(tenant_id, row.subject_key_id):
                    return row.token
                # Its subject was erased: release the index so the value gets a new token.
                row.blind_index = None
                s.flush()
            row = VaultToken(token=new_token(kind), tenant_id=tenant_id, kind=kind,
                             blind_index=index, subject_key_id=subject_key_id,
                             created_at=self._clock.now())
            s.add(row)
            row.value = value  # sealed at assignment: the session is bound and the row known
            s.flush()
            return row.token

    def detokenize(self, tenant_id: str, token: str, purpose: str, caller: Caller
                   ) -> Detokenized:
        """The value behind `token`, for a stated purpose; audited, rate limited per client."""
        retry = self._limiter.hit(_RATE_NAME, self._limit, caller.client_id)
        if retry is not None:
            log.warning("vault_detokenize_rate_limited", client_id=caller.client_id)
            raise TooManyRequests("too many detokenize calls; slow down",
                                  code="rate_limited", headers={"Retry-After": str(retry)})
        try:
            stated = clean_purpose(purpose)
        except PurposeError as exc:
            raise ValidationFailed(str(exc), code=exc.code) from None
        outcome = self._read(tenant_id, token, stated, caller)
        if isinstance(outcome, Detokenized):
            return outcome
        self._audit.record(AuditEvent(
            action="vault.detokenize_refused", outcome="failure", actor_type="client",
            actor_id=caller.client_id, tenant_id=tenant_id, target_type="vault_token",
            target_id=token if outcome == "erased" else None, ip=caller.ip,
            request_id=caller.request_id, purpose=stated, details={"reason": outcome}))
        if outcome == "erased":
            raise Gone("the data behind this token was erased", code="token_erased")
        raise NotFound("no such token", code="token_not_found")

    def _read(self, tenant_id: str, token: str, purpose: str, caller: Caller
              ) -> Detokenized | str:
        with self._db.session() as s:
            bind_protection(s, self._protection)
            row = s.scalar(scoped(VaultToken, tenant_id).where(VaultToken.token == token))
            if row is None:
                return "not_found"
            try:
                value = row.value
            except SubjectKeyShredded:
                value = None
            if value is None:
                return "erased"
            self._audit.record_in(s, AuditEvent(
                action="vault.detokenized", actor_type="client", actor_id=caller.client_id,
                tenant_id=tenant_id, target_type="vault_token", target_id=token, ip=caller.ip,
                request_id=caller.request_id, purpose=purpose, details={"kind": row.kind}))
            return Detokenized(row.token, row.kind, value)

    def forget_subject(self, tenant_id: str, subject_key_id: str) -> int:
        """Erase the subject's vault entries: drop ciphertext and blind index, keep the token.

        Called by erasure next to `DataProtection.shred`; the tokens then answer 410.
        """
        with self._db.session() as s:
            result = cast(CursorResult[Any], s.execute(
                update(VaultToken)
                .where(VaultToken.tenant_id == tenant_id,
                       VaultToken.subject_key_id == subject_key_id)
                .values({VaultToken.blind_index: None, VaultToken.value_sealed: None})))
            return int(result.rowcount or 0)

    def tokens_of(self, tenant_id: str, subject_key_id: str) -> list[str]:
        with self._db.session() as s:
            return list(s.scalars(select(VaultToken.token).where(
                VaultToken.tenant_id == tenant_id,
                VaultToken.subject_key_id == subject_key_id)))
