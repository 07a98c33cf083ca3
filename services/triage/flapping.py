"""Flapping: an alert that changes status too often is news once, then quiet.

More than ``changes`` status changes within ``window`` mark the alert (and its
incident) flapping: that revision says so, and its further changes are
recorded without new revisions until it settles, i.e. stays unchanged for
``settle`` (see ``lifecycle.Timers``).
"""

from __future__ import annotations

from datetime import timedelta

from services.triage.membership import Membership
from services.triage.metrics import FLAPPING_DETECTED
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import Timer, describe, duration_ms
from shared.durations import format_duration
from shared.messages import IncidentStatus


class FlappingStep:
    def __init__(self, membership: Membership, changes: int, window: timedelta, settle: timedelta):
        self.membership = membership
        self.changes = changes
        self.window = window
        self.settle = settle

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        alert, state = event.alert, event.state
        assert state is not None
        if event.previous is None:
            return False  # first sighting, not a change
        since = event.at - duration_ms(self.window)
        recent = [t for t in state.changes or () if t > since]
        recent.append(event.at)
        state.changes = recent[-(self.changes + 1) :]
        incident = ctx.state.incidents.get(state.incident or "")
        if incident is None or incident.status != IncidentStatus.FIRING:
            return False
        if not state.flapping and len(state.changes) <= self.changes:
            return False
        ctx.state.schedule(event.at + duration_ms(self.settle), Timer.SETTLE, event.fingerprint)
        if state.flapping:
            self.membership.update(ctx, incident, event, quiet=True)
            return True
        state.flapping = True
        ctx.state.flapping_alerts += 1
        incident.flapping_members.add(event.fingerprint)
        incident.flapping = True
        FLAPPING_DETECTED.inc()
        incident.explain(
            f"{describe(alert.labels)} is flapping: {len(state.changes)} status changes within "
            f"{format_duration(self.window)}; no new revisions for it until it stays unchanged "
            f"for {format_duration(self.settle)}"
        )
        self.membership.update(ctx, incident, event, quiet=True)
        ctx.mark_changed(incident, alert)
        return True
