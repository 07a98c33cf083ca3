"""Escalation policies and people's actions, as pure transitions of sent-log entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify import transitions
from services.notify.config import NotifySettings
from services.notify.entry import EntryKey, SentLogEntry
from services.notify.escalation import Clock, Policy, policies
from services.notify.limits import Limiter, Limits
from services.notify.pipeline import Job, Plan, Sent, Work
from services.notify.receivers.log import LogIntegration
from services.notify.routing import RouteNode
from shared.messages import (
    Action,
    ActionKind,
    ActionSource,
    Incident,
    IncidentAlert,
    NotificationKind,
)
from tests.integration.notify_fakes import incident

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SETTINGS = NotifySettings.model_validate(
    {
        "receivers": [{"name": n} for n in ("primary", "secondary", "lead", "team")],
        "escalation_policies": [
            {
                "name": "platform",
                "steps": [
                    {"after": "0m", "receivers": ["primary"]},
                    {"after": "15m", "receivers": ["secondary"]},
                    {"after": "30m", "receivers": ["lead", "primary"]},
                ],
                "repeat": 1,
                "repeat_after": "45m",
            }
        ],
        "route": {"receiver": "team", "routes": [{"escalation": "platform"}]},
    }
)
POLICIES = policies(SETTINGS.escalation_policies)
ROOT = RouteNode.build(SETTINGS.route, policies=POLICIES)
ROUTE = ROOT.children[0]
PLAN = Plan(ROUTE)
PAGERDUTY = Plan(
    ROUTE,
    responses=frozenset({NotificationKind.ACKNOWLEDGE, NotificationKind.RESOLVE}),
)
POLICY = POLICIES["platform"]


def action(kind: ActionKind, at: datetime, n: int = 1, **fields: object) -> Action:
    return Action(
        action_id=f"a-{n}",
        incident_id="inc-1",
        kind=kind,
        actor="alice",
        at=at,
        source=fields.pop("source", ActionSource.API),
        **fields,
    )


def admit(receiver: str, revision: Incident | None = None, plan: Plan = PLAN) -> SentLogEntry:
    entry = transitions.admitted(
        None, revision or incident(1, opened_at=NOW), receiver, "log/0", plan, NOW
    )
    assert entry is not None
    return entry


def paged(entry: SentLogEntry, at: datetime, plan: Plan = PLAN) -> SentLogEntry:
    """The entry's due work, delivered at ``at``."""
    work = transitions.work(entry, plan, at)
    assert work is not None and entry.incident is not None
    done = Job(
        key=EntryKey.of(0, "inc-1", entry.receiver, "log/0"),
        entry=entry,
        incident=entry.incident,
        integration=LogIntegration("log/0"),
        limiter=Limiter(Limits()),
        plan=plan,
        work=work,
    )
    return transitions.sent(entry, done, Sent(1), at)


def test_the_schedule_of_a_policy_with_a_repeat() -> None:
    assert POLICY.receivers == ("primary", "secondary", "lead")
    assert POLICY.occurrences == 6
    assert [POLICY.offset(i) for i in range(6)] == [
        timedelta(0),
        15 * MINUTE,
        30 * MINUTE,
        45 * MINUTE,
        60 * MINUTE,
        75 * MINUTE,
    ]
    assert [POLICY.next_for("primary", i) for i in (None, 0, 2, 3, 5)] == [0, 2, 3, 5, None]
    assert POLICY.next_for("secondary") == 1 and POLICY.step(4) == 2
    assert POLICY.next_after(16 * MINUTE) == 2


def test_the_clock_stops_resumes_snoozes_and_jumps() -> None:
    clock = Clock(policy="platform", started_at=NOW)
    assert clock.when(15 * MINUTE) == NOW + 15 * MINUTE
    paused = clock.paused(NOW + 5 * MINUTE)
    assert paused.when(15 * MINUTE) is None
    assert paused.when(0 * MINUTE) == NOW + 5 * MINUTE  # reached before the pause
    resumed = paused.resumed(NOW + 25 * MINUTE)
    assert resumed.when(15 * MINUTE) == NOW + 35 * MINUTE  # the 10 minutes left, from then
    snoozed = clock.paused(NOW + 5 * MINUTE, until=NOW + 65 * MINUTE)
    assert snoozed.when(15 * MINUTE) == NOW + 75 * MINUTE
    assert snoozed.position(NOW + 70 * MINUTE) == 10 * MINUTE
    jumped = clock.jumped(15 * MINUTE, NOW + 2 * MINUTE)
    assert jumped.when(15 * MINUTE) == NOW + 2 * MINUTE
    assert jumped.when(30 * MINUTE) == NOW + 17 * MINUTE


def test_each_step_waits_for_its_time_and_brings_the_first_page() -> None:
    primary, secondary = admit("primary"), admit("secondary")
    assert primary.due_at == NOW and transitions.work(primary, PLAN, NOW) == Work(
        NotificationKind.TRIGGER, step=0
    )
    assert secondary.due_at == NOW + 15 * MINUTE
    assert transitions.work(secondary, PLAN, NOW + 14 * MINUTE) is None
    # A new revision before its step does not page it early.
    later = transitions.admitted(secondary, incident(2), "secondary", "log/0", PLAN, NOW + MINUTE)
    assert later is not None and later.due_at == NOW + 15 * MINUTE
    # Once paged, the receiver waits for its next occurrence: step 3, then the repeat.
    first = paged(primary, NOW)
    assert (first.step, first.due_at) == (2, NOW + 30 * MINUTE)
    again = paged(first, NOW + 30 * MINUTE)
    assert transitions.work(first, PLAN, NOW + 30 * MINUTE) == Work(NotificationKind.REPEAT, step=2)
    assert (again.step, again.due_at) == (3, NOW + 45 * MINUTE)


