"""Silences: a firing incident a silence covers is not sent until the silence ends.

Resolves are never muted: a receiver that got the trigger must hear that it
is over, silenced meanwhile or not (what Alertmanager users ask for in #226).
A service with acknowledgements (PagerDuty) that got the trigger is sent one
``acknowledge`` instead of silence: a silence on a paged incident (for
instance ``incident_id="..."``) is how Corral acknowledges it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.notify.metrics import NOTIFICATIONS
from services.notify.silences import SilenceStore
from services.notify.stages import Notification
from shared.messages import IncidentStatus


class MuteStage:
    def __init__(self, silences: SilenceStore):
        self.silences = silences

    async def process(self, n: Notification) -> bool:
        if n.incident.status != IncidentStatus.FIRING:
            return True
        silence = self.silences.muting(n.incident, datetime.now(UTC))
        if silence is None:
            return True
        # Looked at again when the silence ends, or sooner if it is expired.
        n.changes.update(due_at=silence.ends_at, silenced_by=silence.id)
        if n.integration.acknowledges and n.entry.status == "firing":
            n.acknowledge = True
            return True
        n.outcome = "silenced"
        NOTIFICATIONS.labels(n.receiver, n.integration.name, n.outcome).inc()
        return False
