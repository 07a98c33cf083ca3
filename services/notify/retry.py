"""Delivery with retries: exponential backoff with jitter, Retry-After honoured."""

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
        """Full jitter: spreads retries of many workers over the whole interval."""
        ceiling = min(
            self.settings.max_backoff.total_seconds(),
            self.settings.initial_backoff.total_seconds() * 2**attempt,
        )
        return random.uniform(ceiling / 2, ceiling)

    async def process(self, n: Notification) -> bool:
        started = time.perf_counter()
        deadline = started + self.settings.max_elapsed.total_seconds()
        attempt = 0
        while True:
            try:
                await n.integration.notify(n.incident, n.receiver)
                break
            except DeliveryError as exc:
                delay = exc.retry_after if exc.retry_after is not None else self.backoff(attempt)
                if not exc.retryable or time.perf_counter() + delay > deadline:
                    NOTIFICATIONS.labels(n.receiver, n.integration.name, "failed").inc()
                    log.error(
                        "notification failed",
                        incident=n.incident.id,
                        revision=n.incident.revision,
                        receiver=n.receiver,
                        integration=n.integration.name,
                        attempts=attempt + 1,
                        error=str(exc),
                    )
                    return False
                RETRIES.labels(n.receiver).inc()
                attempt += 1
                await asyncio.sleep(delay)
        NOTIFICATIONS.labels(n.receiver, n.integration.name, "sent").inc()
        DELIVERY_SECONDS.labels(n.receiver).observe(time.perf_counter() - started)
        if n.incident.received_at is not None:
            END_TO_END_SECONDS.labels(n.receiver).observe(
                (datetime.now(UTC) - n.incident.received_at).total_seconds()
            )
        return True
