"""Recording a delivered notification in the sent log, before the offset commit."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notify.stages import Notification
from shared.kafka.changelog import ChangelogStore
from shared.messages import SentNotification


class RecordStage:
    def __init__(self, sent: ChangelogStore[SentNotification]):
        self.sent = sent

    async def process(self, n: Notification) -> bool:
        record = SentNotification(
            incident_id=n.incident.id,
            receiver=n.receiver,
            integration=n.integration.name,
            revision=n.incident.revision,
            status=n.incident.status.value,
            sent_at=datetime.now(UTC),
        )
        n.records.append(self.sent.put(n.partition, n.key, record))
        return True
