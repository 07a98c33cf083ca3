"""``corral up``: the whole pipeline on one machine, for trying Corral out.

Starts the bundled broker unless Kafka is configured, creates the topics,
runs ingest, triage, notify and incidents as separate processes (exactly as they run in
production), and supervises them: a worker that dies is restarted, and since
the bundled broker keeps data only in memory, a broker that dies is restarted
together with every worker, whose group offsets died with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import structlog

from services.corral.config import CorralConfig
from services.corral.embedded import EmbeddedBroker
from shared.kafka.topics import ensure_topics
from shared.service import wait_ready
from shared.web.guard import WebSecurity

log = structlog.get_logger(__name__)

WORKERS = ("ingest", "triage", "notify", "incidents")
STOP_GRACE_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 60.0
EMBEDDED_TIMINGS = {"session_timeout": "3s", "heartbeat_interval": "500ms"}


def banner(config: CorralConfig, bootstrap: str, embedded: bool, security: WebSecurity) -> str:
    ingest = config.ingest.listen
    incidents = config.incidents.listen
    kind = "embedded broker (in memory)" if embedded else "Kafka"
    web = security.scheme
    if security.authenticator.enabled:
        auth = f"on ({config.web.config_file}): senders need credentials, see docs/security.md"
    else:
        auth = "off (no web config): fine on 127.0.0.1, see docs/security.md before exposing it"
    return f"""
Corral is running on {kind} at {bootstrap}.

  Alertmanager webhook:  {web}://{ingest}/api/v1/alerts/alertmanager
  Prometheus (API v2):   {web}://{ingest}/api/v2/alerts
  Grafana webhook:       {web}://{ingest}/api/v1/alerts/grafana
  amtool, Grafana data source (Alertmanager API v2): {web}://{config.notify.listen}
  Incident board:        {web}://{incidents}/
  Incidents API:         {web}://{incidents}/api/v1/incidents   (corral incident list)
  Health and metrics:    {web}://{ingest}/-/ready  {web}://{ingest}/metrics
                         triage {web}://{config.triage.listen}/metrics
                         notify {web}://{config.notify.listen}/metrics
                         incidents {web}://{incidents}/metrics
  Authentication:        {auth}

In alertmanager.yml:

  receivers:
    - name: corral
      webhook_configs:
        - url: {web}://{ingest}/api/v1/alerts/alertmanager

Stop with Ctrl-C.
"""


class Supervisor:
    def __init__(self, config: CorralConfig, config_path: str | None):
        self.config = config
        self.config_path = config_path
        self.embedded = "bootstrap_servers" not in config.kafka.model_fields_set
        # Loaded here too, so a broken web config stops `corral up` before any worker starts.
        self.security = WebSecurity.load(config.web.config_file)
        self.broker = EmbeddedBroker() if self.embedded else None
        self.stop = asyncio.Event()
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    @property
    def bootstrap(self) -> str:
        if self.broker is not None:
            return self.broker.bootstrap_servers
        return self.config.kafka.bootstrap_servers

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CORRAL_KAFKA__BOOTSTRAP_SERVERS"] = self.bootstrap
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        if self.embedded:
            # Joining a group waits half the session timeout; on one machine a
            # short timeout costs nothing and gets the pipeline up in seconds.
            kafka = self.config.kafka.model_fields_set
            for field, value in EMBEDDED_TIMINGS.items():
                if field not in kafka:
                    env.setdefault(f"CORRAL_KAFKA__{field.upper()}", value)
        return env

    async def spawn(self, name: str) -> None:
        args = [sys.executable, "-m", "services.corral.cli", name]
        if self.config_path:
            args += ["--config", self.config_path]
        self.processes[name] = await asyncio.create_subprocess_exec(
            *args, env=self.child_env(), stdin=asyncio.subprocess.DEVNULL
        )

    async def terminate_all(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
            except TimeoutError:
                log.warning("worker ignored SIGTERM, killing", worker=name)
                process.kill()
                await process.wait()
        self.processes.clear()

    async def start_generation(self) -> None:
        """Broker (if embedded), topics, then the workers."""
        if self.broker is not None:
            self.broker.start()
            await self.broker.wait_ready()
        kafka = self.config.kafka.model_copy(update={"bootstrap_servers": self.bootstrap})
        await ensure_topics(kafka)
        for name in WORKERS:
            await self.spawn(name)

    async def watch(self) -> bool:
        """Wait until stop (False) or a broker restart is needed (True);
        workers that exit on their own are restarted in place."""
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.5)
            if self.stop.is_set():
                return False
            if self.broker is not None and not self.broker.alive():
                log.error("embedded broker died; restarting it and every worker")
                return True
            for name, process in list(self.processes.items()):
                if process.returncode is not None:
                    log.error("worker exited; restarting", worker=name, code=process.returncode)
                    await self.spawn(name)
        return False

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        announce: asyncio.Task[None] | None = None
        try:
            first = True
            while not self.stop.is_set():
                await self.start_generation()
                if first:
                    announce = asyncio.create_task(self.announce_when_ready())
                    first = False
                if not await self.watch():
                    break
                await self.terminate_all()
                if self.broker is not None:
                    self.broker.stop()
        finally:
            if announce is not None:
                announce.cancel()
            await self.terminate_all()
            if self.broker is not None:
                self.broker.stop()
        return 0

    async def workers_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Until every worker answers ``/-/ready``; ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout):
            for name in WORKERS:
                await wait_ready(getattr(self.config, name).listen, timeout, self.security.scheme)

    async def announce_when_ready(self) -> None:
        """Print where to send alerts once every worker is ready, so that the
        first alert a user posts gets a 200 rather than a refused connection."""
        try:
            await self.workers_ready()
        except TimeoutError:
            log.warning("not every worker is ready yet; see the log lines above")
        print(banner(self.config, self.bootstrap, self.embedded, self.security), flush=True)


def up(config: CorralConfig, config_path: str | Path | None) -> int:
    return asyncio.run(Supervisor(config, str(config_path) if config_path else None).run())
