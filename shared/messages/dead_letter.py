"""A notification notify gave up on, on ``corral.notify.dead-letters``."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.messages.base import Message
from shared.messages.incident import Incident


class DeadLetter(Message):
    """One incident revision that one receiver integration did not take.

    Carries the whole incident, so ``corral dlq replay`` can put it back on
    ``partition`` of the incidents topic, where the notify worker that owns it
    delivers it again unless the sent log shows it went through meanwhile.
    """

    incident: Incident
    partition: int = Field(ge=0, description="Partition of the incidents topic it came from.")
    receiver: str
    integration: str
    reason: str
    retryable: bool = Field(description="Whether the last error was one a retry can cure.")
    attempts: int = Field(
        ge=0, description="0 when it was never tried: its receiver had left the config."
    )
    first_attempt_at: datetime
    last_attempt_at: datetime
