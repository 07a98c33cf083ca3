"""Emitting: every incident the batch changed becomes one new revision on ``corral.incidents``."""

from __future__ import annotations

from services.triage.metrics import INCIDENTS_OPENED, INCIDENTS_RESOLVED
from services.triage.stages import TriageContext
from services.triage.state import IncidentState
from shared.kafka.publisher import Record
from shared.messages import Incident, IncidentEvent, IncidentStatus


def common_labels(incident: IncidentState) -> dict[str, str]:
    members = iter(incident.members.values())
    common = dict(next(members).labels)
    for alert in members:
        common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
    return common


def title(incident: IncidentState) -> str:
    first = next(iter(incident.members.values()))
    name = first.labels.get("alertname", first.fingerprint)
    summary = first.annotations.get("summary") or first.annotations.get("message", "")
    text = f"{name}: {summary}" if summary else name
    others = len(incident.members) - 1
    return f"{text} (+{others} more)" if others else text


class EmitStage:
    def __init__(self, topic: str):
        self.topic = topic

    async def process(self, ctx: TriageContext) -> None:
        for incident in ctx.changed.values():
            incident.revision += 1
            if incident.status == IncidentStatus.RESOLVED:
                event = IncidentEvent.RESOLVED
                INCIDENTS_RESOLVED.labels(incident.priority).inc()
            elif incident.revision == 1:
                event = IncidentEvent.OPENED
                INCIDENTS_OPENED.labels(incident.priority).inc()
            else:
                event = IncidentEvent.UPDATED
            message = Incident(
                id=incident.id,
                revision=incident.revision,
                event=event,
                status=incident.status,
                correlation_key=incident.correlation_key,
                title=title(incident),
                labels={**common_labels(incident), **incident.scoring_labels},
                alerts=list(incident.members.values()),
                severity=incident.severity,
                priority=incident.priority,
                score=incident.score,
                flapping=incident.flapping,
                explanation=[*incident.explanation, *incident.severity_reason],
                opened_at=incident.opened_at,
                updated_at=incident.updated_at,
                resolved_at=incident.resolved_at,
                received_at=ctx.change_received_at.get(incident.id),
            )
            ctx.records.append(Record(self.topic, incident.id, message))
