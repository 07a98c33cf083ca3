"""The storm: Alertmanager webhooks, one alert group each, sent the way Alertmanager sends.

Every group is one namespace of one cluster, so every group is one incident
(the default scope policy), which lets the campaign check from the outside
that no incident was opened twice for the same alerts. Groups grow (the
whole group is sent again with more alerts, as Alertmanager does), are sent
again unchanged, and some resolve. One group's alerts carry the generator URL
``http://[``, which once crash-looped triage.

A webhook is retried until it is answered 200, on 503 (honouring
Retry-After) and on refused or dropped connections, like Alertmanager; only a
200 counts its alerts as acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shared.fingerprint import fingerprint

ZERO_TIME = "0001-01-01T00:00:00Z"
NAMES = [
    ("KubePodCrashLooping", "warning"),
    ("KubePodNotReady", "warning"),
    ("HighErrorRate", "critical"),
    ("HighLatency", "warning"),
    ("TargetDown", "warning"),
    ("CPUThrottlingHigh", "info"),
]
GENERATOR_URL = "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
BROKEN_URL = "http://["


@dataclass
class Webhook:
    """One POST: a group's alerts at one moment, and when to send it."""

    at: float
    cluster: str
    namespace: str
    alerts: list[dict[str, Any]]

    def body(self) -> bytes:
        firing = any(a["status"] == "firing" for a in self.alerts)
        group = {"cluster": self.cluster, "namespace": self.namespace}
        return json.dumps(
            {
                "version": "4",
                "groupKey": f'{{}}:{{cluster="{self.cluster}", namespace="{self.namespace}"}}',
                "truncatedAlerts": 0,
                "status": "firing" if firing else "resolved",
                "receiver": "corral",
                "groupLabels": group,
                "commonLabels": group,
                "commonAnnotations": {},
                "externalURL": "http://alertmanager:9093",
                "alerts": self.alerts,
            }
        ).encode()


def _alert(cluster: str, namespace: str, n: int, rng: random.Random, url: str) -> dict[str, Any]:
    name, severity = rng.choice(NAMES)
    labels = {
        "alertname": name,
        "severity": severity,
        "cluster": cluster,
        "namespace": namespace,
        "pod": f"{namespace}-{n}",
    }
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"{name} on {namespace}-{n}"},
        "startsAt": "2026-11-26T10:00:00Z",
        "endsAt": ZERO_TIME,
        "generatorURL": url,
        "fingerprint": fingerprint(labels),
    }


def storm(alerts: int, duration: float, seed: int) -> list[Webhook]:
    """Webhooks carrying at least ``alerts`` distinct alerts, spread over ``duration`` s."""
    rng = random.Random(seed)
    hooks: list[Webhook] = []
    distinct = 0
    group = 0
    while distinct < alerts:
        cluster = f"prod-{rng.randrange(6)}"
        namespace = f"ns-{group}"
        url = BROKEN_URL if group == 7 else GENERATOR_URL
        members = [_alert(cluster, namespace, n, rng, url) for n in range(rng.randint(5, 45))]
        distinct += len(members)
        start = rng.uniform(0, duration * 0.9)
        hooks.append(Webhook(start, cluster, namespace, members))
        later = rng.uniform(start, duration)
        roll = rng.random()
        if roll < 0.3:  # the group grows: Alertmanager sends all of it again
            extra = [
                _alert(cluster, namespace, n, rng, url)
                for n in range(len(members), len(members) + rng.randint(1, 10))
            ]
            distinct += len(extra)
            hooks.append(Webhook(later, cluster, namespace, members + extra))
        elif roll < 0.5:  # repeat_interval: the same group again
            hooks.append(Webhook(later, cluster, namespace, members))
        elif roll < 0.65:  # it is over
            resolved = [{**a, "status": "resolved", "endsAt": "2026-11-26T11:00:00Z"}
                        for a in members]  # fmt: skip
            hooks.append(Webhook(later, cluster, namespace, resolved))
        group += 1
    hooks.sort(key=lambda h: h.at)
    return hooks


@dataclass
class Sender:
    """Posts the storm on its schedule and remembers what ingest acknowledged."""

    url: str
    concurrency: int = 16
    # Firing alerts ingest acknowledged: fingerprint -> namespace (its group).
    acknowledged: dict[str, str] = field(default_factory=dict)
    resolves: int = 0
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    async def send(self, hooks: list[Webhook], deadline: float) -> None:
        started = time.monotonic()
        limit = asyncio.Semaphore(self.concurrency)
        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=True)
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(hook: Webhook) -> None:
                await asyncio.sleep(max(0.0, started + hook.at - time.monotonic()))
                async with limit:
                    await self._post(session, hook, deadline)

            await asyncio.gather(*(one(hook) for hook in hooks))

    async def _post(self, session: aiohttp.ClientSession, hook: Webhook, deadline: float) -> None:
        body = hook.body()
        headers = {"Content-Type": "application/json"}
        while time.monotonic() < deadline:
            self.requests += 1
            try:
                async with session.post(self.url, data=body, headers=headers) as response:
                    await response.read()
                    status = str(response.status)
                    retry_after = float(response.headers.get("Retry-After", "1"))
            except (aiohttp.ClientError, TimeoutError):
                status, retry_after = "connection error", 0.5
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == "200":
                for alert in hook.alerts:
                    if alert["status"] == "firing":
                        self.acknowledged[alert["fingerprint"]] = hook.namespace
                    else:
                        self.resolves += 1
                return
            await asyncio.sleep(min(retry_after, 1.0))
