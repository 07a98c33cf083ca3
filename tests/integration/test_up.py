"""``corral up`` as a user runs it: one command, the whole pipeline, a webhook out."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from shared.kafka.embedded import free_port
from shared.service import wait_ready
from tests.alertmanager import NODE_DOWN, NODE_DOWN_TEXT, am_alert, webhook
from tests.helpers import RecordingServer, start_corral

pytestmark = pytest.mark.broker


async def test_corral_up_delivers_to_configured_webhook(tmp_path: Path) -> None:
    receiver = await RecordingServer().start()
    ingest, triage, notify = free_port(), free_port(), free_port()
    config = tmp_path / "corral.yml"
    config.write_text(
        f"""
ingest:
  listen: 127.0.0.1:{ingest}
triage:
  listen: 127.0.0.1:{triage}
notify:
  listen: 127.0.0.1:{notify}
  route:
    receiver: oncall
  receivers:
    - name: oncall
      webhook_configs:
        - url: {receiver.url()}
"""
    )
    process = await start_corral("up", "--config", str(config), stdout=asyncio.subprocess.PIPE)
    try:
        for port in (ingest, triage, notify):
            await wait_ready(f"127.0.0.1:{port}")
        banner = (await asyncio.wait_for(process.stdout.read(2000), 10)).decode()  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{ingest}/api/v1/alerts/alertmanager" in banner

        started = time.perf_counter()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{ingest}/api/v1/alerts/alertmanager",
                json=webhook([am_alert(NODE_DOWN, NODE_DOWN_TEXT)]),
            ) as response,
        ):
            assert response.status == 200
        delivered = await receiver.next(timeout=30)
        elapsed = time.perf_counter() - started
        print(f"POST to webhook delivery through corral up: {elapsed * 1000:.0f} ms")
        assert delivered.json()["labels"]["node"] == "worker-7"
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
        await receiver.stop()
    assert code == 0
    # Every worker stopped with it: nothing listens on their ports any more.
    for port in (ingest, triage, notify):
        with pytest.raises(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
