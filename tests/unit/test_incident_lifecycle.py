"""An incident's lifecycle: what revisions and actions make of it, in any order."""

from __future__ import annotations

import itertools
import random

import pytest

from services.incidents.events import action_event, outcome_event, revision_event
from services.incidents.lifecycle import Event, Lifecycle, State, fold, refusal, replay
from services.incidents.revision import Revision
from services.incidents.times import to_ms
from shared.messages import ActionKind, Incident
from tests.incidents import action, alert, at, outcome, revision

DISK = alert("DiskFull")
IO = alert("HighIOWait")


def events(*messages: object) -> list[Event]:
    """Events as the store builds them: each revision against the one before."""
    built: list[Event] = []
    previous: Revision | None = None
    for message in messages:
        if isinstance(message, Incident):
            read = Revision.from_bytes(message.to_bytes())
            built.append(revision_event(read, previous))
            previous = read
        elif hasattr(message, "kind"):
            built.append(action_event(message))  # type: ignore[arg-type]
        else:
            built.append(outcome_event(message))  # type: ignore[arg-type]
    return built


def test_acknowledged_then_resolved_by_its_alerts() -> None:
    state = replay(
        events(
            revision(1, [DISK], 0),
            action("acknowledge", 240, "alice"),
            revision(2, [alert("DiskFull", "resolved")], 1800),
        )
    )
    assert state.state == State.RESOLVED
    assert (state.acknowledged_by, state.first_acknowledged_at_ms) == ("alice", to_ms(at(240)))
    assert state.resolved_by is None
    assert state.resolved_at_ms == to_ms(at(1800))


def test_a_human_resolve_holds_against_the_same_alerts_but_not_a_new_one() -> None:
    opened = revision(1, [DISK], 0)
    resolved = action("resolve", 60, "bob")
    same = revision(2, [DISK, alert("DiskFull", fingerprint="fp-diskfull")], 120)
    assert replay(events(opened, resolved, same)).state == State.RESOLVED
    new_alert = revision(2, [DISK, IO], 120)
    reopened = replay(events(opened, resolved, new_alert))
    assert reopened.state == State.FIRING
    assert reopened.resolved_by is None


def test_alerts_firing_again_after_they_resolved_reopen_a_human_resolve() -> None:
    state = replay(
        events(
            revision(1, [DISK], 0),
            action("resolve", 60, "bob"),
            revision(2, [alert("DiskFull", "resolved")], 300),
            revision(3, [DISK], 900, event="reopened"),
        )
    )
    assert state.state == State.FIRING


def test_snooze_acknowledges_until_it_ends() -> None:
    state = replay(events(revision(1, [DISK], 0), action("snooze", 60, "carol", until=at(3660))))
    assert state.state == State.ACKNOWLEDGED
    assert state.effective_state(to_ms(at(3600))) == State.ACKNOWLEDGED
    assert state.effective_state(to_ms(at(3661))) == State.FIRING
    # Acknowledging after the snooze ended is an acknowledgement again, and sticks.
    later = fold(state, events(action("acknowledge", 4000, "dave")))
    assert (later.state, later.acknowledged_by, later.snoozed_until_ms) == (
        State.ACKNOWLEDGED,
        "dave",
        None,
    )
    assert later.first_acknowledged_at_ms == to_ms(at(60))


def test_unacknowledge_reopen_and_roles() -> None:
    state = replay(
        events(
            revision(1, [DISK], 0),
            action("acknowledge", 10, "alice"),
            action("assign", 20, "alice", role="incident_commander", person="alice"),
            action("assign", 30, "alice", role="communications_lead", person="erin"),
            action("unacknowledge", 40, "alice"),
            action("resolve", 50, "alice"),
            action("reopen", 60, "frank"),
            action("assign", 70, "frank", role="incident_commander", person="frank"),
        )
    )
    assert state.state == State.FIRING
    assert state.acknowledged_by is None
    assert state.first_acknowledged_at_ms == to_ms(at(10))
    assert state.roles == {"incident_commander": "frank", "communications_lead": "erin"}


