"""Per-receiver limits: how many deliveries at once, how many attempts per second.

Each receiver has its own, so a slow or rate-limited service queues only its
own notifications while every other receiver carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from services.notify.config import Limits


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; rate 0 is no limit."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class Limiter:
    def __init__(self, limits: Limits):
        self.slots = asyncio.Semaphore(limits.concurrency)
        self.bucket = TokenBucket(limits.per_second, limits.burst)

    @contextlib.asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """Hold a concurrency slot for one attempt, after waiting for a token."""
        async with self.slots:
            await self.bucket.take()
            yield
