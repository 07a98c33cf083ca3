"""An incident's life: members change, it resolves after a quiet period,
reopens when a member fires again soon after, and is forgotten after the
retention period. A firing member whose end passed (see ``dedup``) resolves
as if its sender had said so.

``LifecycleStep`` handles alerts that already belong to an incident;
``Timers`` does the time-driven part, in event time while alerts flow and
in wall-clock time on ticks.
"""

from __future__ import annotations

from datetime import timedelta

from services.triage.hold import release
from services.triage.membership import Membership
from services.triage.metrics import ALERTS_ENDED, INCIDENTS_REOPENED, STATE_EXPIRED
from services.triage.stages import AlertEvent, Step, TriageContext
from services.triage.state import (
    IncidentState,
    Timer,
    describe,
    describe_listed,
    duration_ms,
    from_ms,
    to_ms,
)
from shared.codec import read_member
from shared.durations import format_duration
from shared.messages import Alert, AlertStatus, IncidentStatus


class LifecycleStep:
    def __init__(self, membership: Membership, reopen_window: timedelta):
        self.membership = membership
        self.reopen_window = reopen_window

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        state = event.state
        assert state is not None
        firing = event.alert.status == AlertStatus.FIRING
        incident = ctx.state.incidents.get(state.incident or "")
        if incident is None:
            state.incident = None
            return not firing  # a resolve with no incident left has nothing to close
        if incident.status == IncidentStatus.FIRING:
            self.membership.update(ctx, incident, event)
            return True
        assert incident.resolved_at is not None
        since = event.at - to_ms(incident.resolved_at)
        if firing and since <= duration_ms(self.reopen_window):
            self._reopen(ctx, incident, event, since)
            return True
        if firing:
            # Too long after: a new problem, correlated afresh.
            self.membership.remove(ctx, incident, event.fingerprint)
            state.incident = None
            return False
        return True

    def _reopen(
        self, ctx: TriageContext, incident: IncidentState, event: AlertEvent, since: int
    ) -> None:
        incident.status = IncidentStatus.FIRING
        incident.resolved_at = None
        for key in incident.keys:
            ctx.state.register(incident, key)
        incident.explain(
            f"reopened: {describe(event.alert.labels)} fired again "
            f"{format_duration(timedelta(milliseconds=since))} after the incident resolved "
            f"(reopen window {format_duration(self.reopen_window)})"
        )
        ctx.reopened.add(incident.id)
        INCIDENTS_REOPENED.inc()
        self.membership.update(ctx, incident, event)


