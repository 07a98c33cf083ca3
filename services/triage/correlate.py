"""Correlation: each alert, in partition order, through the steps of the chain.

Before each alert the partition's timers run up to its event time, so a
quiet period that ended before an alert arrived is over for that alert,
however the records were batched. After the batch (or on a tick, up to the
wall clock) the timers run again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta

from services.triage.hold import hold, waiting_key
from services.triage.lifecycle import Timers
from services.triage.membership import Membership
from services.triage.scope import SCOPE
from services.triage.stages import AlertEvent, AlertFailed, Step, TriageContext
from services.triage.state import describe, duration_ms, to_ms
from shared.messages import Alert

SLICE_SECONDS = 0.01
"""How long correlation holds the event loop before letting it run (heartbeats,
health checks, fetches, the producer) and going on with the batch.

A batch is plain CPU work, correlated on the loop's thread in slices: in a
thread of its own it took turns at the GIL with the loop's thread, which cost
more CPU per alert than the slices' returns to the loop (``docs/performance.md``)."""


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
        alerts = iter(ctx.alerts)
        while True:
            if self._run(ctx, alerts, time.perf_counter() + SLICE_SECONDS):
                break
            await asyncio.sleep(0)  # a turn for the loop, then the next slice
        self.timers.advance(ctx, to_ms(ctx.now) if ctx.now is not None else ctx.state.time)

    def _run(self, ctx: TriageContext, alerts: Iterator[tuple[Alert, str]], until: float) -> bool:
        """Correlate ``alerts`` until they run out (True) or the clock passes ``until``."""
        received, at = None, 0
        for alert, key in alerts:
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
            if time.perf_counter() > until:
                return False
        return True
