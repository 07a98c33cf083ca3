"""A storm: several concurrent failures per cluster plus noise, delivered the
way Alertmanager delivers them (grouped, re-sent, resolved once).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from bench.storm.scenarios import (
    FIRING,
    NODE_WORKLOADS,
    RESOLVED,
    TEAM_NAMESPACES,
    Cluster,
    Timeline,
    bad_rollout,
    database_outage,
    disk_filling,
    flapping_probe,
    network_errors,
    node_failure,
    node_noise,
    noise,
    unrelated_errors,
)
from shared.fingerprint import fingerprint

CLUSTERS = ["prod-eu-1", "prod-us-1", "staging-eu-1"]


@dataclass
class Delivery:
    """One Alertmanager webhook notification, at a storm time in seconds."""

    at: float
    payload: dict[str, Any]


@dataclass
class Storm:
    timelines: list[Timeline]
    deliveries: list[Delivery] = field(default_factory=list)
    duration: float = 0.0

    @property
    def truth(self) -> dict[str, str]:
        """Fingerprint → the incident it truly belongs to."""
        return {fingerprint(t.labels): t.truth for t in self.timelines}

    @property
    def status_changes(self) -> int:
        return sum(len(t.changes) for t in self.timelines)

    @property
    def alerts_in(self) -> int:
        return sum(len(d.payload["alerts"]) for d in self.deliveries)


def generate(seed: int = 1, clusters: list[str] = CLUSTERS, noise_per_cluster: int = 8) -> Storm:
    rng = random.Random(seed)
    timelines: list[Timeline] = []
    for index, name in enumerate(clusters):
        cluster = Cluster(
            name,
            random.Random(rng.random()),
            nodes=[f"ip-10-{index}-{rng.randrange(256)}-{n}.ec2.internal" for n in range(40)],
            namespaces=list(TEAM_NAMESPACES),
        )
        timelines += node_failure(cluster, rng.uniform(0, 300))
        timelines += bad_rollout(cluster, rng.uniform(0, 600))
        timelines += disk_filling(cluster, rng.uniform(0, 600))
        timelines += flapping_probe(cluster, rng.uniform(0, 300))
        if index < 2:
            database = ["postgres-orders", "postgres-payments"][index]
            timelines += database_outage(cluster, rng.uniform(100, 500), database)
        for _ in range(noise_per_cluster):
            timelines += noise(cluster, rng.uniform(0, 1200))
    return _storm(timelines)


DATABASES = ["postgres-orders", "postgres-payments"]
DAY = 86400.0


def _storm(timelines: list[Timeline]) -> Storm:
    storm = Storm(timelines)
    storm.deliveries = alertmanager(timelines)
    storm.duration = max(d.at for d in storm.deliveries)
    return storm


def learning_storm(
    seed: int = 1, clusters: list[str] = CLUSTERS, history_days: float = 3
) -> tuple[Storm, Storm]:
    """A history period, then a harder storm right after it.

    The history is what a team's Alertmanager sent over ``history_days``: the
    same kinds of failure as the storm, one at a time, at random hours, among
    unrelated alerts. The storm that follows is harder than ``generate``'s:
    two node failures at once in one cluster, their pods in the same
    namespaces as each other and as a bad rollout; a filling disk and a flaky
    NIC on one node; node and database alerts that fire after their symptoms;
    unrelated alerts inside the failures' namespaces, on a failing node, and a
    slow service elsewhere during a database outage. Both are delivered as
    Alertmanager would; storm times of the second start after the first's.
    """
    rng = random.Random(seed)
    past: list[Timeline] = []
    present: list[Timeline] = []
    span = history_days * DAY
    begin = span + 3600
    for index, name in enumerate(clusters):
        nodes = [f"ip-10-{index}-{rng.randrange(256)}-{n}.ec2.internal" for n in range(40)]
        database = DATABASES[index] if index < len(DATABASES) else None

        def cluster(nodes: list[str] = nodes, name: str = name) -> Cluster:
            return Cluster(name, random.Random(rng.random()), list(nodes), list(TEAM_NAMESPACES))

        def when(days: float = history_days) -> float:
            return rng.uniform(0, days * DAY - 4 * 3600)

        per_day = max(1, round(history_days))
        for _ in range(2 * per_day):
            past += node_failure(cluster(), when(), cause_late=rng.random() < 0.5)
            c = cluster()
            past += bad_rollout(c, when(), rng.choice([None, rng.choice(NODE_WORKLOADS)]))
            past += disk_filling(cluster(), when())
        for _ in range(per_day):
            c = cluster()
            past += network_errors(c, when(), c.take_node())
            past += flapping_probe(cluster(), when())
            if database is not None:
                past += database_outage(cluster(), when(), database, rng.random() < 0.5)
        for _ in range(20 * per_day):
            at = when()
            namespace = rng.choice([*TEAM_NAMESPACES, *NODE_WORKLOADS])
            past += noise(cluster(), at, namespace, until=at + rng.uniform(600, 7200))
        for _ in range(3 * per_day):
            c = cluster()
            past += node_noise(c, when(), c.take_node())
            if database is not None:
                past += unrelated_errors(cluster(), when())

        c = cluster()
        first = begin + rng.uniform(0, 300)
        a = node_failure(c, first, cause_late=True)
        b = node_failure(c, first + rng.uniform(60, 400), cause_late=rng.random() < 0.5)
        present += a + b
        present += bad_rollout(c, begin + rng.uniform(0, 600), rng.choice(NODE_WORKLOADS))
        disk = disk_filling(c, begin + rng.uniform(0, 600))
        present += disk
        node = disk[0].labels["node"]
        present += network_errors(c, disk[0].changes[0][0] + rng.uniform(-120, 300), node)
        present += flapping_probe(c, begin + rng.uniform(0, 300))
        if database is not None:
            at = begin + rng.uniform(100, 500)
            present += database_outage(c, at, database, cause_late=rng.random() < 0.5)
            present += unrelated_errors(c, at + rng.uniform(0, 300))
        for _ in range(8):
            present += noise(c, begin + rng.uniform(0, 1200))
        for _ in range(3):
            present += noise(c, first + rng.uniform(0, 600), rng.choice(NODE_WORKLOADS))
        present += node_noise(c, first + rng.uniform(-300, 300), a[0].labels["node"])
    return _storm(past), _storm(present)


def alertmanager(
    timelines: list[Timeline],
    group_by: tuple[str, ...] = ("cluster", "alertname"),
    group_wait: float = 30,
    group_interval: float = 60,
    repeat_interval: float = 300,
) -> list[Delivery]:
    """Alertmanager's dispatcher: per group, a notification ``group_wait`` after
    its first alert, then every ``group_interval`` while it changes, else every
    ``repeat_interval``; each carries every alert of the group, and a resolved
    alert is sent once more, then dropped."""
    events = sorted((at, status, i) for i, t in enumerate(timelines) for at, status in t.changes)
    groups: dict[tuple[str, ...], dict[int, str]] = {}
    next_flush: dict[tuple[str, ...], float] = {}
    last_sent: dict[tuple[str, ...], float] = {}
    changed: set[tuple[str, ...]] = set()
    deliveries = []
    end = events[-1][0] + 2 * repeat_interval
    position, now = 0, 0.0
    while now <= end:
        if position < len(events) and not any(groups.values()):
            # Nothing to send until the next change: skip ahead on the same 5s grid.
            now = max(now, 5 * math.ceil(events[position][0] / 5))
        while position < len(events) and events[position][0] <= now:
            at, status, i = events[position]
            key = tuple(timelines[i].labels.get(n, "") for n in group_by)
            if key not in groups:
                next_flush[key] = at + group_wait
            groups.setdefault(key, {})[i] = status
            changed.add(key)
            position += 1
        for key, members in groups.items():
            repeat = now - last_sent.get(key, now) >= repeat_interval
            if not members or next_flush[key] > now or (key not in changed and not repeat):
                continue
            alerts = [_am_alert(timelines[i], status, now) for i, status in members.items()]
            deliveries.append(Delivery(now, _webhook(key, group_by, alerts)))
            last_sent[key] = now
            next_flush[key] = now + group_interval
            changed.discard(key)
            for i in [i for i, status in members.items() if status == RESOLVED]:
                del members[i]
        now += 5
    return deliveries


def _am_alert(timeline: Timeline, status: str, now: float) -> dict[str, Any]:
    started = max(at for at, s in timeline.changes if s == FIRING and at <= now)
    return {
        "status": status,
        "labels": timeline.labels,
        "annotations": timeline.annotations,
        "startsAt": started,  # storm seconds; the player turns them into timestamps
        "endsAt": now if status == RESOLVED else None,
        "generatorURL": "http://prometheus-k8s-0:9090/graph?g0.expr="
        + timeline.labels["alertname"],
        "fingerprint": fingerprint(timeline.labels),
    }


def _webhook(
    key: tuple[str, ...], group_by: tuple[str, ...], alerts: list[dict[str, Any]]
) -> dict[str, Any]:
    group = dict(zip(group_by, key, strict=True))
    return {
        "version": "4",
        "groupKey": "{}:{" + ", ".join(f'{k}="{v}"' for k, v in group.items()) + "}",
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == FIRING for a in alerts) else "resolved",
        "receiver": "corral",
        "groupLabels": group,
        "commonLabels": group,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }
