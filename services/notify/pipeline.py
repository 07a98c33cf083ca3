"""The delivery pipeline, run for one receiver integration of one due sent-log entry.

As in Alertmanager's notify pipeline: mute what a silence or a time interval covers, skip what
need not be sent, record the intent, then send within the receiver's limits
with retries. Each stage has one method: it returns the job to pass on
(possibly changed: an acknowledgement instead of a page) or the outcome that
ends the delivery. The dispatcher records the outcome (``transitions``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from services.notify.entry import EntryKey, SentLogEntry
from services.notify.limits import Limiter
from services.notify.receivers.base import Delivery, DeliveryError, Integration
from services.notify.routing import RouteNode
from shared.messages import Incident, Silence


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery: the entry as it was when it became due, and where it goes."""

    key: EntryKey
    entry: SentLogEntry
    incident: Incident
    integration: Integration
    limiter: Limiter
    route: RouteNode
    acknowledge: Silence | None = None
    """Set when the receiver is to get an acknowledgement (this silence) instead."""

    @property
    def receiver(self) -> str:
        return self.entry.receiver

    @property
    def repeat(self) -> bool:
        """The receiver already took this revision: a ``repeat_interval`` resend."""
        return self.entry.revision >= self.incident.revision

    @property
    def delivery(self) -> Delivery:
        key = f"{self.incident.id}-{self.incident.revision}"
        if self.repeat and self.entry.due_at is not None:
            key += f"-repeat-{int(self.entry.due_at.timestamp())}"
        if self.acknowledge is not None:
            key += "-ack"
        return Delivery(
            self.incident, self.receiver, key, self.repeat, self.acknowledge is not None
        )

    def acknowledging(self, silence: Silence) -> Job:
        return replace(self, acknowledge=silence)


@dataclass(frozen=True, slots=True)
class Muted:
    """A silence holds the delivery back until it ends."""

    silence: Silence


@dataclass(frozen=True, slots=True)
class Held:
    """The route's time intervals hold the delivery back until ``until``."""

    until: datetime


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str
    """skipped_duplicate (a repeat of a resolve) or skipped_resolved (nobody needs it)."""


@dataclass(frozen=True, slots=True)
class Sent:
    attempts: int


@dataclass(frozen=True, slots=True)
class Failed:
    """Given up: dead-lettered with the last error."""

    error: DeliveryError
    attempts: int
    first_attempt_at: datetime
    last_attempt_at: datetime


Outcome = Muted | Held | Skipped | Sent | Failed


def label(outcome: Outcome) -> str:
    """The outcome as ``corral_notifications_total`` counts it."""
    match outcome:
        case Skipped(reason=reason):
            return reason
        case Muted():
            return "silenced"
        case Held():
            return "muted"
        case Sent():
            return "sent"
        case Failed():
            return "failed"


class DeliveryStage(Protocol):
    async def process(self, job: Job) -> Job | Outcome: ...


class DeliveryPipeline:
    def __init__(self, stages: list[DeliveryStage]):
        self.stages = stages

    async def run(self, job: Job) -> tuple[Job, Outcome]:
        """The job as the last stage saw it, and how its delivery ended."""
        for stage in self.stages:
            result = await stage.process(job)
            if not isinstance(result, Job):
                return job, result
            job = result
        raise RuntimeError("the last delivery stage must end the delivery")
