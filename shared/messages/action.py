"""A human action on an incident, on ``corral.actions``.

Whoever acts (the incident API, the board, the CLI, a Slack button, a
PagerDuty webhook) publishes one ``Action``; the incidents service records it
in the incident's state and timeline, and notify stops, resumes or advances
the incident's escalation from it. Keyed by incident id, so an incident's
actions share the partition number of its revisions on ``corral.incidents``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Self

from pydantic import Field, model_validator

from shared.messages.base import Message


class ActionKind(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"  # someone is on it: escalation stops
    UNACKNOWLEDGE = "unacknowledge"  # nobody is on it any more: escalation resumes
    RESOLVE = "resolve"  # over, whatever the alerts say now
    REOPEN = "reopen"  # a resolved incident is not over after all
    ASSIGN = "assign"  # ``person`` takes ``role``
    NOTE = "note"  # ``text`` goes on the timeline
    ESCALATE = "escalate"  # page the next escalation step now
    SNOOZE = "snooze"  # acknowledged until ``until``, then firing again


class ActionSource(enum.StrEnum):
    API = "api"
    BOARD = "board"
    CLI = "cli"
    SLACK = "slack"
    PAGERDUTY = "pagerduty"


BUILTIN_ROLES = ("incident_commander", "communications_lead")
"""Roles every incident has; ``incidents.roles`` names more."""

ROLE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class Action(Message):
    """One thing a person did to an incident.

    ``action_id`` makes it idempotent: an action whose id was already
    recorded for the incident changes nothing, so a client, Slack or
    PagerDuty may send the same one again safely. ``at`` is when it was
    done; the incident's state is the actions and revisions taken in ``at``
    order, so replaying the topics rebuilds the same state.
    """

    action_id: str = Field(min_length=1, max_length=128)
    incident_id: str = Field(min_length=1, max_length=128)
    kind: ActionKind
    actor: str = Field(min_length=1, max_length=256, description="Who: a user name.")
    at: datetime
    source: ActionSource
    role: str | None = Field(default=None, pattern=ROLE_PATTERN, description="With assign.")
    person: str | None = Field(
        default=None, min_length=1, max_length=256, description="With assign: who takes it."
    )
    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=16_384,
        description="A note's text; a comment with any other kind.",
    )
    until: datetime | None = Field(default=None, description="With snooze: when it ends.")

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> Self:
        if self.kind == ActionKind.ASSIGN:
            if self.role is None or self.person is None:
                raise ValueError("assign needs role and person")
        elif self.role is not None or self.person is not None:
            raise ValueError(f"role and person go with assign, not {self.kind}")
        if self.kind == ActionKind.NOTE and self.text is None:
            raise ValueError("note needs text")
        if self.kind == ActionKind.SNOOZE:
            if self.until is None:
                raise ValueError("snooze needs until")
            if self.until <= self.at:
                raise ValueError("until must be after at")
        elif self.until is not None:
            raise ValueError(f"until goes with snooze, not {self.kind}")
        return self
