"""An incident's lifecycle: its revisions and the actions on it, folded in time order.

The state is a pure function of the set of events, taken in ``(at, rank,
event id)`` order, whatever order they arrived in: the three topics are read
interleaved differently on every run, and a rebuilt store must come out the
same as the live one. Revisions say what the alerts do; actions say what the
people do; the rules below decide which wins:

* A resolved revision resolves the incident; a human resolve resolves it
  while alerts may still fire.
* A firing revision reopens a resolved incident only when an alert fires that
  was not firing when it was resolved: a person who resolves a noisy incident
  is not overruled by the same alerts, but is by a new one (or by the same
  alerts firing again after they had resolved).
* Acknowledge and snooze need an open incident; a snooze acknowledges until
  its end, after which the incident fires again (``effective_state``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from services.incidents.times import to_ms
from shared.messages import ActionKind


class State(enum.StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EventKind(enum.StrEnum):
    """What a stored event is; the value's order breaks ties in time."""

    REVISION = "revision"
    ACTION = "action"
    OUTCOME = "outcome"


RANK = {EventKind.REVISION: 0, EventKind.ACTION: 1, EventKind.OUTCOME: 2}

SortKey = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to an incident, as the store keeps it.

    ``data`` is what the timeline shows: for a revision its summary and
    changes (``events.revision_event``), for an action or an outcome the
    message itself.
    """

    incident_id: str
    event_id: str
    at_ms: int
    kind: EventKind
    data: dict[str, Any]
    listed: tuple[bytes, ...] = ()
    """A revision's changed members as it listed them (``codec.split_members``),
    kept as its ``changes`` (the store writes them there; read back, they are
    in ``data``)."""

    @property
    def key(self) -> SortKey:
        return (self.at_ms, RANK[self.kind], self.event_id)

    @property
    def shapes_lifecycle(self) -> bool:
        return self.kind != EventKind.OUTCOME


class Lifecycle(BaseModel):
    """What the people and the alerts made of an incident so far."""

    state: State = State.FIRING
    firing: list[str] = Field(default_factory=list, description="Fingerprints firing now.")
    acknowledged_by: str | None = None
    acknowledged_at_ms: int | None = None
    first_acknowledged_at_ms: int | None = None
    snoozed_until_ms: int | None = None
    resolved_by: str | None = Field(default=None, description="None: the alerts resolved.")
    resolved_at_ms: int | None = None
    firing_at_resolve: list[str] = Field(default_factory=list)
    roles: dict[str, str] = Field(default_factory=dict)
    last: SortKey | None = Field(default=None, description="Key of the last event folded in.")

    def effective_state(self, now_ms: int) -> State:
        """The state now: an acknowledgement by snooze lapses at its end."""
        if self.state == State.ACKNOWLEDGED and self.snooze_ended(now_ms):
            return State.FIRING
        return self.state

    def snooze_ended(self, now_ms: int) -> bool:
        return self.snoozed_until_ms is not None and self.snoozed_until_ms <= now_ms


def fold(start: Lifecycle, events: Iterable[Event]) -> Lifecycle:
    """``start`` with ``events`` (in key order, all after ``start.last``) applied."""
    # Lists are replaced, never changed in place; only the roles are.
    state = start.model_copy(update={"roles": dict(start.roles)})
    for event in events:
        if event.kind == EventKind.REVISION:
            _revision(state, event)
        elif event.kind == EventKind.ACTION:
            _action(state, event)
        else:
            continue
        state.last = event.key
    return state


def replay(events: Iterable[Event]) -> Lifecycle:
    """The lifecycle from every event of an incident, in any order."""
    return fold(Lifecycle(), sorted((e for e in events if e.shapes_lifecycle), key=_key))


def _key(event: Event) -> SortKey:
    return event.key


def _reopen(state: Lifecycle) -> None:
    state.state = State.FIRING
    state.acknowledged_by = state.acknowledged_at_ms = None
    state.snoozed_until_ms = None
    state.resolved_by = state.resolved_at_ms = None
    state.firing_at_resolve = []


def _revision(state: Lifecycle, event: Event) -> None:
    firing = list(event.data.get("firing", []))
    if event.data["status"] == "resolved":
        if state.state != State.RESOLVED:
            state.state = State.RESOLVED
            state.resolved_by = None
            state.resolved_at_ms = event.data.get("resolved_at_ms") or event.at_ms
        state.snoozed_until_ms = None
        # The alerts that were firing at a human resolve have stopped: if they
        # fire again, that is a recurrence.
        state.firing_at_resolve = []
    elif state.state == State.RESOLVED and not set(firing) <= set(state.firing_at_resolve):
        _reopen(state)
    state.firing = firing


def _acknowledge(state: Lifecycle, actor: str, at_ms: int) -> None:
    if state.state != State.ACKNOWLEDGED:
        state.state = State.ACKNOWLEDGED
        state.acknowledged_by = actor
        state.acknowledged_at_ms = at_ms
    if state.first_acknowledged_at_ms is None:
        state.first_acknowledged_at_ms = at_ms


def _action(state: Lifecycle, event: Event) -> None:
    data = event.data
    kind = ActionKind(data["kind"])
    actor = str(data["actor"])
    open_ = state.state != State.RESOLVED
    lapsed = state.snooze_ended(event.at_ms)
    if kind == ActionKind.ACKNOWLEDGE and open_:
        if lapsed:
            state.state = State.FIRING
        _acknowledge(state, actor, event.at_ms)
        state.snoozed_until_ms = None
    elif kind == ActionKind.SNOOZE and open_:
        if lapsed:
            state.state = State.FIRING
        _acknowledge(state, actor, event.at_ms)
        state.snoozed_until_ms = to_ms(data["until"])
    elif kind == ActionKind.UNACKNOWLEDGE and state.state == State.ACKNOWLEDGED:
        state.state = State.FIRING
        state.acknowledged_by = state.acknowledged_at_ms = None
        state.snoozed_until_ms = None
    elif kind == ActionKind.RESOLVE and open_:
        state.state = State.RESOLVED
        state.resolved_by = actor
        state.resolved_at_ms = event.at_ms
        state.firing_at_resolve = list(state.firing)
        state.snoozed_until_ms = None
    elif kind == ActionKind.REOPEN and not open_:
        _reopen(state)
    elif kind == ActionKind.ASSIGN:
        state.roles[str(data["role"])] = str(data["person"])


def refusal(kind: ActionKind, lifecycle: Lifecycle, now_ms: int) -> str | None:
    """Why ``kind`` cannot be done to the incident now (a 409), or None."""
    state = lifecycle.effective_state(now_ms)
    if state == State.RESOLVED and kind in (
        ActionKind.ACKNOWLEDGE,
        ActionKind.UNACKNOWLEDGE,
        ActionKind.RESOLVE,
        ActionKind.ESCALATE,
        ActionKind.SNOOZE,
    ):
        return "the incident is resolved" + (
            f" (by {lifecycle.resolved_by})" if lifecycle.resolved_by else " (its alerts resolved)"
        )
    if (
        kind == ActionKind.ACKNOWLEDGE
        and state == State.ACKNOWLEDGED
        and lifecycle.snoozed_until_ms is None
    ):
        return f"already acknowledged by {lifecycle.acknowledged_by}"
    if kind == ActionKind.UNACKNOWLEDGE and state != State.ACKNOWLEDGED:
        return "the incident is not acknowledged"
    if kind == ActionKind.REOPEN and state != State.RESOLVED:
        return "the incident is not resolved"
    return None
