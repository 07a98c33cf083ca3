"""Corral's workers with an API as processes of their own, for fuzzing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from services.corral.embedded import free_port
from shared.config import KafkaSettings
from shared.web.commands import hash_password


@dataclass
class Running:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def rss_mib(worker: Running) -> float:
    """Resident memory of the worker process, as the kernel counts it."""
    for line in Path(f"/proc/{worker.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def start_worker(
    name: str,
    kafka: KafkaSettings,
    directory: Path,
    admin: tuple[str, str],
    sender: tuple[str, str],
    settings: dict[str, object] | None = None,
) -> Running:
    web = directory / "web.yml"
    if not web.exists():
        web.write_text(
            yaml.safe_dump(
                {
                    "basic_auth_users": {
                        admin[0]: hash_password(admin[1], cost=4),
                        sender[0]: hash_password(sender[1], cost=4),
                    },
                    "roles": {admin[0]: ["admin", "metrics"], sender[0]: ["alerts"]},
                }
            )
        )
    port = free_port()
    suffix = kafka.topics.incidents.rsplit(".", 1)[-1]
    section: dict[str, object] = {"listen": f"127.0.0.1:{port}", **(settings or {})}
    if name == "notify":
        section["group_id"] = f"notify-fuzz-{suffix}"
    config = directory / f"{name}.yml"
    config.write_text(yaml.safe_dump({"kafka": kafka.model_dump(mode="json"), name: section}))
    log_path = directory / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "services.corral.cli", name,
                "--config", str(config), "--web.config.file", str(web),
            ],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    worker = Running(name, f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not worker.alive():
            raise AssertionError(f"{name} exited:\n{worker.log()}")
        try:
            if requests.get(f"{worker.url}/-/ready", timeout=2).status_code == 200:
                return worker
        except requests.RequestException:
            pass
        time.sleep(0.2)
    worker.stop()
    raise AssertionError(f"{name} did not become ready:\n{worker.log()}")
