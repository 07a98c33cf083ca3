"""Deduplication: a repeat of a known alert with the same status is absorbed.

Alertmanager re-sends every firing alert each ``repeat_interval`` and on every
group change; only a status change is news.
"""

from __future__ import annotations

from datetime import timedelta

from services.triage.metrics import ALERTS_DEDUPLICATED, RESOLVED_UNKNOWN
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import AlertState, Timer, duration_ms
from shared.fingerprint import fingerprint
from shared.messages import Alert, AlertStatus

ALERTMANAGER = "alertmanager"


class DedupStep:
    def __init__(self, ignore_labels: list[str], retention: timedelta):
        self.ignore_labels = ignore_labels
        self.retention = duration_ms(retention)

    def identity(self, alert: Alert) -> str:
        """Alertmanager's fingerprint when it sent one, else a hash of the labels
        that matter (ingest hashed all of them)."""
        if self.ignore_labels and alert.source != ALERTMANAGER:
            return fingerprint(alert.labels, self.ignore_labels)
        return alert.fingerprint

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        alert = event.alert
        event.fingerprint = fp = self.identity(alert)
        known = ctx.state.alerts.get(fp)
        if known is not None and (known.status == alert.status or event.at < known.changed_at):
            # A repeat, or older than the change already applied: a batch
            # redelivered after a crash or rebalance, replayed over restored
            # state, changes nothing.
            ALERTS_DEDUPLICATED.inc()
            return True
        if known is None and alert.status == AlertStatus.RESOLVED:
            # Resolved before triage saw it fire (or after its state expired):
            # there is no incident to close and nothing to open.
            RESOLVED_UNKNOWN.inc()
            return True
        if known is None:
            known = ctx.state.alerts[fp] = AlertState(alert.status, None, event.at)
        else:
            event.previous = known.status
            known.status = alert.status
            known.changed_at = event.at
        if alert.status == AlertStatus.RESOLVED:
            ctx.state.schedule(event.at + self.retention, Timer.EXPIRE_ALERT, fp)
        event.state = known
        ctx.dirty_alerts.add(fp)
        return False
