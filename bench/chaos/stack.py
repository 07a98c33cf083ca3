"""The pipeline as real processes: the embedded broker and each worker, started,
killed and restarted one by one (``corral up`` restarts them all together).

Each worker is ``corral <worker> --config``, as in production; its output goes
to a log file of its own, whose tail the campaign prints when a check fails.
The broker is never restarted (the embedded one keeps data only in memory):
it is only stopped and continued.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.corral.embedded import EmbeddedBroker, free_port
from shared.service import wait_ready

ROOT = Path(__file__).resolve().parents[2]


def corral_config(bootstrap: str, hooks: list[str]) -> dict[str, Any]:
    """Production settings, except timings short enough for one machine."""
    return {
        "log": {"level": "warning"},
        "kafka": {
            "bootstrap_servers": bootstrap,
            "partitions": 6,
            "session_timeout": "3s",
            "heartbeat_interval": "500ms",
            "stall_timeout": "30s",
        },
        "ingest": {"listen": f"127.0.0.1:{free_port()}", "publish_timeout": "5s"},
        "triage": {
            "listen": f"127.0.0.1:{free_port()}",
            "lifecycle": {"quiet_period": "3s"},
        },
        "notify": {
            "listen": f"127.0.0.1:{free_port()}",
            "route": {
                "receiver": "oncall",
                "group_wait": "0s",
                "group_interval": "0s",  # every revision: the verdict checks each one
                "repeat_interval": "0s",
            },
            "receivers": [
                {
                    "name": "oncall",
                    "webhook_configs": [{"url": url} for url in hooks],
                    "limits": {"concurrency": 16},
                }
            ],
            "retry": {"initial_backoff": "100ms", "max_backoff": "1s", "max_elapsed": "10m"},
        },
    }


@dataclass
class Stack:
    directory: Path
    hooks: list[str]
    broker: EmbeddedBroker = field(default_factory=EmbeddedBroker)
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)  # on their own, before a fault
    listens: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    path: Path = field(init=False)

    async def start(self) -> None:
        self.broker.start()
        await self.broker.wait_ready()
        self.config = corral_config(self.broker.bootstrap_servers, self.hooks)
        self.path = self.directory / "corral.yml"
        self.path.write_text(yaml.safe_dump(self.config))
        for worker in ("ingest", "triage", "notify"):
            await self.spawn(worker)
        await self.ready()

    async def spawn(self, name: str) -> None:
        """Start ``name`` (``triage-2``: a second triage worker of the same group)."""
        worker = name.split("-")[0]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        listen = self.listens.get(name) or self.config[worker]["listen"]
        if name != worker and name not in self.listens:
            listen = f"127.0.0.1:{free_port()}"
        env[f"CORRAL_{worker.upper()}__LISTEN"] = listen
        self.listens[name] = listen
        with (self.directory / f"{name}.log").open("ab") as log:
            self.processes[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.corral.cli", worker, "--config", str(self.path),
                env=env, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip

    async def ready(self, *names: str, timeout: float = 90.0) -> None:
        for name in names or tuple(self.processes):
            await wait_ready(self.listens[name], timeout)

    async def not_ready(self, timeout: float = 60.0) -> list[str]:
        """Workers that do not answer ``/-/ready`` with 200 within ``timeout``."""
        late = []
        for name in self.processes:
            try:
                await wait_ready(self.listens[name], timeout)
            except TimeoutError:
                late.append(name)
        return late

    async def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        if self._signal(name, process, signal.SIGKILL):
            await process.wait()

    async def stop(self, name: str) -> int:
        process = self.processes.pop(name)
        if not self._signal(name, process, signal.SIGTERM):
            return self.ended[name]
        try:
            return await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            return await process.wait()

    def _signal(self, name: str, process: asyncio.subprocess.Process, signum: int) -> bool:
        """Signal a worker, or note that it already ended on its own (the verdict names it)."""
        try:
            process.send_signal(signum)
            return True
        except ProcessLookupError:
            self.ended[name] = process.returncode if process.returncode is not None else -1
            # Its restart appends to the same log: its last words are printed now.
            print(f"\n--- {name} ended on its own; its log (last lines) ---", flush=True)
            print(self.log_tail(name, 40), flush=True)
            return False

    def pause_broker(self) -> None:
        assert self.broker.process is not None
        os.kill(self.broker.process.pid, signal.SIGSTOP)

    def resume_broker(self) -> None:
        assert self.broker.process is not None
        os.kill(self.broker.process.pid, signal.SIGCONT)

    def exited(self) -> dict[str, int]:
        """Workers that ended on their own (none should)."""
        running = {n: p.returncode for n, p in self.processes.items() if p.returncode is not None}
        return self.ended | running

    async def close(self) -> None:
        for name in list(self.processes):
            await self.stop(name)
        if self.broker.alive():
            self.resume_broker()  # in case it was stopped: a stopped process ignores SIGTERM
        self.broker.stop()

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.directory / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
