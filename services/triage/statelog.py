"""Triage state on its changelog topic, and back, on the shared state layer.

``PersistStage`` writes every alert and incident a batch changed, once per
batch (not per repeat); ``PartitionRestorer`` rebuilds a partition's state
from those records when the partition is assigned (``shared.kafka.state``),
including what is only derived (membership counts, the correlation index,
timers). An incident's record and its state are one shape: the record's
fields are the state's fields of the same names, copied by name
(``KEPT``) except the few kept in another form.

The members an incident lists have records of their own (``m/``), written
when a member joins the list or changes and deleted when it leaves, before
the incident record that lists them: a revision of a busy incident writes
the member that joined and a small incident record, not the hundred members
again. Restore still reads the version 1 record that held its members.
"""

from __future__ import annotations

import operator
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
from shared.codec import EncodingCache, kept
from shared.kafka.publisher import EncodedValue, Record
from shared.kafka.state import LatestValues
from shared.messages import AlertStatus, IncidentAlert, IncidentStatus

log = structlog.get_logger(__name__)

ALERT_PREFIX = "a/"
INCIDENT_PREFIX = "i/"
MEMBER_PREFIX = "m/"

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
    record: IncidentRecord, members: dict[str, IncidentAlert] | None = None
) -> IncidentState:
    """The incident a record keeps; ``members``: the ``m/`` records' members
    by fingerprint, which a version 2 record lists by reference."""
    fields: dict[str, Any] = {name: getattr(record, name) for name in KEPT}
    if record.listed is None:  # version 1: the record holds its members
        listed = {member.fingerprint: kept(member) for member in record.members or ()}
        saved: tuple[IncidentAlert, ...] = ()  # none in member records yet
    else:
        found = members or {}
        listed = {fp: found[fp] for fp in record.listed if fp in found}
        if len(listed) < len(record.listed):
            # Written before the record, so only a write that was cut short
            # (or refused) leaves one out: list the others.
            log.warning("listed members missing", incident=record.id)
        saved = tuple(listed.values())
    return IncidentState(
        **fields,
        common_labels=record.common_labels,
        keys=dict.fromkeys(map(IndexKey.decode, record.keys)),
        anchors={IndexKey.decode(key): fp for key, fp in record.anchors.items()},
        waiting=None if record.waiting is None else IndexKey.decode(record.waiting),
        members=listed,
        saved=saved,
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


class MemberValue(NamedTuple):
    """A member record's value, encoded when it is published through the
    encodings the revision beside it used."""

    member: IncidentAlert
    cache: EncodingCache[IncidentAlert]

    def to_bytes(self) -> bytes:
        return self.cache.of(self.member)


def member_key(incident_id: str, fp: str) -> str:
    return f"{MEMBER_PREFIX}{incident_id}/{fp}"


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
            if incident is None:  # merged away or expired: its members go too
                self._members(ctx, ctx.dirty_incidents[incident_id], {})
            else:
                self._members(ctx, incident, incident.members)
            head = None if incident is None else incident_record(incident)
            ctx.records.append(
                Record(self.topic, INCIDENT_PREFIX + incident_id, head, ctx.partition)
            )

    def _members(
        self, ctx: TriageContext, incident: IncidentState, listed: dict[str, IncidentAlert]
    ) -> None:
        """Member records for the members ``listed`` now that the changelog
        does not hold (a member that changed is a new object), and tombstones
        for those it holds that are no longer listed."""
        saved, now = incident.saved, tuple(listed.values())
        gone: tuple[IncidentAlert, ...] = ()
        if len(saved) <= len(now) and all(map(operator.is_, saved, now)):
            written = now[len(saved) :]  # the list only grew, the usual change
        else:
            kept = set(map(id, saved))
            written = tuple(member for member in now if id(member) not in kept)
            gone = tuple(member for member in saved if member.fingerprint not in listed)
        for member in written:
            key = member_key(incident.id, member.fingerprint)
            value = MemberValue(member, self.members)
            ctx.records.append(Record(self.topic, key, value, ctx.partition))
        for member in gone:
            key = member_key(incident.id, member.fingerprint)
            ctx.records.append(Record(self.topic, key, None, ctx.partition))
        incident.saved = now


class PartitionRestorer(LatestValues):
    """Collects one partition's changelog records, then builds its state."""

    def __init__(self, settle_ms: int, retention_ms: int):
        super().__init__()
        self.settle_ms = settle_ms
        self.retention_ms = retention_ms

    def build(self) -> PartitionState:
        state = PartitionState()
        alerts: dict[str, AlertRecord] = {}
        heads: list[IncidentRecord] = []
        members: dict[str, dict[str, IncidentAlert]] = {}
        for key, record in self.decoded(_state_record):
            if isinstance(record, IncidentRecord):
                heads.append(record)
            elif isinstance(record, IncidentAlert):
                incident_id = key[len(MEMBER_PREFIX) :].split("/", 1)[0]
                members.setdefault(incident_id, {})[record.fingerprint] = kept(record)
            elif record is not None:
                alerts[key[len(ALERT_PREFIX) :]] = record
        for head in heads:
            state.incidents[head.id] = incident_state(head, members.get(head.id))
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


def _state_record(key: str, value: bytes) -> AlertRecord | IncidentRecord | IncidentAlert | None:
    if key.startswith(ALERT_PREFIX):
        return AlertRecord.from_bytes(value)
    if key.startswith(INCIDENT_PREFIX):
        return IncidentRecord.from_bytes(value)
    if key.startswith(MEMBER_PREFIX):
        return IncidentAlert.model_validate_json(value)
    return None  # not a triage state key: nothing to restore
