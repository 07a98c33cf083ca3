"""Real Prometheus and Alertmanager processes on loopback, configured from ``deploy/e2e/``.

Each runs as a plain process with its storage in the test's temp dir and its
log in a file that a failing test prints, since "it did not fire" is only
debuggable with the programs' own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import string
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from services.corral.embedded import free_port
from shared.service import bound_port, start_http
from tests.monitoring import MonitoringTools

DEPLOY_E2E = Path(__file__).resolve().parents[2] / "deploy" / "e2e"
STOP_SECONDS = 10.0


def render(template: str, destination: Path, **values: str) -> Path:
    """A config from ``deploy/e2e/<template>`` with every ``${name}`` filled in."""
    text = string.Template((DEPLOY_E2E / template).read_text()).substitute(values)
    destination.write_text(text)
    return destination


class Program:
    """One real monitoring program as a child process."""

    def __init__(self, name: str, args: Sequence[str], port: int, workdir: Path):
        self.name = name
        self.args = list(args)
        self.port = port
        self.log_path = workdir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.args, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        try:
            await self._wait_ready(timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name} did not become ready:\n{self.log()}") from None

    async def _wait_ready(self, timeout: float) -> None:
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
            while True:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise AssertionError(f"{self.name} exited:\n{self.log()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/-/ready") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)

    async def __aenter__(self) -> Program:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def get_json(self, path: str) -> Any:
        async with aiohttp.ClientSession() as session, session.get(self.url + path) as response:
            response.raise_for_status()
            return json.loads(await response.read())

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def alertmanager(
    tools: MonitoringTools,
    workdir: Path,
    webhook_url: str,
    http_config: dict[str, Any] | None = None,
) -> AsyncIterator[Program]:
    """An Alertmanager posting every notification to ``webhook_url``, with
    ``http_config`` (Alertmanager's own: basic_auth, authorization, tls_config)."""
    config = render(
        "alertmanager.yml",
        workdir / "alertmanager.yml",
        webhook_url=webhook_url,
        http_config=json.dumps(http_config or {}),
    )
    port = free_port()
    async with Program(
        "alertmanager",
        [
            tools.alertmanager,
            f"--config.file={config}",
            f"--storage.path={workdir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # A single instance: no gossip port to bind or peers to wait for.
            "--cluster.listen-address=",
            "--log.level=debug",
        ],
        port,
        workdir,
    ) as program:
        yield program


def alertmanager_target(address: str, **http: Any) -> dict[str, Any]:
    """One entry of Prometheus' ``alerting.alertmanagers``: the API v2 at
    ``address``, with ``scheme``, ``basic_auth``, ``authorization`` or ``tls_config``."""
    return {
        "api_version": "v2",
        "timeout": "5s",
        **http,
        "static_configs": [{"targets": [address]}],
    }


@contextlib.asynccontextmanager
async def prometheus(
    tools: MonitoringTools,
    workdir: Path,
    exporter: str,
    alertmanagers: Sequence[dict[str, Any]],
) -> AsyncIterator[Program]:
    """A Prometheus scraping ``exporter`` and alerting to each of ``alertmanagers``
    (entries made by ``alertmanager_target``)."""
    rules = workdir / "rules.yml"
    rules.write_text((DEPLOY_E2E / "rules.yml").read_text())
    config = render(
        "prometheus.yml",
        workdir / "prometheus.yml",
        rules=str(rules),
        exporter=exporter,
        alertmanagers=json.dumps(list(alertmanagers)),
    )
    port = free_port()
    async with Program(
        "prometheus",
        [
            tools.prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}/",
            # Resend firing alerts every second, as a busy Prometheus resends
            # every minute: Corral must absorb the repeats without paging.
            "--rules.alert.resend-delay=1s",
        ],
        port,
        workdir,
    ) as program:
        yield program


class DemoExporter:
    """A scrape target like any service's: one gauge, whose value the test sets."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_depth = Gauge(
            "shop_queue_depth_messages",
            "Messages waiting in the queue.",
            ["queue"],
            registry=self.registry,
        )
        self._runner: web.AppRunner | None = None
        self.address = ""

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), content_type="text/plain")

    async def start(self) -> DemoExporter:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = await start_http(app, "127.0.0.1:0")
        self.address = f"127.0.0.1:{bound_port(self._runner)}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
