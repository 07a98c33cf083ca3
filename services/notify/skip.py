"""Skipping what need not be sent: resolves nobody needs, repeats of what is over.

A revision reaches the pipeline once per receiver integration: admission
absorbs repeated revisions (``transitions.admitted``). Here a resolve is
held back from receivers that never got the trigger (nothing to resolve:
an incident merged into another before its first notification was due is
never sent at all) or that asked not to hear resolves, and a resolved
incident is not repeated. What people did (acknowledged, resolved) always
goes through.
"""

from __future__ import annotations

from services.notify.pipeline import Job, Skipped
from shared.messages import IncidentStatus


class SkipStage:
    async def process(self, job: Job) -> Job | Skipped:
        if job.responding or job.incident.status != IncidentStatus.RESOLVED:
            return job
        if job.repeat:
            return Skipped("skipped_duplicate")
        if not job.entry.had_trigger and job.incident.merged_into:
            return Skipped("skipped_merged")  # absorbed before anyone heard of it
        if not job.integration.send_resolved or not job.entry.had_trigger:
            return Skipped("skipped_resolved")
        return job
