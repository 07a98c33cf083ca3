"""The sent log: each receiver integration's delivery state, behind one interface.

``SentLog`` is what the worker, the dispatcher and the stages use;
``MemorySentLog`` keeps it in memory (unit tests run every stage and the
dispatcher on it, without a broker), and ``KafkaSentLog`` adds durability on
the shared state layer (``shared.kafka.state``): partition N of the
compacted ``corral.notify.sent`` holds the entries of the incidents of
partition N, restored when N is assigned, and every ``save`` is
acknowledged before anything that relies on it (a send, an offset commit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from services.notify.entry import EntryKey, SentLogEntry
from shared.codec import EncodingCache, with_encoded
from shared.config import KafkaSettings
from shared.kafka.publisher import EncodedValue, Publisher
from shared.kafka.state import LatestValues, StateStore
from shared.messages import Incident


class SentLog(Protocol):
    def get(self, key: EntryKey) -> SentLogEntry | None: ...

    def put(self, key: EntryKey, entry: SentLogEntry) -> None:
        """Change an entry in memory; ``save`` makes it durable."""

    def delete(self, key: EntryKey) -> None:
        """Forget an entry in memory; ``save`` writes its tombstone."""

    def entries(self) -> Iterator[tuple[EntryKey, SentLogEntry]]:
        """Every entry of every owned partition."""

    def partition_entries(self, partition: int) -> Iterator[tuple[EntryKey, SentLogEntry]]: ...

    def for_incident(self, partition: int, incident_id: str) -> list[SentLogEntry]: ...

    def __len__(self) -> int: ...

    async def save(self, keys: Iterable[EntryKey]) -> None:
        """Make the current state of ``keys`` durable before returning."""


class Entries:
    """One partition's entries, with its incidents' entries found by id."""

    def __init__(self) -> None:
        self.by_key: dict[str, SentLogEntry] = {}
        self.by_incident: dict[str, set[str]] = {}

    def put(self, key: str, entry: SentLogEntry) -> None:
        self.by_key[key] = entry
        self.by_incident.setdefault(entry.incident_id, set()).add(key)

    def delete(self, key: str) -> None:
        entry = self.by_key.pop(key, None)
        if entry is None:
            return
        keys = self.by_incident.get(entry.incident_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.by_incident[entry.incident_id]


class EntriesRestorer(LatestValues):
    """Rebuilds one partition's entries from its changelog (``shared.kafka.state``)."""

    def build(self) -> Entries:
        entries = Entries()
        for key, entry in self.decoded(lambda _key, value: SentLogEntry.from_bytes(value)):
            entries.put(key, entry)
        return entries


class MemorySentLog:
    """The sent log in memory; ``saves`` lists what each ``save`` made durable."""

    def __init__(self) -> None:
        self.partitions: dict[int, Entries] = {}
        self.saves: list[list[tuple[EntryKey, SentLogEntry | None]]] = []

    def get(self, key: EntryKey) -> SentLogEntry | None:
        entries = self.partitions.get(key.partition)
        return None if entries is None else entries.by_key.get(key.key)

    def put(self, key: EntryKey, entry: SentLogEntry) -> None:
        self.partitions.setdefault(key.partition, Entries()).put(key.key, entry)

    def delete(self, key: EntryKey) -> None:
        entries = self.partitions.get(key.partition)
        if entries is not None:
            entries.delete(key.key)

    def entries(self) -> Iterator[tuple[EntryKey, SentLogEntry]]:
        for partition in list(self.partitions):
            yield from self.partition_entries(partition)

    def partition_entries(self, partition: int) -> Iterator[tuple[EntryKey, SentLogEntry]]:
        entries = self.partitions.get(partition)
        if entries is not None:
            for key, entry in list(entries.by_key.items()):
                yield EntryKey(partition, key), entry

    def for_incident(self, partition: int, incident_id: str) -> list[SentLogEntry]:
        entries = self.partitions.get(partition)
        if entries is None:
            return []
        keys = sorted(entries.by_incident.get(incident_id, ()))
        return [entries.by_key[key] for key in keys]

    def __len__(self) -> int:
        return sum(len(entries.by_key) for entries in self.partitions.values())

    async def save(self, keys: Iterable[EntryKey]) -> None:
        self.saves.append([(key, self.get(key)) for key in dict.fromkeys(keys)])


class KafkaSentLog(MemorySentLog):
    """The sent log, restored from and written to its compacted changelog."""

    def __init__(self, settings: KafkaSettings, topic: str, incidents: EncodingCache[Incident]):
        super().__init__()
        self.store: StateStore[Entries] = StateStore(settings, topic, EntriesRestorer)
        self.partitions = self.store.partitions
        self.incidents = incidents
        self.publisher: Publisher | None = None
        self.stopping = asyncio.Event()

    def encode(self, entry: SentLogEntry) -> bytes:
        if entry.incident is None:
            return entry.to_bytes()
        # The incident is nearly all of the record, and the same object in
        # every entry of its revision (admission, intent, outcome, for each
        # receiver): its encoding is made once, or taken from the record it
        # was read from.
        return with_encoded(entry, "incident", entry.incident, self.incidents)

    async def save(self, keys: Iterable[EntryKey]) -> None:
        """Write the current state of ``keys`` (tombstones for deleted ones) and
        wait for the broker's ack; ``Stopping`` if the worker stops first."""
        by_partition: dict[int, list[str]] = {}
        for key in keys:
            by_partition.setdefault(key.partition, []).append(key.key)
        assert self.publisher is not None, "start the worker first"
        publisher = self.publisher
        await asyncio.gather(
            *(
                self.store.save(publisher, p, self._values(p, ks), self.stopping)
                for p, ks in by_partition.items()
            )
        )

    def _values(
        self, partition: int, keys: list[str]
    ) -> Callable[[], list[tuple[str, EncodedValue | None]]]:
        unique = list(dict.fromkeys(keys))

        def values() -> list[tuple[str, EncodedValue | None]]:
            entries = self.partitions.get(partition)
            if entries is None:
                return []  # no longer owned: its next owner writes what it changes
            found = [(key, entries.by_key.get(key)) for key in unique]
            return [
                (key, None if entry is None else EncodedValue(self.encode(entry)))
                for key, entry in found
            ]

        return values

    async def restore(self, partitions: set[int]) -> None:
        await self.store.restore(partitions)

    def drop(self, partitions: set[int]) -> None:
        self.store.drop(partitions)
