"""Grouping: alerts with equal values of the ``group_by`` labels form one incident.

A new alert joins its group's incident while that incident fires and changed
less than ``group_window`` ago; otherwise it opens a new incident. An
incident resolves when all of its alerts resolved.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from services.triage.metrics import CORRELATIONS
from services.triage.stages import TriageContext
from services.triage.state import IncidentState
from shared.messages import Alert, AlertStatus, IncidentAlert, IncidentStatus


def incident_id(correlation_key: str, alert: Alert) -> str:
    """Derived from the input, so replaying the same alerts yields the same ids."""
    seed = f"{correlation_key}\x00{alert.fingerprint}\x00{alert.received_at.isoformat()}"
    return hashlib.blake2b(seed.encode(), digest_size=8).hexdigest()


def member(alert: Alert) -> IncidentAlert:
    return IncidentAlert(
        fingerprint=alert.fingerprint,
        status=alert.status,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        generator_url=alert.generator_url,
    )


class GroupStage:
    def __init__(self, group_by: list[str], window: timedelta):
        self.group_by = group_by
        self.window = window

    def key(self, alert: Alert) -> str:
        return ",".join(f"{name}={alert.labels.get(name, '')}" for name in self.group_by)

    async def process(self, ctx: TriageContext) -> None:
        state = ctx.state
        for alert in ctx.alerts:
            incident = self._find(ctx, alert)
            if incident is None:
                if alert.status == AlertStatus.RESOLVED:
                    continue  # its incident is gone; nothing left to resolve
                incident = self._open(ctx, alert)
            incident.members[alert.fingerprint] = member(alert)
            incident.updated_at = alert.received_at
            state.alert_incident[alert.fingerprint] = incident.id
            if incident.all_resolved:
                incident.status = IncidentStatus.RESOLVED
                incident.resolved_at = alert.received_at
            ctx.mark_changed(incident, alert)

    def _find(self, ctx: TriageContext, alert: Alert) -> IncidentState | None:
        state = ctx.state
        known = state.alert_incident.get(alert.fingerprint)
        if known in state.incidents:
            incident = state.incidents[known]
            if alert.status == AlertStatus.RESOLVED or incident.status == IncidentStatus.FIRING:
                return incident
        key = self.key(alert)
        latest = state.incidents.get(state.open_by_key.get(key, ""))
        if (
            latest is not None
            and latest.status == IncidentStatus.FIRING
            and alert.received_at - latest.updated_at <= self.window
        ):
            latest.explanation.append(
                f"{alert.name or alert.fingerprint} joined: same {', '.join(self.group_by)} "
                f"({key}) within {self.window}"
            )
            CORRELATIONS.labels("group_by").inc()
            return latest
        return None

    def _open(self, ctx: TriageContext, alert: Alert) -> IncidentState:
        key = self.key(alert)
        incident = IncidentState(
            id=incident_id(key, alert),
            correlation_key=key,
            opened_at=alert.received_at,
            updated_at=alert.received_at,
            explanation=[f"opened by {alert.name or alert.fingerprint}: grouped by {key}"],
        )
        ctx.state.incidents[incident.id] = incident
        ctx.state.open_by_key[key] = incident.id
        CORRELATIONS.labels("new").inc()
        return incident
