"""Every transition of a sent-log entry, as the pure function it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify import transitions
from services.notify.changes import Shown
from services.notify.config import NotifySettings
from services.notify.entry import EntryKey, Phase, SentLogEntry
from services.notify.limits import Limiter, Limits
from services.notify.pipeline import Failed, Job, Muted, Plan, Sent, Skipped, Work
from services.notify.receivers.base import DeliveryError
from services.notify.receivers.log import LogIntegration
from services.notify.routing import RouteNode
from shared.messages import Incident, NotificationKind, Silence
from tests.integration.notify_fakes import incident

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
ROUTE = RouteNode.build(
    NotifySettings.model_validate(
        {
            "route": {
                "receiver": "log",
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            }
        }
    ).route
)
ROUTE_CONFIG = NotifySettings.model_validate(
    {"route": {"receiver": "log", "group_wait": "30s", "repeat_interval": "4h"}}
).route
PLAN = Plan(ROUTE)
GROUP_INTERVAL = timedelta(minutes=5)
SILENCE = Silence(
    id="s-1",
    matchers=['team="storage"'],
    starts_at=NOW - timedelta(minutes=1),
    ends_at=NOW + timedelta(hours=1),
    created_by="alice",
    comment="maintenance",
    updated_at=NOW,
)


def entry(incident_: Incident | None = None, **fields: object) -> SentLogEntry:
    return SentLogEntry.model_validate(
        {
            "incident_id": "inc-1",
            "receiver": "r",
            "integration": "log/0",
            "incident": incident_.model_dump() if incident_ is not None else None,
            **fields,
        }
    )


def admit(
    previous: SentLogEntry | None, revision: Incident, plan: Plan = PLAN
) -> SentLogEntry | None:
    return transitions.admitted(previous, revision, "r", "log/0", plan, NOW)


def delivered(revision: Incident, ago: timedelta = timedelta(minutes=1)) -> SentLogEntry:
    """An entry whose receiver got ``revision`` ``ago``."""
    return entry(
        revision,
        revision=revision.revision,
        status=revision.status.value,
        sent_at=NOW - ago,
        shown=Shown.of(revision),
        notifications=1,
    )


# admitted


def test_first_firing_revision_waits_for_group_wait_from_opening() -> None:
    admitted = admit(None, incident(opened_at=NOW - timedelta(seconds=10)))
    assert admitted is not None
    assert (admitted.due_at, admitted.phase, admitted.route) == (
        NOW + timedelta(seconds=20),
        Phase.DUE,
        "route",
    )
    late = admit(None, incident(opened_at=NOW - timedelta(minutes=5)))
    assert late is not None and late.due_at == NOW


def test_changes_after_the_first_delivery_wait_for_group_interval_together() -> None:
    got = delivered(incident(1), ago=timedelta(minutes=1))
    admitted = admit(got, incident(2))
    assert admitted is not None and admitted.incident is not None
    assert (admitted.due_at, admitted.incident.revision, admitted.revision) == (
        NOW + GROUP_INTERVAL - timedelta(minutes=1),
        2,
        1,
    )
    # A third revision before then goes with it: one notification for both.
    third = admit(admitted, incident(3))
    assert third is not None and third.incident is not None
    assert (third.due_at, third.incident.revision) == (admitted.due_at, 3)
    # Long after the last notification, a change goes at once.
    assert (admit(delivered(incident(1), ago=timedelta(hours=1)), incident(2)) or got).due_at == NOW


def test_with_group_interval_0s_every_change_goes_at_once() -> None:
    plan = Plan(RouteNode.build(ROUTE_CONFIG.model_copy(update={"group_interval": timedelta(0)})))
    admitted = admit(delivered(incident(1), ago=timedelta(seconds=1)), incident(2), plan)
    assert admitted is not None and admitted.due_at == NOW


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": "resolved"}, "a resolve of the whole incident"),
        ({"priority": "P1"}, "a raise into the paging priorities"),
        ({"status": "resolved", "merged_into": "inc-9"}, "merged into another incident"),
    ],
)
def test_some_changes_are_never_held_back(change: dict[str, str], why: str) -> None:
    got = delivered(incident(1, priority="P3"), ago=timedelta(seconds=10))
    admitted = admit(got, incident(2, **change))
    assert admitted is not None and admitted.due_at == NOW, why


def test_a_raise_within_the_paging_priorities_or_below_them_waits() -> None:
    got = delivered(incident(1, priority="P2"), ago=timedelta(seconds=10))
    raised = admit(got, incident(2, priority="P1"))
    assert raised is not None and raised.due_at == NOW + GROUP_INTERVAL - timedelta(seconds=10)
    low = delivered(incident(1, priority="P5"), ago=timedelta(seconds=10))
    assert (admit(low, incident(2, priority="P3")) or low).due_at != NOW


def test_a_reopened_incident_is_a_first_notification_again() -> None:
    over = delivered(incident(2, "resolved"), ago=timedelta(seconds=10))
    again = admit(over, incident(3, opened_at=NOW - timedelta(hours=1)))
    assert again is not None and again.due_at == NOW


def test_repeated_and_older_revisions_are_not_admitted() -> None:
    known = entry(incident(2), revision=1, status="firing", due_at=NOW)
    assert admit(known, incident(2)) is None
    assert admit(known, incident(1)) is None
    assert admit(entry(revision=3, status="firing"), incident(2)) is None


def test_a_dead_lettered_revision_is_admitted_again_for_replay() -> None:
    admitted = admit(entry(incident(1), failed=1), incident(1))
    assert admitted is not None and admitted.due_at is not None
    assert admit(entry(incident(1), failed=1, revision=1, status="firing"), incident(1)) is None


# muted, woken


def test_muted_waits_for_the_silence_to_end() -> None:
    held = transitions.muted(entry(incident(1), due_at=NOW), 1, SILENCE)
    assert (held.phase, held.due_at, held.silenced_by) == (Phase.MUTED, SILENCE.ends_at, "s-1")


def test_silence_changes_wake_muted_entries_and_paged_ones_a_silence_covers() -> None:
    held = transitions.muted(entry(incident(1), due_at=NOW), 1, SILENCE)
    assert transitions.wakes(held, acknowledges=False, muted_now=False)
    # Held with an intent a stopped worker left: still woken.
    assert transitions.wakes(held.model_copy(update={"attempting": 1}), False, False)
    woken = transitions.woken(held, NOW)
    assert (woken.due_at, woken.phase) == (NOW, Phase.DUE)
    paged = entry(incident(1), revision=1, status="firing")
    assert transitions.wakes(paged, acknowledges=True, muted_now=True)
    assert not transitions.wakes(paged, acknowledges=False, muted_now=True)
    assert not transitions.wakes(paged, acknowledges=True, muted_now=False)
    acked = paged.model_copy(update={"status": "acknowledged"})
    assert not transitions.wakes(acked, acknowledges=True, muted_now=True)


# skipped, intended


def test_skipped_leaves_nothing_due() -> None:
    current = entry(incident(2, "resolved"), due_at=NOW, silenced_by="s")
    skipped = transitions.skipped(current, job(current), NOW)
    assert (skipped.phase, skipped.silenced_by, skipped.skipped) == (Phase.IDLE, None, 2)
    assert transitions.work(skipped, PLAN, NOW) is None


def test_intended_records_the_revision_being_sent_once() -> None:
    due = entry(incident(1), due_at=NOW)
    intent = transitions.intended(due, 1)
    assert (intent.attempting, intent.phase) == (1, Phase.SENDING)
    assert intent.had_trigger  # a restart from here resolves what may have been sent
    assert transitions.intended(intent, 1) is intent


# sent, acknowledged, failed


def sent(current: SentLogEntry, revision: Incident, plan: Plan = PLAN) -> SentLogEntry:
    return transitions.sent(current, job(current, revision=revision, plan=plan), Sent(1), NOW)


def test_sent_firing_repeats_after_repeat_interval_and_resolved_does_not() -> None:
    firing = sent(entry(incident(1), attempting=1), incident(1))
    assert (firing.revision, firing.status, firing.attempting, firing.sent_at) == (
        1,
        "firing",
        0,
        NOW,
    )
    assert firing.due_at == NOW + timedelta(hours=4)
    assert transitions.work(firing, PLAN, NOW + timedelta(hours=4)) == Work(NotificationKind.REPEAT)
    never = Plan(RouteNode.build(ROUTE_CONFIG.model_copy(update={"repeat_interval": timedelta(0)})))
    assert sent(firing, incident(1), never).due_at is None
    over = incident(2, "resolved")
    resolved = sent(entry(over, attempting=2), over)
    assert (resolved.status, resolved.phase) == ("resolved", Phase.IDLE)


def test_sent_remembers_what_the_receiver_was_told_and_counts_it() -> None:
    first = sent(entry(incident(1), attempting=1), incident(1, priority="P2"))
    assert first.shown == Shown.of(incident(1, priority="P2"))
    assert first.notifications == 1
    second = sent(first.model_copy(update={"incident": incident(2)}), incident(2))
    assert (second.notifications, second.revision) == (2, 2)
    over = sent(
        second.model_copy(update={"incident": incident(3, "resolved")}), incident(3, "resolved")
    )
    again = sent(over.model_copy(update={"incident": incident(4)}), incident(4))
    assert (over.notifications, again.notifications) == (3, 1)  # a reopen counts afresh


def test_a_newer_revision_admitted_during_a_delivery_waits_its_turn() -> None:
    # Revision 1 was being sent when revision 2 came in.
    current = entry(incident(2), attempting=1, due_at=NOW + timedelta(seconds=5))
    after = sent(current, incident(1))
    assert (after.revision, after.due_at) == (1, NOW + GROUP_INTERVAL)
    assert after.incident is not None and after.incident.revision == 2
    assert transitions.muted(current, 1, SILENCE).due_at == current.due_at


def test_acknowledged_waits_for_the_silence_to_end() -> None:
    acked = transitions.acknowledged(entry(incident(1), attempting=1), 1, SILENCE, NOW)
    assert (acked.status, acked.attempting, acked.silenced_by, acked.due_at) == (
        "acknowledged",
        0,
        "s-1",
        SILENCE.ends_at,
    )
    assert acked.had_trigger


def test_failed_is_tried_again_after_repeat_interval_while_firing() -> None:
    current = entry(incident(3), attempting=3)
    failed = transitions.failed(current, job(current), NOW)
    assert (failed.failed, failed.attempting, failed.revision) == (3, 0, 0)
    assert failed.due_at == NOW + timedelta(hours=4)
    over = entry(incident(4, "resolved"))
    assert transitions.failed(over, job(over), NOW).due_at is None


def job(
    current: SentLogEntry,
    acknowledge: Silence | None = None,
    revision: Incident | None = None,
    plan: Plan = PLAN,
) -> Job:
    assert current.incident is not None
    return Job(
        key=EntryKey.of(0, "inc-1", "r", "log/0"),
        entry=current,
        incident=revision or current.incident,
        integration=LogIntegration("log/0"),
        limiter=Limiter(Limits()),
        plan=plan,
        acknowledge=acknowledge,
    )


@pytest.mark.parametrize(
    ("outcome", "acknowledge", "expected"),
    [
        (Muted(SILENCE), None, Phase.MUTED),
        (Skipped("skipped_resolved"), None, Phase.IDLE),
        (Sent(1), None, Phase.DUE),  # repeats
        (Sent(1), SILENCE, Phase.MUTED),  # acknowledged: looked at when the silence ends
        (Failed(DeliveryError("400", False), 1, NOW, NOW), None, Phase.DUE),
    ],
)
def test_each_outcome_is_recorded_by_its_transition(
    outcome: Muted | Skipped | Sent | Failed, acknowledge: Silence | None, expected: Phase
) -> None:
    before_intent = isinstance(outcome, Muted | Skipped)
    current = entry(incident(1), attempting=0 if before_intent else 1, due_at=NOW)
    recorded = transitions.recorded(current, job(current, acknowledge), outcome, NOW)
    assert (recorded.phase, recorded.attempting) == (expected, 0)


# forgotten


def test_entries_are_forgotten_a_retention_after_their_incident_resolved() -> None:
    retention = timedelta(hours=1)
    over = incident(3, "resolved").model_copy(update={"resolved_at": NOW})
    done = sent(entry(over, attempting=3), over)
    assert transitions.expires_at(done, retention) == NOW + retention
    assert not transitions.forgotten(done, retention, NOW + retention - timedelta(seconds=1))
    assert transitions.forgotten(done, retention, NOW + retention)
    # Nothing is forgotten while it may still matter.
    firing = entry(incident(1), revision=1, status="firing")
    assert transitions.expires_at(firing, retention) is None
    assert transitions.expires_at(done.model_copy(update={"attempting": 3}), retention) is None
    replayed = done.model_copy(update={"due_at": NOW})
    assert transitions.expires_at(replayed, retention) is None
    # A version 1 record knows only what it delivered.
    old = entry(revision=2, status="resolved", sent_at=NOW)
    assert transitions.expires_at(old, retention) == NOW + retention
