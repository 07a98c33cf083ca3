"""Publishing messages and waiting for the broker's acknowledgement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.messages.base import Message
from shared.metrics import MESSAGES_PUBLISHED, PUBLISH_ERRORS


@dataclass(frozen=True, slots=True)
class Record:
    """One write: ``partition`` pins it (changelogs), else the key decides."""

    topic: str
    key: str | None
    value: Message | None
    partition: int | None = None


class PublishError(Exception):
    """The broker did not acknowledge a write; the caller must not commit."""


class Publisher:
    def __init__(self, producer: AIOKafkaProducer):
        self.producer = producer

    async def send(self, record: Record) -> asyncio.Future[object]:
        """Queue a write; the returned future resolves once the broker acked it."""
        return await self.producer.send(
            record.topic,
            value=None if record.value is None else record.value.to_bytes(),
            key=None if record.key is None else record.key.encode(),
            partition=record.partition,
        )

    async def publish(self, records: Iterable[Record]) -> None:
        """Write every record and return only when all are acknowledged."""
        pending: list[tuple[str, asyncio.Future[object]]] = []
        for record in records:
            try:
                pending.append((record.topic, await self.send(record)))
            except KafkaError as exc:
                PUBLISH_ERRORS.labels(record.topic).inc()
                for _, future in pending:
                    # Nobody awaits these any more; keep their errors out of the log.
                    future.add_done_callback(_retrieve)
                raise PublishError(f"{type(exc).__name__}: {exc}") from exc
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        failed: BaseException | None = None
        for (topic, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                PUBLISH_ERRORS.labels(topic).inc()
                failed = failed or result
            else:
                MESSAGES_PUBLISHED.labels(topic).inc()
        if failed is not None:
            raise PublishError(f"{type(failed).__name__}: {failed}") from failed


def _retrieve(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()
