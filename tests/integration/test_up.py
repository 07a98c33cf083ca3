"""``corral up`` as a user runs it: one command, the whole pipeline, a webhook out."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from services.corral.embedded import free_port
from shared.service import wait_ready
from tests.alertmanager import NODE_DOWN, NODE_DOWN_TEXT, am_alert, webhook
from tests.helpers import RecordingServer, start_corral

pytestmark = pytest.mark.broker


async def test_corral_up_delivers_to_configured_webhook(tmp_path: Path) -> None:
    receiver = await RecordingServer().start()
    ingest, triage, notify, incidents = free_port(), free_port(), free_port(), free_port()
    config = tmp_path / "corral.yml"
    config.write_text(
        f"""
ingest:
  listen: 127.0.0.1:{ingest}
triage:
  listen: 127.0.0.1:{triage}
incidents:
  listen: 127.0.0.1:{incidents}
  data_dir: {tmp_path / "data"}
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
        for port in (ingest, triage, notify, incidents):
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
    for port in (ingest, triage, notify, incidents):
        with pytest.raises(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()


async def test_corral_up_passes_the_web_config_to_every_worker(tmp_path: Path) -> None:
    """``--web.config.file`` on ``corral up``: TLS and credentials on all three listeners."""
    import base64
    import ssl

    import yaml

    from shared.web.commands import hash_password
    from tests.certs import CertificateAuthority

    receiver = await RecordingServer().start()
    ca = CertificateAuthority(tmp_path)
    server = ca.issue("corral", server=True)
    web = tmp_path / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": str(server.cert), "key_file": str(server.key)},
                "basic_auth_users": {"am": hash_password("pw", cost=4)},
            }
        )
    )
    ingest, triage, notify, incidents = free_port(), free_port(), free_port(), free_port()
    config = tmp_path / "corral.yml"
    config.write_text(
        # Ports and store of its own: not the defaults another Corral on this machine may hold.
        f"incidents: {{listen: '127.0.0.1:{incidents}', data_dir: '{tmp_path}'}}\n"
        f"ingest: {{listen: '127.0.0.1:{ingest}'}}\ntriage: {{listen: '127.0.0.1:{triage}'}}\n"
        f"notify:\n  listen: 127.0.0.1:{notify}\n  route: {{receiver: oncall}}\n"
        f"  receivers: [{{name: oncall, webhook_configs: [{{url: '{receiver.url()}'}}]}}]\n"
    )
    process = await start_corral(
        "up", "--config", str(config), "--web.config.file", str(web), stdout=asyncio.subprocess.PIPE
    )
    context = ssl.create_default_context(cafile=str(ca.cert_file))
    url = f"https://127.0.0.1:{ingest}"
    body = webhook([am_alert(NODE_DOWN, NODE_DOWN_TEXT)])
    credentials = {"Authorization": "Basic " + base64.b64encode(b"am:pw").decode()}
    try:
        for port in (ingest, triage, notify):
            await wait_ready(f"127.0.0.1:{port}", scheme="https")
        banner = (await asyncio.wait_for(process.stdout.read(2000), 10)).decode()  # type: ignore[union-attr]
        assert f"{url}/api/v1/alerts/alertmanager" in banner
        assert f"Incident board:        https://127.0.0.1:{incidents}/" in banner
        assert "Authentication:        on" in banner
        async with aiohttp.ClientSession() as session:
            for port in (triage, notify):
                metrics = f"https://127.0.0.1:{port}/metrics"
                async with session.get(metrics, ssl=context) as response:
                    assert response.status == 401
            hook = f"{url}/api/v1/alerts/alertmanager"
            async with session.post(hook, json=body, ssl=context) as response:
                assert response.status == 401
            async with session.post(hook, json=body, ssl=context, headers=credentials) as response:
                assert response.status == 200
        assert (await receiver.next(timeout=30)).json()["labels"]["node"] == "worker-7"
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
        await receiver.stop()
    assert code == 0
