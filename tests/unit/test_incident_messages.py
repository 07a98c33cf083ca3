"""The contracts the incidents service shares with notify: Action and DeliveryOutcome."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.messages import Action, DeliveryOutcome
from shared.messages.outcome import MAX_ERROR_CHARS, redact
from tests.incidents import action, at, outcome


def test_an_action_round_trips() -> None:
    taken = action("snooze", 10, "alice", until=at(3610), text="waiting for the vendor")
    again = Action.from_bytes(taken.to_bytes())
    assert again == taken
    assert b'"schema_version":1' in taken.to_bytes()


@pytest.mark.parametrize(
    ("kind", "fields", "problem"),
    [
        ("assign", {"role": "incident_commander"}, "assign needs role and person"),
        ("assign", {"role": "Chief Of Fun", "person": "x"}, "role"),
        ("acknowledge", {"role": "scribe", "person": "x"}, "go with assign"),
        ("note", {}, "note needs text"),
        ("snooze", {}, "snooze needs until"),
        ("snooze", {"until": at(5)}, "until must be after at"),
        ("resolve", {"until": at(50)}, "until goes with snooze"),
        ("dance", {}, "kind"),
    ],
)
def test_an_action_must_fit_its_kind(kind: str, fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Action.model_validate(
            {
                "action_id": "a1",
                "incident_id": "inc-1",
                "kind": kind,
                "actor": "alice",
                "at": at(10),
                "source": "api",
                **fields,
            }
        )


def test_a_delivery_outcome_round_trips_and_names_itself() -> None:
    ended = outcome(5, "oncall", escalation_step=2, escalation_policy="db")
    assert DeliveryOutcome.from_bytes(ended.to_bytes()) == ended
    assert ended.outcome_id == "inc-1-1-oncall-5/oncall/pagerduty/0/sent"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            "HTTP 404 from https://hooks.slack.com/services/T000/B000/XXXXSECRET: no_team",
            "HTTP 404 from https://hooks.slack.com/…: no_team",
        ),
        (
            "POST https://user:pass@hooks.example.com/hook?token=abc failed",
            "POST https://hooks.example.com/… failed",
        ),
        (
            "401: Authorization: Bearer eyJhbGciOi.x.y refused",
            "401: Authorization: <redacted> refused",
        ),
        (
            '{"routing_key": "0123456789abcdef", "error": "bad"}',
            '{"routing_key": <redacted>, "error": "bad"}',
        ),
        ("SMTP 535 authentication failed", "SMTP 535 authentication failed"),
    ],
)
def test_delivery_errors_are_redacted(error: str, shown: str) -> None:
    assert redact(error) == shown
    assert outcome(1, error=error).error == shown


def test_a_long_error_is_cut() -> None:
    assert len(outcome(1, error="x" * 10_000).error or "") == MAX_ERROR_CHARS
