"""Delivery with retries: exponential backoff with jitter, Retry-After honoured.

Every attempt goes through the receiver's limiter. 5xx, 408, 429, timeouts
and connection errors are retried until ``retry.max_elapsed`` is spent; a
Retry-After longer than what is left ends the budget at once; other 4xx are
not retried. Whatever happens, the stage passes the outcome on to be
recorded (sent, or dead-lettered).
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime

import structlog

from services.notify.config import RetrySettings
from services.notify.metrics import DELIVERY_SECONDS, END_TO_END_SECONDS, NOTIFICATIONS, RETRIES
from services.notify.receivers.base import DeliveryError
from services.notify.stages import Notification

log = structlog.get_logger(__name__)


class RetryStage:
    def __init__(self, settings: RetrySettings):
        self.settings = settings

    def backoff(self, attempt: int) -> float:
        """Equal jitter: spreads retries of many workers over half the interval."""
        ceiling = min(
            self.settings.max_backoff.total_seconds(),
            self.settings.initial_backoff.total_seconds() * 2**attempt,
        )
        return random.uniform(ceiling / 2, ceiling)

    async def process(self, n: Notification) -> bool:
        started = time.perf_counter()
        deadline = started + self.settings.max_elapsed.total_seconds()
        delivery = n.delivery
        while True:
            n.attempts += 1
            n.last_attempt_at = datetime.now(UTC)
            n.first_attempt_at = n.first_attempt_at or n.last_attempt_at
            try:
                async with n.limiter.attempt():
                    await n.integration.notify(delivery)
                n.error = None
                break
            except DeliveryError as exc:
                n.error = exc
                delay = exc.retry_after if exc.retry_after is not None else self.backoff(n.attempts)
                if not exc.retryable or time.perf_counter() + delay > deadline:
                    n.outcome = "failed"
                    NOTIFICATIONS.labels(n.receiver, n.integration.name, n.outcome).inc()
                    log.error(
                        "notification failed",
                        incident=n.incident.id,
                        revision=n.incident.revision,
                        receiver=n.receiver,
                        integration=n.integration.name,
                        attempts=n.attempts,
                        error=str(exc),
                    )
                    return True
                RETRIES.labels(n.receiver).inc()
                await asyncio.sleep(delay)
        n.outcome = "sent"
        NOTIFICATIONS.labels(n.receiver, n.integration.name, n.outcome).inc()
        DELIVERY_SECONDS.labels(n.receiver).observe(time.perf_counter() - started)
        if n.incident.received_at is not None and not delivery.repeat:
            END_TO_END_SECONDS.labels(n.receiver).observe(
                (datetime.now(UTC) - n.incident.received_at).total_seconds()
            )
        return True
