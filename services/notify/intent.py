"""Recording, before a send, that it is about to happen.

The intent is acknowledged by the broker before the first attempt. A worker
killed after the receiver took the notification but before the outcome was
recorded leaves the intent behind: the next owner then knows the receiver
may hold the trigger (so its resolve is sent) and repeats the send with the
same idempotency key, which receivers that honour one drop. A delivery
due as its revision or action is admitted has its intent in the record
that admits it (``Dispatcher.intending``): this stage finds it there and
writes nothing.
"""

from __future__ import annotations

from services.notify import transitions
from services.notify.pipeline import Job
from services.notify.sentlog import SentLog


class IntentStage:
    def __init__(self, sent: SentLog):
        self.sent = sent

    async def process(self, job: Job) -> Job:
        current = self.sent.get(job.key) or job.entry
        intent = transitions.intended(current, job.incident.revision)
        if intent is not current:
            self.sent.put(job.key, intent)
            await self.sent.save([job.key])
        return job
