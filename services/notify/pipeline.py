"""The delivery pipeline, run for one receiver integration of one due sent-log entry.

As in Alertmanager's notify pipeline: mute what a silence or a time interval covers, skip what
need not be sent, record the intent, then send within the receiver's limits
with retries. Each stage has one method: it returns the job to pass on
(possibly changed: an acknowledgement instead of a page) or the outcome that
ends the delivery. The dispatcher records the outcome (``transitions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from services.notify.changes import changes
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.limits import Limiter
from services.notify.receivers.base import Delivery, DeliveryError, Integration
from services.notify.routing import RouteNode
from shared.messages import Incident, NotificationKind, Silence

PAGING_PRIORITIES = frozenset({"P1", "P2"})

RESPONSES = (NotificationKind.ACKNOWLEDGE, NotificationKind.UNACKNOWLEDGE)
"""What a receiver is told of people's actions (a person's resolve is a RESOLVE
with ``Work.told``)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What an entry's timing depends on in the config: the route that admitted
    it (its escalation policy with it), which priorities page a person, and
    what its integration can be told of people's actions (PagerDuty:
    acknowledge and resolve)."""

    route: RouteNode
    paging: frozenset[str] = PAGING_PRIORITIES
    responses: frozenset[NotificationKind] = frozenset()


@dataclass(frozen=True, slots=True)
class Work:
    """What a due entry is to deliver now."""

    kind: NotificationKind
    step: int | None = None
    """The escalation occurrence it pages (see ``escalation.Policy``)."""
    told: str | None = None
    """For what people did: the response state it tells (acknowledged, firing, resolved)."""


TRIGGER = Work(NotificationKind.TRIGGER)


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery: the entry as it was when it became due, and where it goes."""

    key: EntryKey
    entry: SentLogEntry
    incident: Incident
    integration: Integration
    limiter: Limiter
    plan: Plan
    work: Work = field(default=TRIGGER)
    acknowledge: Silence | None = None
    """Set when the receiver is to get an acknowledgement (this silence) instead."""

    @property
    def route(self) -> RouteNode:
        return self.plan.route

    @property
    def receiver(self) -> str:
        return self.entry.receiver

    @property
    def kind(self) -> NotificationKind:
        if self.acknowledge is not None:
            return NotificationKind.ACKNOWLEDGE
        return self.work.kind

    @property
    def responding(self) -> bool:
        """Telling what people did, not a revision of the incident."""
        return self.work.told is not None

    @property
    def repeat(self) -> bool:
        """The receiver already took this revision: a resend (``repeat_interval``,
        an escalation step)."""
        return not self.responding and self.entry.revision >= self.incident.revision

    @property
    def step(self) -> int | None:
        """The 1-based escalation step it pages, if it does."""
        policy = self.plan.route.escalation
        if self.work.step is None or policy is None:
            return None
        return policy.step(self.work.step)

    @property
    def idempotency_key(self) -> str:
        key = f"{self.incident.id}-{self.incident.revision}"
        response = self.entry.response
        if self.responding and response is not None:
            return f"{key}-{self.work.told}-{response.action_id or 'alerts'}"
        if self.repeat and self.work.step is not None:
            key += f"-step-{self.work.step}"
        elif self.repeat and self.entry.due_at is not None:
            key += f"-repeat-{int(self.entry.due_at.timestamp())}"
        if self.acknowledge is not None:
            key += "-ack"
        return key

    @property
    def delivery(self) -> Delivery:
        shown = None if self.repeat or self.responding else self.entry.shown
        if self.entry.status == "resolved" and not self.responding:
            shown = None  # reopened: a first notification again
        return Delivery(
            self.incident,
            self.receiver,
            self.idempotency_key,
            self.kind,
            changes=changes(shown, self.incident),
            response=self.entry.response,
            reference=self.entry.reference,
            step=self.step,
            silence=self.acknowledge,
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
    """skipped_unchanged (nothing new for the receiver), skipped_duplicate (a
    repeat of a resolve), skipped_merged or skipped_resolved (nobody needs it)."""


UNCHANGED = Skipped("skipped_unchanged")


@dataclass(frozen=True, slots=True)
class Sent:
    attempts: int
    reference: str | None = None
    """The service's id of the message it shows, when it has one to update later."""


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
    """``checks`` decide whether and what to send, writing nothing; ``stages``
    (the intent, the send) then deliver it."""

    def __init__(self, checks: list[DeliveryStage], stages: list[DeliveryStage]):
        self.checks = checks
        self.stages = stages

    async def checked(self, job: Job) -> tuple[Job, Job | Outcome]:
        """The job as the last check saw it, and what the checks made of it:
        the job to deliver, or the outcome one of them ended the delivery with."""
        return await _through(self.checks, job)

    async def run(self, job: Job, checked: bool = False) -> tuple[Job, Outcome]:
        """The job as the last stage saw it, and how its delivery ended;
        ``checked``: the job is what ``checked`` passed on."""
        if not checked:
            job, result = await self.checked(job)
            if not isinstance(result, Job):
                return job, result
            job = result
        job, result = await _through(self.stages, job)
        if isinstance(result, Job):
            raise RuntimeError("the last delivery stage must end the delivery")
        return job, result


async def _through(stages: list[DeliveryStage], job: Job) -> tuple[Job, Job | Outcome]:
    for stage in stages:
        result = await stage.process(job)
        if not isinstance(result, Job):
            return job, result
        job = result
    return job, job
