"""Admitting an incident revision into a receiver integration's sent log entry.

Each revision is admitted once per receiver integration: a redelivered or
older revision changes nothing (this is where redelivery after a crash or a
rebalance is absorbed), with one exception: the revision the sent log shows
as dead-lettered and never delivered, which ``corral dlq replay`` put back.
An admitted revision is due at once, except the first notification of a
firing incident, which waits until ``group_wait`` after the incident opened.
"""

from __future__ import annotations

from datetime import datetime

from services.notify.routing import RouteNode
from shared.messages import Incident, IncidentStatus, SentNotification


def admit(
    previous: SentNotification | None,
    incident: Incident,
    receiver: str,
    integration: str,
    route: RouteNode,
    now: datetime,
) -> SentNotification | None:
    """The entry with this revision due, or None when there is nothing new."""
    if previous is not None:
        if previous.revision >= incident.revision:
            return None
        if previous.incident is not None:
            known = previous.incident.revision
            replay = previous.failed == known == incident.revision
            if incident.revision < known or (incident.revision == known and not replay):
                return None
    base = previous or SentNotification(
        incident_id=incident.id, receiver=receiver, integration=integration
    )
    due = now
    if incident.status == IncidentStatus.FIRING and base.revision == 0:
        due = max(now, incident.opened_at + route.group_wait)
    return base.model_copy(update={"incident": incident, "due_at": due})
