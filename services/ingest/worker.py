"""The ingest worker: a Kafka producer behind the HTTP API."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiokafka import AIOKafkaProducer

from services.ingest.app import IngestApp
from services.ingest.config import IngestConfig
from services.ingest.sink import AlertSink
from shared.kafka.clients import new_producer
from shared.kafka.publisher import Publisher, limits
from shared.kafka.topics import prepare_topics
from shared.web.guard import WebSecurity


class IngestWorker:
    name = "ingest"

    def __init__(self, config: IngestConfig):
        self.config = config
        self.sink = AlertSink(config.ingest, config.kafka.topics.alerts)
        self.producer: AIOKafkaProducer | None = None

    def app(self, security: WebSecurity | None = None) -> web.Application:
        kafka = self.config.kafka
        return IngestApp(self.config.ingest, self.sink, kafka.topics.feedback).build(security)

    async def start(self) -> None:
        await prepare_topics(self.config.kafka)
        self.producer = new_producer(self.config.kafka)
        await self.producer.start()
        self.sink.publisher = Publisher(self.producer, **limits(self.config.kafka))

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()

    async def close(self) -> None:
        self.sink.publisher = None
        if self.producer is not None:
            # Flushes what is queued, so requests in flight still get their ack.
            await self.producer.stop()
            self.producer = None

    def ready(self) -> bool:
        return self.sink.publisher is not None
