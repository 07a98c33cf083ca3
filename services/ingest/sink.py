"""Writing accepted alerts to ``corral.alerts`` under backpressure.

The number of alerts awaiting acknowledgement is bounded: past the bound,
requests are refused at once with 503 rather than queued, so an overloaded
or unreachable broker makes ingest shed load instead of growing without bound
or letting senders time out silently.
"""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError

from services.ingest.config import IngestSettings
from services.ingest.metrics import INFLIGHT_ALERTS
from services.ingest.normalize import NormalizedAlert
from shared.kafka.publisher import Publisher, PublishError, Record
from shared.partitioning import alert_key


class Unavailable(Exception):
    """The broker did not acknowledge the alerts in time."""


class Overloaded(Exception):
    """Too many alerts already wait for the broker."""


class AlertSink:
    def __init__(self, settings: IngestSettings, topic: str):
        self.settings = settings
        self.topic = topic
        self.publisher: Publisher | None = None
        self.inflight = 0

    async def publish(self, alerts: list[NormalizedAlert]) -> None:
        records = [
            Record(self.topic, alert_key(alert.labels, self.settings.key_labels), alert)
            for alert in alerts
        ]
        await self.publish_records(records)

    async def publish_records(self, records: list[Record]) -> None:
        """Any records (alerts, feedback) under the same bound and acknowledgement wait."""
        if self.publisher is None:
            raise Unavailable("not connected to Kafka yet")
        if self.inflight and self.inflight + len(records) > self.settings.max_inflight_alerts:
            raise Overloaded(f"{self.inflight} records already wait for the broker; retry later")
        self.inflight += len(records)
        INFLIGHT_ALERTS.set(self.inflight)
        try:
            await asyncio.wait_for(
                self.publisher.publish(records), self.settings.publish_timeout.total_seconds()
            )
        except TimeoutError:
            raise Unavailable(
                f"broker did not acknowledge within {self.settings.publish_timeout}"
            ) from None
        except (PublishError, KafkaError) as exc:
            raise Unavailable(str(exc)) from exc
        finally:
            self.inflight -= len(records)
            INFLIGHT_ALERTS.set(self.inflight)
