"""Reusing encodings: the same frozen objects are written again and again.

A busy incident gets a revision every batch listing the same alerts, triage
writes each revision twice (the incident, then its state record), and notify
writes the incident it read into every sent log record of it. Re-encoding
each time was most of that serialization.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Encodings(Generic[T]):
    """The encodings of the last ``size`` objects used, by identity.

    Only for frozen objects, whose encoding never goes stale. Each entry holds
    its object, so its id cannot pass to another object while it lives.
    """

    def __init__(self, size: int, encode: Callable[[T], bytes]):
        self.size = size
        self.encode = encode
        self.entries: OrderedDict[int, tuple[T, bytes]] = OrderedDict()

    def remember(self, value: T, data: bytes) -> None:
        """``data`` is ``value`` encoded (as read from a record, say)."""
        self.entries[id(value)] = (value, data)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def of(self, value: T) -> bytes:
        hit = self.entries.get(id(value))
        if hit is not None and hit[0] is value:
            self.entries.move_to_end(id(value))
            return hit[1]
        data = self.encode(value)
        self.remember(value, data)
        return data


def with_last(message: BaseModel, field: str, data: bytes) -> bytes:
    """``message`` as ``Message.to_bytes`` writes it, but ``field`` written last, as ``data``."""
    head = type(message).__pydantic_serializer__.to_json(
        message, exclude_none=True, exclude={field}
    )
    return b'%s,"%s":%s}' % (head[:-1], field.encode(), data)
