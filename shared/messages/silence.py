"""A silence, as Alertmanager defines one, on the compacted ``corral.silences`` topic."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import Field

from shared.matchers import Matcher, MatcherTexts, parse_matcher
from shared.messages.base import Message


class SilenceState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


class Silence(Message):
    """Mutes notifications for incidents its matchers select between two times.

    Keyed by ``id``; the latest record per id wins, so expiring a silence
    early is writing it again with ``ends_at`` set to now, and a tombstone
    forgets it. ``matchers`` are in Alertmanager's text form
    (``alertname="DiskFull"``, ``team=~"db|storage"``).
    """

    id: str = Field(min_length=1)
    matchers: MatcherTexts = Field(min_length=1)
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime

    def parsed_matchers(self) -> list[Matcher]:
        return [parse_matcher(text) for text in self.matchers]

    def state(self, now: datetime) -> SilenceState:
        if now >= self.ends_at:
            return SilenceState.EXPIRED
        if now < self.starts_at:
            return SilenceState.PENDING
        return SilenceState.ACTIVE
