"""Topics: every topic Corral uses, with the layout it relies on, created and checked at start.

Changelog and record topics are compacted: only the latest value per key
matters. Changelogs must have as many partitions as the topic whose state
they hold, because partition N of the changelog holds the state for input
partition N (the Kafka Streams layout).

Corral creates missing topics with the configured partitions, replication,
``min.insync.replicas``, retention and ``max.message.bytes``, and checks the
topics that exist against the same settings: a layout it cannot work with
(changelogs partitioned unlike their input, more replicas asked than brokers)
stops the worker with a message saying what to fix; a weaker one than asked
(fewer partitions or replicas, a lower ``min.insync.replicas``) is logged as
a warning, since changing an existing topic is an operator's decision.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from shared.config import ConfigError, KafkaSettings
from shared.kafka.clients import new_admin

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False
    # The topic whose partitions this one's follow (a changelog's input).
    follows: str | None = None
    # The field of ``kafka.retention`` that sets its retention.
    retention: str | None = None


def topic_specs(settings: KafkaSettings) -> list[TopicSpec]:
    names = settings.topics
    return [
        TopicSpec(names.alerts, retention="alerts"),
        TopicSpec(names.incidents, retention="incidents"),
        TopicSpec(names.feedback, retention="feedback"),
        TopicSpec(names.dead_letters, retention="dead_letters"),
        TopicSpec(names.quarantine, retention="quarantine"),
        # An incident's actions and delivery outcomes go with its revisions.
        TopicSpec(names.actions, follows=names.incidents, retention="actions"),
        TopicSpec(names.notify_outcomes, follows=names.incidents, retention="notify_outcomes"),
        TopicSpec(names.silences, compacted=True),
        TopicSpec(names.notify_sent, compacted=True, follows=names.incidents),
        TopicSpec(names.triage_state, compacted=True, follows=names.alerts),
    ]


def topic_configs(settings: KafkaSettings, spec: TopicSpec) -> dict[str, str]:
    """The topic-level configs Corral sets on a topic it creates."""
    configs = {"max.message.bytes": str(settings.max_message_bytes)}
    if spec.compacted:
        configs["cleanup.policy"] = "compact"
    if settings.min_insync_replicas is not None:
        configs["min.insync.replicas"] = str(settings.min_insync_replicas)
    if spec.retention is not None:
        retention = getattr(settings.retention, spec.retention)
        if retention is not None:
            configs["retention.ms"] = str(round(retention.total_seconds() * 1000))
    return configs


async def _admin(settings: KafkaSettings, timeout: float) -> AIOKafkaAdminClient:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = new_admin(settings)
        try:
            await admin.start()
            return admin
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def ensure_topics(
    settings: KafkaSettings, specs: list[TopicSpec] | None = None, timeout: float = 30.0
) -> None:
    """Create missing topics; waits for the broker to answer for up to ``timeout``."""
    specs = topic_specs(settings) if specs is None else specs
    admin = await _admin(settings, timeout)
    try:
        await _create_missing(admin, settings, specs)
    finally:
        await admin.close()


async def prepare_topics(settings: KafkaSettings, timeout: float = 30.0) -> None:
    """What a worker does at start: create missing topics (``kafka.create_topics``),
    then check every topic against the settings (``ConfigError`` when unusable)."""
    specs = topic_specs(settings)
    admin = await _admin(settings, timeout)
    try:
        if settings.create_topics:
            await _create_missing(admin, settings, specs)
        problems = await check_topics(admin, settings, specs)
    finally:
        await admin.close()
    if problems:
        raise ConfigError(problems)


async def _create_missing(
    admin: AIOKafkaAdminClient, settings: KafkaSettings, specs: list[TopicSpec]
) -> None:
    existing = set(await admin.list_topics())
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return
    brokers = len((await admin.describe_cluster())["brokers"])
    if brokers < settings.replication_factor:
        raise ConfigError(
            [
                f"kafka.replication_factor is {settings.replication_factor} but the cluster "
                f"has {brokers} broker{'s' if brokers != 1 else ''}: lower it, or add brokers"
            ]
        )
    new = [
        NewTopic(
            spec.name,
            settings.partitions,
            settings.replication_factor,
            topic_configs=topic_configs(settings, spec),
        )
        for spec in missing
    ]
    try:
        await admin.create_topics(new)
    except TopicAlreadyExistsError:
        pass  # another worker created them first
    except KafkaError as exc:
        # create_topics reports per-topic errors; "already exists" is fine.
        if "TopicAlreadyExists" not in repr(exc):
            raise
    log.info("topics created", topics=[t.name for t in new])


async def check_topics(
    admin: AIOKafkaAdminClient, settings: KafkaSettings, specs: list[TopicSpec]
) -> list[str]:
    """Problems that stop a worker; weaker settings than asked are logged."""
    described = {
        t["topic"]: t
        for t in await admin.describe_topics([spec.name for spec in specs])
        if t["error_code"] == 0 and t["partitions"]
    }
    configs = await _configs(admin, [name for name in described])
    partitions = {name: len(t["partitions"]) for name, t in described.items()}
    problems = []
    for spec in specs:
        topic = described.get(spec.name)
        if topic is None:
            log.warning(
                "topic missing", topic=spec.name, hint="create it, or set kafka.create_topics"
            )
            continue
        count = partitions[spec.name]
        if spec.follows in partitions and count != partitions[spec.follows]:
            problems.append(
                f"topic {spec.name} has {count} partitions but {spec.follows} has "
                f"{partitions[spec.follows]}: partition N of one goes with partition N of the "
                "other (a changelog's state, an incident's actions), so they must match; add "
                "partitions to the smaller one "
                "(kafka-topics --alter --partitions)"
            )
        if count < settings.partitions:
            log.warning(
                "topic has fewer partitions than kafka.partitions",
                topic=spec.name,
                partitions=count,
                configured=settings.partitions,
                consequence=f"at most {count} workers of a group share it",
            )
        replicas = min(len(p["replicas"]) for p in topic["partitions"])
        if replicas < settings.replication_factor:
            log.warning(
                "topic has fewer replicas than kafka.replication_factor",
                topic=spec.name,
                replicas=replicas,
                configured=settings.replication_factor,
                consequence="losing a broker can lose acknowledged records",
            )
        _check_configs(settings, spec, configs.get(spec.name, {}))
    return problems


def _check_configs(settings: KafkaSettings, spec: TopicSpec, configs: dict[str, str]) -> None:
    insync = configs.get("min.insync.replicas")
    wanted = settings.min_insync_replicas
    if wanted is not None and insync is not None and int(insync) < wanted:
        log.warning(
            "topic's min.insync.replicas is lower than kafka.min_insync_replicas",
            topic=spec.name,
            value=int(insync),
            configured=wanted,
            consequence="a write can be acknowledged by fewer replicas than asked",
        )
    limit = configs.get("max.message.bytes")
    if limit is not None and int(limit) < settings.max_message_bytes:
        log.warning(
            "topic's max.message.bytes is lower than kafka.max_message_bytes",
            topic=spec.name,
            value=int(limit),
            configured=settings.max_message_bytes,
            consequence="records between the two are refused by the broker and quarantined",
        )
    policy = configs.get("cleanup.policy")
    if spec.compacted and policy is not None and "compact" not in policy:
        log.warning(
            "changelog topic is not compacted",
            topic=spec.name,
            policy=policy,
            consequence="state older than the retention is lost",
        )


async def _configs(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """Topic configs by topic, where the broker tells them (some do not)."""
    if not topics:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
    try:
        responses = await admin.describe_configs(resources)
    except KafkaError as exc:
        log.warning("cannot read topic configs", error=str(exc))
        return {}
    found: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            entries: Any = resource[4] if len(resource) > 4 else []
            found[resource[3]] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
    return found
