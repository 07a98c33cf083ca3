"""Topic creation: every topic Corral uses, with the layout it relies on.

Changelog and record topics are compacted: only the latest value per key
matters. Changelogs must have as many partitions as the topic whose state
they hold, because partition N of the changelog holds the state for input
partition N (the Kafka Streams layout).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from shared.config import KafkaSettings
from shared.kafka.clients import new_admin

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False


def topic_specs(settings: KafkaSettings) -> list[TopicSpec]:
    names = settings.topics
    return [
        TopicSpec(names.alerts),
        TopicSpec(names.incidents),
        TopicSpec(names.feedback),
        TopicSpec(names.dead_letters),
        TopicSpec(names.silences, compacted=True),
        TopicSpec(names.notify_sent, compacted=True),
        TopicSpec(names.triage_state, compacted=True),
    ]


async def ensure_topics(
    settings: KafkaSettings, specs: list[TopicSpec] | None = None, timeout: float = 30.0
) -> None:
    """Create missing topics; waits for the broker to answer for up to ``timeout``."""
    specs = topic_specs(settings) if specs is None else specs
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = new_admin(settings)
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                spec.name,
                settings.partitions,
                settings.replication_factor,
                topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
            )
            for spec in specs
            if spec.name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another worker created them first
            except KafkaError as exc:
                # create_topics reports per-topic errors; "already exists" is fine.
                if "TopicAlreadyExists" not in repr(exc):
                    raise
            log.info("topics created", topics=[t.name for t in missing])
    finally:
        await admin.close()
