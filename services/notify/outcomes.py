"""What notify tells the incidents service on ``corral.notify.outcomes``.

One ``DeliveryOutcome`` when each delivery ends (sent, failed, held by a
silence; a delivery found not needed is not one), and one ``cancelled`` for
an escalation step that people's action stopped before it paged. Keyed by
incident id, written before the sent log records the end of the delivery:
a crash in between writes it again, which the incidents service absorbs
(an outcome is identified by its key, receiver, integration and status).
"""

from __future__ import annotations

from datetime import datetime

from services.notify.entry import SentLogEntry
from services.notify.escalation import Policy
from services.notify.pipeline import Failed, Job, Muted, Outcome, Sent
from shared.kafka.publisher import Record
from shared.messages import DeliveryOutcome, DeliveryStatus, NotificationKind


def delivery_outcome(job: Job, outcome: Outcome, at: datetime) -> DeliveryOutcome | None:
    match outcome:
        case Sent(attempts=attempts):
            status, error = DeliveryStatus.SENT, None
        case Failed(error=problem, attempts=attempts):
            status, error = DeliveryStatus.FAILED, str(problem)
        case Muted():
            status, error, attempts = DeliveryStatus.SILENCED, None, 0
        case _:
            return None
    policy = job.plan.route.escalation
    step = job.step
    return DeliveryOutcome(
        incident_id=job.incident.id,
        revision=job.incident.revision,
        receiver=job.receiver,
        integration=job.integration.name,
        notification=job.kind,
        status=status,
        key=job.idempotency_key,
        at=at,
        attempts=attempts,
        escalation_policy=policy.name if step is not None and policy is not None else None,
        escalation_step=step,
        error=error,
    )


def cancelled(
    entry: SentLogEntry, policy: Policy, occurrence: int, at: datetime
) -> DeliveryOutcome:
    """An escalation step people's action stopped before it paged this receiver."""
    assert entry.incident is not None
    revision = entry.incident.revision
    fresh = revision > entry.revision
    return DeliveryOutcome(
        incident_id=entry.incident_id,
        revision=revision,
        receiver=entry.receiver,
        integration=entry.integration,
        notification=NotificationKind.TRIGGER if fresh else NotificationKind.REPEAT,
        status=DeliveryStatus.CANCELLED,
        key=f"{entry.incident_id}-{revision}-step-{occurrence}",
        at=at,
        attempts=0,
        escalation_policy=policy.name,
        escalation_step=policy.step(occurrence),
    )


def record(topic: str, outcome: DeliveryOutcome) -> Record:
    return Record(topic, outcome.incident_id, outcome)
