"""What need not be sent: resolves nobody needs, repeats of what is over.

Repeated revisions never get this far: the worker admits each revision into
the sent log once (see ``outbox``). Here a resolve is held back from
receivers that never got the trigger (nothing to resolve) or that asked not
to hear resolves, and a resolved incident is not repeated.
"""

from __future__ import annotations

from services.notify.metrics import NOTIFICATIONS
from services.notify.stages import Notification
from shared.messages import IncidentStatus


class DedupStage:
    async def process(self, n: Notification) -> bool:
        if n.incident.status != IncidentStatus.RESOLVED:
            return True
        if n.repeat:
            n.outcome = "skipped_duplicate"
        elif not n.integration.send_resolved or not n.entry.had_trigger:
            n.outcome = "skipped_resolved"
        else:
            return True
        n.changes.update(due_at=None, silenced_by=None)
        NOTIFICATIONS.labels(n.receiver, n.integration.name, n.outcome).inc()
        return False
