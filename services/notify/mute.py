"""Silences: a firing incident a silence covers is not sent until the silence ends.

Resolves are never muted: a receiver that got the trigger must hear that it
is over, silenced meanwhile or not (what Alertmanager users ask for in #226).
A service with acknowledgements (PagerDuty) that got the trigger is sent one
``acknowledge`` instead of silence: a silence on a paged incident (for
instance ``incident_id="..."``) is how Corral acknowledges it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.notify.pipeline import Job, Muted
from services.notify.silences import SilenceStore
from shared.messages import IncidentStatus


class MuteStage:
    def __init__(self, silences: SilenceStore, clock: Callable[[], datetime] | None = None):
        self.silences = silences
        self.clock = clock or (lambda: datetime.now(UTC))

    async def process(self, job: Job) -> Job | Muted:
        if job.incident.status != IncidentStatus.FIRING:
            return job
        silence = self.silences.muting(job.incident, self.clock())
        if silence is None:
            return job
        if job.integration.acknowledges and job.entry.status == "firing":
            return job.acknowledging(silence)
        return Muted(silence)