def test_actions_the_state_forbids_change_nothing() -> None:
    opened = revision(1, [DISK], 0)
    resolved = revision(2, [alert("DiskFull", "resolved")], 100)
    state = replay(
        events(opened, resolved, action("acknowledge", 200), action("unacknowledge", 210))
    )
    assert state.state == State.RESOLVED
    assert state.acknowledged_by is None
    assert state.first_acknowledged_at_ms is None


def test_delivery_outcomes_do_not_touch_the_lifecycle() -> None:
    opened = events(revision(1, [DISK], 0))
    with_outcomes = events(revision(1, [DISK], 0), outcome(1), outcome(2, status="failed"))
    assert replay(with_outcomes) == replay(opened)


SCRIPT = [
    revision(1, [DISK], 0),
    revision(2, [DISK, IO], 30),
    action("acknowledge", 45, "alice"),
    action("assign", 50, "alice", role="incident_commander", person="alice"),
    action("note", 55, "alice", text="resizing /var"),
    action("unacknowledge", 70, "alice"),
    action("snooze", 80, "bob", until=at(400)),
    revision(3, [DISK, alert("HighIOWait", "resolved")], 90),
    action("resolve", 120, "bob"),
    revision(4, [DISK, IO], 200),
    action("acknowledge", 500, "carol"),
    revision(5, [alert("DiskFull", "resolved"), alert("HighIOWait", "resolved")], 900),
    action("reopen", 950, "dave"),
    action("resolve", 990, "dave"),
]


def test_any_arrival_order_gives_the_same_state() -> None:
    """The three topics are read interleaved differently on every run."""
    expected = replay(events(*SCRIPT))
    built = events(*SCRIPT)
    rng = random.Random(17)
    for _ in range(200):
        rng.shuffle(built)
        assert replay(built) == expected


def test_folding_on_from_a_stored_state_equals_folding_everything() -> None:
    """The store folds new events onto the stored state when they come in time
    order (``fold``), and everything again when not (``replay``): the same."""
    built = events(*SCRIPT)
    everything = replay(built)
    for cut in range(len(built) + 1):
        assert fold(replay(built[:cut]), built[cut:]) == everything


@pytest.mark.parametrize(
    ("kind", "state", "refused"),
    [
        ("acknowledge", "resolved", True),
        ("acknowledge", "acknowledged", True),
        ("acknowledge", "firing", False),
        ("unacknowledge", "firing", True),
        ("unacknowledge", "acknowledged", False),
        ("resolve", "resolved", True),
        ("reopen", "firing", True),
        ("reopen", "resolved", False),
        ("escalate", "resolved", True),
        ("escalate", "acknowledged", False),
        ("snooze", "resolved", True),
        ("note", "resolved", False),
        ("assign", "resolved", False),
    ],
)
def test_refusals(kind: str, state: str, refused: bool) -> None:
    lifecycle = Lifecycle(state=State(state), acknowledged_by="alice")
    assert (refusal(ActionKind(kind), lifecycle, 0) is not None) == refused


def test_a_lapsed_snooze_can_be_acknowledged() -> None:
    lifecycle = Lifecycle(state=State.ACKNOWLEDGED, acknowledged_by="bob", snoozed_until_ms=100)
    assert refusal(ActionKind.ACKNOWLEDGE, lifecycle, 50) is None  # snoozed: make it stick
    assert refusal(ActionKind.ACKNOWLEDGE, lifecycle, 200) is None
    assert refusal(ActionKind.UNACKNOWLEDGE, lifecycle, 200) is not None


def test_every_permutation_of_a_short_history() -> None:
    history = events(revision(1, [DISK], 0), action("acknowledge", 5), action("resolve", 9, "bob"))
    results = {replay(list(p)).model_dump_json() for p in itertools.permutations(history)}
    assert len(results) == 1
