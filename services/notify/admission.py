"""Admitting an incident revision into the sent log of every integration
that should hear of it, and people's actions into the entries of their incident.

Routing happens here, once per revision (``Targets``); the entry keeps the
route it was admitted by. Nothing is changed here: the caller puts the
entries in the sent log and saves them (acknowledged) before committing the
offset that brought the revision or action.
"""

from __future__ import annotations

from datetime import datetime

from services.notify import transitions
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.metrics import NOTIFICATIONS
from services.notify.outcomes import cancelled
from services.notify.pipeline import Plan
from services.notify.sentlog import SentLog
from services.notify.targets import Targets
from shared.messages import Action, DeliveryOutcome, Incident


def admissions(
    sent: SentLog, targets: Targets, partition: int, incident: Incident, now: datetime
) -> list[tuple[EntryKey, SentLogEntry]]:
    """The entries this revision makes due, by key."""
    changes = []
    siblings = sent.for_incident(partition, incident.id)
    for target in targets.of(incident, siblings):
        name = target.integration.name
        key = EntryKey.of(partition, incident.id, target.receiver, name)
        entry = transitions.admitted(
            sent.get(key), incident, target.receiver, name, target.plan, now, siblings
        )
        if entry is None:
            NOTIFICATIONS.labels(target.receiver, name, "skipped_duplicate").inc()
            continue
        changes.append((key, entry))
    return changes


def responses(
    sent: SentLog, targets: Targets, partition: int, action: Action, now: datetime
) -> tuple[list[tuple[EntryKey, SentLogEntry]], list[DeliveryOutcome]]:
    """The entries of the action's incident as it leaves them, by key, and an
    outcome ``cancelled`` for each escalation step it stopped before it paged."""
    changes = []
    stopped = []
    for entry in sent.for_incident(partition, action.incident_id):
        plan = targets.plan(entry)
        if plan is None or entry.incident is None:
            continue
        after = transitions.responded(entry, action, plan, now)
        if after is None:
            continue
        step = transitions.pending_step(entry, plan)
        policy = plan.route.escalation
        if step is not None and policy is not None and _stopped(entry, after, plan, now):
            stopped.append(cancelled(entry, policy, step, now))
        key = EntryKey.of(partition, entry.incident_id, entry.receiver, entry.integration)
        changes.append((key, after))
    return changes, stopped


def _stopped(before: SentLogEntry, after: SentLogEntry, plan: Plan, now: datetime) -> bool:
    """The step the entry waited for will not page: the escalation paused or ended."""
    step = transitions.pending_step(before, plan)
    if transitions.pending_step(after, plan) != step or after.clock is None:
        return True
    return (
        after.clock.paused_at is not None
        and before.clock is not None
        and (before.clock.paused_at is None)
    )
