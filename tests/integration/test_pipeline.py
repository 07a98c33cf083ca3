"""End to end over the real broker: Alertmanager webhook in, webhook notification out."""

from __future__ import annotations

import aiohttp
import pytest

from shared.config import KafkaSettings
from shared.messages import Alert
from tests.alertmanager import NODE_DOWN, NODE_DOWN_TEXT, am_alert, webhook
from tests.helpers import RecordingServer, read_topic
from tests.integration.pipeline import pipeline, webhook_route

pytestmark = pytest.mark.broker


async def post(url: str, body: object) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_alert_reaches_webhook_once_and_resolves(kafka: KafkaSettings) -> None:
    receiver = await RecordingServer().start()
    notify = webhook_route(receiver.url(), bearer_token="s3cret")
    # No quiet period, so the resolve is sent as soon as the alert resolves.
    async with pipeline(kafka, notify, triage={"lifecycle": {"quiet_period": "0s"}}) as p:
        endpoint = f"{p.ingest_url}/api/v1/alerts/alertmanager"
        firing = webhook([am_alert(NODE_DOWN, NODE_DOWN_TEXT)])

        status, body = await post(endpoint, firing)
        assert (status, body) == (200, {"status": "success", "alerts": 1})
        opened = await receiver.next()
        incident = opened.json()
        assert opened.headers["Authorization"] == "Bearer s3cret"
        assert incident["status"] == "firing"
        assert incident["event"] == "opened"
        assert incident["priority"] == "P1"
        assert incident["severity"] == "critical"
        assert incident["title"] == "KubeNodeNotReady: Node worker-7 is not ready"
        assert incident["explanation"]
        assert [a["fingerprint"] for a in incident["alerts"]] == [
            firing["alerts"][0]["fingerprint"]
        ]
        assert incident["alerts"][0]["labels"] == NODE_DOWN

        # Alertmanager re-sends the same group on every repeat_interval.
        assert (await post(endpoint, firing))[0] == 200
        assert await receiver.nothing_within(2.0)

        resolved = webhook([am_alert(NODE_DOWN, NODE_DOWN_TEXT, status="resolved")])
        assert (await post(endpoint, resolved))[0] == 200
        closed = (await receiver.next()).json()
        assert closed["id"] == incident["id"]
        assert closed["status"] == "resolved"
        assert closed["event"] == "resolved"
        assert closed["revision"] > incident["revision"]
    await receiver.stop()


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4"])
async def test_every_compression_codec_carries_an_alert_to_the_receiver(
    kafka: KafkaSettings, codec: str
) -> None:
    """zstd, the default, is what every other test runs on."""
    receiver = await RecordingServer().start()
    settings = kafka.model_copy(update={"compression": codec})
    async with pipeline(settings, webhook_route(receiver.url())) as p:
        endpoint = f"{p.ingest_url}/api/v1/alerts/alertmanager"
        status, _ = await post(endpoint, webhook([am_alert(NODE_DOWN, NODE_DOWN_TEXT)]))
        assert status == 200
        incident = (await receiver.next()).json()
        assert incident["labels"]["node"] == NODE_DOWN["node"]
    await receiver.stop()


async def test_prometheus_api_v2_push_is_accepted(kafka: KafkaSettings) -> None:
    receiver = await RecordingServer().start()
    async with pipeline(kafka, webhook_route(receiver.url())) as p:
        alert = {
            "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "warning"},
            "annotations": {"summary": "5xx above 5% for checkout"},
            "startsAt": "2026-11-26T10:00:00Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28x%5B5m%5D%29",
        }
        status, _ = await post(f"{p.ingest_url}/api/v2/alerts", [alert])
        assert status == 200
        incident = (await receiver.next()).json()
        assert incident["priority"] == "P3"
        assert incident["alerts"][0]["fingerprint"]
        assert incident["labels"]["service"] == "checkout"
    await receiver.stop()


@pytest.mark.parametrize(
    ("content_type", "body", "status", "field"),
    [
        ("application/json", b"{not json", 400, "(body)"),
        ("text/plain", b"{}", 415, "Content-Type"),
        (
            "application/json",
            b'{"version": "3", "groupKey": "x", "status": "firing", "receiver": "r", "alerts": []}',
            422,
            "version",
        ),
        (
            "application/json",
            b'{"version": "4", "groupKey": "x", "status": "firing", '
            b'"receiver": "r", "alerts": [{"status": "firing", "labels": {"bad-name": "x"}}]}',
            422,
            "alerts[0].labels.bad-name",
        ),
        (
            "application/json",
            b'{"version": "4", "groupKey": "x", "status": "firing", '
            b'"receiver": "r", "alerts": [{"status": "burning", "labels": {"a": "b"}}]}',
            422,
            "alerts[0].status",
        ),
        ("application/json", b"x" * 5000, 413, "(body)"),
    ],
)
async def test_bad_requests_are_refused_and_publish_nothing(
    kafka: KafkaSettings, content_type: str, body: bytes, status: int, field: str
) -> None:
    receiver = await RecordingServer().start()
    async with pipeline(kafka, webhook_route(receiver.url()), ingest={"max_body_bytes": 4096}) as p:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{p.ingest_url}/api/v1/alerts/alertmanager",
                data=body,
                headers={"Content-Type": content_type},
            ) as response,
        ):
            assert response.status == status
            answer = await response.json()
        assert answer["field"] == field
        assert answer["error"]
    assert await read_topic(kafka, kafka.topics.alerts) == []
    assert receiver.requests == []
    await receiver.stop()


async def test_alerts_are_keyed_by_scope_on_the_alerts_topic(kafka: KafkaSettings) -> None:
    receiver = await RecordingServer().start()
    async with pipeline(kafka, webhook_route(receiver.url())) as p:
        alerts = [
            am_alert({**NODE_DOWN, "node": f"worker-{i}", "cluster": f"c{i % 2}"}) for i in range(4)
        ]
        status, body = await post(f"{p.ingest_url}/api/v1/alerts/alertmanager", webhook(alerts))
        assert (status, body["alerts"]) == (200, 4)
    stored = [Alert.from_bytes(v) for v in await read_topic(kafka, kafka.topics.alerts)]
    assert sorted(a.labels["node"] for a in stored) == [f"worker-{i}" for i in range(4)]
    assert {a.source for a in stored} == {"alertmanager"}
    assert all(a.ends_at is None and a.group_key for a in stored)
    await receiver.stop()
