"""Escalation, people's actions and Slack's app mode, through the broker.

The notify worker runs in-process on the test's topics; PagerDuty and Slack
are local servers speaking their APIs. Actions are published to
``corral.actions`` as the incidents service publishes them; outcomes are
read back from ``corral.notify.outcomes`` as it reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.config import KafkaSettings
from shared.messages import Action, DeliveryOutcome, IncidentAlert
from tests.helpers import read_topic, running, wait_ready
from tests.incidents import publish as publish_message
from tests.integration.notify_fakes import (
    PagerDutyFake,
    SlackFake,
    SlackMessage,
    incident,
    notify_worker,
    publish,
)

pytestmark = pytest.mark.broker


def escalating(pagerduty: PagerDutyFake, slack: SlackFake, step: str = "2s") -> dict[str, Any]:
    """``primary`` (PagerDuty and a Slack app) first, ``secondary`` ``step``
    later, ``manager`` twice that."""
    return {
        "route": {"receiver": "team", "routes": [{"escalation": "oncall"}]},
        "escalation_policies": [
            {
                "name": "oncall",
                "steps": [
                    {"after": "0s", "receivers": ["primary"]},
                    {"after": step, "receivers": ["secondary"]},
                    {"after": f"{2 * float(step[:-1])}s", "receivers": ["manager"]},
                ],
            }
        ],
        "receivers": [
            {"name": "team", "log_configs": [{}]},
            {
                "name": "primary",
                "pagerduty_configs": [{"routing_key": "primary-key", "url": pagerduty.url()}],
                "slack_configs": [
                    {"app_token": slack.token, "app_url": slack.api(), "channel": "#oncall"}
                ],
            },
            {
                "name": "secondary",
                "pagerduty_configs": [{"routing_key": "secondary-key", "url": pagerduty.url()}],
            },
            {
                "name": "manager",
                "pagerduty_configs": [{"routing_key": "manager-key", "url": pagerduty.url()}],
            },
        ],
    }


async def act(kafka: KafkaSettings, kind: str, n: int = 1, **fields: Any) -> None:
    """An action on ``inc-1``, as the incidents service publishes it."""
    action = Action(
        action_id=f"act-{n}",
        incident_id="inc-1",
        kind=kind,
        actor=fields.pop("actor", "alice"),
        at=datetime.now(UTC),
        source=fields.pop("source", "api"),
        **fields,
    )
    await publish_message(kafka, kafka.topics.actions, action)


async def outcomes(kafka: KafkaSettings) -> list[DeliveryOutcome]:
    return [
        DeliveryOutcome.from_bytes(v) for v in await read_topic(kafka, kafka.topics.notify_outcomes)
    ]


async def events(
    pagerduty: PagerDutyFake, count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    return [(await pagerduty.next(timeout)).json() for _ in range(count)]


@contextlib.asynccontextmanager
async def fakes() -> AsyncIterator[tuple[PagerDutyFake, SlackFake]]:
    pagerduty, slack = await PagerDutyFake().start(), await SlackFake().start()
    try:
        yield pagerduty, slack
    finally:
        await pagerduty.stop()
        await slack.stop()


async def test_steps_page_in_turn_until_acknowledged_and_the_slack_message_shows_it(
    kafka: KafkaSettings,
) -> None:
    async with fakes() as (pagerduty, slack):
        worker = notify_worker(kafka, escalating(pagerduty, slack))
        async with running(worker):
            await wait_ready(worker)
            await publish(kafka, incident(priority="P1", severity="critical"))
            [first] = await events(pagerduty, 1)
            assert (first["routing_key"], first["event_action"]) == ("primary-key", "trigger")
            posted = await slack.until(lambda m: m.status == ":red_circle: firing")
            assert posted.buttons == ["Acknowledge", "Resolve", "Open"]
            paged_at = datetime.now(UTC)
            [second] = await events(pagerduty, 1, timeout=10)
            waited = datetime.now(UTC) - paged_at
            assert second["routing_key"] == "secondary-key"
            assert waited >= timedelta(seconds=1.5)  # not before its step

            await act(kafka, "acknowledge", source="cli")
            acked = await slack.until(lambda m: "acknowledged by alice" in m.status)
            assert acked.ts == posted.ts and acked.buttons == ["Resolve", "Open"]
            assert (await slack.until(lambda m: bool(m.replies))).replies == [
                "Acknowledged by alice via cli"
            ]
            # PagerDuty hears it (both pages went to PagerDuty), and the manager is never paged.
            told = await events(pagerduty, 2)
            assert {(e["routing_key"], e["event_action"]) for e in told} == {
                ("primary-key", "acknowledge"),
                ("secondary-key", "acknowledge"),
            }
            assert await pagerduty.nothing_within(5.0)

            await act(kafka, "resolve", 2)
            resolved = await slack.until(lambda m: m.status.endswith("resolved by alice"))
            assert resolved.buttons == ["Open"]
            told = await events(pagerduty, 2)
            assert {e["event_action"] for e in told} == {"resolve"}
    found = await outcomes(kafka)
    steps = {(o.receiver, o.escalation_step, o.notification, o.status) for o in found}
    assert ("primary", 1, "trigger", "sent") in steps
    assert ("secondary", 2, "trigger", "sent") in steps
    assert ("manager", 3, "trigger", "cancelled") in steps
    assert ("primary", None, "acknowledge", "sent") in steps
    assert not any(o.receiver == "manager" and o.status == "sent" for o in found)


async def test_unacknowledge_resumes_and_escalate_now_jumps_to_the_next_step(
    kafka: KafkaSettings,
) -> None:
    async with fakes() as (pagerduty, slack):
        worker = notify_worker(kafka, escalating(pagerduty, slack, step="30s"))
        async with running(worker):
            await wait_ready(worker)
            await publish(kafka, incident(priority="P1", severity="critical"))
            [first] = await events(pagerduty, 1)
            await act(kafka, "acknowledge")
            await slack.until(lambda m: "acknowledged" in m.status)
            [told] = await events(pagerduty, 1)
            assert told["event_action"] == "acknowledge"
            await act(kafka, "unacknowledge", 2)
            back = await slack.until(lambda m: len(m.replies) == 2)
            assert back.status == ":red_circle: firing"
            assert back.replies[-1] == "Firing again: nobody has it acknowledged via api"
            await act(kafka, "escalate", 3)
            [second] = await events(pagerduty, 1, timeout=10)
            assert (first["routing_key"], second["routing_key"]) == ("primary-key", "secondary-key")
            # Escalate again: the manager now, not a minute later.
            await act(kafka, "escalate", 4)
            [third] = await events(pagerduty, 1, timeout=10)
            assert third["routing_key"] == "manager-key"


async def test_slack_app_threads_what_changed_and_a_coalesced_update(kafka: KafkaSettings) -> None:
    async with fakes() as (_, slack):
        notify = {
            "route": {"receiver": "chat", "group_interval": "2s"},
            "receivers": [
                {
                    "name": "chat",
                    "slack_configs": [
                        {"app_token": slack.token, "app_url": slack.api(), "channel": "#oncall"}
                    ],
                }
            ],
        }
        worker = notify_worker(kafka, notify)
        async with running(worker):
            await wait_ready(worker)
            one = incident(1)
            await publish(kafka, one)
            posted = await slack.until(lambda m: True)
            pods = [
                IncidentAlert(
                    fingerprint=f"p{i}",
                    status="firing",
                    labels={"alertname": "KubePodNotReady", "namespace": f"ns{i}"},
                    annotations={},
                )
                for i in range(3)
            ]
            await publish(kafka, incident(2, alerts=[*one.alerts, *pods[:1]]))
            await publish(kafka, incident(3, alerts=[*one.alerts, *pods]))
            updated: SlackMessage = await slack.until(lambda m: bool(m.replies), timeout=15)
            assert updated.ts == posted.ts and updated.updates == 1
            assert updated.replies == ["+3 alerts: KubePodNotReady in 3 namespaces"]
            await publish(kafka, incident(4, "resolved"))
            over = await slack.until(lambda m: len(m.replies) == 2)
            assert over.status == ":large_green_circle: resolved"
            assert over.replies[-1].startswith("Resolved")
            await asyncio.sleep(0.5)
    assert len(slack.messages) == 1  # one message per incident, however it changed
