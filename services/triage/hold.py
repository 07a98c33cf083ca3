"""Symptoms waiting for their cause: grouped with each other, and held back for a moment.

A symptom (an alert matching the target side of a cause rule) that fires
before its cause opens an incident that *waits* for the cause: the symptoms
that share its rule and ``equal`` values join it (the rule says they have
one cause), and when the cause fires it joins them. An incident waits only
while every alert in it is such a sibling; anything else joining it (by
scope, say) makes it an ordinary incident.

With ``triage.causes.hold``, a waiting incident is also not announced until
the hold has passed: if the cause fires meanwhile, the people on call first
hear of the incident with its cause named, and never of symptom incidents
that the cause then merges into its own: the race Alertmanager's
``group_wait`` absorbs. An incident that stops waiting is announced at once.
"""

from __future__ import annotations

from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import IncidentState, IndexKey, Timer

SYMPTOM_KIND = "t"  # the index key kind of a rule's target side (see causes.py)


def waiting_key(event: AlertEvent) -> IndexKey | None:
    """The first symptom key the alert registered: it matched that rule's target side."""
    return next((key for key in event.keys if key.kind.startswith(SYMPTOM_KIND)), None)


def hold(ctx: TriageContext, incident: IncidentState, until: int) -> None:
    incident.announce_at = until
    ctx.state.schedule(until, Timer.RELEASE, incident.id)


def release(ctx: TriageContext, incident: IncidentState) -> None:
    """Announce a held incident now, with everything that happened to it meanwhile."""
    incident.announce_at = None
    ctx.mark_changed(incident)
    # Its latency counts from the alert that opened it, the hold included.
    ctx.change_received_at.setdefault(incident.id, incident.opened_at)


def stop_waiting(ctx: TriageContext, incident: IncidentState) -> None:
    incident.waiting = None
    if incident.announce_at is not None:
        release(ctx, incident)


class HoldStage:
    """Keeps the revisions of held incidents back (and of those merged while
    held, which nobody heard of and need not hear of)."""

    name = "hold"

    async def process(self, ctx: TriageContext) -> None:
        held = [i for i, incident in ctx.changed.items() if incident.announce_at is not None]
        for incident_id in held:
            del ctx.changed[incident_id]
