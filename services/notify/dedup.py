"""Deduplication against the sent log: each revision reaches each receiver once.

Also where resolved incidents are held back from receivers that never got
the trigger (nothing to resolve) or that asked not to hear resolves.
"""

from __future__ import annotations

from services.notify.metrics import NOTIFICATIONS
from services.notify.stages import Notification
from shared.kafka.changelog import ChangelogStore
from shared.messages import IncidentStatus, SentNotification


class DedupStage:
    def __init__(self, sent: ChangelogStore[SentNotification]):
        self.sent = sent

    async def process(self, n: Notification) -> bool:
        previous = self.sent.get(n.partition, n.key)
        outcome = None
        if previous is not None and previous.revision >= n.incident.revision:
            outcome = "skipped_duplicate"
        elif n.incident.status == IncidentStatus.RESOLVED and (
            not n.integration.send_resolved
            or previous is None
            or previous.status == IncidentStatus.RESOLVED
        ):
            outcome = "skipped_resolved"
        if outcome is None:
            return True
        NOTIFICATIONS.labels(n.receiver, n.integration.name, outcome).inc()
        return False
