"""A verdict of the people on call about an incident, on ``corral.feedback``.

The question every responders' tool asks is "was this page right?": it was
(``right``), it should not have paged anyone (``noise``), it should have paged
sooner or harder (``page_sooner``), or it deserved another priority
(``priority`` with the right one). Slack buttons, the board, the HTTP API and
``corral incident verdict`` all write the same message.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import ClassVar

from pydantic import Field, ValidationInfo, field_validator

from shared.messages.base import Message


class FeedbackVerdict(enum.StrEnum):
    RIGHT = "right"  # the priority Corral gave was right
    PRIORITY = "priority"  # it should have had ``priority``
    NOISE = "noise"  # it should not have alerted anyone
    PAGE_SOONER = "page_sooner"  # it should have paged (sooner): schema version 2


class Feedback(Message):
    """Keyed by incident id: the latest verdict on an incident is the one that counts.

    ``corral train --feedback`` joins these with the incidents on
    ``corral.incidents`` and learns the team's own policy from them; ``corral
    evaluate --feedback`` counts them into paging precision and recall.
    Version 2 added the ``page_sooner`` verdict and ``source``.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = Field(default=2, le=2)
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
    source: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[a-z0-9_.-]+$",
        description="The tool that asked: slack, board, api, cli, ...",
    )
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
