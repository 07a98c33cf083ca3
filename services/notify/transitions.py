"""The life of a sent-log entry: every change to one, as a pure function.

Nothing else makes a changed entry. Each transition takes the entry as it is
now and returns a new one (entries are frozen); none does I/O or reads a
clock, so each is tested alone (``tests/unit/test_notify_transitions.py``).

    admitted ──▶ due ──▶ (mute) ──▶ muted ──(silence ends, or silences change: woken)──▶ due
                    └──▶ (mute) ──▶ held ──(the route's time interval ends)──▶ due
                    └──▶ (skip) ──▶ skipped
                    └──▶ intended ──▶ sent | acknowledged | failed ──▶ due again, or idle
    responded (a person's action) ──▶ due (tell the service) or paused (escalation)
    idle, incident resolved, retention passed ──▶ forgotten (tombstoned)

What an entry owes its receiver, and when, follows from its fields and its
``Plan`` (``obligations``): the newest revision, once ``group_wait`` after
the incident opened for the first notification and at most once per
``group_interval`` after that (a resolve, a raise into the paging
priorities and a reopen at once); the response people gave, to a service
that takes acknowledgements; the receiver's next escalation step; a
``repeat_interval`` resend. ``due_at`` is the earliest of them (or a
silence's end, or a retry after a dead letter), and ``work`` says which is
due when the dispatcher gets to it. A delivery runs from the entry as it
was when it became due, but its outcome is applied to the entry as it is
when the delivery ends: a newer revision admitted meanwhile waits its turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.notify.changes import Shown
from services.notify.entry import Phase, Response, SentLogEntry
from services.notify.escalation import Clock
from services.notify.pipeline import (
    UNCHANGED,
    Failed,
    Held,
    Job,
    Muted,
    Outcome,
    Plan,
    Sent,
    Skipped,
    Work,
)
from shared.messages import Action, ActionKind, Incident, IncidentStatus, NotificationKind, Silence

FIRING = "firing"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"


def admitted(
    previous: SentLogEntry | None,
    incident: Incident,
    receiver: str,
    integration: str,
    plan: Plan,
    now: datetime,
    siblings: Sequence[SentLogEntry] = (),
) -> SentLogEntry | None:
    """The entry with this revision, or None when there is nothing new.

    Each revision is admitted once per receiver integration: a redelivered or
    older revision changes nothing (this is where redelivery after a crash or
    a rebalance is absorbed), except the revision the entry shows as
    dead-lettered and never delivered, which ``corral dlq replay`` put back.
    A new entry takes what people did and the escalation clock from the
    incident's other entries (``siblings``); a reopened incident starts its
    escalation again, and so does a firing alert a person's resolve had not
    seen.
    """
    if previous is not None:
        if previous.revision >= incident.revision:
            return None
        if previous.incident is not None:
            known = previous.incident.revision
            replayed = previous.failed == known == incident.revision
            if incident.revision < known or (incident.revision == known and not replayed):
                return None
    base = previous or _joining(incident.id, receiver, integration, siblings)
    update: dict[str, object] = {"incident": incident, "route": plan.route.path}
    if base.failed == incident.revision:
        update["failed"] = 0  # put back by ``corral dlq replay``: due again
    response = base.response
    reopened = (
        base.incident is not None
        and base.incident.status == IncidentStatus.RESOLVED
        and incident.status == IncidentStatus.FIRING
    )
    if response is not None and incident.status == IncidentStatus.FIRING:
        news = response.state == RESOLVED and any(
            a.fingerprint not in response.quiet for a in incident.firing_alerts
        )
        if news or (reopened and response.state != FIRING):
            response = _firing(response)
            update["response"] = response
            reopened = True
    policy = plan.route.escalation
    if policy is not None and incident.status == IncidentStatus.FIRING:
        if base.clock is None or base.clock.policy != policy.name or reopened:
            start = now if reopened else max(now, incident.opened_at + plan.route.group_wait)
            update["clock"] = Clock(policy=policy.name, started_at=start)
            update["step"] = policy.next_for(receiver)
        elif previous is None:
            update["step"] = policy.next_for(receiver)
    return rescheduled(base.model_copy(update=update), plan, now)


def _joining(
    incident_id: str, receiver: str, integration: str, siblings: Sequence[SentLogEntry]
) -> SentLogEntry:
    """A new entry, knowing what the incident's other entries know of people and escalation."""
    known = next((s for s in siblings if s.response is not None or s.clock is not None), None)
    return SentLogEntry(
        incident_id=incident_id,
        receiver=receiver,
        integration=integration,
        response=known.response if known else None,
        clock=known.clock if known else None,
    )


def _firing(response: Response) -> Response:
    """Nobody's response stands any more; the last action applied is remembered."""
    return response.model_copy(
        update={
            "state": FIRING,
            "actor": None,
            "source": None,
            "at": None,
            "until": None,
            "quiet": [],
        }
    )


