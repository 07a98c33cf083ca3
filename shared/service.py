"""Running one worker: HTTP health endpoints, signals, graceful shutdown.

On SIGTERM (Kubernetes, systemd, ``corral up``) or Ctrl-C a worker stops
taking new work, finishes and commits what it holds, and exits 0, so a
rolling deploy loses nothing and redelivers as little as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

import aiohttp
import structlog
from aiohttp import web
from aiokafka.errors import KafkaError

from shared import collector
from shared.metrics import KAFKA_CLIENTS_REPLACED, generate_latest, set_build_info
from shared.retrying import Stopping, retry_until_stopped
from shared.web.guard import WebSecurity

log = structlog.get_logger(__name__)

T = TypeVar("T")
REPLACE_BACKOFF = 0.5  # seconds before a failed worker's Kafka clients are started again


class Worker(Protocol):
    name: str

    async def start(self) -> None:
        """Connect to Kafka and everything else; raise if that is impossible."""

    async def run(self, stop: asyncio.Event) -> None:
        """Do the work until ``stop`` is set, then return with work committed."""

    async def close(self) -> None:
        """Release connections."""

    def ready(self) -> bool:
        """True once the worker can do its job (joined its group, state restored)."""


def health_routes(ready: Callable[[], bool]) -> list[web.RouteDef]:
    async def healthy(_: web.Request) -> web.Response:
        return web.json_response({"status": "healthy"})

    async def readiness(_: web.Request) -> web.Response:
        if ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready"}, status=503)

    async def metrics(_: web.Request) -> web.Response:
        body, content_type = generate_latest()
        return web.Response(body=body, headers={"Content-Type": content_type})

    return [
        web.get("/-/healthy", healthy),
        web.get("/-/ready", readiness),
        web.get("/metrics", metrics),
    ]


async def wait_ready(listen: str, timeout: float = 60.0, scheme: str = "http") -> None:
    """Until the worker at ``listen`` answers ``/-/ready`` with 200, as a load
    balancer's readiness check would; ``TimeoutError`` after ``timeout``.

    Over TLS the certificate is not checked: this only asks a worker this
    machine started whether it is ready, and sends nothing."""
    host, port = split_listen(listen)
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                url = f"{scheme}://{host}:{port}/-/ready"
                async with session.get(url, ssl=False) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


async def start_http(
    app: web.Application, listen: str, ssl_context: ssl.SSLContext | None = None
) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = split_listen(listen)
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound, useful when the config asked for port 0."""
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("HTTP server is not listening")


async def _start_when_possible(worker: Worker, stop: asyncio.Event) -> None:
    """Keep trying to connect: Kafka may come up after the worker (compose, k8s)."""
    if stop.is_set():
        return
    with contextlib.suppress(Stopping):
        await retry_until_stopped(
            worker.start,
            (KafkaError, OSError),
            stop,
            "start",
            after_failure=worker.close,
            worker=worker.name,
        )


async def run_replacing_clients(worker: Worker, stop: asyncio.Event) -> None:
    """``worker.run`` until ``stop``. A Kafka error that ends it is one the
    client does not retry (the broker answered something unexpected, say after
    a long stall): the worker's clients are closed and started again, as Kafka
    Streams replaces a failed stream thread, rather than the whole process
    exiting. What was not committed is redelivered to the new clients."""
    delay = REPLACE_BACKOFF
    while not stop.is_set():
        began = time.monotonic()
        try:
            await worker.run(stop)
            return
        except KafkaError as exc:
            KAFKA_CLIENTS_REPLACED.labels(worker.name).inc()
            log.error("kafka client failed, replacing it", worker=worker.name, error=repr(exc))
        await worker.close()
        if time.monotonic() - began > 60:
            delay = REPLACE_BACKOFF  # it ran a while: not a replacement failing at once
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 30.0)
        await _start_when_possible(worker, stop)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process's main coroutine, on uvloop where it is installed.

    A worker's own code per request or record is small; much of the rest is
    the event loop's socket work for every HTTP request and Kafka fetch, which
    libuv does in C. Alertmanager sends a group of one alert as a request of
    its own, so on that traffic the loop is a large share of ingest's cost.
    asyncio's loop stays the fallback where uvloop is not built (Windows).
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def serve(worker: Worker, app: web.Application, listen: str, security: WebSecurity) -> None:
    """Run a worker with its HTTP app (built by ``security.application``)
    until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    set_build_info(worker.name)
    app.add_routes(health_routes(worker.ready))
    runner = await start_http(app, listen, security.ssl_context)
    watching = asyncio.create_task(security.watch())
    log.info(
        "listening",
        worker=worker.name,
        address=f"{security.scheme}://{listen}",
        authentication=security.authenticator.schemes or "off",
        client_certificates=security.client_auth,
    )
    try:
        await _start_when_possible(worker, stop)
        if not stop.is_set():
            collector.tune()
            await run_replacing_clients(worker, stop)
    finally:
        log.info("stopping", worker=worker.name)
        watching.cancel()
        # Stop listening and let requests in flight finish before the worker
        # closes its Kafka clients: they may still be waiting for an ack.
        await runner.cleanup()
        await worker.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
