"""What a page may carry: Block Kit's limits, PagerDuty's 512 KB, http(s) links only."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from services.notify.config import PagerDutyConfig, SlackConfig
from services.notify.receivers.base import Delivery
from services.notify.receivers.pagerduty import PagerDutyIntegration
from services.notify.receivers.slack import SlackIntegration
from services.notify.templates import Templates, safe_link
from shared.messages import AlertStatus, IncidentAlert
from tests.integration.notify_fakes import incident


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://prometheus:9090/graph?g0.expr=up", True),
        ("HTTPS://grafana.example.com/d/x", True),
        ("javascript:alert(document.cookie)", False),
        ("  javascript:alert(1)", False),
        ("\x01javascript:alert(1)", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("//evil.example/x", False),
        ("http:///no-host", False),
        ("ftp://files.example.com/x", False),
    ],
)
def test_only_http_and_https_links_survive(url: str, kept: bool) -> None:
    assert (safe_link(url) == url.strip()) is kept
    assert kept or safe_link(url) == ""


async def slack_body(**fields: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        slack = SlackIntegration(
            "slack/0", SlackConfig(api_url="https://hooks.example.com/x"), session, Templates()
        )
        return slack.body(Delivery(incident(**fields), "team", "k"))


async def test_slack_texts_stay_within_block_kit_limits() -> None:
    huge = "x" * 10_000
    body = await slack_body(severity=huge, id="i" * 5000, labels={"alertname": huge})
    header, section, context = body["blocks"][:3]
    assert len(header["text"]["text"]) <= 150
    assert len(section["text"]["text"]) <= 3000
    assert all(len(field["text"]) <= 2000 for field in section["fields"])
    assert len(context["elements"][0]["text"]) <= 3000
    assert len(body["text"]) <= 40_000


async def test_pagerduty_event_of_a_huge_incident_fits_and_says_so() -> None:
    alerts = [
        IncidentAlert(
            fingerprint=f"{i:016x}",
            status=AlertStatus.FIRING,
            labels={"alertname": "Big", "pod": f"p{i}", "blob": "y" * 5000},
            annotations={"description": "z" * 20_000},
            generator_url="javascript:alert(1)",
        )
        for i in range(200)
    ]
    async with aiohttp.ClientSession() as session:
        pagerduty = PagerDutyIntegration(
            "pagerduty/0", PagerDutyConfig(routing_key="k"), session, Templates()
        )
        event = pagerduty.body(Delivery(incident(alerts=alerts), "pager", "k"))
    assert len(json.dumps(event).encode()) < 512 * 1024
    assert "512 KB" in event["payload"]["custom_details"]["truncated"]
    assert "links" not in event
