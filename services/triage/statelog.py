"""Triage state on its changelog topic, and back, on the shared state layer.

``PersistStage`` writes every alert and incident a batch changed, once per
batch (not per repeat); ``PartitionRestorer`` rebuilds a partition's state
from those records when the partition is assigned (``shared.kafka.state``),
including what is only derived (membership counts, the correlation index,
timers). An incident's record and its state are one shape: the record's
fields are the state's fields of the same names, copied by name
(``KEPT``) except the few kept in another form.
"""

from __future__ import annotations

from typing import Any

from services.triage.records import AlertRecord, IncidentRecord
from services.triage.stages import TriageContext
from services.triage.state import (
    AlertState,
    IncidentState,
    IndexKey,
    PartitionState,
    Timer,
    to_ms,
)
from shared import codec
from shared.codec import EncodingCache, kept
from shared.kafka.publisher import EncodedValue, Record
from shared.kafka.state import LatestValues
from shared.messages import AlertStatus, IncidentAlert, IncidentStatus

ALERT_PREFIX = "a/"
INCIDENT_PREFIX = "i/"

# Kept by the record in another form than the state holds it.
_CONVERTED = ("schema_version", "common_labels", "keys", "anchors", "waiting", "members")
KEPT = tuple(name for name in IncidentRecord.model_fields if name not in _CONVERTED)
"""The incident fields a record keeps as the state holds them."""


def incident_record(incident: IncidentState) -> IncidentRecord:
    fields: dict[str, Any] = {name: getattr(incident, name) for name in KEPT}
    # Built from state that is valid by construction: no validation needed.
    return IncidentRecord.model_construct(
        **fields,
        common_labels=incident.common_labels or {},
        keys=[key.encoded for key in incident.keys],
        anchors={key.encoded: fp for key, fp in incident.anchors.items()},
        waiting=None if incident.waiting is None else incident.waiting.encoded,
        members=list(incident.members.values()),
    )


def incident_state(record: IncidentRecord) -> IncidentState:
    fields: dict[str, Any] = {name: getattr(record, name) for name in KEPT}
    return IncidentState(
        **fields,
        common_labels=record.common_labels,
        keys=dict.fromkeys(map(IndexKey.decode, record.keys)),
        anchors={IndexKey.decode(key): fp for key, fp in record.anchors.items()},
        waiting=None if record.waiting is None else IndexKey.decode(record.waiting),
        members={member.fingerprint: kept(member) for member in record.members},
    )


def alert_record(alert: AlertState) -> EncodedValue:
    return EncodedValue(
        codec.alert_record(
            AlertRecord.SCHEMA_VERSION,
            alert.status.value,
            alert.incident,
            alert.changed_at,
            alert.changes or [],
            alert.flapping,
            alert.ends,
        )
    )


class PersistStage:
    """Changelog records for what changed; they are published after the
    incident revisions (see ``worker.OutputsFirst``), before the commit."""

    name = "persist"

    def __init__(self, topic: str, members: EncodingCache[IncidentAlert]):
        self.topic = topic
        self.members = members

    async def process(self, ctx: TriageContext) -> None:
        state = ctx.state
        for fp in sorted(ctx.dirty_alerts):
            alert = state.alerts.get(fp)
            value = None if alert is None else alert_record(alert)
            ctx.records.append(Record(self.topic, ALERT_PREFIX + fp, value, ctx.partition))
        for incident_id in sorted(ctx.dirty_incidents):
            incident = state.incidents.get(incident_id)
            listed = None
            if incident is not None:
                listed = codec.Listed(incident_record(incident), "members", self.members)
            ctx.records.append(
                Record(self.topic, INCIDENT_PREFIX + incident_id, listed, ctx.partition)
            )


class PartitionRestorer(LatestValues):
    """Collects one partition's changelog records, then builds its state."""

    def __init__(self, settle_ms: int, retention_ms: int):
        super().__init__()
        self.settle_ms = settle_ms
        self.retention_ms = retention_ms

    def build(self) -> PartitionState:
        state = PartitionState()
        alerts: dict[str, AlertRecord] = {}
        for key, record in self.decoded(_state_record):
            if isinstance(record, IncidentRecord):
                state.incidents[record.id] = incident_state(record)
            elif record is not None:
                alerts[key[len(ALERT_PREFIX) :]] = record
        for fp, record in alerts.items():
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
                for index_key in incident.keys:
                    state.register(incident, index_key)
            elif incident.resolved_at is not None:
                due = to_ms(incident.resolved_at) + self.retention_ms
                state.schedule(due, Timer.EXPIRE_INCIDENT, incident.id)
            if incident.resolve_due is not None:
                state.schedule(incident.resolve_due, Timer.RESOLVE, incident.id)
            if incident.announce_at is not None:
                state.schedule(incident.announce_at, Timer.RELEASE, incident.id)
        return state


def _state_record(key: str, value: bytes) -> AlertRecord | IncidentRecord | None:
    if key.startswith(ALERT_PREFIX):
        return AlertRecord.from_bytes(value)
    if key.startswith(INCIDENT_PREFIX):
        return IncidentRecord.from_bytes(value)
    return None  # not a triage state key: nothing to restore