def responded(
    entry: SentLogEntry, action: Action, plan: Plan, now: datetime
) -> SentLogEntry | None:
    """A person's action; None when it changes nothing for this entry (seen
    before, or a kind notify has nothing to do with: roles, notes).

    Acknowledge and snooze stop the escalation (a snooze until it ends),
    unacknowledge starts it again where it stood, resolve stops it, reopen
    starts it from its first step, escalate moves it on to the next step
    now. A service that takes acknowledgements is told (``obligations``).
    """
    response = entry.response or Response()
    if response.action_at is not None and (
        action.at < response.action_at or action.action_id == response.action_id
    ):
        return None
    clock, step = entry.clock, entry.step
    policy = plan.route.escalation
    seen = {"action_id": action.action_id, "action_at": action.at}
    person = {"actor": action.actor, "source": action.source.value, "at": action.at}
    match action.kind:
        case ActionKind.ACKNOWLEDGE | ActionKind.SNOOZE:
            if response.state == RESOLVED:
                return None
            until = action.until if action.kind == ActionKind.SNOOZE else None
            response = response.model_copy(
                update={"state": ACKNOWLEDGED, "until": until, **person, **seen}
            )
            clock = clock.paused(now, until) if clock else None
        case ActionKind.UNACKNOWLEDGE:
            if response.state_at(now) != ACKNOWLEDGED:
                return None
            response = _firing(response).model_copy(update={**person, **seen})
            clock = clock.resumed(now) if clock else None
        case ActionKind.RESOLVE:
            if response.state == RESOLVED:
                return None
            quiet = [a.fingerprint for a in entry.incident.firing_alerts] if entry.incident else []
            response = response.model_copy(
                update={"state": RESOLVED, "until": None, "quiet": quiet, **person, **seen}
            )
            clock = clock.paused(now) if clock else None
        case ActionKind.REOPEN:
            if response.state != RESOLVED:
                return None
            response = _firing(response).model_copy(update={**person, **seen})
            if clock is not None and policy is not None:
                clock = Clock(policy=policy.name, started_at=now)
                step = policy.next_for(entry.receiver)
        case ActionKind.ESCALATE:
            response = response.model_copy(update=seen)
            if clock is not None and policy is not None:
                target = policy.next_after(clock.position(now))
                if target is not None:
                    clock = clock.jumped(policy.offset(target), now)
        case _:
            return None
    update: dict[str, object] = {"response": response, "clock": clock, "step": step}
    return rescheduled(entry.model_copy(update=update), plan, now)


# What an entry owes its receiver, and when.


def obligations(entry: SentLogEntry, plan: Plan, now: datetime) -> list[tuple[datetime, Work]]:
    """Everything the entry owes its receiver, each with the time it is due,
    most pressing first: what people did, an escalation step, the newest
    revision, a repeat."""
    found = []
    for part in (_response, _occurrence, _revision, _repeat):
        due = part(entry, plan, now)
        if due is not None:
            found.append((max(now, due[0]), due[1]))
    return found


def work(entry: SentLogEntry, plan: Plan, now: datetime) -> Work | None:
    """What is due now, if anything. Besides the obligations, an entry woken
    by a change of silences, or whose acknowledging silence ended, runs the
    pipeline once more with what its receiver holds: the mute stage decides
    (an acknowledgement, held back, or sent again)."""
    due = next((w for due, w in obligations(entry, plan, now) if due <= now), None)
    if due is not None or entry.due_at is None or entry.due_at > now:
        return due
    incident = entry.incident
    if incident is None or incident.status != IncidentStatus.FIRING:
        return None
    if entry.status in (FIRING, ACKNOWLEDGED) and entry.revision >= incident.revision:
        return Work(NotificationKind.REPEAT)
    return None


def scheduled(entry: SentLogEntry, plan: Plan, now: datetime) -> datetime | None:
    return min((due for due, _ in obligations(entry, plan, now)), default=None)


def rescheduled(entry: SentLogEntry, plan: Plan, now: datetime) -> SentLogEntry:
    """Due when its next obligation is."""
    due = scheduled(entry, plan, now)
    return entry if due == entry.due_at else entry.model_copy(update={"due_at": due})


