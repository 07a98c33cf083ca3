"""Topic settings: applied when Corral creates topics, checked against the broker at start."""

from __future__ import annotations

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from structlog.testing import capture_logs

from shared.config import ConfigError, KafkaSettings
from shared.kafka.clients import new_admin
from shared.kafka.topics import TopicSpec, ensure_topics, prepare_topics
from tests.conftest import kafka_settings_for

pytestmark = pytest.mark.broker


async def topic_config(settings: KafkaSettings, topic: str) -> dict[str, str]:
    admin = new_admin(settings)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [resource] = response.resources
    return {entry[0]: entry[1] for entry in resource[4]}


async def test_created_topics_carry_the_configured_settings(kafka_bootstrap: str) -> None:
    settings = kafka_settings_for(
        kafka_bootstrap,
        min_insync_replicas=1,
        max_message_bytes=2 * 1024 * 1024,
        retention={"alerts": "3d", "quarantine": "30d"},
    )
    await prepare_topics(settings)
    alerts = await topic_config(settings, settings.topics.alerts)
    assert alerts["retention.ms"] == str(3 * 86_400_000)
    assert alerts["min.insync.replicas"] == "1"
    assert alerts["max.message.bytes"] == str(2 * 1024 * 1024)
    quarantine = await topic_config(settings, settings.topics.quarantine)
    assert quarantine["retention.ms"] == str(30 * 86_400_000)
    state = await topic_config(settings, settings.topics.triage_state)
    assert state["cleanup.policy"] == "compact"
    assert "retention.ms" not in state


async def test_more_replicas_than_brokers_is_a_clear_error(kafka_bootstrap: str) -> None:
    settings = kafka_settings_for(kafka_bootstrap, replication_factor=3, min_insync_replicas=2)
    with pytest.raises(ConfigError) as error:
        await prepare_topics(settings)
    assert error.value.problems == [
        "kafka.replication_factor is 3 but the cluster has 1 broker: lower it, or add brokers"
    ]


async def test_a_changelog_partitioned_unlike_its_input_stops_the_worker(
    kafka_bootstrap: str,
) -> None:
    settings = kafka_settings_for(kafka_bootstrap, partitions=3)
    # Someone created the state topic by hand, with the broker's default.
    await ensure_topics(settings.model_copy(update={"partitions": 1}), [
        TopicSpec(settings.topics.triage_state, compacted=True)
    ])  # fmt: skip
    with pytest.raises(ConfigError) as error:
        await prepare_topics(settings)
    [problem] = error.value.problems
    assert problem.startswith(
        f"topic {settings.topics.triage_state} has 1 partitions but {settings.topics.alerts} has 3"
    )


async def test_weaker_existing_topics_are_warned_about(kafka_bootstrap: str) -> None:
    settings = kafka_settings_for(kafka_bootstrap, partitions=2)
    await ensure_topics(settings)
    more = settings.model_copy(update={"partitions": 6, "max_message_bytes": 4 * 1024 * 1024})
    with capture_logs() as logs:
        await prepare_topics(more)
    warned = {(e["event"], e["topic"]) for e in logs if e["log_level"] == "warning"}
    assert ("topic has fewer partitions than kafka.partitions", settings.topics.alerts) in warned
    assert (
        "topic's max.message.bytes is lower than kafka.max_message_bytes",
        settings.topics.incidents,
    ) in warned
