"""How fast notify turns a burst of new incidents into webhook calls (printed, not asserted).

Run alone to read the numbers:
``.venv/bin/python -m pytest -q -s tests/integration/test_notify_throughput.py``
"""

from __future__ import annotations

import time

import pytest

from shared.config import KafkaSettings
from tests.helpers import RecordingServer, running
from tests.integration.notify_fakes import incident, notify_worker, publish

pytestmark = pytest.mark.broker

BURST = 400


async def test_burst_of_incidents_to_one_webhook(kafka: KafkaSettings) -> None:
    hook = await RecordingServer().start()
    config = {
        "route": {"receiver": "hook"},
        "receivers": [
            {
                "name": "hook",
                "webhook_configs": [{"url": hook.url()}],
                "limits": {"concurrency": 32},
            }
        ],
    }
    # The burst waits on the topic, as after an outage, so the worker's own
    # pace is measured: admission to the sent log, intent, call, outcome.
    await publish(kafka, *(incident(id=f"inc-{i}") for i in range(BURST)))
    worker = notify_worker(kafka, config)
    async with running(worker):
        await hook.next()
        first = time.perf_counter()
        for _ in range(BURST - 1):
            await hook.next()
        last = time.perf_counter()
    print(
        f"\nnotify: {BURST} waiting incidents -> webhook calls, first to last in "
        f"{last - first:.2f} s ({(BURST - 1) / (last - first):.0f} notifications/s)"
    )
    assert len({r.json()["id"] for r in hook.requests}) == BURST
    await hook.stop()
