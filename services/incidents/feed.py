"""The store's change feed: which incidents changed, pushed to whoever listens.

In-process and asynchronous: the live board (Server-Sent Events) and the
API's wait for an action to show both subscribe. A subscriber that falls
behind by more than its queue holds loses the oldest changes and is told so
(``Subscription.overflowed``), and should then read the whole state again,
as an SSE client does after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Change:
    """One incident changed: by a revision, an action, a delivery outcome, or
    the end of a snooze (``kinds``); ``action_ids`` are the actions now applied."""

    incident_id: str
    kinds: frozenset[str]
    state: str
    action_ids: tuple[str, ...] = ()


@dataclass(eq=False)
class Subscription:
    queue: asyncio.Queue[Change] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    overflowed: bool = False

    async def get(self) -> Change:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[Change]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Change]:
        while True:
            yield await self.queue.get()

    def put(self, change: Change) -> None:
        if self.queue.full():
            self.overflowed = True
            self.queue.get_nowait()
        self.queue.put_nowait(change)


class ChangeFeed:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._waiting: dict[str, list[asyncio.Future[Change]]] = {}

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def publish(self, changes: list[Change]) -> None:
        for change in changes:
            for subscription in self._subscriptions:
                subscription.put(change)
            for action_id in change.action_ids:
                for waiter in self._waiting.pop(action_id, []):
                    if not waiter.done():
                        waiter.set_result(change)

    def expect(self, action_id: str) -> asyncio.Future[Change]:
        """A future for the change that applies ``action_id``; taken before the
        action is published, so that the change cannot come first."""
        waiter: asyncio.Future[Change] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(action_id, []).append(waiter)
        return waiter

    async def wait(
        self, action_id: str, waiter: asyncio.Future[Change], timeout: float
    ) -> Change | None:
        """The change ``expect`` promised, or None after ``timeout``."""
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiting.get(action_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiting[action_id]
