"""Sending, with retries: exponential backoff with jitter, Retry-After honoured.

Every attempt goes through the receiver's limiter. 5xx, 408, 429, timeouts
and connection errors are retried until ``retry.max_elapsed`` is spent; a
Retry-After longer than what is left ends the budget at once; other 4xx are
not retried, and neither is an integration that fails in a way no retry can
cure (a bug, a body it cannot build), which would otherwise be tried again
forever. The outcome, sent or failed, is recorded by the dispatcher (a
failure as a dead letter).
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime

import structlog

from services.notify.config import RetrySettings
from services.notify.metrics import DELIVERY_SECONDS, END_TO_END_SECONDS, RETRIES
from services.notify.pipeline import Failed, Job, Sent
from services.notify.receivers.base import DeliveryError

log = structlog.get_logger(__name__)


class SendStage:
    def __init__(self, settings: RetrySettings):
        self.settings = settings

    def backoff(self, attempt: int) -> float:
        """Equal jitter: spreads retries of many workers over half the interval."""
        ceiling = min(
            self.settings.max_backoff.total_seconds(),
            self.settings.initial_backoff.total_seconds() * 2**attempt,
        )
        return random.uniform(ceiling / 2, ceiling)

    async def process(self, job: Job) -> Sent | Failed:
        started = time.perf_counter()
        deadline = started + self.settings.max_elapsed.total_seconds()
        delivery = job.delivery
        attempts = 0
        reference: str | None = None
        first_attempt_at: datetime | None = None
        while True:
            attempts += 1
            last_attempt_at = datetime.now(UTC)
            first_attempt_at = first_attempt_at or last_attempt_at
            try:
                async with job.limiter.attempt():
                    reference = await job.integration.notify(delivery)
                break
            except DeliveryError as exc:
                error = exc
            except Exception as exc:
                log.exception("receiver integration failed", integration=job.integration.name)
                error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=False)
            delay = error.retry_after if error.retry_after is not None else self.backoff(attempts)
            if not error.retryable or time.perf_counter() + delay > deadline:
                log.error(
                    "notification failed",
                    incident=job.incident.id,
                    revision=job.incident.revision,
                    receiver=job.receiver,
                    integration=job.integration.name,
                    attempts=attempts,
                    error=str(error),
                )
                return Failed(error, attempts, first_attempt_at, last_attempt_at)
            RETRIES.labels(job.receiver).inc()
            await asyncio.sleep(delay)
        DELIVERY_SECONDS.labels(job.receiver).observe(time.perf_counter() - started)
        if job.incident.received_at is not None and not (delivery.repeat or job.responding):
            END_TO_END_SECONDS.labels(job.receiver).observe(
                (datetime.now(UTC) - job.incident.received_at).total_seconds()
            )
        return Sent(attempts, reference)
