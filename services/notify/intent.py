"""Recording, before a send, that it is about to happen.

The intent is acknowledged by the broker before the first attempt. A worker
killed after the receiver took the notification but before the outcome was
recorded leaves the intent behind: the next owner then knows the receiver
may hold the trigger (so its resolve is sent) and repeats the send with the
same idempotency key, which receivers that honour one drop.
"""

from __future__ import annotations

from services.notify.sentlog import SentLog
from services.notify.stages import Notification


class IntentStage:
    def __init__(self, sent: SentLog):
        self.sent = sent

    async def process(self, n: Notification) -> bool:
        current = self.sent.get(n.partition, n.key) or n.entry
        if current.attempting != n.incident.revision:
            intent = current.model_copy(update={"attempting": n.incident.revision})
            self.sent.put(n.partition, intent)
            await self.sent.save(n.partition, [n.key])
        return True
