"""What the storm costs the people on call: notifications per true incident.

``make bench-triage`` runs several ``corral notify`` workers beside triage,
each with its own consumer group and sent log and one notify setting, all
reading the same ``corral.incidents``; each sends to two webhook receivers
served here: ``pager`` (``priority=~"P1|P2"``, ``continue: true``) and
``team`` (every incident). Counted are the notifications
each receiver took (triggers, updates and resolves together), against the
storm's true incidents. The Alertmanager row is the storm's own dispatcher
(``generator.alertmanager``) with Alertmanager's defaults, grouping by
alert name and cluster, its ``pager`` the groups of critical alerts.

Further workers with other ``group_interval`` settings show what the default
trades: notifications against how long a change waits to be told.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from bench.storm.generator import Storm, alertmanager
from services.corral.grouping import pairwise
from services.notify.routing import DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT
from shared.fingerprint import fingerprint
from shared.messages import Incident

RECEIVERS = ("team", "pager")
PAGING = 'priority=~"P1|P2"'

DEFAULT = (DEFAULT_GROUP_WAIT.total_seconds(), DEFAULT_GROUP_INTERVAL.total_seconds())
# name → (group_wait, group_interval) in storm seconds.
SETTINGS: dict[str, tuple[float, float]] = {
    "Corral's defaults": DEFAULT,
    "defaults + group_wait 30s": (30, DEFAULT[1]),
    **{
        f"group_interval {seconds / 60:g}m": (DEFAULT[0], seconds)
        for seconds in (0, 60, 120, 300, 600, 900)
        if seconds != DEFAULT[1]
    },
}


def notify_section(name: str, url: str, group_wait: float, group_interval: float) -> dict[str, Any]:
    """Routes to ``pager`` for P1/P2 and to ``team`` for everything, timings as given."""
    timing = {"group_wait": group_wait, "group_interval": group_interval}
    return {
        "group_id": f"corral-notify-{name}",
        "route": {
            "receiver": "team",
            **timing,
            "routes": [
                {"matchers": [PAGING], "receiver": "pager", "continue": True},
                {"receiver": "team"},
            ],
        },
        "receivers": [
            {"name": receiver, "webhook_configs": [{"url": f"{url}/{receiver}"}]}
            for receiver in RECEIVERS
        ],
    }


@dataclass
class Taken:
    at: float  # time.time() when it arrived
    body: dict[str, Any]


@dataclass
class Inbox:
    """The webhook receivers of every notify worker: ``/<worker>/<receiver>``."""

    taken: dict[tuple[str, str], list[Taken]] = field(default_factory=dict)

    async def start(self, port: int) -> web.AppRunner:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/{worker}/{receiver}", self._take)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    async def _take(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = (request.match_info["worker"], request.match_info["receiver"])
        self.taken.setdefault(key, []).append(Taken(time.time(), body))
        return web.json_response({"ok": True})

    async def quiet(self, seconds: float) -> None:
        """Wait until nothing arrived for ``seconds``."""
        while True:
            last = max((t.at for taken in self.taken.values() for t in taken), default=0.0)
            if time.time() - last >= seconds:
                return
            await asyncio.sleep(0.5)


@dataclass
class Row:
    name: str
    per_receiver: dict[str, int]
    per_true_incident: float
    most: int  # most notifications one incident cost a receiver
    f1: float
    compression: float
    first_page: float | None = None  # median, storm seconds from the incident's first alert
    held: float | None = None  # median wait of a change before its notification, storm seconds


def corral_row(
    name: str,
    worker: str,
    inbox: Inbox,
    revisions: list[Incident],
    true_incidents: int,
    f1: float,
    compression: float,
    speed: float,
) -> Row:
    received = {r: inbox.taken.get((worker, r), []) for r in RECEIVERS}
    team = received["team"]
    per_incident = Counter(t.body["id"] for t in team)
    changed_at = {(i.id, i.revision): i.received_at or i.updated_at for i in revisions}
    firsts: dict[str, float] = {}
    waits = []
    for taken in sorted(team, key=lambda t: t.at):
        incident_id = taken.body["id"]
        if incident_id not in firsts:
            opened = datetime.fromisoformat(taken.body["opened_at"]).timestamp()
            firsts[incident_id] = (taken.at - opened) * speed
        changes = taken.body.get("changes")
        if changes:
            first_change = changed_at.get((incident_id, changes["since_revision"] + 1))
            if first_change is not None:
                waits.append((taken.at - first_change.timestamp()) * speed)
    return Row(
        name,
        {r: len(received[r]) for r in RECEIVERS},
        len(team) / true_incidents,
        max(per_incident.values(), default=0),
        f1,
        compression,
        statistics.median(firsts.values()) if firsts else None,
        statistics.median(waits) if waits else None,
    )


def alertmanager_row(storm: Storm) -> Row:
    """Alertmanager's defaults (group_wait 30s, group_interval 5m, repeat_interval 4h),
    grouping by alert name and cluster, on the same alerts."""
    group_by = ("alertname", "cluster")
    sent = alertmanager(
        storm.timelines, group_by, group_wait=30, group_interval=300, repeat_interval=4 * 3600
    )
    truth = storm.truth
    predicted = {
        fingerprint(t.labels): "/".join(t.labels.get(n, "") for n in group_by)
        for t in storm.timelines
    }
    critical = [
        d
        for d in sent
        if any(a["labels"].get("severity") == "critical" for a in d.payload["alerts"])
    ]
    per_group = Counter(d.payload["groupKey"] for d in sent)
    true_incidents = len(set(truth.values()))
    return Row(
        "Alertmanager (group_by alertname, cluster; its defaults)",
        {"team": len(sent), "pager": len(critical)},
        len(sent) / true_incidents,
        max(per_group.values(), default=0),
        pairwise(truth, predicted).f1,
        1 - len(set(predicted.values())) / storm.alerts_in,
    )


def table(rows: list[Row]) -> list[str]:
    def seconds(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f}s"

    lines = [
        "| notify | team | pager | per true incident | most for one incident "
        "| F1 | compression | first page, median | change held, median |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.per_receiver['team']} | {row.per_receiver['pager']} "
            f"| {row.per_true_incident:.2f} | {row.most} | {row.f1:.3f} "
            f"| {row.compression:.1%} | {seconds(row.first_page)} | {seconds(row.held)} |"
        )
    return lines
