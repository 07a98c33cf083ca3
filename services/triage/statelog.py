"""Triage state on its changelog topic, and back, on the shared state layer.

``PersistStage`` writes every alert and incident a batch changed, once per
batch (not per repeat); ``PartitionRestorer`` rebuilds a partition's state
from those records when the partition is assigned (``shared.kafka.state``),
including what is only derived (membership counts, the correlation index,
timers). An incident's record and its state are one shape: the record's
fields are the state's fields of the same names, copied by name
(``KEPT``) except the few kept in another form.

The members an incident lists are in their alerts' records, which are
written whenever the alert joins, changes or moves (before the incident
record that lists them): a revision of a busy incident writes the alert
that joined and a small incident record, not the hundred members again.
Restore still reads the version 1 incident record that held its members.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import structlog

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
from shared.kafka.publisher import Encoded, EncodedValue, Record
from shared.kafka.state import LatestValues
from shared.messages import AlertStatus, IncidentStatus

log = structlog.get_logger(__name__)

ALERT_PREFIX = "a/"
INCIDENT_PREFIX = "i/"
OWNER_KEY = "o/owner"

# Kept by the record in another form than the state holds it.
_CONVERTED = (
    "schema_version",
    "common_labels",
    "keys",
    "anchors",
    "waiting",
    "listed",
    "members",
)
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
        listed=list(incident.members),
    )


def incident_state(
    record: IncidentRecord, members: dict[str, bytes] | None = None
) -> IncidentState:
    """The incident a record keeps; ``members``: its members by fingerprint,
    as the records of its alerts carry them (encoded), which a version 2
    record lists."""
    fields: dict[str, Any] = {name: getattr(record, name) for name in KEPT}
    unsaved = record.listed is None
    if record.listed is None:  # version 1: the record holds its members
        listed = {member.fingerprint: codec.compact(member) for member in record.members or ()}
    else:
        found = members or {}
        position = {fp: i for i, fp in enumerate(record.listed)}
        # Keyed by the strings the alerts' records gave (the state keeps those
        # already), in the order the record lists them.
        kept = sorted((fp for fp in found if fp in position), key=position.__getitem__)
        listed = {fp: found[fp] for fp in kept}
        if len(listed) < len(record.listed):
            # Written before the incident's record, so only a write that was
            # cut short (or refused) leaves one out: list the others.
            log.warning("listed members missing", incident=record.id)
    return IncidentState(
        **fields,
        common_labels=record.common_labels,
        keys=dict.fromkeys(map(IndexKey.decode, record.keys)),
        anchors={IndexKey.decode(key): fp for key, fp in record.anchors.items()},
        waiting=None if record.waiting is None else IndexKey.decode(record.waiting),
        members=listed,
        members_unsaved=unsaved,
        inherited=True,
    )


def alert_record(alert: AlertState) -> bytes:
    return codec.alert_record(
        AlertRecord.SCHEMA_VERSION,
        alert.status.value,
        alert.incident,
        alert.changed_at,
        alert.changes or [],
        alert.flapping,
        alert.ends,
    )


class AlertValue(NamedTuple):
    """An alert's record with the member its incident lists, spliced in when
    published (not held encoded twice meanwhile: see ``codec.Listed``)."""

    record: bytes
    member: bytes

    def to_bytes(self) -> bytes:
        return codec.with_last(self.record, "member", self.member)


class PersistStage:
    """Changelog records for what changed; they are published after the
    incident revisions (see ``worker.OutputsFirst``), before the commit."""

    name = "persist"

    def __init__(self, topic: str):
        self.topic = topic

    async def process(self, ctx: TriageContext) -> None:
        state = ctx.state
        dirty = ctx.dirty_alerts
        for incident_id in ctx.dirty_incidents:
            incident = state.incidents.get(incident_id)
            if incident is not None and incident.members_unsaved:
                dirty = dirty | set(incident.members)
                incident.members_unsaved = False
        for fp in sorted(dirty):
            alert = state.alerts.get(fp)
            ctx.records.append(
                Record(
                    self.topic,
                    ALERT_PREFIX + fp,
                    self._alert(state, fp, alert),
                    ctx.partition,
                )
            )
        for incident_id in sorted(ctx.dirty_incidents):
            incident = state.incidents.get(incident_id)
            head = None if incident is None else incident_record(incident)
            ctx.records.append(
                Record(self.topic, INCIDENT_PREFIX + incident_id, head, ctx.partition)
            )

    @staticmethod
    def _alert(state: PartitionState, fp: str, alert: AlertState | None) -> Encoded | None:
        if alert is None:
            return None
        record = alert_record(alert)
        incident = state.incidents.get(alert.incident or "")
        member = None if incident is None else incident.members.get(fp)
        if member is None:
            return EncodedValue(record)
        return AlertValue(record, member)


class PartitionRestorer(LatestValues):
    """Collects one partition's changelog records, then builds its state."""

    def __init__(self, settle_ms: int, retention_ms: int):
        super().__init__()
        self.settle_ms = settle_ms
        self.retention_ms = retention_ms

    def build(self) -> PartitionState:
        # Not even an owner's mark: nothing of the input was read before.
        state = PartitionState(inherited_below=None if self.values else 0)
        heads: list[IncidentRecord] = []
        members: dict[str, dict[str, bytes]] = {}
        times: dict[int, int] = {}  # one int object per time, as the alerts of a batch share
        # Each alert's record is let go as soon as it is read: holding them
        # all (with their members read into models) until the state is built
        # left a restored worker with several times the memory of one that
        # built the same state from alerts, in pages the objects kept since
        # are scattered over.
        for key, record in self.decoded(_state_record):
            if isinstance(record, IncidentRecord):
                heads.append(record)
            elif record is not None:
                fp = key[len(ALERT_PREFIX) :]
                state.alerts[fp] = AlertState(
                    status=record.status,
                    incident=record.incident,
                    changed_at=times.setdefault(record.changed_at, record.changed_at),
                    changes=record.changes or None,
                    flapping=record.flapping,
                    ends=record.ends_at if record.status == AlertStatus.FIRING else None,
                )
                if record.member is not None and record.incident is not None:
                    members.setdefault(record.incident, {})[fp] = codec.compact(record.member)
        for head in heads:
            state.incidents[head.id] = incident_state(head, members.get(head.id))
        for fp, alert in state.alerts.items():
            incident = state.incidents.get(alert.incident or "")
            # Share the id string with the incident instead of one copy per alert.
            alert.incident = incident.id if incident is not None else None
            state.time = max(state.time, alert.changed_at)
            if alert.ends is not None:
                state.schedule(alert.ends, Timer.END_ALERT, fp)
            if alert.status == AlertStatus.RESOLVED:
                state.schedule(alert.changed_at + self.retention_ms, Timer.EXPIRE_ALERT, fp)
            if alert.flapping:
                state.flapping_alerts += 1
                state.schedule(alert.changed_at + self.settle_ms, Timer.SETTLE, fp)
            if incident is not None:
                incident.include(fp, None, 0)
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
