"""Deduplication: a repeat of a known alert with the same status is absorbed.

Alertmanager re-sends every firing alert each ``repeat_interval`` and on every
group change; only a status change is news.

A firing alert also has an end, as in Alertmanager: the ``endsAt`` its sender
gave (Prometheus sends one a few evaluation intervals ahead, and pushes it on
with every re-send), else, for senders that do not send their resolves
(all but Alertmanager, Grafana and JSON webhooks), ``lifecycle.resolve_timeout``
after it was last sent. A repeat pushes the end on; when it passes, the alert
resolves by itself (``lifecycle.Timers``), so an alert whose sender went away
does not fire forever.
"""

from __future__ import annotations

from datetime import timedelta

from services.triage.metrics import ALERTS_DEDUPLICATED, RESOLVED_UNKNOWN
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import AlertState, Timer, duration_ms
from shared.fingerprint import fingerprint
from shared.messages import Alert, AlertStatus
from shared.messages.alert import SOURCE_ALERTMANAGER, sends_resolves


class DedupStep:
    def __init__(self, ignore_labels: list[str], retention: timedelta, resolve_timeout: timedelta):
        self.ignore_labels = ignore_labels
        self.retention = duration_ms(retention)
        self.resolve_timeout = duration_ms(resolve_timeout)

    def identity(self, alert: Alert) -> str:
        """Alertmanager's fingerprint when it sent one, else a hash of the labels
        that matter (ingest hashed all of them)."""
        if self.ignore_labels and alert.source != SOURCE_ALERTMANAGER:
            return fingerprint(alert.labels, self.ignore_labels)
        return alert.fingerprint

    def ends(self, alert: Alert, at: int) -> int | None:
        """When a firing alert sent at ``at`` ends unless it is sent again."""
        if alert.ends_at is not None:
            return round(alert.ends_at.timestamp() * 1000)
        if sends_resolves(alert.source) or not self.resolve_timeout:
            return None
        return at + self.resolve_timeout

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        alert = event.alert
        if not event.ended:
            event.fingerprint = self.identity(alert)
        fp = event.fingerprint
        known = ctx.state.alerts.get(fp)
        if known is not None and (known.status == alert.status or event.at < known.changed_at):
            # A repeat, or older than the change already applied: a batch
            # redelivered after a crash or rebalance, replayed over restored
            # state, changes nothing, but a repeat still says it fires.
            if known.status == alert.status == AlertStatus.FIRING:
                self._push_end(ctx, known, fp, self.ends(alert, event.at))
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
            known.ends = None
            ctx.state.schedule(event.at + self.retention, Timer.EXPIRE_ALERT, fp)
        else:
            known.ends = self.ends(alert, event.at)
            if known.ends is not None:
                ctx.state.schedule(known.ends, Timer.END_ALERT, fp)
        event.state = known
        ctx.dirty_alerts.add(fp)
        return False

    @staticmethod
    def _push_end(ctx: TriageContext, known: AlertState, fp: str, ends: int | None) -> None:
        """A later end from a repeat. The timer already set for the earlier one
        finds it moved and waits again (one timer per alert, not per repeat)."""
        if ends is None or (known.ends is not None and ends <= known.ends):
            return
        if known.ends is None:
            ctx.state.schedule(ends, Timer.END_ALERT, fp)
        known.ends = ends
        ctx.dirty_alerts.add(fp)
