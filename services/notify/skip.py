"""Skipping what need not be sent: news that is not, resolves nobody needs,
repeats of what is over.

A revision reaches the pipeline once per receiver integration: admission
absorbs repeated revisions (``transitions.admitted``). Here a revision that
shows the receiver nothing it was not shown already is not sent; a resolve is
held back from receivers that never got the trigger (nothing to resolve:
an incident merged into another before its first notification was due is
never sent at all) or that asked not to hear resolves, and a resolved
incident is not repeated. What people did (acknowledged, resolved) always
goes through.
"""

from __future__ import annotations

from services.notify.changes import unchanged
from services.notify.pipeline import UNCHANGED, Job, Skipped
from shared.messages import IncidentStatus


class SkipStage:
    async def process(self, job: Job) -> Job | Skipped:
        if job.responding:
            return job
        if _nothing_new(job):
            return UNCHANGED
        if job.incident.status != IncidentStatus.RESOLVED:
            return job
        if job.repeat:
            return Skipped("skipped_duplicate")
        if not job.entry.had_trigger and job.incident.merged_into:
            return Skipped("skipped_merged")  # absorbed before anyone heard of it
        if not job.integration.send_resolved or not job.entry.had_trigger:
            return Skipped("skipped_resolved")
        return job


def _nothing_new(job: Job) -> bool:
    """A revision that shows the receiver only what it was shown already."""
    shown = job.entry.shown
    if shown is None or job.repeat or job.work.step is not None or job.acknowledge is not None:
        return False
    resolved = IncidentStatus.RESOLVED
    if job.entry.status == resolved and shown.status != resolved:
        return False  # resolved without telling it (not wanted): a refire is news
    return unchanged(shown, job.incident)
