"""A verdict of the people on call about an incident's priority, on ``corral.feedback``."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import Field, ValidationInfo, field_validator

from shared.messages.base import Message


class FeedbackVerdict(enum.StrEnum):
    RIGHT = "right"  # the priority Corral gave was right
    PRIORITY = "priority"  # it should have had ``priority``
    NOISE = "noise"  # it should not have alerted anyone


class Feedback(Message):
    """Keyed by incident id: the latest verdict on an incident is the one that counts.

    ``corral train --feedback-from-kafka`` joins these with the incidents on
    ``corral.incidents`` and learns the team's own policy from them.
    """

    incident_id: str = Field(min_length=1, max_length=128)
    verdict: FeedbackVerdict
    priority: str | None = Field(
        default=None,
        pattern=r"^P[1-5]$",
        validate_default=True,
        description="With verdict 'priority': the right one.",
    )
    revision: int | None = Field(default=None, ge=1, description="The revision judged.")
    author: str | None = Field(default=None, max_length=256)
    comment: str | None = Field(default=None, max_length=4096)
    received_at: datetime

    @field_validator("priority")
    @classmethod
    def _priority_matches_verdict(cls, priority: str | None, info: ValidationInfo) -> str | None:
        verdict = info.data.get("verdict")
        if verdict == FeedbackVerdict.PRIORITY and priority is None:
            raise ValueError("verdict 'priority' needs the priority it should have had (P1-P5)")
        if verdict not in (None, FeedbackVerdict.PRIORITY) and priority is not None:
            raise ValueError(f"priority is only given with verdict 'priority', not {verdict!s}")
        return priority
