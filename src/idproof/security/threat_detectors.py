"""The detectors over the audit stream and refused uploads: thresholds to alerts."""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from idproof.security.alerts import Alert
from idproof.security.detectors import Threshold, WindowCounter

# Reads of personal data counted against the reader's own baseline.
PII_ACTIONS = frozenset({"session.pii_read", "vault.detokenized", "session.image_viewed"})
DAY = 86_400


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """The thresholds (0 turns one off); see DetectorSettings."""

    failures_per_ip: int
    failures_window: int
    webhook_failures_per_endpoint: int  # per hour
    malformed_uploads_per_ip: int  # per 10 minutes
    sessions_per_client_per_minute: int
    pii_days: int
    pii_factor: float
    pii_minimum: int
    block_seconds: int = 0  # how long an IP block lasts (named in the alert)


def pii_threshold(history: Sequence[int], factor: float, minimum: int) -> int:
    """The smallest count today that `baseline_exceeded` calls anomalous (pure)."""
    if not history:
        return minimum
    return max(minimum, math.floor(factor * statistics.median(history)) + 1)


class Detectors:
    """Counts what the audit stream and the upload checks report, and raises alerts.

    `history(actor_type, actor_id, days)` gives the PII read counts of each of the actor's
    last `days` days (from the audit log); it is asked once per actor per day."""

    def __init__(self, counter: WindowCounter, cfg: DetectorConfig,
                 raise_alert: Callable[[Alert], None], block_ip: Callable[[str], None],
                 history: Callable[[str, str, int], Sequence[int]],
                 today: Callable[[], date]) -> None:
        self._counter = counter
        self._cfg = cfg
        self._alert = raise_alert
        self._block = block_ip
        self._history = history
        self._today = today
        self._pii_limits: dict[tuple[str, str, date], int] = {}
        self._lock = threading.Lock()

    def observe(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The audit listener: each committed event goes to the detector for its action."""
        for row in rows:
            action = row.get("action")
            if action == "session.created":
                self._sessions(row)
            elif action == "webhook.delivery_failed":
                self._webhook_failed(row)
            elif action in ("operator.signin_failed", "operator.signin_refused"):
                # Attempts refused by the sign-in throttle still count, as for clients.
                self._operator_failed(row)
            elif action in PII_ACTIONS:
                self._pii_read(row)

    def malformed_upload(self, ip: str, tenant_id: str | None, code: str) -> None:
        t = Threshold("upload-malformed-ip", self._cfg.malformed_uploads_per_ip, 600)
        if self._counter.count(t, ip):
            self._alert(Alert("malformed_uploads_per_ip", tenant_id, ip, {
                "threshold": t.amount, "window_seconds": t.seconds, "last_code": code}))

    def _sessions(self, row: Mapping[str, Any]) -> None:
        client = row.get("actor_id")
        t = Threshold("sessions-client", self._cfg.sessions_per_client_per_minute, 60)
        if client and self._counter.count(t, str(client)):
            self._alert(Alert("sessions_per_client", row.get("tenant_id"), None, {
                "client_id": client, "threshold": t.amount, "window_seconds": t.seconds}))

    def _webhook_failed(self, row: Mapping[str, Any]) -> None:
        endpoint = (row.get("details") or {}).get("endpoint_id")
        t = Threshold("webhook-fail-endpoint", self._cfg.webhook_failures_per_endpoint, 3600)
        if endpoint and self._counter.count(t, str(endpoint)):
            self._alert(Alert("webhook_failures_per_endpoint", row.get("tenant_id"), None, {
                "endpoint_id": endpoint, "threshold": t.amount, "window_seconds": t.seconds}))

    def client_auth_failed(self, failure: tuple[str, str | None]) -> None:
        """A failed client authentication, (ip, tenant id or None), from the guard: N from
        one IP in the window block the address and alert."""
        ip, tenant_id = failure
        t = Threshold("auth-fail-ip", self._cfg.failures_per_ip, self._cfg.failures_window)
        if self._counter.count(t, ip):
            self._block(ip)
            self._alert(Alert("auth_failures_per_ip", tenant_id, ip, {
                "threshold": t.amount, "window_seconds": t.seconds,
                "blocked_seconds": self._cfg.block_seconds}))

    def _operator_failed(self, row: Mapping[str, Any]) -> None:
        # The seed's rule for operators as for clients: N failures from one IP in the window
        # block the address and alert.
        ip = row.get("ip")
        t = Threshold("operator-fail-ip", self._cfg.failures_per_ip, self._cfg.failures_window)
        if ip and self._counter.count(t, str(ip)):
            self._block(str(ip))
            self._alert(Alert("operator_signin_failures_per_ip", None, str(ip), {
                "threshold": t.amount, "window_seconds": t.seconds}))

    def _pii_read(self, row: Mapping[str, Any]) -> None:
        actor_type, actor_id = row.get("actor_type"), row.get("actor_id")
        if not actor_id or actor_type not in ("client", "operator"):
            return
        limit = self._pii_limit(str(actor_type), str(actor_id))
        t = Threshold("pii-reads", limit, DAY)
        if self._counter.count(t, f"{actor_type}:{actor_id}:{self._today().isoformat()}"):
            self._alert(Alert("pii_reads_above_baseline", row.get("tenant_id"), None, {
                "actor_type": actor_type, "actor_id": actor_id, "reads": limit,
                "baseline_days": self._cfg.pii_days, "factor": self._cfg.pii_factor}))

    def _pii_limit(self, actor_type: str, actor_id: str) -> int:
        """The smallest count today that `baseline_exceeded` calls anomalous (cached a day)."""
        key = (actor_type, actor_id, self._today())
        with self._lock:
            cached = self._pii_limits.get(key)
        if cached is not None:
            return cached
        history = list(self._history(actor_type, actor_id, self._cfg.pii_days))
        n = pii_threshold(history, self._cfg.pii_factor, self._cfg.pii_minimum)
        with self._lock:
            if len(self._pii_limits) > 10_000:
                self._pii_limits.clear()
            self._pii_limits[key] = n
        return n
