"""Ingest's HTTP path without a broker: server CPU per request.

The ingest app as the worker builds it (the guard's middleware, the
handlers, ``AlertSink`` and the real ``Publisher``) listens in this process
on the event loop the worker uses, in front of a producer that builds each
batch as aiokafka would and acknowledges it a moment later, as a broker on
this machine does. The load generator (``bench.perf.loadgen``, its own
process) posts one traffic shape for ``--duration`` seconds; the figure is
this process's CPU per request answered. ``--server bare`` answers with the
HTTP ceiling's handler instead (``bench.perf.ceiling``: read the body,
answer 200), for what aiohttp and the event loop cost by themselves.
``--server handler`` calls the Alertmanager endpoint's handler directly
with ``--requests`` prepared bodies, from ``--concurrency`` tasks, without
HTTP: ingest's own work, the steadiest of these figures on a busy machine.
``--broker embedded`` publishes to the embedded broker through the worker's
own producer instead, for the share of the producer and its socket;
``--kafka NAME=VALUE`` sets a ``kafka`` setting of that producer
(``compression=lz4``, ``linger=5ms``).
``--profile FILE`` writes cProfile statistics of the server
(``python -m pstats FILE``).

    .venv/bin/python -m bench.perf.ingest_chain --shape singles --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from aiokafka.producer.message_accumulator import BatchBuilder

from bench.perf import ceiling
from bench.perf.__main__ import PREPARED_REQUESTS_PER_S
from bench.perf.alerts import SHAPES, Traffic
from bench.perf.loadgen import render
from services.corral.embedded import EmbeddedBroker, free_port
from services.ingest.app import WEBHOOK_PATH, IngestApp
from services.ingest.config import IngestSettings
from services.ingest.sink import AlertSink
from shared import collector
from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.kafka.publisher import Publisher, limits
from shared.kafka.topics import TopicSpec, ensure_topics
from shared.service import run

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 6  # the default of kafka.partitions
# Time a broker on this machine takes to acknowledge a batch: long enough
# that concurrent requests share batches, as they do against Tansu.
ACK_SECONDS = 0.002
TOPIC = "corral.alerts"


class _Cluster:
    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))


class _Client:
    cluster = _Cluster()


class AckingProducer:
    """What ``Publisher`` uses of ``AIOKafkaProducer``: batches built as aiokafka
    builds them, each acknowledged ``ACK_SECONDS`` after it is sent."""

    client = _Client()

    def __init__(self) -> None:
        self.records = 0

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(16384, 0)

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    async def send_batch(
        self, batch: BatchBuilder, topic: str, *, partition: int
    ) -> asyncio.Future[object]:
        self.records += batch.record_count()
        batch._build()
        acked = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(ACK_SECONDS, acked.set_result, None)
        return acked


@asynccontextmanager
async def publisher(broker: str, kafka: dict[str, str]) -> AsyncIterator[Publisher]:
    """The worker's publisher, on ``AckingProducer`` or the embedded broker."""
    if broker == "none":
        yield Publisher(AckingProducer())  # type: ignore[arg-type]
        return
    embedded = EmbeddedBroker()
    embedded.start()
    try:
        await embedded.wait_ready()
        settings = KafkaSettings.model_validate(
            {"bootstrap_servers": embedded.bootstrap_servers, "partitions": PARTITIONS, **kafka}
        )
        await ensure_topics(settings, [TopicSpec(TOPIC)])
        producer = new_producer(settings)
        await producer.start()
        try:
            yield Publisher(producer, **limits(settings))
        finally:
            await producer.stop()
    finally:
        embedded.stop()


def ingest(publisher: Publisher) -> IngestApp:
    settings = IngestSettings()
    sink = AlertSink(settings, TOPIC)
    sink.publisher = publisher
    return IngestApp(settings, sink, "corral.feedback")


def bare_app() -> web.Application:
    app = web.Application()
    app.add_routes([web.post(WEBHOOK_PATH, ceiling.accept)])
    return app


async def measure(
    server: str,
    shape: str,
    duration: float,
    concurrency: int,
    profile: Path | None,
    broker: str = "none",
    kafka: dict[str, str] | None = None,
    requests: int = 20_000,
) -> dict[str, Any]:
    async with publisher(broker, kafka or {}) as chosen:
        if server == "handler":
            result = await _direct(ingest(chosen), shape, requests, concurrency, profile)
        else:
            app = ingest(chosen).build() if server == "ingest" else bare_app()
            result = await _load(app, shape, duration, concurrency, profile)
    return {"server": server, "broker": broker, "kafka": kafka or {}, **result}


class _Posted:
    """What the handler reads of a request: its body (the guard has let it in)."""

    def __init__(self, body: bytes):
        self.body = body

    async def read(self) -> bytes:
        return self.body


async def _direct(
    app: IngestApp, shape: str, requests: int, concurrency: int, profile: Path | None
) -> dict[str, Any]:
    traffic = Traffic(shape=shape)
    bodies = iter([render(traffic, seq)[1] for seq in range(1, requests + 1)])
    statuses: dict[int, int] = {}

    async def sender() -> None:
        for body in bodies:
            response = await app.alertmanager_webhook(_Posted(body))  # type: ignore[arg-type]
            statuses[response.status] = statuses.get(response.status, 0) + 1

    collector.tune()
    profiler = cProfile.Profile() if profile is not None else None
    if profiler is not None:
        profiler.enable()
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    return {
        "shape": shape,
        "requests": requests,
        "statuses": {str(k): v for k, v in statuses.items()},
        "requests_per_s": requests / elapsed,
        "cpu_us_per_request": cpu / requests * 1e6,
        "profiled": profile is not None,
    }


async def _load(
    app: web.Application, shape: str, duration: float, concurrency: int, profile: Path | None
) -> dict[str, Any]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    collector.tune()
    profiler = cProfile.Profile() if profile is not None else None
    try:
        loadgen = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bench.perf.loadgen", "throughput"),
            *("--url", f"http://127.0.0.1:{port}{WEBHOOK_PATH}", "--shape", shape),
            *("--duration", str(duration), "--concurrency", str(concurrency)),
            *("--prepare", str(int(duration * PREPARED_REQUESTS_PER_S[shape]))),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        # The load generator renders its bodies first: count from its first request.
        while not runner.server or not runner.server.requests_count:  # type: ignore[attr-defined]  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        served, cpu = runner.server.requests_count, time.process_time()  # type: ignore[attr-defined]
        if profiler is not None:
            profiler.enable()
        out, _ = await loadgen.communicate()
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - cpu
        served = runner.server.requests_count - served  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    load = json.loads(out)
    return {
        "shape": shape,
        "requests": served,
        "statuses": load["statuses"],
        "requests_per_s": served / load["elapsed_s"],
        "cpu_us_per_request": cpu / max(served, 1) * 1e6,
        "profiled": profile is not None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf.ingest_chain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--server", choices=("ingest", "bare", "handler"), default="ingest")
    parser.add_argument("--broker", choices=("none", "embedded"), default="none")
    parser.add_argument(
        "--kafka", action="append", default=[], metavar="NAME=VALUE", help="with --broker"
    )
    parser.add_argument("--shape", choices=SHAPES, default="singles")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--requests", type=int, default=20_000, help="--server handler")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile output file")
    args = parser.parse_args()
    result = run(
        measure(
            args.server,
            args.shape,
            args.duration,
            args.concurrency,
            args.profile,
            args.broker,
            dict(option.split("=", 1) for option in args.kafka),
            args.requests,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
