"""The triage chain: a batch of alerts passes through stages in order.

Modelled on Alertmanager's notify pipeline: each stage has one method and one
job, and the chain reads as the policy it implements (correlate, score, emit,
persist). Correlation itself is a chain of steps applied to one alert at a
time, in partition order (deduplicate, detect flapping, follow the incident
it belongs to, then the correlation policies in order, then open a new
incident), so that the incidents do not depend on how records were batched.

A failure is contained to what it failed on: an exception in a correlation
step is the alert's (``AlertFailed``; the worker sets that record aside and
runs the batch again without it, on the state it restores), and scoring or
emitting an incident fails for that incident alone (``TriageContext.failed``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.triage.state import AlertState, IncidentState, IndexKey, PartitionState
from shared import codec
from shared.kafka.publisher import Record
from shared.messages import Alert, AlertStatus, IncidentAlert
from shared.messages.alert import AlertContent


@dataclass
class TriageContext:
    """One batch of one input partition (or one tick) on its way through the chain."""

    partition: int
    state: PartitionState
    # Each alert with its record key (``ingest.key_labels``): correlation never
    # crosses the key, whatever the number of partitions. Read once, in order;
    # the worker decodes them as correlation asks, so a batch of thousands
    # never holds all of its alerts decoded at once.
    alerts: Iterable[tuple[Alert, str]] = ()
    # Set on ticks (which bring no alerts): time-driven work up to this wall-clock time.
    now: datetime | None = None
    # The batch holds records the partition's owner before this one may have
    # read, and written revisions for (``PartitionState.inherited_below``).
    redelivered: bool = False
    changed: dict[str, IncidentState] = field(default_factory=dict)
    # Ingest time of the earliest alert behind each change, for latency metrics.
    change_received_at: dict[str, datetime] = field(default_factory=dict)
    reopened: set[str] = field(default_factory=set)
    # Incidents with a change that cannot wait (anything but new members
    # firing; a raise of priority or severity): see ``hold.GrowthHoldStage``.
    urgent: set[str] = field(default_factory=set)
    # State to write to the changelog (a key no longer in state is deleted).
    dirty_alerts: set[str] = field(default_factory=set)
    dirty_incidents: dict[str, IncidentState] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    # The members this batch listed, each with the model its encoding was
    # made from (``list_member``): scoring reads those, not their encodings.
    listed: dict[str, tuple[bytes, IncidentAlert]] = field(default_factory=dict)
    # The stage at work, and the incidents a stage failed on (stage, error, incident).
    stage: str = ""
    failures: list[tuple[str, Exception, IncidentState]] = field(default_factory=list)

    def mark_changed(
        self, incident: IncidentState, alert: Alert | None = None, growth: bool = False
    ) -> None:
        """The incident changed in a way people should hear about: a new revision.
        ``growth``: only a new member firing, news that may wait a moment."""
        self.changed[incident.id] = incident
        self.dirty_incidents[incident.id] = incident
        if not growth:
            self.urgent.add(incident.id)
        if alert is not None:
            self.change_received_at.setdefault(incident.id, alert.received_at)

    def list_member(self, incident: IncidentState, alert: AlertContent, fp: str) -> None:
        """``incident`` lists ``alert`` as it is now (encoded: see ``IncidentState.members``)."""
        shown = codec.listed(alert, fp)
        data = codec.compact(shown)
        incident.members[fp] = data
        self.listed[fp] = (data, shown)

    def member(self, fp: str, data: bytes) -> IncidentAlert:
        """``codec.read_member(data)`` for a member ``fp`` listed as ``data``:
        the model it was made from if this batch listed it."""
        made = self.listed.get(fp)
        return made[1] if made is not None and made[0] is data else codec.read_member(data)

    def touch(self, incident: IncidentState) -> None:
        """The incident's state changed without news: persist, no revision."""
        self.dirty_incidents[incident.id] = incident

    def failed(self, incident: IncidentState, error: Exception) -> None:
        """The stage at work could not do its part for this incident."""
        self.failures.append((self.stage, error, incident))


class AlertFailed(Exception):
    """A correlation step raised on the alert being read: its state may be half
    changed, so the batch must be run again, from restored state, without it."""


@dataclass(slots=True)
class AlertEvent:
    """One alert on its way through the correlation steps."""

    alert: Alert
    fingerprint: str
    boundary: str
    at: int
    state: AlertState | None = None
    previous: AlertStatus | None = None
    # Index keys the policies computed for it, registered where it lands;
    # anchors are the keys that name it as a cause or a service's alert.
    keys: list[IndexKey] = field(default_factory=list)
    anchors: list[IndexKey] = field(default_factory=list)
    # Set for an alert whose end time passed (no record behind it): its
    # fingerprint is already its identity.
    ended: bool = False

    def key(self, kind: str, text: str) -> IndexKey:
        return IndexKey(self.boundary, kind, text)


class Stage(Protocol):
    name: str

    async def process(self, ctx: TriageContext) -> None: ...


class Step(Protocol):
    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        """Handle one alert; True when it is dealt with and later steps must not see it."""
        ...


class Chain:
    def __init__(self, stages: list[Stage]):
        self.stages = stages

    async def process(self, ctx: TriageContext) -> None:
        for stage in self.stages:
            ctx.stage = stage.name
            await stage.process(ctx)
