"""The one bounded cache a worker keeps: least recently used out first.

Pure functions of hashable arguments (a label set's fingerprint, a duration
in milliseconds) are memoized with ``functools.lru_cache``, which needs no
owner because its answers never go stale. Everything else a worker remembers
to save work (encodings it wrote, classifier verdicts, partitions it chose)
is a ``BoundedCache`` that the worker creates, sizes and passes to what uses
it, so no state hides in a module and every cache has a bound.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """At most ``size`` entries; size 0 remembers nothing."""

    __slots__ = ("_entries", "size")

    def __init__(self, size: int):
        if size < 0:
            raise ValueError("a cache size cannot be negative")
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self.size == 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