class Timers:
    """Quiet periods ending, flapping alerts settling, and state expiring."""

    def __init__(self, membership: Membership, settle: timedelta, retention: timedelta):
        self.membership = membership
        self.settle = duration_ms(settle)
        self.retention = duration_ms(retention)
        # The correlation steps an ended alert's resolve goes through, as any
        # resolve does (set by the correlate stage).
        self.steps: list[Step] = []

    def advance(self, ctx: TriageContext, now: int) -> None:
        state = ctx.state
        state.time = max(state.time, now)
        while (timer := state.due(now)) is not None:
            due, kind, key = timer
            if kind == Timer.RESOLVE:
                self._resolve(ctx, key, due)
            elif kind == Timer.SETTLE:
                self._settle(ctx, key, due)
            elif kind == Timer.EXPIRE_ALERT:
                self._expire_alert(ctx, key, due)
            elif kind == Timer.END_ALERT:
                self._end_alert(ctx, key, due)
            elif kind == Timer.RELEASE:
                self._release(ctx, key, due)
            else:
                self._expire_incident(ctx, key, due)

    def _resolve(self, ctx: TriageContext, incident_id: str, due: int) -> None:
        incident = ctx.state.incidents.get(incident_id)
        if incident is None or incident.resolve_due != due:
            return
        incident.resolve_due = None
        incident.held = None
        incident.status = IncidentStatus.RESOLVED
        incident.resolved_at = from_ms(due)
        ctx.state.unregister(incident)
        ctx.state.schedule(due + self.retention, Timer.EXPIRE_INCIDENT, incident_id)
        ctx.mark_changed(incident)

    def _release(self, ctx: TriageContext, incident_id: str, due: int) -> None:
        incident = ctx.state.incidents.get(incident_id)
        if incident is not None and incident.announce_at == due:
            release(ctx, incident)

    def _settle(self, ctx: TriageContext, fp: str, due: int) -> None:
        alert = ctx.state.alerts.get(fp)
        if alert is None or not alert.flapping or alert.changed_at + self.settle != due:
            return
        alert.flapping = False
        alert.changes = None
        ctx.state.flapping_alerts -= 1
        ctx.dirty_alerts.add(fp)
        incident = ctx.state.incidents.get(alert.incident or "")
        if incident is None:
            return
        incident.flapping_members.discard(fp)
        incident.flapping = bool(incident.flapping_members)
        name = describe_listed(incident.members.get(fp), fp)
        settle = format_duration(timedelta(milliseconds=self.settle))
        incident.explain(f"{name} settled: {alert.status} and unchanged for {settle}")
        if incident.all_resolved and not incident.flapping:
            self.membership.resolve_after_quiet(ctx, incident, alert.changed_at)
        ctx.mark_changed(incident)

    def _end_alert(self, ctx: TriageContext, fp: str, due: int) -> None:
        alert = ctx.state.alerts.get(fp)
        if alert is None or alert.status != AlertStatus.FIRING or alert.ends is None:
            return
        if alert.ends > due:
            ctx.state.schedule(alert.ends, Timer.END_ALERT, fp)  # sent again meanwhile
            return
        if alert.ends < due:
            return  # a timer for an end that was replaced by an earlier one
        # What the incident lists of it is all that is known of its content.
        incident = ctx.state.incidents.get(alert.incident or "")
        listed = incident.members.get(fp) if incident is not None else None
        shown = read_member(listed) if listed is not None else None
        # An end the sender put before it sent the alert still ends it now.
        due = max(due, alert.changed_at)
        at = from_ms(due)
        resolved = Alert(
            fingerprint=fp,
            status=AlertStatus.RESOLVED,
            labels=shown.labels if shown is not None else {},
            annotations=shown.annotations if shown is not None else {},
            starts_at=shown.starts_at if shown is not None else None,
            ends_at=at,
            generator_url=shown.generator_url if shown is not None else "",
            source="triage",
            received_at=at,
        )
        event = AlertEvent(resolved, fp, "", due, ended=True)
        ALERTS_ENDED.inc()
        for step in self.steps:
            if step.process(ctx, event):
                break

    def _expire_alert(self, ctx: TriageContext, fp: str, due: int) -> None:
        alert = ctx.state.alerts.get(fp)
        if (
            alert is None
            or alert.status != AlertStatus.RESOLVED
            or alert.changed_at + self.retention != due
        ):
            return
        del ctx.state.alerts[fp]
        ctx.dirty_alerts.add(fp)
        incident = ctx.state.incidents.get(alert.incident or "")
        if incident is not None:
            self.membership.remove(ctx, incident, fp)
        STATE_EXPIRED.labels("alert").inc()

    def _expire_incident(self, ctx: TriageContext, incident_id: str, due: int) -> None:
        incident = ctx.state.incidents.get(incident_id)
        if (
            incident is None
            or incident.resolved_at is None
            or to_ms(incident.resolved_at) + self.retention != due
        ):
            return
        del ctx.state.incidents[incident_id]
        ctx.touch(incident)
        for fp in incident.fingerprints():
            alert = ctx.state.alerts.get(fp)
            if alert is not None and alert.incident == incident_id:
                alert.incident = None
                ctx.dirty_alerts.add(fp)
        STATE_EXPIRED.labels("incident").inc()
