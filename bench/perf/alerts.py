"""Alert traffic in the shapes a storm takes.

``mixed``: several scopes, groups of 1 to 200 alerts, re-sends and
resolutions (few incidents, many alerts each); ``incidents``: every webhook a
group of 100 new alerts from a cluster of its own, so every webhook opens an
incident of 100 members; ``singles``: one new alert per webhook, the way
Alertmanager sends a group of one (``group_by: ['...']``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from shared.fingerprint import fingerprint

ZERO_TIME = "0001-01-01T00:00:00Z"

# (alertname, severity, summary template) as a Kubernetes SRE team sees them.
CATALOGUE = [
    ("KubePodCrashLooping", "warning", "Pod {ns}/{pod} is crash looping"),
    ("KubePodNotReady", "warning", "Pod {ns}/{pod} has been in a non-ready state for 15m"),
    ("KubeContainerWaiting", "warning", "Container in {ns}/{pod} is waiting for more than 1h"),
    ("KubeDeploymentReplicasMismatch", "warning", "Deployment {ns}/{svc} replicas mismatch"),
    ("KubeNodeNotReady", "critical", "Node {node} is not ready"),
    ("NodeFilesystemSpaceFillingUp", "warning", "Filesystem on {node} will fill up in 24h"),
    ("NodeHighNumberConntrackEntriesUsed", "warning", "{node} conntrack table 80% full"),
    ("TargetDown", "warning", "100% of the {svc} targets in {ns} are down"),
    ("HighErrorRate", "critical", "{svc} 5xx ratio above 5% for 10m"),
    ("HighLatency", "warning", "{svc} p99 latency above 1s"),
    ("CPUThrottlingHigh", "info", "{pod} is throttled 40% of the time"),
    ("PrometheusRuleFailures", "critical", "Prometheus failed to evaluate rules"),
]


@dataclass
class Traffic:
    """Generates Alertmanager webhook bodies; remembers batches to re-send or resolve."""

    seed: int = 1
    clusters: int = 8
    resend_share: float = 0.3
    resolve_share: float = 0.1
    rng: random.Random = field(init=False)
    sent: list[list[dict[str, Any]]] = field(default_factory=list)
    counter: int = 0
    shape: str = "mixed"

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def group(self, cluster: str) -> tuple[tuple[str, str, str], str]:
        """What one Alertmanager group shares: its alert rule, cluster and namespace."""
        return self.rng.choice(CATALOGUE), f"{cluster}/team-{self.rng.randrange(12)}"

    def alert(self, group: tuple[tuple[str, str, str], str]) -> dict[str, Any]:
        (name, severity, summary), scope = group
        cluster, ns = scope.split("/")
        self.counter += 1
        svc = f"svc-{self.rng.randrange(40)}"
        node = f"ip-10-0-{self.rng.randrange(64)}-{self.rng.randrange(255)}"
        pod = f"{svc}-{self.counter:x}"
        labels = {
            "alertname": name,
            "severity": severity,
            "cluster": cluster,
            "namespace": ns,
            "service": svc,
            "node": node,
            "pod": pod,
            "job": "kube-state-metrics",
        }
        text = summary.format(ns=ns, pod=pod, svc=svc, node=node)
        return {
            "status": "firing",
            "labels": labels,
            "annotations": {
                "summary": text,
                "description": f"{text}. See the runbook for the {name} alert.",
                "runbook_url": f"https://runbooks.example.com/{name.lower()}",
            },
            "startsAt": "2026-11-26T10:00:00Z",
            "endsAt": ZERO_TIME,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            "fingerprint": fingerprint(labels),
        }

    def batch(self) -> list[dict[str, Any]]:
        if self.shape == "incidents":
            return self.fresh(f"storm-{self.counter}", 100)
        if self.shape == "singles":
            return self.fresh(f"prod-{self.rng.randrange(self.clusters)}", 1)
        roll = self.rng.random()
        if self.sent and roll < self.resend_share:
            return self.rng.choice(self.sent)
        if self.sent and roll < self.resend_share + self.resolve_share:
            previous = self.sent.pop(self.rng.randrange(len(self.sent)))
            return [{**a, "status": "resolved", "endsAt": "2026-11-26T11:00:00Z"} for a in previous]
        alerts = self.fresh(f"prod-{self.rng.randrange(self.clusters)}")
        self.sent.append(alerts)
        if len(self.sent) > 500:
            self.sent.pop(0)
        return alerts

    def fresh(self, cluster: str, count: int | None = None) -> list[dict[str, Any]]:
        """A group of ``count`` new alerts (1 to 200 if not given): one webhook
        is one Alertmanager group, the same rule in one namespace."""
        group = self.group(cluster)
        return [self.alert(group) for _ in range(count or self.rng.randint(1, 200))]


SHAPES = ("mixed", "incidents", "singles")


def webhook(alerts: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": f'{{}}:{{cluster="{alerts[0]["labels"]["cluster"]}", batch="{seq}"}}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "corral",
        "groupLabels": {"cluster": alerts[0]["labels"]["cluster"]},
        "commonLabels": {"cluster": alerts[0]["labels"]["cluster"]},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }
