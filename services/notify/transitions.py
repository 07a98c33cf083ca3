"""The life of a sent-log entry: every change to one, as a pure function.

Nothing else makes a changed entry. Each transition takes the entry as it is
now and returns a new one (entries are frozen); none does I/O or reads a
clock, so each is tested alone (``tests/unit/test_notify_transitions.py``).

    admitted ──▶ due ──▶ (mute) ──▶ muted ──(silence ends, or silences change: woken)──▶ due
                    └──▶ (mute) ──▶ held ──(the route's time interval ends)──▶ due
                    └──▶ (skip) ──▶ skipped: idle
                    └──▶ intended ──▶ sent | acknowledged | failed ──▶ due again after
                                                                      repeat_interval, or idle
    idle, incident resolved, retention passed ──▶ forgotten (tombstoned)

A delivery runs from the entry as it was when it became due, but its outcome
is applied to the entry as it is when the delivery ends: a newer revision
admitted meanwhile keeps its own due time (``_due``). Escalation steps and
human acknowledgements (the incident lifecycle to come) are further
transitions here: a step is an admission with a later due time, an
acknowledgement clears what is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.notify.entry import Phase, SentLogEntry
from services.notify.pipeline import Failed, Held, Job, Muted, Outcome, Sent, Skipped
from services.notify.routing import RouteNode
from shared.messages import Incident, IncidentStatus, Silence


def admitted(
    previous: SentLogEntry | None,
    incident: Incident,
    receiver: str,
    integration: str,
    route: RouteNode,
    now: datetime,
) -> SentLogEntry | None:
    """The entry with this revision due, or None when there is nothing new.

    Each revision is admitted once per receiver integration: a redelivered or
    older revision changes nothing (this is where redelivery after a crash or
    a rebalance is absorbed), except the revision the entry shows as
    dead-lettered and never delivered, which ``corral dlq replay`` put back.
    A revision is due at once, except the first notification of a firing
    incident, which waits until ``group_wait`` after the incident opened.
    """
    if previous is not None:
        if previous.revision >= incident.revision:
            return None
        if previous.incident is not None:
            known = previous.incident.revision
            replayed = previous.failed == known == incident.revision
            if incident.revision < known or (incident.revision == known and not replayed):
                return None
    base = previous or SentLogEntry(
        incident_id=incident.id, receiver=receiver, integration=integration
    )
    due = now
    if incident.status == IncidentStatus.FIRING and base.revision == 0:
        due = max(now, incident.opened_at + route.group_wait)
    return base.model_copy(update={"incident": incident, "due_at": due, "route": route.path})


def woken(entry: SentLogEntry, now: datetime) -> SentLogEntry:
    """Silences changed: look at it again now."""
    return entry.model_copy(update={"due_at": now, "silenced_by": None})


def wakes(entry: SentLogEntry, acknowledges: bool, muted_now: bool) -> bool:
    """Whether a change of silences is news for this entry: it is held by a
    silence, or its receiver holds a page that a silence now covers and can
    take an acknowledgement."""
    if entry.phase is Phase.MUTED:
        return True
    return acknowledges and entry.status == "firing" and entry.incident is not None and muted_now


def muted(entry: SentLogEntry, revision: int, silence: Silence) -> SentLogEntry:
    """Held back until the silence ends (looked at again sooner if silences change)."""
    return entry.model_copy(
        update={"silenced_by": silence.id, "due_at": _due(entry, revision, silence.ends_at)}
    )


def held(entry: SentLogEntry, revision: int, until: datetime) -> SentLogEntry:
    """Held by the route's time intervals until ``until``; a change of silences
    is no news for it."""
    return entry.model_copy(update={"silenced_by": None, "due_at": _due(entry, revision, until)})


def skipped(entry: SentLogEntry, revision: int) -> SentLogEntry:
    """Nothing to send for this revision: nothing due for it any more."""
    return entry.model_copy(update={"silenced_by": None, "due_at": _due(entry, revision, None)})


def intended(entry: SentLogEntry, revision: int) -> SentLogEntry:
    """About to send: a restart from here knows the receiver may have it."""
    if entry.attempting == revision:
        return entry
    return entry.model_copy(update={"attempting": revision})


def sent(
    entry: SentLogEntry, incident: Incident, now: datetime, repeat_interval: timedelta
) -> SentLogEntry:
    """The receiver took the revision; a firing incident repeats after ``repeat_interval``."""
    return _attempted(
        entry,
        incident.revision,
        _repeat(incident, now, repeat_interval),
        revision=incident.revision,
        status=incident.status.value,
        sent_at=now,
        silenced_by=None,
    )


def acknowledged(
    entry: SentLogEntry, revision: int, silence: Silence, now: datetime
) -> SentLogEntry:
    """The receiver took an acknowledgement; looked at again when the silence ends."""
    return _attempted(
        entry,
        revision,
        silence.ends_at,
        revision=revision,
        status="acknowledged",
        sent_at=now,
        silenced_by=silence.id,
    )


def failed(
    entry: SentLogEntry, incident: Incident, now: datetime, repeat_interval: timedelta
) -> SentLogEntry:
    """Dead-lettered; a firing incident is tried once more after ``repeat_interval``."""
    again = _repeat(incident, now, repeat_interval)
    return _attempted(entry, incident.revision, again, failed=incident.revision, silenced_by=None)


def _attempted(
    entry: SentLogEntry, attempted: int, due: datetime | None, **changes: object
) -> SentLogEntry:
    """An attempt at revision ``attempted`` is over, whatever came of it: no intent left."""
    update = {"attempting": 0, "due_at": _due(entry, attempted, due), **changes}
    return entry.model_copy(update=update)


def expires_at(entry: SentLogEntry, retention: timedelta) -> datetime | None:
    """When an entry may be forgotten: ``retention`` after its incident resolved,
    once nothing is due or in flight; None while it may still matter."""
    if entry.attempting or entry.due_at is not None:
        return None
    incident = entry.incident
    if incident is None:  # a version 1 record: only what was delivered is known
        if entry.status == IncidentStatus.RESOLVED and entry.sent_at is not None:
            return entry.sent_at + retention
        return None
    if incident.status != IncidentStatus.RESOLVED or incident.resolved_at is None:
        return None
    return incident.resolved_at + retention


def forgotten(entry: SentLogEntry, retention: timedelta, now: datetime) -> bool:
    """Whether the entry is to be tombstoned now."""
    expiry = expires_at(entry, retention)
    return expiry is not None and expiry <= now


def _repeat(incident: Incident, now: datetime, repeat_interval: timedelta) -> datetime | None:
    if incident.status == IncidentStatus.FIRING and repeat_interval > timedelta(0):
        return now + repeat_interval
    return None


def _due(entry: SentLogEntry, revision: int, wanted: datetime | None) -> datetime | None:
    """``wanted``, unless a newer revision than the one just handled was
    admitted meanwhile: that one keeps its own due time."""
    if entry.incident is not None and entry.incident.revision != revision:
        return entry.due_at
    return wanted


def recorded(entry: SentLogEntry, job: Job, outcome: Outcome, now: datetime) -> SentLogEntry:
    """The entry as it is now, after the delivery of ``job`` ended with ``outcome``."""
    revision = job.incident.revision
    match outcome:
        case Muted(silence=silence):
            return muted(entry, revision, silence)
        case Held(until=until):
            return held(entry, revision, until)
        case Skipped():
            return skipped(entry, revision)
        case Sent() if job.acknowledge is not None:
            return acknowledged(entry, revision, job.acknowledge, now)
        case Sent():
            return sent(entry, job.incident, now, job.route.repeat_interval)
        case Failed():
            return failed(entry, job.incident, now, job.route.repeat_interval)
