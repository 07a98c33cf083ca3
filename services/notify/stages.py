"""The notify chain, per incident revision and receiver integration.

As in Alertmanager's notify pipeline: deduplicate against what was already
sent, deliver with retries, record what was delivered. Each stage has one
method and returns False to stop the chain for this notification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from services.notify.receivers.base import Integration
from shared.kafka.publisher import Record
from shared.messages import Incident


@dataclass
class Notification:
    incident: Incident
    receiver: str
    integration: Integration
    partition: int
    records: list[Record] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.incident.id}/{self.receiver}/{self.integration.name}"


class Stage(Protocol):
    async def process(self, n: Notification) -> bool: ...


class Chain:
    def __init__(self, stages: list[Stage]):
        self.stages = stages

    async def process(self, n: Notification) -> None:
        for stage in self.stages:
            if not await stage.process(n):
                return
