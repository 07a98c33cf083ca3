"""Triage state on its compacted changelog topic, and back.

``PersistStage`` writes every alert and incident a batch changed, once per
batch (not per repeat); ``PartitionLoader`` rebuilds a partition's state
from those records when the partition is assigned, including what is only
derived (membership counts, the correlation index, timers).
"""

from __future__ import annotations

from services.triage.stages import TriageContext
from services.triage.state import (
    AlertState,
    IncidentState,
    PartitionState,
    Timer,
    kept,
    to_ms,
)
from shared.kafka.publisher import EncodedValue, Record
from shared.messages import AlertStatus, IncidentStatus
from shared.messages.triage_state import AlertRecord, IncidentRecord

ALERT_PREFIX = "a/"
INCIDENT_PREFIX = "i/"


def alert_record(alert: AlertState) -> EncodedValue:
    return EncodedValue(
        AlertRecord.encode(
            alert.status,
            alert.incident,
            alert.changed_at,
            alert.changes or [],
            alert.flapping,
            alert.ends,
        )
    )


def incident_record(incident: IncidentState) -> IncidentRecord:
    return IncidentRecord(
        id=incident.id,
        correlation_key=incident.correlation_key,
        status=incident.status,
        revision=incident.revision,
        title=incident.title,
        opened_at=incident.opened_at,
        updated_at=incident.updated_at,
        resolved_at=incident.resolved_at,
        resolve_due=incident.resolve_due,
        held=incident.held,
        members=list(incident.members.values()),
        common_labels=incident.common_labels or {},
        explanation=incident.explanation,
        explanation_omitted=incident.explanation_omitted,
        root_cause=incident.root_cause,
        keys=list(incident.keys),
        anchors=incident.anchors,
        severity=incident.severity,
        priority=incident.priority,
        score=incident.score,
        severity_reason=incident.severity_reason,
    )


class PersistStage:
    """Changelog records for what changed; they are published after the
    incident revisions (see ``worker.OutputsFirst``), before the commit."""

    name = "persist"

    def __init__(self, topic: str):
        self.topic = topic

    async def process(self, ctx: TriageContext) -> None:
        state = ctx.state
        for fp in sorted(ctx.dirty_alerts):
            alert = state.alerts.get(fp)
            value = None if alert is None else alert_record(alert)
            ctx.records.append(Record(self.topic, ALERT_PREFIX + fp, value, ctx.partition))
        for incident_id in sorted(ctx.dirty_incidents):
            incident = state.incidents.get(incident_id)
            value = None if incident is None else incident_record(incident)
            ctx.records.append(
                Record(self.topic, INCIDENT_PREFIX + incident_id, value, ctx.partition)
            )


class PartitionLoader:
    """Collects one partition's changelog records, then builds its state."""

    def __init__(self, settle_ms: int, retention_ms: int):
        self.settle_ms = settle_ms
        self.retention_ms = retention_ms
        self.alerts: dict[str, AlertRecord] = {}
        self.incidents: dict[str, IncidentRecord] = {}

    def apply(self, key: str, value: bytes | None) -> None:
        if key.startswith(ALERT_PREFIX):
            fp = key[len(ALERT_PREFIX) :]
            if value is None:
                self.alerts.pop(fp, None)
            else:
                self.alerts[fp] = AlertRecord.from_bytes(value)
        elif key.startswith(INCIDENT_PREFIX):
            incident_id = key[len(INCIDENT_PREFIX) :]
            if value is None:
                self.incidents.pop(incident_id, None)
            else:
                self.incidents[incident_id] = IncidentRecord.from_bytes(value)

    def build(self) -> PartitionState:
        state = PartitionState()
        for record in self.incidents.values():
            state.incidents[record.id] = self._incident(record)
        for fp, record in self.alerts.items():
            incident = state.incidents.get(record.incident or "")
            alert = AlertState(
                status=record.status,
                # Share the id string with the incident instead of one copy per alert.
                incident=incident.id if incident is not None else None,
                changed_at=record.changed_at,
                changes=record.changes or None,
                flapping=record.flapping,
                ends=record.ends_at if record.status == AlertStatus.FIRING else None,
            )
            state.alerts[fp] = alert
            state.time = max(state.time, alert.changed_at)
            if alert.ends is not None:
                state.schedule(alert.ends, Timer.END_ALERT, fp)
            if alert.status == AlertStatus.RESOLVED:
                state.schedule(alert.changed_at + self.retention_ms, Timer.EXPIRE_ALERT, fp)
            if alert.flapping:
                state.flapping_alerts += 1
                state.schedule(alert.changed_at + self.settle_ms, Timer.SETTLE, fp)
            if incident is not None:
                incident.member_fps.add(fp)
                incident.firing += alert.status == AlertStatus.FIRING
                if alert.flapping:
                    incident.flapping_members.add(fp)
                    incident.flapping = True
        for incident in state.incidents.values():
            state.time = max(state.time, to_ms(incident.updated_at))
            if incident.status == IncidentStatus.FIRING:
                for key in incident.keys:
                    state.register(incident, key)
            elif incident.resolved_at is not None:
                due = to_ms(incident.resolved_at) + self.retention_ms
                state.schedule(due, Timer.EXPIRE_INCIDENT, incident.id)
            if incident.resolve_due is not None:
                state.schedule(incident.resolve_due, Timer.RESOLVE, incident.id)
        return state

    @staticmethod
    def _incident(record: IncidentRecord) -> IncidentState:
        return IncidentState(
            id=record.id,
            correlation_key=record.correlation_key,
            opened_at=record.opened_at,
            updated_at=record.updated_at,
            members={m.fingerprint: kept(m) for m in record.members},
            revision=record.revision,
            status=record.status,
            resolved_at=record.resolved_at,
            explanation=record.explanation,
            severity=record.severity,
            priority=record.priority,
            score=record.score,
            severity_reason=record.severity_reason,
            title=record.title,
            root_cause=record.root_cause,
            common_labels=record.common_labels,
            keys=dict.fromkeys(record.keys),
            anchors=record.anchors,
            resolve_due=record.resolve_due,
            held=record.held,
            explanation_omitted=record.explanation_omitted,
        )
