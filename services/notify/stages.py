"""The notify chain, run for one receiver integration of one incident revision.

As in Alertmanager's notify pipeline: mute what a silence covers, drop what
need not be sent, then (after recording the intent) deliver with retries
within the receiver's limits and record the outcome, sent or dead-lettered.
Each stage has one method and returns False to stop the chain; ``changes``
collects what the delivery changed in the sent log entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.notify.limits import Limiter
from services.notify.receivers.base import Delivery, DeliveryError, Integration
from services.notify.routing import RouteNode
from services.notify.sentlog import entry_key
from shared.messages import Incident, SentNotification


@dataclass
class Notification:
    partition: int
    entry: SentNotification
    incident: Incident
    integration: Integration
    limiter: Limiter
    route: RouteNode
    changes: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""
    acknowledge: bool = False
    attempts: int = 0
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    error: DeliveryError | None = None

    @property
    def receiver(self) -> str:
        return self.entry.receiver

    @property
    def key(self) -> str:
        return entry_key(self.incident.id, self.receiver, self.integration.name)

    @property
    def repeat(self) -> bool:
        """The receiver already took this revision: this is a repeat_interval resend."""
        return self.entry.revision >= self.incident.revision

    @property
    def delivery(self) -> Delivery:
        key = f"{self.incident.id}-{self.incident.revision}"
        if self.repeat and self.entry.due_at is not None:
            key += f"-repeat-{int(self.entry.due_at.timestamp())}"
        if self.acknowledge:
            key += "-ack"
        return Delivery(self.incident, self.receiver, key, self.repeat, self.acknowledge)


class Stage(Protocol):
    async def process(self, n: Notification) -> bool: ...


class Chain:
    def __init__(self, stages: list[Stage]):
        self.stages = stages

    async def process(self, n: Notification) -> None:
        for stage in self.stages:
            if not await stage.process(n):
                return
