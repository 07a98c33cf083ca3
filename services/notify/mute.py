"""Silences and time intervals: a firing incident a silence covers, or whose
route a time interval holds, is not sent until that ends.

Resolves are never muted: a receiver that got the trigger must hear that it
is over, silenced meanwhile or not (what Alertmanager users ask for in #226).
A service with acknowledgements (PagerDuty) that got the trigger is sent one
``acknowledge`` instead of silence: a silence on a paged incident (for
instance ``incident_id="..."``) is how Corral acknowledges it. A route's
``mute_time_intervals`` (and, outside them, its ``active_time_intervals``)
hold its notifications until the window ends: then the incident's state at
that moment goes out, if it still fires.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.notify.metrics import NOTIFICATIONS
from services.notify.routing import held_by, released_at
from services.notify.silences import SilenceStore
from services.notify.stages import Notification
from shared.messages import IncidentStatus
from shared.timeintervals import TimeIntervals


class MuteStage:
    def __init__(self, silences: SilenceStore, intervals: TimeIntervals):
        self.silences = silences
        self.intervals = intervals

    async def process(self, n: Notification) -> bool:
        if n.incident.status != IncidentStatus.FIRING:
            return True
        now = datetime.now(UTC)
        silence = self.silences.muting(n.incident, now)
        if silence is None:
            return self._in_time(n, now)
        # Looked at again when the silence ends, or sooner if it is expired.
        n.changes.update(due_at=silence.ends_at, silenced_by=silence.id)
        if n.integration.acknowledges and n.entry.status == "firing":
            n.acknowledge = True
            return True
        n.outcome = "silenced"
        NOTIFICATIONS.labels(n.receiver, n.integration.name, n.outcome).inc()
        return False

    def _in_time(self, n: Notification, now: datetime) -> bool:
        if not held_by(n.route, self.intervals, now):
            return True
        n.changes.update(due_at=released_at(n.route, self.intervals, now))
        n.outcome = "muted"
        NOTIFICATIONS.labels(n.receiver, n.integration.name, n.outcome).inc()
        return False
