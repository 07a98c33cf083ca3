"""Admitting an incident revision into the sent log of every integration that should hear of it.

Routing happens here, once per revision (``Targets``); the entry keeps the
route it was admitted by. Nothing is changed here: the caller puts the
entries in the sent log and saves them (acknowledged) before committing the
offset that brought the revision.
"""

from __future__ import annotations

from datetime import datetime

from services.notify import transitions
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.metrics import NOTIFICATIONS
from services.notify.sentlog import SentLog
from services.notify.targets import Targets
from shared.messages import Incident


def admissions(
    sent: SentLog, targets: Targets, partition: int, incident: Incident, now: datetime
) -> list[tuple[EntryKey, SentLogEntry]]:
    """The entries this revision makes due, by key."""
    changes = []
    for target in targets.of(incident, sent.for_incident(partition, incident.id)):
        name = target.integration.name
        key = EntryKey.of(partition, incident.id, target.receiver, name)
        entry = transitions.admitted(
            sent.get(key), incident, target.receiver, name, target.route, now
        )
        if entry is None:
            NOTIFICATIONS.labels(target.receiver, name, "skipped_duplicate").inc()
            continue
        changes.append((key, entry))
    return changes
