"""Writing accepted alerts to ``corral.alerts`` under backpressure.

The number of alerts awaiting acknowledgement is bounded: past the bound,
requests are refused at once with 503 rather than queued, so an overloaded
or unreachable broker makes ingest shed load instead of growing without bound
or letting senders time out silently.

Requests share the producer's batches, so one request giving up (its publish
timeout) only stops its own wait: the publisher never cancels a batch other
requests' alerts are in. A record larger than the broker takes is refused
before anything of its request is written (``TooLarge``, a 413), since
retrying it could never succeed.
"""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError

from services.ingest.config import IngestSettings
from services.ingest.metrics import INFLIGHT_ALERTS
from shared.kafka.publisher import Publisher, PublishError, Record
from shared.normalize import NormalizedAlert
from shared.partitioning import alert_key

# Bytes an alert's record may have beyond its part of the request body.
_ADDED_BYTES = 1024


class Unavailable(Exception):
    """The broker did not acknowledge the alerts in time."""


class Overloaded(Exception):
    """Too many alerts already wait for the broker."""


class TooLarge(Exception):
    """A record of the request is larger than the broker accepts."""

    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index


class AlertSink:
    def __init__(self, settings: IngestSettings, topic: str):
        self.settings = settings
        self.topic = topic
        self.publisher: Publisher | None = None
        self.inflight = 0
        # Read when scraped rather than set twice a request: one sink per worker.
        INFLIGHT_ALERTS.set_function(lambda: self.inflight)

    async def publish(self, alerts: list[NormalizedAlert], body_size: int) -> None:
        topic, key_labels = self.topic, self.settings.key_labels
        records = [Record(topic, alert_key(alert.labels, key_labels), alert) for alert in alerts]
        # An alert's record is its part of the body plus a few fields ingest
        # adds: only a body near the limit can hold one over it.
        await self.publish_records(records, check_sizes=body_size + _ADDED_BYTES)

    async def publish_records(self, records: list[Record], check_sizes: int | None = None) -> None:
        """Any records (alerts, feedback) under the same bound and acknowledgement wait.

        ``check_sizes``: the most any one record can be, if known; records are
        checked against the broker's limit only when it may be exceeded."""
        publisher = self.publisher
        if publisher is None:
            raise Unavailable("not connected to Kafka yet")
        if check_sizes is None or check_sizes > publisher.max_record_bytes:
            self._check_sizes(publisher, records)
        if self.inflight and self.inflight + len(records) > self.settings.max_inflight_alerts:
            raise Overloaded(f"{self.inflight} records already wait for the broker; retry later")
        self.inflight += len(records)
        try:
            # Not wait_for: that runs the publish in a task of its own, for each request.
            async with asyncio.timeout(self.settings.publish_timeout.total_seconds()):
                await publisher.publish(records)
        except TimeoutError:
            raise Unavailable(
                f"broker did not acknowledge within {self.settings.publish_timeout}"
            ) from None
        except (PublishError, KafkaError) as exc:
            raise Unavailable(str(exc)) from exc
        finally:
            self.inflight -= len(records)

    @staticmethod
    def _check_sizes(publisher: Publisher, records: list[Record]) -> None:
        for index, record in enumerate(records):
            data = record.value.to_bytes() if record.value is not None else None
            if data is not None and len(data) > publisher.max_record_bytes:
                reason = publisher.too_large(record.key.encode() if record.key else None, data)
                if reason is not None:
                    raise TooLarge(index, reason)
