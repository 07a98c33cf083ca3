"""Reading a batch's record values as a message model, past any record that cannot be."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import structlog
from aiokafka import ConsumerRecord
from prometheus_client import Counter
from pydantic import ValidationError

from shared.kafka.quarantine import Quarantine
from shared.messages.base import Message

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=Message)


def decoded(
    model: type[M],
    partition: int,
    messages: Sequence[ConsumerRecord],
    invalid: Counter,
    quarantine: Quarantine | None = None,
    unreadable: set[int] | None = None,
    decode: Callable[[bytes], M] | None = None,
) -> Iterator[tuple[ConsumerRecord, M]]:
    """Each record with its value as ``model``, decoded as it is read (by
    ``decode`` if given: ``model.from_bytes`` with a cache, say).

    A record no version of this worker can read must not block its partition
    forever: it is counted in ``invalid``, quarantined (stage ``decode``) with
    where it is, added to ``unreadable`` (offsets), and skipped.
    """
    read = decode or model.from_bytes
    for message in messages:
        try:
            value = read(message.value or b"")
        except ValidationError as exc:
            invalid.inc()
            if unreadable is not None:
                unreadable.add(message.offset)
            if quarantine is not None:
                quarantine.input("decode", exc, message)
            else:
                log.error(
                    f"unreadable {model.__name__} record",
                    partition=partition,
                    offset=message.offset,
                    error=str(exc),
                )
            continue
        yield message, value
