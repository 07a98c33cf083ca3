"""Running deliveries off the consume loop, each when it is due.

The consume loop only admits revisions into the sent log (acknowledged
before the commit); deliveries then run as tasks of their own, so a slow or
failing receiver never holds up a batch, a commit, or any other receiver.
At most one delivery per sent log entry runs at a time, keeping the
revisions one receiver sees in order; a revision admitted meanwhile goes
next. What is due later (``group_wait``, a silence, ``repeat_interval``)
waits in a heap that the loop's tick looks at.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from services.notify.durable import Stopping
from services.notify.sentlog import SentLog
from services.notify.stages import Chain, Notification

log = structlog.get_logger(__name__)

RETRY_UNEXPECTED = timedelta(seconds=30)

Slot = tuple[int, str]
"""A sent log entry: (partition, key)."""


class Dispatcher:
    def __init__(
        self,
        sent: SentLog,
        chain: Chain,
        notification: Callable[[int, str], Notification | None],
    ):
        self.sent = sent
        self.chain = chain
        self.notification = notification
        self.tasks: dict[Slot, asyncio.Task[None]] = {}
        self.muted: set[Slot] = set()
        self._heap: list[tuple[float, int, int, str]] = []
        self._order = itertools.count()

    def schedule(self, partition: int, key: str, when: datetime) -> None:
        heapq.heappush(self._heap, (when.timestamp(), next(self._order), partition, key))

    def wake_muted(self, now: datetime) -> None:
        """Silences changed: look at everything muted again, now."""
        for partition, key in self.muted:
            entry = self.sent.get(partition, key)
            if entry is not None and entry.due_at is not None:
                self.sent.put(partition, entry.model_copy(update={"due_at": now}))
                self.schedule(partition, key, now)
        self.muted.clear()

    def start_due(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] <= now.timestamp():
            _, _, partition, key = heapq.heappop(self._heap)
            slot = (partition, key)
            if slot in self.tasks:
                continue  # looked at again when the running delivery ends
            entry = self.sent.get(partition, key)
            if entry is None or entry.due_at is None or entry.due_at > now:
                continue  # rescheduled since; a later heap item stands for it
            n = self.notification(partition, key)
            if n is not None:
                self.tasks[slot] = asyncio.create_task(self._deliver(slot, n))

    async def _deliver(self, slot: Slot, n: Notification) -> None:
        partition, key = slot
        try:
            await self.chain.process(n)
            current = self.sent.get(partition, key)
            if current is None:
                return
            changes = dict(n.changes)
            if current.incident is not None and current.incident.revision != n.incident.revision:
                changes.pop("due_at", None)  # a newer revision came in and has its own
            entry = current.model_copy(update=changes)
            if changes:
                self.sent.put(partition, entry)
                await self.sent.save(partition, [key])
            if entry.silenced_by:
                self.muted.add(slot)
            else:
                self.muted.discard(slot)
            if entry.due_at is not None:
                self.schedule(partition, key, entry.due_at)
        except Stopping:
            pass  # the next owner of the partition resumes from the sent log
        except Exception:
            log.exception("delivery failed unexpectedly; trying again later", key=key)
            self.schedule(partition, key, datetime.now(UTC) + RETRY_UNEXPECTED)
        finally:
            self.tasks.pop(slot, None)

    async def stop(self, partitions: set[int] | None = None, grace: float = 0.0) -> None:
        """Let deliveries of ``partitions`` (all if None) finish within ``grace``, then
        cancel the rest; their intents stay in the sent log for the next owner."""
        tasks = [t for (p, _), t in self.tasks.items() if partitions is None or p in partitions]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.muted = {s for s in self.muted if partitions is not None and s[0] not in partitions}
