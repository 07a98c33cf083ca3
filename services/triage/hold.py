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

An incident already announced that only grows (new members firing, nothing
else) gets at most one revision per ``triage.growth_hold``: growth within
that interval of its last revision is held, on the same release timer,
until the interval has passed, then goes out as one revision, instead of
one per consumed batch (a worker that keeps up takes small ones). That is
all a board shows, and more than notify sends (growth waits for its
``group_interval``). Anything else (a priority or severity raise, a
resolve, a reopen, a merge, a move, a new root cause, a member resolving
or refiring) goes out at once, with the growth held so far. The hold is in
the incident's changelog record like any state, so a restart or rebalance
releases it.
"""

from __future__ import annotations

from datetime import timedelta

from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import IncidentState, IndexKey, Timer, duration_ms

SYMPTOM_KIND = "t"  # the index key kind of a rule's target side (see causes.py)


def waiting_key(event: AlertEvent) -> IndexKey | None:
    """The first symptom key the alert registered: it matched that rule's target side."""
    return next((key for key in event.keys if key.kind.startswith(SYMPTOM_KIND)), None)


def unannounced(incident: IncidentState) -> bool:
    """Held back before its first revision (symptoms waiting for their cause):
    nobody has heard of it. An incident whose growth is held was announced."""
    return incident.announce_at is not None and incident.revision == 0


def hold(ctx: TriageContext, incident: IncidentState, until: int) -> None:
    incident.announce_at = until
    ctx.state.schedule(until, Timer.RELEASE, incident.id)


def release(ctx: TriageContext, incident: IncidentState) -> None:
    """Announce a held incident now, with everything that happened to it meanwhile."""
    incident.announce_at = None
    ctx.mark_changed(incident)
    # Its latency counts from the alert that opened it (or, held growth, from
    # the first alert held), the hold included.
    since = incident.opened_at if incident.revision == 0 else incident.held_since
    if since is not None:
        ctx.change_received_at.setdefault(incident.id, since)
    incident.held_since = None


def stop_waiting(ctx: TriageContext, incident: IncidentState) -> None:
    incident.waiting = None
    if incident.announce_at is not None:
        release(ctx, incident)


class HoldStage:
    """Keeps the revisions of incidents not announced yet back (and of those
    merged while held, which nobody heard of and need not hear of)."""

    name = "hold"

    async def process(self, ctx: TriageContext) -> None:
        held = [i for i, incident in ctx.changed.items() if unannounced(incident)]
        for incident_id in held:
            del ctx.changed[incident_id]


class GrowthHoldStage:
    """Holds the revisions of announced incidents that only grew within
    ``interval`` of their last revision, until it has passed; releases at
    once those with a change that cannot wait. After scoring, which tells a
    raise."""

    name = "growth_hold"

    def __init__(self, interval: timedelta):
        self.interval_ms = duration_ms(interval)

    async def process(self, ctx: TriageContext) -> None:
        now = ctx.state.time
        for incident_id, incident in list(ctx.changed.items()):
            if incident_id in ctx.urgent or incident.revision == 0 or not self.interval_ms:
                if incident.announce_at is not None:
                    release(ctx, incident)
            elif incident.announce_at is not None:
                del ctx.changed[incident_id]  # joins the growth held
            elif (due := incident.revised_at + self.interval_ms) > now:
                incident.held_since = ctx.change_received_at.get(incident_id)
                hold(ctx, incident, due)
                del ctx.changed[incident_id]
        for incident in ctx.changed.values():
            incident.revised_at = now
