"""How one delivery ended, as notify reports it on ``corral.notify.outcomes``."""

from __future__ import annotations

import enum
import re
from datetime import datetime

from pydantic import Field, field_validator

from shared.messages.base import Message


class DeliveryStatus(enum.StrEnum):
    SENT = "sent"  # the receiver took it
    FAILED = "failed"  # given up after the retry budget (dead-lettered)
    SILENCED = "silenced"  # held back by a silence
    CANCELLED = "cancelled"  # an escalation step not sent: acknowledged or resolved first


class NotificationKind(enum.StrEnum):
    """What was delivered: the incident's change, a resend, or the responders' word."""

    TRIGGER = "trigger"  # a firing revision, first or changed
    REPEAT = "repeat"  # a resend after repeat_interval
    RESOLVE = "resolve"
    ACKNOWLEDGE = "acknowledge"  # the receiver told it is acknowledged (PagerDuty, Slack)
    UNACKNOWLEDGE = "unacknowledge"


MAX_ERROR_CHARS = 1024

_URL = re.compile(
    r"\b([a-z][a-z0-9+.-]*://)(?:[^@/\s]*@)?([^/\s?#]+)(?:[^\s\"',)]*[^\s\"',).:;])?", re.I
)
_CREDENTIAL = re.compile(r"\b(bearer|basic|token)\s+[\w.~+/=-]+", re.I)
_SECRET_FIELD = re.compile(
    r"""(["']?\b(?:routing_key|token|password|secret|api_key|authorization)\b["']?\s*[:=]\s*)"""
    r"""(?:(?:bearer|basic|token)\s+)?(?:"[^"]*"|'[^']*'|[^\s,;}]+)""",
    re.I,
)


def redact(text: str) -> str:
    """An error as it may be stored and shown: URLs cut to scheme and host
    (Slack webhook URLs and tokens in query strings are secrets), credentials
    and secret-looking fields replaced, and at most ``MAX_ERROR_CHARS``."""
    text = _URL.sub(r"\1\2/…", text)
    text = _SECRET_FIELD.sub(r"\1<redacted>", text)
    text = _CREDENTIAL.sub(r"\1 <redacted>", text)
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


class DeliveryOutcome(Message):
    """The end of one delivery of one incident revision to one receiver integration.

    Keyed by incident id (same partition number as the incident). ``key`` is
    the idempotency key the delivery was sent with; together with receiver,
    integration and status it identifies the outcome, so a repeated record
    changes nothing. ``escalation_step`` (1-based) is set when the delivery
    was a step of an escalation policy. ``error`` is redacted on the way in.
    """

    incident_id: str = Field(min_length=1, max_length=128)
    revision: int = Field(ge=1)
    receiver: str = Field(min_length=1, max_length=256)
    integration: str = Field(min_length=1, max_length=256, description="e.g. pagerduty/0")
    notification: NotificationKind
    status: DeliveryStatus
    key: str = Field(min_length=1, max_length=256, description="The delivery's idempotency key.")
    at: datetime = Field(description="When the delivery ended.")
    attempts: int = Field(default=1, ge=0)
    escalation_policy: str | None = Field(default=None, max_length=256)
    escalation_step: int | None = Field(default=None, ge=1)
    error: str | None = None

    @field_validator("error")
    @classmethod
    def _redacted(cls, value: str | None) -> str | None:
        return None if value is None else redact(value)

    @property
    def outcome_id(self) -> str:
        return f"{self.key}/{self.receiver}/{self.integration}/{self.status}"