def test_an_acknowledgement_stops_it_and_an_unacknowledgement_resumes_it() -> None:
    secondary = admit("secondary")
    acked = transitions.responded(
        secondary, action(ActionKind.ACKNOWLEDGE, NOW + 5 * MINUTE), PLAN, NOW + 5 * MINUTE
    )
    assert acked is not None and acked.due_at is None
    assert acked.response is not None and acked.response.actor == "alice"
    # The same action again (a redelivery) changes nothing.
    assert (
        transitions.responded(acked, action(ActionKind.ACKNOWLEDGE, NOW + 5 * MINUTE), PLAN, NOW)
        is None
    )
    resumed = transitions.responded(
        acked, action(ActionKind.UNACKNOWLEDGE, NOW + 20 * MINUTE, 2), PLAN, NOW + 20 * MINUTE
    )
    assert resumed is not None and resumed.due_at == NOW + 30 * MINUTE


def test_escalate_now_pages_the_next_step_and_moves_the_rest_along() -> None:
    secondary, lead = admit("secondary"), admit("lead")
    at = NOW + 2 * MINUTE
    moved = [
        transitions.responded(e, action(ActionKind.ESCALATE, at), PLAN, at)
        for e in (secondary, lead)
    ]
    assert moved[0] is not None and moved[0].due_at == at
    assert moved[1] is not None and moved[1].due_at == at + 15 * MINUTE


def test_a_snooze_holds_it_until_it_ends() -> None:
    secondary = admit("secondary")
    until = NOW + 2 * timedelta(hours=1)
    snoozed = transitions.responded(
        secondary, action(ActionKind.SNOOZE, NOW + 5 * MINUTE, until=until), PLAN, NOW + 5 * MINUTE
    )
    assert snoozed is not None and snoozed.due_at == until + 10 * MINUTE


def test_resolve_stops_it_and_reopen_starts_it_from_the_first_step() -> None:
    primary = paged(admit("primary"), NOW)
    over = transitions.responded(
        primary, action(ActionKind.RESOLVE, NOW + MINUTE), PLAN, NOW + MINUTE
    )
    assert over is not None and over.due_at is None
    # Triage's next revision with the same alerts firing is not news to the person who resolved it.
    same = transitions.admitted(over, incident(2), "primary", "log/0", PLAN, NOW + 2 * MINUTE)
    assert same is not None and same.due_at is None
    at = NOW + 40 * MINUTE
    reopened = transitions.responded(same, action(ActionKind.REOPEN, at, 2), PLAN, at)
    assert reopened is not None and reopened.clock is not None
    assert (reopened.clock.started_at, reopened.step, reopened.due_at) == (at, 0, at)


def test_a_new_alert_reopens_what_a_person_resolved() -> None:
    primary = paged(admit("primary"), NOW)
    over = transitions.responded(
        primary, action(ActionKind.RESOLVE, NOW + MINUTE), PLAN, NOW + MINUTE
    )
    assert over is not None
    new = IncidentAlert(
        fingerprint="new", status="firing", labels={"alertname": "X"}, annotations={}
    )
    grown = incident(2, alerts=[*primary.incident.alerts, new])  # type: ignore[union-attr]
    back = transitions.admitted(over, grown, "primary", "log/0", PLAN, NOW + 3 * MINUTE)
    assert back is not None and back.response is not None
    assert back.response.state == "firing" and back.due_at == NOW + 3 * MINUTE


def test_a_service_with_acknowledgements_is_told_what_people_did() -> None:
    primary = paged(admit("primary", plan=PAGERDUTY), NOW, PAGERDUTY)
    at = NOW + MINUTE
    acked = transitions.responded(primary, action(ActionKind.ACKNOWLEDGE, at), PAGERDUTY, at)
    assert acked is not None and acked.due_at == at
    assert transitions.work(acked, PAGERDUTY, at) == Work(
        NotificationKind.ACKNOWLEDGE, told="acknowledged"
    )
    told = paged(acked, at, PAGERDUTY)
    assert (told.told, told.due_at) == ("acknowledged", None)
    # An unacknowledgement cannot be sent with the Events API: nothing due.
    back = transitions.responded(told, action(ActionKind.UNACKNOWLEDGE, at, 2), PAGERDUTY, at)
    assert back is not None and transitions.work(back, PAGERDUTY, at) is None
    # PagerDuty's own acknowledgement goes to every PagerDuty integration
    # (another step's service needs it; PagerDuty ignores it where it came from).
    from_pd = transitions.responded(
        primary, action(ActionKind.ACKNOWLEDGE, at, 3, source=ActionSource.PAGERDUTY), PAGERDUTY, at
    )
    assert from_pd is not None and from_pd.due_at == at
    resolved = transitions.responded(told, action(ActionKind.RESOLVE, at, 4), PAGERDUTY, at)
    assert resolved is not None
    assert transitions.work(resolved, PAGERDUTY, at) == Work(
        NotificationKind.RESOLVE, told="resolved"
    )


def test_a_new_entry_learns_what_people_did_from_its_incidents_other_entries() -> None:
    at = NOW + MINUTE
    acked = transitions.responded(admit("primary"), action(ActionKind.ACKNOWLEDGE, at), PLAN, at)
    assert acked is not None
    late = transitions.admitted(None, incident(2), "secondary", "log/0", PLAN, at, [acked])
    assert late is not None and late.response == acked.response and late.clock == acked.clock
    assert late.due_at is None


def test_policy_built_from_config() -> None:
    assert Policy.build(SETTINGS.escalation_policies[0]) == POLICY
