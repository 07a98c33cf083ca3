"""Trying again until it works or the worker stops: the one retry loop.

Starting a worker (Kafka may come up after it) and writing to Kafka until
the broker acknowledges (a broker outage pauses work rather than losing it)
both wait out failures the same way: exponential backoff, given up only when
the worker is asked to stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class Stopping(Exception):
    """The worker is stopping before the work succeeded."""


async def retry_until_stopped(
    attempt: Callable[[], Awaitable[T]],
    retry_on: tuple[type[BaseException], ...],
    stop: asyncio.Event,
    what: str,
    initial: float = 0.2,
    maximum: float = 5.0,
    after_failure: Callable[[], Awaitable[None]] | None = None,
    final: Callable[[BaseException], bool] = lambda exc: False,
    **context: object,
) -> T:
    """``attempt()`` until it returns; raises ``Stopping`` once ``stop`` is set
    while waiting to try again, and re-raises an error that is ``final`` (no
    retry can cure it). The first try happens whatever ``stop`` says, so that
    work finished during a shutdown is still recorded."""
    delay = initial
    while True:
        try:
            return await attempt()
        except retry_on as exc:
            if final(exc):
                raise
            log.warning(f"{what} failed, retrying", error=str(exc), delay=delay, **context)
            if after_failure is not None:
                await after_failure()
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            delay = min(delay * 2, maximum)
            continue
        raise Stopping()
