"""The console's indexes (0017, 0023, 0025), daily rollups (0023), decision histograms (0025)."""

from __future__ import annotations

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idproof.db.base import Base
from idproof.verification.models import SessionStep, VerificationSession

# A tenant's sessions newest first (the sessions list, its filters, the CSV export); the id
# is the list's tie-breaker, so the index gives the whole order and no sort is needed.
SESSIONS_BY_TENANT_CREATED = Index("ix_sessions_tenant_created", VerificationSession.tenant_id,
                                   VerificationSession.created_at, VerificationSession.id)
# The live part of the dashboard: a tenant's sessions not yet in the rollups, by date; it
# carries what the dashboard counts, so those counts read the index alone.
SESSIONS_NOT_ROLLED_UP = Index("ix_sessions_tenant_rolled_created",
                               VerificationSession.tenant_id, VerificationSession.rolled_up,
                               VerificationSession.created_at, VerificationSession.status,
                               VerificationSession.submitted_at,
                               VerificationSession.decided_at, VerificationSession.id)
# The dashboard's funnel: the live sessions' steps by session id, read from the index alone
# (the table rows also hold each step's facts and reasons).
STEPS_BY_SESSION = Index("ix_session_steps_session_step_state", SessionStep.session_id,
                         SessionStep.step, SessionStep.state)
# The rollup sweep's work: final sessions not yet counted.
SESSIONS_ROLLUP_DUE = Index("ix_sessions_rolled_status", VerificationSession.rolled_up,
                            VerificationSession.status)


class SessionRollup(Base):
    """Daily counters of final sessions per tenant and creation day (UTC): how many ended in
    each status, were submitted, passed or failed each step, carried each reason, and took
    each whole number of seconds to decide. Final sessions never change, so a counter once
    added stays exact; the sweep (`rollup.roll_up`) adds each session once."""

    __tablename__ = "console_session_rollups"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class DecisionSecondsRollup(Base):
    """Each day's times to decision of its rolled-up sessions, as one histogram: a JSON object
    of whole seconds to sessions. One row a day, not one a distinct value: a 30-day period
    reads 30 rows instead of tens of thousands (decision times are nearly all distinct), and
    the median and p95 stay exact."""

    __tablename__ = "console_decision_seconds"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    hist: Mapped[str] = mapped_column(Text)  # {"<seconds>": sessions, ...}
