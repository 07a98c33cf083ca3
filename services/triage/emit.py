"""Emitting: every incident the batch changed becomes one new revision on ``corral.incidents``."""

from __future__ import annotations

from typing import Any

from services.triage.metrics import INCIDENTS_OPENED, INCIDENTS_RESOLVED
from services.triage.stages import TriageContext
from services.triage.state import IncidentState
from shared import codec
from shared.kafka.publisher import Record
from shared.messages import Incident, IncidentEvent, IncidentStatus

# Worked out here from the incident's state; every other field of a revision
# is the state's field of the same name.
_DERIVED = (
    "schema_version",
    "revision",
    "event",
    "title",
    "labels",
    "truncated_alerts",
    "explanation",
    "received_at",
    "alerts",
)
COPIED = tuple(name for name in Incident.model_fields if name not in _DERIVED)


def title(incident: IncidentState) -> str:
    """The probable root's name and summary, else the first alert's."""
    listed = incident.members.get(incident.root_cause or "") or next(
        iter(incident.members.values()), None
    )
    if listed is None:
        return incident.title or incident.correlation_key
    shown = codec.read_member(listed)
    name = shown.labels.get("alertname", shown.fingerprint)
    summary = shown.annotations.get("summary") or shown.annotations.get("message", "")
    text = f"{name}: {summary}" if summary else name
    others = incident.size - 1
    return f"{text} (+{others} more)" if others > 0 else text


def next_number(ctx: TriageContext, incident: IncidentState) -> int:
    """The number of the incident's next revision.

    Revisions are acknowledged before the state that records them, so an
    owner that dies in between leaves state one revision behind what it
    wrote; its successor, given the same records again and maybe more in the
    same batch, could write that number again with more in it, which notify
    would take for the change it already sent. So the first revision after a
    restore skips a number: for an incident the state holds, and for one
    first written from records the owner before may have read.
    """
    inherited = incident.inherited or (incident.revision == 0 and ctx.redelivered)
    return incident.revision + (2 if inherited else 1)


def event_of(ctx: TriageContext, incident: IncidentState) -> IncidentEvent:
    if incident.status == IncidentStatus.RESOLVED:
        return IncidentEvent.RESOLVED
    if incident.revision == 0:
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
            incident.inherited = False
            incident.title = message.title
            if message.event == IncidentEvent.RESOLVED:
                INCIDENTS_RESOLVED.labels(incident.priority).inc()
            elif message.event == IncidentEvent.OPENED:
                INCIDENTS_OPENED.labels(incident.priority).inc()
            listed = codec.Listed(message, "alerts", list(incident.members.values()))
            ctx.records.append(Record(self.topic, incident.id, listed))

    @staticmethod
    def revision(ctx: TriageContext, incident: IncidentState) -> Incident:
        """The incident's next revision, leaving its state as it is, without
        its ``alerts``: its record lists the members as the incident holds
        them, encoded (``codec.Listed``)."""
        number = next_number(ctx, incident)
        copied: dict[str, Any] = {name: getattr(incident, name) for name in COPIED}
        explanation = [*incident.explanation]
        if incident.explanation_omitted:
            explanation.append(f"… and {incident.explanation_omitted} more decisions")
        explanation.extend(incident.severity_reason)
        return Incident(
            **copied,
            revision=number,
            event=event_of(ctx, incident),
            title=title(incident),
            labels={**(incident.common_labels or {}), **incident.scoring_labels},
            truncated_alerts=incident.truncated,
            explanation=explanation,
            received_at=ctx.change_received_at.get(incident.id),
            alerts=[],
        )
