"""Test helpers: workers run in-process, a recording HTTP receiver, topic readers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shared.config import KafkaSettings
from shared.kafka.state import read_values
from shared.service import Worker, bound_port, health_routes, run_replacing_clients, start_http
from shared.web.guard import WebSecurity


@contextlib.asynccontextmanager
async def running(
    worker: Worker, app: web.Application | None = None, security: WebSecurity | None = None
) -> AsyncIterator[int]:
    """Run a worker as its ``serve`` would, on a free port; yields the port."""
    app = app or web.Application()
    app.add_routes(health_routes(worker.ready))
    runner = await start_http(app, "127.0.0.1:0", security.ssl_context if security else None)
    stop = asyncio.Event()
    await worker.start()
    task = asyncio.create_task(run_replacing_clients(worker, stop))
    try:
        yield bound_port(runner)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await runner.cleanup()
        await worker.close()


async def wait_ready(worker: Worker, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not worker.ready():
            await asyncio.sleep(0.05)


async def suspend(pid: int, timeout: float = 5.0) -> None:
    """SIGSTOP a process and return once every one of its threads has stopped.

    ``kill`` returns before a multi-threaded process (the broker) has stopped:
    the stop reaches each thread as it is next scheduled, and a request sent
    in between may still be answered."""
    os.kill(pid, signal.SIGSTOP)
    tasks = f"/proc/{pid}/task"
    async with asyncio.timeout(timeout):
        while not all(_thread_state(tasks, thread) in "tT" for thread in os.listdir(tasks)):
            await asyncio.sleep(0.001)


def _thread_state(tasks: str, thread: str) -> str:
    try:
        with open(f"{tasks}/{thread}/stat") as stat:
            # The command name in parentheses may hold spaces: the state follows it.
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "t"  # the thread ended


async def start_corral(
    *args: str, stdout: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """``corral <args>`` in a process of its own, as a user starts it; the
    broker comes from its config file, not from the test's environment."""
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.corral.cli",
        *args,
        env=env,
        stdout=stdout,
        stderr=asyncio.subprocess.DEVNULL,
    )


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RecordingServer:
    """A local HTTP server standing in for a webhook, Slack or PagerDuty.

    ``responses`` are (status, headers) answered in order, then 200s.
    """

    responses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    arrived: asyncio.Queue[Request] = field(default_factory=asyncio.Queue)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        recorded = Request(request.path, dict(request.headers), await request.read())
        self.requests.append(recorded)
        await self.arrived.put(recorded)
        status, headers = self.responses.pop(0) if self.responses else (200, {})
        return web.json_response({"ok": status < 300}, status=status, headers=headers)

    async def start(self) -> RecordingServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = await start_http(app, "127.0.0.1:0")
        self.port = bound_port(self._runner)
        return self

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def next(self, timeout: float = 20.0) -> Request:
        return await asyncio.wait_for(self.arrived.get(), timeout)

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.arrived.get(), seconds)
        except TimeoutError:
            return True
        return False

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def read_topic(settings: KafkaSettings, topic: str, timeout: float = 10.0) -> list[bytes]:
    """Every record currently on a topic, read without a consumer group."""
    async with asyncio.timeout(timeout):
        return await read_values(settings, topic)
