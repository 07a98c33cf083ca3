"""The triage chain: a batch of alerts passes through stages in order.

Modelled on Alertmanager's notify pipeline: each stage has one method and one
job, and the chain reads as the policy it implements (deduplicate, correlate,
score, emit). A stage may drop alerts from ``ctx.alerts`` (absorbed repeats),
mark incidents changed, or add records to publish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.triage.state import IncidentState, PartitionState
from shared.kafka.publisher import Record
from shared.messages import Alert


@dataclass
class TriageContext:
    """One batch of one input partition on its way through the chain."""

    partition: int
    state: PartitionState
    alerts: list[Alert]
    changed: dict[str, IncidentState] = field(default_factory=dict)
    # Ingest time of the earliest alert behind each change, for latency metrics.
    change_received_at: dict[str, datetime] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)

    def mark_changed(self, incident: IncidentState, alert: Alert) -> None:
        self.changed[incident.id] = incident
        self.change_received_at.setdefault(incident.id, alert.received_at)


class Stage(Protocol):
    async def process(self, ctx: TriageContext) -> None: ...


class Chain:
    def __init__(self, stages: list[Stage]):
        self.stages = stages

    async def process(self, ctx: TriageContext) -> None:
        for stage in self.stages:
            await stage.process(ctx)
