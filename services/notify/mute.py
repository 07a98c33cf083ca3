"""Silences and time intervals: a firing incident a silence covers, or whose
route a time interval holds, is not sent until that ends.

Resolves are never muted: a receiver that got the trigger must hear that it
is over, silenced meanwhile or not (what Alertmanager users ask for in #226);
neither is what people did (an acknowledgement, a resolve by hand).
A service with acknowledgements (PagerDuty) that got the trigger is sent one
``acknowledge`` instead of silence: a silence on a paged incident (for
instance ``incident_id="..."``) is how Corral acknowledges it. A route's
``mute_time_intervals`` (and, outside them, its ``active_time_intervals``)
hold its notifications until the window ends: then the incident's state at
that moment goes out, if it still fires.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.notify.pipeline import Held, Job, Muted
from services.notify.routing import held_by, released_at
from services.notify.silences import SilenceStore
from shared.messages import IncidentStatus
from shared.timeintervals import TimeIntervals


class MuteStage:
    def __init__(
        self,
        silences: SilenceStore,
        intervals: TimeIntervals,
        clock: Callable[[], datetime] | None = None,
    ):
        self.silences = silences
        self.intervals = intervals
        self.clock = clock or (lambda: datetime.now(UTC))

    async def process(self, job: Job) -> Job | Muted | Held:
        if job.responding or job.incident.status != IncidentStatus.FIRING:
            return job
        now = self.clock()
        silence = self.silences.muting(job.incident, now)
        if silence is None:
            if held_by(job.route, self.intervals, now):
                return Held(released_at(job.route, self.intervals, now))
            return job
        if job.integration.acknowledges and job.entry.status == "firing":
            return job.acknowledging(silence)
        return Muted(silence)
