"""The sent log: each receiver integration's delivery state, durable in Kafka.

A thin layer over ``ChangelogStore`` (partition N holds the state of incidents
partition N) that adds what notify needs: finding an incident's entries, and
writing entries in the order they changed, acknowledged, before anything that
relies on them (a send, an offset commit) happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from services.notify.durable import publish_acked
from shared.config import KafkaSettings
from shared.kafka.changelog import ChangelogStore
from shared.kafka.publisher import Publisher, Record
from shared.messages import SentNotification


def entry_key(incident_id: str, receiver: str, integration: str) -> str:
    return f"{incident_id}/{receiver}/{integration}"


class SentLog:
    def __init__(self, settings: KafkaSettings, topic: str):
        self.store: ChangelogStore[SentNotification] = ChangelogStore(
            settings, topic, SentNotification.from_bytes
        )
        self.publisher: Publisher | None = None
        self.stopping = asyncio.Event()
        self._by_incident: dict[int, dict[str, set[str]]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def get(self, partition: int, key: str) -> SentNotification | None:
        return self.store.get(partition, key)

    def entries_for(self, partition: int, incident_id: str) -> list[SentNotification]:
        keys = self._by_incident.get(partition, {}).get(incident_id, set())
        return [e for e in (self.get(partition, k) for k in sorted(keys)) if e is not None]

    def partitions(self) -> list[int]:
        return list(self._by_incident)

    def entries(self, partition: int) -> list[tuple[str, SentNotification]]:
        return list(self.store.items(partition))

    def put(self, partition: int, entry: SentNotification) -> str:
        """Change an entry in memory; ``save`` makes it durable."""
        key = entry_key(entry.incident_id, entry.receiver, entry.integration)
        self.store.put(partition, key, entry)
        self._index(partition, key, entry)
        return key

    async def save(self, partition: int, keys: Iterable[str]) -> None:
        """Write the current state of ``keys`` and wait for the broker's ack."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return
        assert self.publisher is not None, "start the worker first"
        lock = self._locks.setdefault(partition, asyncio.Lock())

        def records() -> list[Record]:
            return [
                Record(self.store.topic, key, self.get(partition, key), partition=partition)
                for key in keys
            ]

        await publish_acked(self.publisher, records, self.stopping, order=lock)

    async def restore(self, partitions: set[int]) -> None:
        await self.store.restore(partitions)
        for partition in partitions:
            self._by_incident[partition] = {}
            for key, entry in self.store.items(partition):
                self._index(partition, key, entry)

    def drop(self, partitions: set[int]) -> None:
        self.store.drop(partitions)
        for partition in partitions:
            self._by_incident.pop(partition, None)

    def _index(self, partition: int, key: str, entry: SentNotification) -> None:
        index = self._by_incident.setdefault(partition, {})
        index.setdefault(entry.incident_id, set()).add(key)