def _response(entry: SentLogEntry, plan: Plan, now: datetime) -> tuple[datetime, Work] | None:
    """A service with acknowledgements is told what people did to what it shows."""
    response = entry.response
    if not plan.responses or response is None or not entry.had_trigger:
        return None
    told = entry.told or FIRING
    state = response.state_at(now)
    due, kind = now, None
    if state == told:
        if state == ACKNOWLEDGED and response.until is not None:
            due, kind = response.until, NotificationKind.UNACKNOWLEDGE
    elif state == ACKNOWLEDGED:
        kind = NotificationKind.ACKNOWLEDGE
    elif state == RESOLVED:
        kind = NotificationKind.RESOLVE
    elif told == ACKNOWLEDGED:
        kind = NotificationKind.UNACKNOWLEDGE
    # Told it resolved: the next trigger tells it that it fires again.
    if kind is None or kind not in plan.responses:
        return None
    told_now = {NotificationKind.ACKNOWLEDGE: ACKNOWLEDGED, NotificationKind.RESOLVE: RESOLVED}
    return due, Work(kind, told=told_now.get(kind, FIRING))


def pending_step(entry: SentLogEntry, plan: Plan) -> int | None:
    """The escalation occurrence the entry waits for, if it waits for one."""
    clock, step, policy = entry.clock, entry.step, plan.route.escalation
    if clock is None or step is None or policy is None or clock.policy != policy.name:
        return None
    incident = entry.incident
    if incident is None or incident.status != IncidentStatus.FIRING:
        return None
    if entry.response is not None and entry.response.state == RESOLVED:
        return None
    return step if step < policy.occurrences else None


def _occurrence(entry: SentLogEntry, plan: Plan, now: datetime) -> tuple[datetime, Work] | None:
    step = pending_step(entry, plan)
    if step is None or entry.clock is None or plan.route.escalation is None:
        return None
    when = entry.clock.when(plan.route.escalation.offset(step))
    if when is None:
        return None
    assert entry.incident is not None
    fresh = entry.incident.revision > entry.revision
    kind = NotificationKind.TRIGGER if fresh else NotificationKind.REPEAT
    return when, Work(kind, step=step)


def _revision(entry: SentLogEntry, plan: Plan, now: datetime) -> tuple[datetime, Work] | None:
    """The newest revision: at once if it resolves the incident, raises it into
    the paging priorities or reopens it; the first notification ``group_wait``
    after the incident opened; later changes ``group_interval`` after the
    receiver's last notification, all in one."""
    incident = entry.incident
    if incident is None or incident.revision <= max(entry.revision, entry.skipped):
        return None
    route = plan.route
    if entry.failed == incident.revision:  # dead-lettered: once more after repeat_interval
        if incident.status != IncidentStatus.FIRING or entry.failed_at is None:
            return None
        if route.repeat_interval <= timedelta(0):
            return None
        return entry.failed_at + route.repeat_interval, Work(NotificationKind.TRIGGER)
    if incident.status == IncidentStatus.RESOLVED:
        return now, Work(NotificationKind.RESOLVE)
    if entry.response is not None and entry.response.state == RESOLVED:
        return None  # a person resolved it and no new alert fires
    first = entry.revision == 0 or entry.status == RESOLVED
    if first and pending_step(entry, plan) is not None and not entry.had_trigger:
        return None  # its escalation step brings it
    trigger = Work(NotificationKind.TRIGGER)
    if first:
        return incident.opened_at + route.group_wait, trigger
    if entry.attempting or entry.sent_at is None or urgent(entry.shown, incident, plan.paging):
        return now, trigger
    return entry.sent_at + route.group_interval, trigger


def urgent(shown: Shown | None, incident: Incident, paging: frozenset[str]) -> bool:
    """A change never held back by ``group_interval``: into a paging priority."""
    return shown is not None and shown.priority not in paging and incident.priority in paging


def _repeat(entry: SentLogEntry, plan: Plan, now: datetime) -> tuple[datetime, Work] | None:
    incident = entry.incident
    route = plan.route
    if incident is None or incident.status != IncidentStatus.FIRING or entry.status != FIRING:
        return None
    if entry.revision < incident.revision or route.escalation is not None:
        return None  # a newer revision goes instead; an escalation repeats by its policy
    if entry.response is not None and entry.response.state_at(now) != FIRING:
        return None
    if route.repeat_interval <= timedelta(0) or entry.sent_at is None:
        return None
    last = max(entry.sent_at, entry.failed_at or entry.sent_at)
    return last + route.repeat_interval, Work(NotificationKind.REPEAT)


# Silences.


def woken(entry: SentLogEntry, now: datetime) -> SentLogEntry:
    """Silences changed: look at it again now."""
    return entry.model_copy(update={"due_at": now, "silenced_by": None})


def wakes(entry: SentLogEntry, acknowledges: bool, muted_now: bool) -> bool:
    """Whether a change of silences is news for this entry: it is held by a
    silence, or its receiver holds a page that a silence now covers and can
    take an acknowledgement."""
    if entry.phase is Phase.MUTED:
        return True
    return acknowledges and entry.status == FIRING and entry.incident is not None and muted_now


