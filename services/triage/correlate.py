"""Correlation: each alert, in partition order, through the steps of the chain.

Before each alert the partition's timers run up to its event time, so a
quiet period that ended before an alert arrived is over for that alert,
however the records were batched. After the batch (or on a tick, up to the
wall clock) the timers run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sized
from datetime import timedelta

from services.triage.hold import hold, waiting_key
from services.triage.lifecycle import Timers
from services.triage.membership import Membership
from services.triage.scope import SCOPE
from services.triage.stages import AlertEvent, AlertFailed, Step, TriageContext
from services.triage.state import describe, duration_ms, to_ms

INLINE_ALERTS = 32
"""A batch this small is correlated on the event loop: handing it to a thread
and back would cost more than it holds the loop."""


class OpenStep:
    """No policy placed the alert: it opens an incident of its own, held back
    for ``hold`` when the alert is a symptom whose cause may still come."""

    def __init__(self, membership: Membership, hold: timedelta = timedelta(0)):
        self.membership = membership
        self.hold_ms = duration_ms(hold)

    def process(self, ctx: TriageContext, event: AlertEvent) -> bool:
        correlation_key = next(
            (key.text for key in event.keys if key.kind.startswith(SCOPE)),
            describe(event.alert.labels),
        )
        incident = self.membership.open(ctx, event, correlation_key)
        incident.waiting = waiting_key(event)
        if incident.waiting is not None and self.hold_ms:
            hold(ctx, incident, event.at + self.hold_ms)
        return True


class CorrelateStage:
    name = "correlate"

    def __init__(self, steps: list[Step], timers: Timers):
        self.steps = steps
        self.timers = timers
        timers.steps = steps

    async def process(self, ctx: TriageContext) -> None:
        alerts = ctx.alerts
        small = isinstance(alerts, Sized) and len(alerts) <= INLINE_ALERTS
        if ctx.now is None and not small:
            # Decoding and correlating a batch is plain CPU work: keep the
            # event loop (heartbeats, health checks) free. Its own thread
            # also allocates from a glibc arena of its own, so the members
            # incidents keep are not interleaved with the fetched records
            # that are freed after the batch (docs/performance.md).
            await asyncio.to_thread(self._run, ctx)
        else:
            self._run(ctx)

    def _run(self, ctx: TriageContext) -> None:
        received, at = None, 0
        for alert, key in ctx.alerts:
            if alert.received_at != received:
                # The alerts of one webhook arrive together, with one ingest time.
                received, at = alert.received_at, to_ms(alert.received_at)
            event = AlertEvent(alert, alert.fingerprint, key, at)
            self.timers.advance(ctx, at)
            try:
                for step in self.steps:
                    if step.process(ctx, event):
                        break
            except Exception as exc:
                raise AlertFailed(f"{type(exc).__name__}: {exc}") from exc
        self.timers.advance(ctx, to_ms(ctx.now) if ctx.now is not None else ctx.state.time)
