"""Escalation policies: ordered steps paged in turn until someone acknowledges.

A policy's steps each page some receivers ``after`` a delay counted from the
start of a run; ``repeat`` more runs follow, each ``repeat_after`` the one
before. Flattened, the runs are a schedule of occurrences (index ``i`` is
step ``i % len(steps)`` of run ``i // len(steps)``), and each receiver's
sent-log entry waits for its next occurrence.

When an occurrence is due is told by the incident's escalation ``Clock``: the
time the escalation has run, which an acknowledgement stops, an
unacknowledgement (or the end of a snooze) starts again, and "escalate now"
moves forward to the next step. Every entry of the incident keeps a copy,
changed together by each action (``transitions.responded``), so a worker
that restores the sent log after a crash knows every timer without asking
anyone: a step is neither skipped nor paged twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from services.notify.config import EscalationPolicy


@dataclass(frozen=True)
class Step:
    after: timedelta
    receivers: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    name: str
    steps: tuple[Step, ...]
    repeat: int = 0
    repeat_after: timedelta = timedelta(0)

    @classmethod
    def build(cls, config: EscalationPolicy) -> Policy:
        return cls(
            config.name,
            tuple(Step(step.after, tuple(step.receivers)) for step in config.steps),
            config.repeat,
            config.repeat_after or timedelta(0),
        )

    @property
    def receivers(self) -> tuple[str, ...]:
        """Every receiver of the policy, in the order of its first step."""
        return tuple(dict.fromkeys(r for step in self.steps for r in step.receivers))

    @property
    def occurrences(self) -> int:
        return (self.repeat + 1) * len(self.steps)

    def offset(self, index: int) -> timedelta:
        run, step = divmod(index, len(self.steps))
        return run * self.repeat_after + self.steps[step].after

    def step(self, index: int) -> int:
        """The 1-based step number of an occurrence."""
        return index % len(self.steps) + 1

    def next_for(self, receiver: str, after: int | None = None) -> int | None:
        """The receiver's first occurrence after index ``after`` (from the start if None)."""
        start = 0 if after is None else after + 1
        for index in range(start, self.occurrences):
            if receiver in self.steps[index % len(self.steps)].receivers:
                return index
        return None

    def next_after(self, position: timedelta) -> int | None:
        """The first occurrence not yet reached at ``position``: where "escalate now" goes."""
        for index in range(self.occurrences):
            if self.offset(index) > position:
                return index
        return None


def policies(configs: Sequence[EscalationPolicy]) -> dict[str, Policy]:
    return {config.name: Policy.build(config) for config in configs}


class Clock(BaseModel):
    """How long an incident's escalation has run; stopped while acknowledged.

    ``position(now)`` is ``now - started_at - shift`` while it runs; paused at
    ``paused_at`` it stands still, until ``resume_at`` (a snooze's end) if
    set. Pauses add to ``shift`` (seconds), "escalate now" takes from it.
    """

    model_config = ConfigDict(frozen=True)

    policy: str
    started_at: datetime
    shift: float = 0.0
    paused_at: datetime | None = None
    resume_at: datetime | None = None

    def position(self, now: datetime) -> timedelta:
        clock = self.settled(now)
        if clock.paused_at is None:
            return now - clock.started_at - timedelta(seconds=clock.shift)
        return clock.paused_at - clock.started_at - timedelta(seconds=clock.shift)

    def when(self, offset: timedelta) -> datetime | None:
        """When the clock reaches ``offset``; None while paused with no end."""
        base = self.started_at + timedelta(seconds=self.shift)
        if self.paused_at is None:
            return base + offset
        stood = self.paused_at - base
        if offset <= stood:
            return self.paused_at  # reached before (or by) the pause: due already
        if self.resume_at is None:
            return None
        return self.resume_at + (offset - stood)

    def settled(self, now: datetime) -> Clock:
        """A snooze that has ended is no longer a pause."""
        if self.paused_at is not None and self.resume_at is not None and now >= self.resume_at:
            return self._running(self.resume_at)
        return self

    def paused(self, now: datetime, until: datetime | None = None) -> Clock:
        clock = self.settled(now)
        at = clock.paused_at or now
        return clock.model_copy(update={"paused_at": at, "resume_at": until})

    def resumed(self, now: datetime) -> Clock:
        clock = self.settled(now)
        return clock if clock.paused_at is None else clock._running(now)

    def jumped(self, offset: timedelta, now: datetime) -> Clock:
        """Moved forward to ``offset``: what is due there is due now."""
        clock = self.settled(now)
        ahead = (offset - clock.position(now)).total_seconds()
        return clock.model_copy(update={"shift": clock.shift - max(0.0, ahead)})

    def _running(self, at: datetime) -> Clock:
        assert self.paused_at is not None
        stood = (at - self.paused_at).total_seconds()
        return self.model_copy(
            update={"shift": self.shift + stood, "paused_at": None, "resume_at": None}
        )


class EscalationWindows:
    """When an escalation step may page: the hook for time intervals
    (maintenance windows, business hours) on escalation policies.

    ``held_until`` returns None when the step may page now, else when to look
    again. This one always lets it page.
    """

    def held_until(self, policy: str, step: int, now: datetime) -> datetime | None:
        return None