def muted(entry: SentLogEntry, revision: int, silence: Silence) -> SentLogEntry:
    """Held back until the silence ends (looked at again sooner if silences change)."""
    return entry.model_copy(
        update={"silenced_by": silence.id, "due_at": _due(entry, revision, silence.ends_at)}
    )


def held(entry: SentLogEntry, revision: int, until: datetime) -> SentLogEntry:
    """Held by the route's time intervals until ``until``; a change of silences
    is no news for it."""
    return entry.model_copy(update={"silenced_by": None, "due_at": _due(entry, revision, until)})


# How a delivery ended.


def skipped(entry: SentLogEntry, job: Job, now: datetime) -> SentLogEntry:
    """Nothing to send for this revision (a resolve nobody needs): it is handled."""
    revision = job.incident.revision
    handled = entry.model_copy(
        update={"silenced_by": None, "skipped": max(entry.skipped, revision)}
    )
    if job.incident.status == IncidentStatus.RESOLVED and entry.had_trigger:
        handled = handled.model_copy(update={"status": RESOLVED})
    return rescheduled(handled, job.plan, now)


def unchanged_for(entry: SentLogEntry, job: Job, now: datetime) -> SentLogEntry:
    """Nothing new for the receiver: it holds this revision as it holds the
    one it was shown, and its repeats and escalation go on from there."""
    incident = job.incident
    update = {
        "silenced_by": None,
        "revision": max(entry.revision, incident.revision),
        "shown": Shown.of(incident),
    }
    return rescheduled(entry.model_copy(update=update), job.plan, now)


def intended(entry: SentLogEntry, revision: int) -> SentLogEntry:
    """About to send: a restart from here knows the receiver may have it."""
    if entry.attempting == revision:
        return entry
    return entry.model_copy(update={"attempting": revision})


def sent(entry: SentLogEntry, job: Job, outcome: Sent, now: datetime) -> SentLogEntry:
    """The receiver took it. A revision: it is what the receiver was last told
    (``shown``), and its notifications are counted; an escalation step: the
    receiver waits for its next one; what people did: the receiver knows it."""
    update: dict[str, object] = {"attempting": 0}
    if outcome.reference is not None:
        update["reference"] = outcome.reference
    if job.responding:
        update["told"] = job.work.told
        if job.work.told == RESOLVED:
            update["status"] = RESOLVED
    else:
        incident = job.incident
        fresh = entry.status in ("", RESOLVED) or entry.revision == 0
        update.update(
            revision=max(entry.revision, incident.revision),
            status=incident.status.value,
            sent_at=now,
            silenced_by=None,
            shown=Shown.of(incident),
            notifications=1 if fresh else entry.notifications + 1,
        )
        if fresh:
            update["told"] = FIRING  # a new page: the service shows it unacknowledged
        if incident.status == IncidentStatus.RESOLVED:
            update["told"] = RESOLVED
        policy = job.plan.route.escalation
        if job.work.step is not None and policy is not None:
            update["step"] = policy.next_for(entry.receiver, job.work.step)
    return rescheduled(entry.model_copy(update=update), job.plan, now)


def acknowledged(
    entry: SentLogEntry, revision: int, silence: Silence, now: datetime
) -> SentLogEntry:
    """The receiver took a silence's acknowledgement; looked at again when the silence ends."""
    return _attempted(
        entry,
        revision,
        silence.ends_at,
        revision=revision,
        status=ACKNOWLEDGED,
        sent_at=now,
        silenced_by=silence.id,
    )


def failed(entry: SentLogEntry, job: Job, now: datetime) -> SentLogEntry:
    """Dead-lettered: a firing incident is tried once more after
    ``repeat_interval``; an escalation goes on to its next step."""
    update: dict[str, object] = {"attempting": 0, "silenced_by": None, "failed_at": now}
    if not job.responding:
        update["failed"] = job.incident.revision
    else:
        update["told"] = job.work.told  # the service is not told twice
    policy = job.plan.route.escalation
    if job.work.step is not None and policy is not None:
        update["step"] = policy.next_for(entry.receiver, job.work.step)
    return rescheduled(entry.model_copy(update=update), job.plan, now)


def _attempted(
    entry: SentLogEntry, attempted: int, due: datetime | None, **changes: object
) -> SentLogEntry:
    """An attempt at revision ``attempted`` is over, whatever came of it: no intent left."""
    update = {"attempting": 0, "due_at": _due(entry, attempted, due), **changes}
    return entry.model_copy(update=update)


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
        case Skipped() if outcome == UNCHANGED:
            return unchanged_for(entry, job, now)
        case Skipped():
            return skipped(entry, job, now)
        case Sent() if job.acknowledge is not None:
            return acknowledged(entry, revision, job.acknowledge, now)
        case Sent():
            return sent(entry, job, outcome, now)
        case Failed():
            return failed(entry, job, now)


# Forgetting.


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
