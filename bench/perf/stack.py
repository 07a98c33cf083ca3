"""The pieces a benchmark run needs: Corral's workers as processes, a receiver, a scraper."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from pydantic import BaseModel

from services.corral.config import CorralConfig
from services.corral.embedded import free_port
from services.corral.up import Supervisor
from shared.service import bound_port, start_http


class _Notification(BaseModel):
    """The one field the receiver looks at. In production the receiver runs on
    another machine; here it shares the two cores with Corral, and reading a
    100-alert body into dicts would cost it four times as much as this."""

    labels: dict[str, str] = {}


@dataclass
class Receiver:
    """The webhook receiver notify delivers to; records when each incident first arrived."""

    notifications: int = 0
    first_seen: dict[str, float] = field(default_factory=dict)
    last_at: float = 0.0
    port: int = 0
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = _Notification.model_validate_json(await request.read())
        self.notifications += 1
        self.last_at = arrived
        cluster = body.labels.get("cluster")
        if cluster is not None:
            self.first_seen.setdefault(cluster, arrived)
        return web.json_response({"ok": True})

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = await start_http(app, "127.0.0.1:0")
        self.port = bound_port(self.runner)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def write_config(path: Path, receiver_port: int, extra: dict[str, Any] | None = None) -> Path:
    config = {
        "log": {"level": "warning"},
        "ingest": {"listen": f"127.0.0.1:{free_port()}"},
        "triage": {"listen": f"127.0.0.1:{free_port()}"},
        # A port and a store of its own: another run on the machine may hold the defaults.
        "incidents": {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(path.parent)},
        "notify": {
            "listen": f"127.0.0.1:{free_port()}",
            "route": {"receiver": "bench"},
            "receivers": [
                {
                    "name": "bench",
                    "webhook_configs": [{"url": f"http://127.0.0.1:{receiver_port}/hook"}],
                }
            ],
        },
    }
    for section, values in (extra or {}).items():
        config[section] = {**config.get(section, {}), **values}
    path.write_text(yaml.safe_dump(config))
    return path


async def start_pipeline(config_path: Path) -> tuple[Supervisor, CorralConfig]:
    from services.corral.config import load

    config = load(config_path, env={})
    supervisor = Supervisor(config, str(config_path))
    await supervisor.start_generation()
    await supervisor.workers_ready()
    return supervisor, config


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([-+0-9.eEinfNa]+)$")


async def scrape(listen: str, name: str, where: Callable[[str], bool] = lambda _: True) -> float:
    """Sum of a metric's samples on a worker's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"http://{listen}/metrics") as r:
        text = await r.text()
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name and where(match.group(2) or ""):
            total += float(match.group(3))
    return total


async def wait_drained(listens: list[str], settle: float = 1.0, timeout: float = 300.0) -> float:
    """Seconds until every worker's consumer lag is zero and stays zero for ``settle``."""
    started = time.perf_counter()
    zero_since: float | None = None
    async with asyncio.timeout(timeout):
        while True:
            lag = sum([await scrape(listen, "corral_consumer_lag_messages") for listen in listens])
            now = time.perf_counter()
            if lag == 0:
                zero_since = zero_since or now
                if now - zero_since >= settle:
                    return zero_since - started
            else:
                zero_since = None
            await asyncio.sleep(0.1)


async def wait_consumed(listen: str, count: int, timeout: float = 600.0) -> None:
    """Until a worker has consumed ``count`` records and its lag is zero."""
    async with asyncio.timeout(timeout):
        while await scrape(listen, "corral_messages_consumed_total") < count:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
    await wait_drained([listen])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
