"""Deduplication: a repeat of a known alert with the same status is absorbed.

Alertmanager re-sends every firing alert each ``repeat_interval`` and on every
group change; only a status change is news.
"""

from __future__ import annotations

from services.triage.metrics import ALERTS_DEDUPLICATED, RESOLVED_UNKNOWN
from services.triage.stages import TriageContext
from shared.messages import AlertStatus


class DedupStage:
    async def process(self, ctx: TriageContext) -> None:
        known = ctx.state.alert_status
        events = []
        for alert in ctx.alerts:
            previous = known.get(alert.fingerprint)
            if previous == alert.status:
                ALERTS_DEDUPLICATED.inc()
                continue
            if previous is None and alert.status == AlertStatus.RESOLVED:
                # Resolved before triage saw it fire (or after its state expired):
                # there is no incident to close and nothing to open.
                RESOLVED_UNKNOWN.inc()
                continue
            known[alert.fingerprint] = alert.status
            events.append(alert)
        ctx.alerts = events
