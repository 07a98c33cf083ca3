"""A worker whose Kafka client fails for good gets new clients, not a dead process.

Runs ``shared.service.serve`` with a worker that fakes its Kafka side: what
an operator sees is the process still serving, the failure in the log and
``corral_kafka_clients_replaced_total``.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiokafka.errors import UnknownError

from shared import service
from shared.metrics import REGISTRY
from shared.web.guard import WebSecurity


class FlakyWorker:
    """Its first ``run`` ends with ``failure``; the next returns (a clean stop)."""

    def __init__(self, name: str, failure: BaseException) -> None:
        self.name = name
        self.failure: BaseException | None = failure
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def run(self, stop: asyncio.Event) -> None:
        self.calls.append("run")
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure

    async def close(self) -> None:
        self.calls.append("close")

    def ready(self) -> bool:
        return True


def replaced(worker: str) -> float:
    value = REGISTRY.get_sample_value("corral_kafka_clients_replaced_total", {"worker": worker})
    return value or 0.0


@pytest.fixture(autouse=True)
def _quick_replacement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "REPLACE_BACKOFF", 0.01)


async def test_a_kafka_error_the_client_does_not_retry_replaces_the_clients() -> None:
    worker = FlakyWorker("flaky-kafka", UnknownError("unexpected answer"))
    assert not UnknownError.retriable
    await service.serve(worker, web.Application(), "127.0.0.1:0", WebSecurity())
    assert worker.calls == ["start", "run", "close", "start", "run", "close"]
    assert replaced("flaky-kafka") == 1


async def test_a_bug_still_ends_the_process() -> None:
    """Only the Kafka client is replaced: anything else is a bug, and hiding it
    in a loop would turn a crash into a silent stall."""
    worker = FlakyWorker("flaky-bug", RuntimeError("bug"))
    with pytest.raises(RuntimeError, match="bug"):
        await service.serve(worker, web.Application(), "127.0.0.1:0", WebSecurity())
    assert worker.calls == ["start", "run", "close"]
    assert replaced("flaky-bug") == 0
