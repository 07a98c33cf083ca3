"""Building incident revisions, actions and outcomes for the incidents service's tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from services.incidents.config import IncidentsConfig
from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.kafka.publisher import Publisher, Record
from shared.messages import (
    Action,
    DeliveryOutcome,
    Incident,
    IncidentAlert,
)

T = TypeVar("T")
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert(
    name: str, status: str = "firing", fingerprint: str | None = None, **labels: str
) -> IncidentAlert:
    return IncidentAlert(
        fingerprint=fingerprint or f"fp-{name.lower()}",
        status=status,
        labels={"alertname": name, "cluster": "prod", "team": "storage", **labels},
        annotations={"summary": f"{name} on db-1"},
        starts_at=T0,
        generator_url="http://prometheus:9090/graph",
    )


def revision(
    revision: int,
    alerts: list[IncidentAlert],
    seconds: float,
    id: str = "inc-1",
    explanation: list[str] | None = None,
    **fields: Any,
) -> Incident:
    firing = any(a.status == "firing" for a in alerts)
    event = fields.pop("event", "opened" if revision == 1 else "updated" if firing else "resolved")
    return Incident(
        id=id,
        revision=revision,
        event=event,
        status="firing" if firing else "resolved",
        correlation_key="cluster=prod",
        title=fields.pop("title", "DiskFull: /var on db-1 is 97% full"),
        labels=fields.pop("labels", {"cluster": "prod", "team": "storage"}),
        alerts=alerts,
        severity=fields.pop("severity", "critical"),
        priority=fields.pop("priority", "P1"),
        score=fields.pop("score", 85),
        explanation=explanation or [f"opened by {alerts[0].labels['alertname']}"],
        opened_at=T0,
        updated_at=at(seconds),
        resolved_at=None if firing else at(seconds),
        **fields,
    )


def action(
    kind: str, seconds: float, actor: str = "alice", id: str = "inc-1", **fields: Any
) -> Action:
    return Action(
        action_id=fields.pop("action_id", f"{kind}-{actor}-{seconds}"),
        incident_id=id,
        kind=kind,
        actor=actor,
        at=at(seconds),
        source=fields.pop("source", "api"),
        **fields,
    )


def outcome(
    seconds: float, receiver: str = "oncall", status: str = "sent", id: str = "inc-1", **fields: Any
) -> DeliveryOutcome:
    return DeliveryOutcome(
        incident_id=id,
        revision=fields.pop("revision", 1),
        receiver=receiver,
        integration=fields.pop("integration", "pagerduty/0"),
        notification=fields.pop("notification", "trigger"),
        status=status,
        key=fields.pop("key", f"{id}-1-{receiver}-{seconds}"),
        at=at(seconds),
        **fields,
    )


def incidents_config(
    kafka: KafkaSettings, store: str, data_dir: str, **settings: Any
) -> IncidentsConfig:
    return IncidentsConfig.model_validate(
        {
            "kafka": kafka.model_dump(),
            "incidents": {"store": store, "data_dir": data_dir, **settings},
        }
    )


async def publish(
    kafka: KafkaSettings, topic: str, *messages: Incident | Action | DeliveryOutcome
) -> None:
    """Messages on a topic as their producers write them: keyed by incident id."""
    producer = new_producer(kafka)
    await producer.start()
    try:
        publisher = Publisher(producer)
        await publisher.publish(
            [Record(topic, m.id if isinstance(m, Incident) else m.incident_id, m) for m in messages]
        )
    finally:
        await producer.stop()


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    """The first truthy result of ``check``, polled as a user would refresh."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)
