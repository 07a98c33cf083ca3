"""How alerts enter, change within, and move between incidents.

The correlation steps decide *where* an alert goes; this module keeps an
incident's bookkeeping right when it gets there: counts, the capped member
list, common labels, index keys, the quiet period before resolving, merges.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from prometheus_client import Counter

from services.triage.hold import release, stop_waiting, unannounced
from services.triage.journal import Journal
from services.triage.metrics import CORRELATIONS, INCIDENTS_MERGED
from services.triage.stages import AlertEvent, TriageContext
from services.triage.state import (
    IncidentState,
    IndexKey,
    Timer,
    describe,
    duration_ms,
    from_ms,
    to_ms,
)
from shared.codec import read_member
from shared.messages import AlertStatus, IncidentStatus
from shared.messages.incident import MERGED_KEPT


def incident_id(correlation_key: str, fingerprint: str, opened_at_ms: int) -> str:
    """Derived from the input, so replaying the same alerts yields the same ids."""
    seed = f"{correlation_key}\x00{fingerprint}\x00{opened_at_ms}"
    return hashlib.blake2b(seed.encode(), digest_size=8).hexdigest()


class Membership:
    def __init__(self, max_alerts: int, quiet_period: timedelta, journal: Journal | None = None):
        self.max_alerts = max_alerts
        self.quiet_ms = duration_ms(quiet_period)
        self.journal = journal
        self._decisions: dict[str, Counter] = {}

    def _decided(self, policy: str) -> None:
        counter = self._decisions.get(policy)
        if counter is None:
            counter = self._decisions[policy] = CORRELATIONS.labels(policy)
        counter.inc()

    def open(
        self,
        ctx: TriageContext,
        event: AlertEvent,
        correlation_key: str,
        policy: str = "new",
        reason: str = "",
    ) -> IncidentState:
        alert = event.alert
        incident = IncidentState(
            id=incident_id(f"{event.boundary}\x00{correlation_key}", event.fingerprint, event.at),
            correlation_key=correlation_key,
            opened_at=alert.received_at,
            updated_at=alert.received_at,
        )
        incident.explain(f"opened by {describe(alert.labels)}" + (f": {reason}" if reason else ""))
        ctx.state.incidents[incident.id] = incident
        if self.journal is not None:
            why = reason or f"no incident to join ({correlation_key})"
            self.journal.placed(ctx, event, incident, policy, why, [])
        self._decided(policy)
        self.add(ctx, incident, event)
        return incident

    def add(self, ctx: TriageContext, incident: IncidentState, event: AlertEvent) -> None:
        """A firing alert joins an open incident."""
        alert, fp = event.alert, event.fingerprint
        assert event.state is not None
        event.state.incident = incident.id
        ctx.dirty_alerts.add(fp)
        incident.firing += 1
        # Firing again after all its members resolved is news, not growth.
        resumed = self._cancel_resolve(incident)
        if len(incident.members) < self.max_alerts:
            ctx.list_member(incident, alert, fp)
            incident.unlisted.pop(fp, None)
        elif fp not in incident.members:
            incident.unlisted[fp] = None
        labels, common = alert.labels, incident.common_labels
        if common is None:
            incident.common_labels = dict(labels)
        elif not common.items() <= labels.items():
            # Most joiners carry every common label: that check runs in C.
            incident.common_labels = {k: v for k, v in common.items() if labels.get(k) == v}
        for key in event.keys:
            ctx.state.register(incident, key)
        for key in event.anchors:
            incident.anchors.setdefault(key, fp)
        incident.updated_at = max(incident.updated_at, alert.received_at)
        ctx.mark_changed(incident, alert, growth=not resumed)
        if incident.waiting is not None and incident.waiting not in event.keys:
            stop_waiting(ctx, incident)

    def update(
        self, ctx: TriageContext, incident: IncidentState, event: AlertEvent, quiet: bool = False
    ) -> None:
        """A member of an open incident changed status. ``quiet`` (a flapping
        member) records it without a revision and without resolving."""
        alert, fp = event.alert, event.fingerprint
        if fp in incident.members:
            ctx.list_member(incident, alert, fp)
        incident.updated_at = max(incident.updated_at, alert.received_at)
        ctx.touch(incident)
        if alert.status == AlertStatus.FIRING:
            incident.firing += 1
            held = incident.held
            if self._cancel_resolve(incident) and held == fp:
                return  # back before the quiet period ended: nothing happened
        else:
            incident.firing -= 1
            if incident.firing == 0 and not incident.flapping:
                # The last one resolved: hold the news for the quiet period.
                incident.resolve_due = event.at + self.quiet_ms
                incident.held = fp
                ctx.state.schedule(incident.resolve_due, Timer.RESOLVE, incident.id)
                return
        if not quiet:
            ctx.mark_changed(incident, alert)

    def resolve_after_quiet(self, ctx: TriageContext, incident: IncidentState, since: int) -> None:
        """Start the quiet period of an incident whose members all resolved."""
        incident.resolve_due = max(since + self.quiet_ms, ctx.state.time)
        ctx.state.schedule(incident.resolve_due, Timer.RESOLVE, incident.id)
        ctx.touch(incident)

    @staticmethod
    def _cancel_resolve(incident: IncidentState) -> bool:
        pending = incident.resolve_due is not None
        incident.resolve_due = None
        incident.held = None
        return pending

    @staticmethod
    def remove(ctx: TriageContext, incident: IncidentState, fp: str) -> None:
        """Forget a member (it moved on, or its state expired)."""
        incident.forget(fp)
        incident.flapping_members.discard(fp)
        ctx.touch(incident)

    def join(
        self,
        ctx: TriageContext,
        candidates: list[IncidentState],
        event: AlertEvent,
        policy: str,
        reason: str,
    ) -> IncidentState:
        """Join the first candidate, merging the others into it: they are now
        known to be one problem."""
        primary, *others = candidates
        if self.journal is not None:
            self.journal.placed(ctx, event, primary, policy, reason, others)
        for other in others:
            self.merge(ctx, primary, other, event.at, reason)
        primary.explain(lambda: f"{describe(event.alert.labels)} joined: {reason}")
        self._decided(policy)
        self.add(ctx, primary, event)
        return primary

    def merge(
        self, ctx: TriageContext, primary: IncidentState, other: IncidentState, at: int, reason: str
    ) -> None:
        state = ctx.state
        for fp in other.fingerprints():
            alert = state.alerts.get(fp)
            if alert is not None:
                alert.incident = primary.id
                ctx.dirty_alerts.add(fp)
        for fp, shown in other.members.items():
            primary.include(fp, shown, self.max_alerts)
        for fp in other.unlisted:
            primary.include(fp, None, self.max_alerts)
        primary.firing += other.firing
        primary.flapping_members |= other.flapping_members
        primary.flapping = bool(primary.flapping_members)
        if other.common_labels is not None and primary.common_labels is not None:
            primary.common_labels = {
                k: v for k, v in primary.common_labels.items() if other.common_labels.get(k) == v
            }
        state.unregister(other)
        for key in other.keys:
            state.register(primary, key)
        for key, fp in other.anchors.items():
            primary.anchors.setdefault(key, fp)
        primary.root_cause = primary.root_cause or other.root_cause
        primary.merged = [*primary.merged, *other.merged, other.id][-MERGED_KEPT:]
        primary.opened_at = min(primary.opened_at, other.opened_at)
        primary.updated_at = max(primary.updated_at, other.updated_at)
        count = other.size
        alerts = f"{count} alert" if count == 1 else f"{count} alerts"
        primary.explain(f"merged incident {other.id} ({alerts}): {reason}")
        ctx.mark_changed(primary)
        if primary.waiting != other.waiting:
            stop_waiting(ctx, primary)
        elif unannounced(primary) and not unannounced(other):
            # Its alerts were announced (it may be holding growth, announced
            # all the same): where they went must be too.
            release(ctx, primary)

        # The merged incident's last revision says where its alerts went.
        self._retire(ctx, other, primary, at, reason)

    def move(
        self,
        ctx: TriageContext,
        source: IncidentState,
        target: IncidentState,
        fps: list[str],
        at: int,
        reason: str,
    ) -> None:
        """Members ``fps`` of ``source`` go over to ``target``: they were grouped
        with alerts they have nothing to do with, and now their cause is known.
        Keys they registered stay with ``source`` (an index key belongs to an
        incident, not to one member); the cause keys they anchor move along."""
        if self.journal is not None:
            self.journal.moved(ctx, source, target, fps, reason)
        state = ctx.state
        moved = set(fps)
        for fp in fps:
            shown = source.forget(fp)
            alert = state.alerts.get(fp)
            if alert is not None:
                alert.incident = target.id
                ctx.dirty_alerts.add(fp)
                if alert.status == AlertStatus.FIRING:
                    source.firing -= 1
                    target.firing += 1
            if fp in source.flapping_members:
                source.flapping_members.discard(fp)
                target.flapping_members.add(fp)
            target.include(fp, shown, self.max_alerts)
            if shown is not None and target.common_labels is not None:
                labels = read_member(shown).labels
                target.common_labels = {
                    k: v for k, v in target.common_labels.items() if labels.get(k) == v
                }
        for key, fp in list(source.anchors.items()):
            if fp in moved:
                del source.anchors[key]
                target.anchors.setdefault(key, fp)
                state.register(target, key)
        source.flapping = bool(source.flapping_members)
        target.flapping = bool(target.flapping_members)
        if source.root_cause in moved:
            source.root_cause = None
        if source.held in moved:
            source.held = None
        count = f"{len(fps)} alert" if len(fps) == 1 else f"{len(fps)} alerts"
        target.explain(f"took {count} from incident {source.id}: {reason}")
        ctx.mark_changed(target)
        if target.waiting is not None:
            stop_waiting(ctx, target)
        if not source.size:
            state.unregister(source)
            self._retire(ctx, source, target, at, reason)
            return
        source.common_labels = _common([read_member(m).labels for m in source.members.values()])
        source.explain(f"{count} moved to incident {target.id}: {reason}")
        if source.all_resolved and source.resolve_due is None and not source.flapping:
            self.resolve_after_quiet(ctx, source, at)
        ctx.mark_changed(source)

    def _retire(
        self, ctx: TriageContext, other: IncidentState, primary: IncidentState, at: int, reason: str
    ) -> None:
        """``other`` lives on in ``primary``: its last revision says so."""
        del ctx.state.incidents[other.id]
        other.status = IncidentStatus.RESOLVED
        other.resolved_at = from_ms(at)
        other.merged_into = primary.id
        other.resolve_due = None
        other.explain(f"merged into incident {primary.id}: {reason}")
        ctx.mark_changed(other)
        INCIDENTS_MERGED.inc()


def _common(labels: list[dict[str, str]]) -> dict[str, str] | None:
    if not labels:
        return None
    first, *rest = labels
    return {k: v for k, v in first.items() if all(other.get(k) == v for other in rest)}


def open_candidates(
    ctx: TriageContext, keys: list[IndexKey], event: AlertEvent, window: timedelta
) -> list[IncidentState]:
    """Firing incidents registered under any of ``keys`` that changed within
    ``window`` of the alert, biggest first (then oldest), so that merges move
    the fewest alerts and the result does not depend on index order."""
    limit = duration_ms(window)
    found: dict[str, IncidentState] = {}
    for key in keys:
        for incident in ctx.state.lookup(key):
            if (
                incident.status == IncidentStatus.FIRING
                and event.at - to_ms(incident.updated_at) <= limit
            ):
                found[incident.id] = incident
    if len(found) < 2:
        return list(found.values())
    return sorted(found.values(), key=lambda i: (-i.size, to_ms(i.opened_at), i.id))
