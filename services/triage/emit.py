"""Emitting: every incident the batch changed becomes one new revision on ``corral.incidents``."""

from __future__ import annotations

from services.triage.metrics import INCIDENTS_OPENED, INCIDENTS_RESOLVED
from services.triage.stages import TriageContext
from services.triage.state import IncidentState
from shared.kafka.publisher import Record
from shared.messages import Incident, IncidentEvent, IncidentStatus


def title(incident: IncidentState) -> str:
    """The probable root's name and summary, else the first alert's."""
    shown = incident.members.get(incident.root_cause or "") or next(
        iter(incident.members.values()), None
    )
    if shown is None:
        return incident.title or incident.correlation_key
    name = shown.labels.get("alertname", shown.fingerprint)
    summary = shown.annotations.get("summary") or shown.annotations.get("message", "")
    text = f"{name}: {summary}" if summary else name
    others = len(incident.member_fps) - 1
    return f"{text} (+{others} more)" if others > 0 else text


def event_of(ctx: TriageContext, incident: IncidentState, revision: int) -> IncidentEvent:
    if incident.status == IncidentStatus.RESOLVED:
        return IncidentEvent.RESOLVED
    if revision == 1:
        return IncidentEvent.OPENED
    if incident.id in ctx.reopened:
        return IncidentEvent.REOPENED
    return IncidentEvent.UPDATED


class EmitStage:
    name = "emit"

    def __init__(self, topic: str):
        self.topic = topic

    async def process(self, ctx: TriageContext) -> None:
        for incident in ctx.changed.values():
            try:
                message = self.revision(ctx, incident)
            except Exception as exc:
                # This incident's revision cannot be written; its state keeps
                # the revision number it had, and its next change tries again.
                ctx.failed(incident, exc)
                continue
            incident.revision = message.revision
            incident.title = message.title
            if message.event == IncidentEvent.RESOLVED:
                INCIDENTS_RESOLVED.labels(incident.priority).inc()
            elif message.event == IncidentEvent.OPENED:
                INCIDENTS_OPENED.labels(incident.priority).inc()
            ctx.records.append(Record(self.topic, incident.id, message))

    @staticmethod
    def revision(ctx: TriageContext, incident: IncidentState) -> Incident:
        """The incident's next revision, leaving its state as it is."""
        revision = incident.revision + 1
        explanation = [*incident.explanation]
        if incident.explanation_omitted:
            explanation.append(f"… and {incident.explanation_omitted} more decisions")
        explanation.extend(incident.severity_reason)
        return Incident(
            id=incident.id,
            revision=revision,
            event=event_of(ctx, incident, revision),
            status=incident.status,
            correlation_key=incident.correlation_key,
            title=title(incident),
            labels={**(incident.common_labels or {}), **incident.scoring_labels},
            alerts=list(incident.members.values()),
            truncated_alerts=incident.truncated,
            severity=incident.severity,
            priority=incident.priority,
            score=incident.score,
            explanation=explanation,
            root_cause=incident.root_cause,
            flapping=incident.flapping,
            merged_into=incident.merged_into,
            opened_at=incident.opened_at,
            updated_at=incident.updated_at,
            resolved_at=incident.resolved_at,
            received_at=ctx.change_received_at.get(incident.id),
        )
