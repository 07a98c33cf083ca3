"""Recording the outcome: what the receiver took, or a dead letter for what it did not.

A dead letter (``DeadLetter`` on ``corral.notify.dead-letters``) carries the
incident and why it was given up, and is acknowledged before the sent log
forgets the attempt; ``corral dlq replay`` can send it again. A firing
incident is looked at again after ``repeat_interval`` either way: a repeat if
it was sent, one more try if it was not. An acknowledgement is recorded as
status ``acknowledged``, looked at again when its silence ends.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.notify.durable import publish_acked
from services.notify.metrics import DEAD_LETTERS
from services.notify.stages import Notification
from shared.kafka.publisher import Publisher, Record
from shared.messages import DeadLetter, IncidentStatus


class RecordStage:
    def __init__(self, publisher: Publisher, topic: str, stopping: asyncio.Event):
        self.publisher = publisher
        self.topic = topic
        self.stopping = stopping

    async def process(self, n: Notification) -> bool:
        now = datetime.now(UTC)
        revision = n.incident.revision
        repeat = n.route.repeat_interval
        if n.acknowledge and n.error is None:
            # Still silenced: looked at again when the silence ends (see mute).
            n.changes.update(attempting=0, revision=revision, status="acknowledged", sent_at=now)
            return True
        n.changes.update(
            attempting=0,
            silenced_by=None,
            due_at=(
                now + repeat
                if n.incident.status == IncidentStatus.FIRING and repeat.total_seconds() > 0
                else None
            ),
        )
        if n.error is None:
            n.changes.update(revision=revision, status=n.incident.status.value, sent_at=now)
            return True
        assert n.first_attempt_at is not None and n.last_attempt_at is not None
        letter = DeadLetter(
            incident=n.incident,
            partition=n.partition,
            receiver=n.receiver,
            integration=n.integration.name,
            reason=str(n.error),
            retryable=n.error.retryable,
            attempts=n.attempts,
            first_attempt_at=n.first_attempt_at,
            last_attempt_at=n.last_attempt_at,
        )
        record = Record(self.topic, n.incident.id, letter)
        await publish_acked(self.publisher, lambda: [record], self.stopping)
        DEAD_LETTERS.labels(n.receiver).inc()
        n.changes["failed"] = revision
        return True
