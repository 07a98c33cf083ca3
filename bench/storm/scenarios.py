"""Failures as an SRE sees them: a cause and its symptoms, with the alert
names, labels and texts of kube-prometheus, node-exporter and common
service mixins. Each scenario yields alert timelines tagged with the
incident they truly belong to (the ground truth).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FIRING = "firing"
RESOLVED = "resolved"

# The service map the storm's services follow (also given to triage).
TOPOLOGY = {
    "checkout": ["orders-api", "cart", "payments"],
    "orders-api": ["postgres-orders", "kafka"],
    "fulfillment": ["orders-api", "kafka"],
    "payments": ["postgres-payments"],
    "cart": ["redis-cart"],
}
SERVICE_NAMESPACE = {
    "checkout": "shop",
    "orders-api": "orders",
    "fulfillment": "fulfillment",
    "payments": "payments",
    "cart": "cart",
    "postgres-orders": "db",
    "postgres-payments": "db",
    "redis-cart": "cache",
    "kafka": "kafka",
}


# Namespaces whose pods a failed node takes down; apart from the namespaces
# other scenarios use, so that the truth is unambiguous.
NODE_WORKLOADS = ["web", "search", "ads", "recommendations", "identity"]
TEAM_NAMESPACES = [
    "billing",
    "inventory",
    "notifications",
    "reporting",
    "analytics",
    "batch",
    "logging",
    "ml-training",
    "geo",
    "media",
    "email",
    "loyalty",
    "pricing",
    "catalog",
    "reviews",
]


@dataclass
class Timeline:
    """One alert: its labels, texts, true incident and status changes (sim seconds)."""

    labels: dict[str, str]
    annotations: dict[str, str]
    truth: str
    changes: list[tuple[float, str]] = field(default_factory=list)

    def fire(self, at: float, until: float | None = None) -> Timeline:
        self.changes.append((at, FIRING))
        if until is not None:
            self.changes.append((max(until, at + 1), RESOLVED))
        return self


@dataclass
class Cluster:
    name: str
    rng: random.Random
    nodes: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    def take_node(self) -> str:
        return self.nodes.pop(self.rng.randrange(len(self.nodes)))

    def take_namespace(self) -> str:
        return self.namespaces.pop(self.rng.randrange(len(self.namespaces)))


def _alert(
    cluster: Cluster, truth: str, name: str, severity: str, labels: dict[str, str], **text: str
) -> Timeline:
    return Timeline(
        {"alertname": name, "cluster": cluster.name, "severity": severity, **labels},
        {k: v for k, v in text.items() if v},
        truth,
    )


def _pod(rng: random.Random, deployment: str) -> str:
    suffix = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    return f"{deployment}-{rng.randrange(16**9):09x}"[: len(deployment) + 10] + f"-{suffix}"


def node_failure(cluster: Cluster, start: float, cause_late: bool = False) -> list[Timeline]:
    """A node stops reporting: the node, its exporters and every pod on it alert.

    ``cause_late``: the node's own alerts fire minutes after its pods' (the
    node alerts wait out a longer ``for:``), so the symptoms come first."""
    rng, node = cluster.rng, cluster.take_node()
    truth = f"{cluster.name}/node-failure/{node}"
    back = start + rng.uniform(600, 900)
    ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    not_ready, unreachable = ((150, 300), (120, 300)) if cause_late else ((0, 60), (0, 90))
    out = [
        _alert(
            cluster,
            truth,
            "KubeNodeNotReady",
            "warning",
            {"node": node, "condition": "Ready"},
            summary="Node is not ready.",
            description=f"{node} has been unready for more than 15 minutes.",
            runbook_url="https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubenodenotready",
        ).fire(start + rng.uniform(*not_ready), back + rng.uniform(0, 60)),
        _alert(
            cluster,
            truth,
            "KubeNodeUnreachable",
            "warning",
            {"node": node},
            summary="Node is unreachable.",
            description=f"{node} is unreachable and some workloads may be rescheduled.",
        ).fire(start + rng.uniform(*unreachable), back + rng.uniform(0, 60)),
    ]
    for job, port in (("node-exporter", 9100), ("kubelet", 10250)):
        out.append(
            _alert(
                cluster,
                truth,
                "TargetDown",
                "warning",
                {"job": job, "namespace": "monitoring", "instance": f"{ip}:{port}", "node": node},
                summary="One or more targets are unreachable.",
                description=f"100% of the {job}/{job} targets in monitoring namespace are down.",
            ).fire(start + rng.uniform(0, 120), back + rng.uniform(0, 90))
        )
    for _ in range(rng.randint(25, 45)):
        namespace = rng.choice(NODE_WORKLOADS)
        pod = _pod(rng, rng.choice(["api", "worker", "web", "indexer", "consumer"]))
        out.append(
            _alert(
                cluster,
                truth,
                "KubePodNotReady",
                "warning",
                {"namespace": namespace, "pod": pod, "node": node},
                summary="Pod has been in a non-ready state for more than 15 minutes.",
                description=f"Pod {namespace}/{pod} has been in a non-ready state for longer "
                "than 15 minutes on cluster " + cluster.name + ".",
            ).fire(start + rng.uniform(20, 300), back + rng.uniform(30, 150))
        )
    return out


def bad_rollout(cluster: Cluster, start: float, namespace: str | None = None) -> list[Timeline]:
    """A release crash-loops: every replica, then the deployment, alert."""
    rng = cluster.rng
    namespace = namespace or cluster.take_namespace()
    deployment = f"{namespace}-api"
    truth = f"{cluster.name}/bad-rollout/{namespace}"
    rollback = start + rng.uniform(600, 1000)
    out = []
    for _ in range(rng.randint(12, 24)):
        pod = _pod(rng, deployment)
        out.append(
            _alert(
                cluster,
                truth,
                "KubePodCrashLooping",
                "warning",
                {"namespace": namespace, "pod": pod, "container": "app"},
                summary="Pod is crash looping.",
                description=f"Pod {namespace}/{pod} (app) is in waiting state "
                '(reason: "CrashLoopBackOff").',
            ).fire(start + rng.uniform(0, 150), rollback + rng.uniform(0, 90))
        )
    for name, delay, text in (
        (
            "KubeDeploymentReplicasMismatch",
            rng.uniform(60, 200),
            f"Deployment {namespace}/{deployment} has not matched the expected number of "
            "replicas for longer than 15 minutes.",
        ),
        (
            "KubeDeploymentRolloutStuck",
            rng.uniform(120, 300),
            f"Rollout of deployment {namespace}/{deployment} is not progressing for longer "
            "than 15 minutes.",
        ),
    ):
        out.append(
            _alert(
                cluster,
                truth,
                name,
                "warning",
                {"namespace": namespace, "deployment": deployment},
                summary=text.split(" has")[0].split(" is")[0],
                description=text,
            ).fire(start + delay, rollback + rng.uniform(30, 120))
        )
    return out


def database_outage(
    cluster: Cluster, start: float, database: str, cause_late: bool = False
) -> list[Timeline]:
    """A database goes down: the services above it fail in turn.

    ``cause_late``: the database's own alert fires after its clients' errors
    (its exporter only notices after a few failed scrapes)."""
    rng = cluster.rng
    truth = f"{cluster.name}/outage/{database}"
    back = start + rng.uniform(500, 800)
    down = start + rng.uniform(60, 200) if cause_late else start
    out = [
        _alert(
            cluster,
            truth,
            "PostgresqlDown",
            "critical",
            {"namespace": "db", "service": database, "instance": f"{database}-0:9187"},
            summary="Postgresql down (instance " + database + "-0:9187)",
            description="Postgresql instance is down.",
        ).fire(down, back)
    ]
    affected = [s for s in TOPOLOGY if database in _below(s)]
    for service in affected:
        namespace = SERVICE_NAMESPACE[service]
        for name, severity, text in (
            ("HTTPErrorRateHigh", "critical", f"{service}: more than 5% of requests fail"),
            ("HTTPLatencyHigh", "warning", f"{service}: p99 latency above 2s"),
        ):
            out.append(
                _alert(
                    cluster,
                    truth,
                    name,
                    severity,
                    {"namespace": namespace, "service": service},
                    summary=text,
                    description=f"{text} for the last 5 minutes.",
                ).fire(start + rng.uniform(20, 180), back + rng.uniform(20, 120))
            )
    return out


def _below(service: str) -> set[str]:
    found: set[str] = set()
    for dep in TOPOLOGY.get(service, []):
        found |= {dep} | _below(dep)
    return found


def disk_filling(cluster: Cluster, start: float) -> list[Timeline]:
    """A log volume fills; cleaned up, it may fill again soon after (a reopen)."""
    rng, node = cluster.rng, cluster.take_node()
    truth = f"{cluster.name}/disk/{node}"
    cleanup = start + rng.uniform(400, 700)
    labels = {
        "node": node,
        "instance": f"{node}:9100",
        "device": "/dev/nvme1n1",
        "mountpoint": "/var/log",
        "fstype": "ext4",
    }
    out = [
        _alert(
            cluster,
            truth,
            "NodeFilesystemSpaceFillingUp",
            "warning",
            labels,
            summary="Filesystem is predicted to run out of space within the next 24 hours.",
            description=f"Filesystem on /dev/nvme1n1, mounted on /var/log, at {node}:9100 has "
            "only 14.2% available space left and is filling up.",
        ).fire(start, cleanup),
        _alert(
            cluster,
            truth,
            "NodeFilesystemAlmostOutOfSpace",
            "critical",
            labels,
            summary="Filesystem has less than 3% space left.",
            description=f"Filesystem on /dev/nvme1n1, mounted on /var/log, at {node}:9100 has "
            "only 2.1% available space left.",
        ).fire(start + rng.uniform(120, 300), cleanup + rng.uniform(0, 30)),
    ]
    if rng.random() < 0.7:
        # It fills again a few minutes after the cleanup: the same incident, reopened.
        again = cleanup + rng.uniform(180, 360)
        out[0].fire(again, again + rng.uniform(200, 400))
    return out


def flapping_probe(cluster: Cluster, start: float) -> list[Timeline]:
    """A blackbox probe over a lossy link: fails and recovers every minute or so."""
    rng = cluster.rng
    url = rng.choice(["https://status.example.com", "https://api.example.com/healthz"])
    alert = _alert(
        cluster,
        f"{cluster.name}/flapping/{url}",
        "BlackboxProbeFailed",
        "critical",
        {"job": "blackbox", "instance": url, "module": "http_2xx"},
        summary=f"Blackbox probe failed (instance {url})",
        description="Probe failed",
    )
    at = start
    for _ in range(rng.randint(8, 12)):
        alert.fire(at, at + rng.uniform(40, 80))
        at = alert.changes[-1][0] + rng.uniform(40, 80)
    return [alert]


NOISE = [
    ("CPUThrottlingHigh", "info", "pod", "{pod} is throttled on CPU for 27% of the time."),
    ("KubeJobFailed", "warning", "job_name", "Job {value} failed to complete."),
    (
        "KubePersistentVolumeFillingUp",
        "warning",
        "persistentvolumeclaim",
        "The PersistentVolume claimed by {value} is only 9.8% free.",
    ),
    (
        "KubeHpaMaxedOut",
        "warning",
        "horizontalpodautoscaler",
        "HPA {value} has been running at max replicas for longer than 15 minutes.",
    ),
    (
        "KubeStatefulSetReplicasMismatch",
        "warning",
        "statefulset",
        "StatefulSet {value} has not matched the expected number of replicas for 15 minutes.",
    ),
    ("KubeContainerWaiting", "warning", "pod", "Pod {value} container has been waiting for 1h."),
]


def noise(
    cluster: Cluster, start: float, namespace: str | None = None, until: float | None = None
) -> list[Timeline]:
    """Something unrelated, alone in its namespace, or (``namespace`` given) in
    one where other failures alert too; ``until``: when it resolves at the latest."""
    rng = cluster.rng
    namespace = namespace or cluster.take_namespace()
    name, severity, label, text = rng.choice(NOISE)
    value = f"{namespace}-{rng.choice(['main', 'data', 'reports', 'sync'])}-0"
    alert = _alert(
        cluster,
        f"{cluster.name}/noise/{namespace}/{name}",
        name,
        severity,
        {"namespace": namespace, label: value},
        summary=name,
        description=text.format(value=value, pod=value),
    )
    end = start + rng.uniform(300, 900) if rng.random() < 0.6 else None
    if until is not None:
        end = until if end is None else min(end, until)
    return [alert.fire(start, end)]


def network_errors(cluster: Cluster, start: float, node: str) -> list[Timeline]:
    """A flaky NIC: receive and transmit errors on one node's interface."""
    rng = cluster.rng
    truth = f"{cluster.name}/network/{node}"
    fixed = start + rng.uniform(400, 900)
    labels = {"node": node, "instance": f"{node}:9100", "device": "eth0"}
    return [
        _alert(
            cluster,
            truth,
            name,
            "warning",
            labels,
            summary=f"Network interface is reporting many {kind} errors.",
            description=f"{node}:9100 interface eth0 has encountered {kind} errors "
            "in the last two minutes.",
        ).fire(start + rng.uniform(*delay), fixed + rng.uniform(0, 60))
        for name, kind, delay in (
            ("NodeNetworkReceiveErrs", "receive", (0, 30)),
            ("NodeNetworkTransmitErrs", "transmit", (30, 240)),
        )
    ]


def node_noise(cluster: Cluster, start: float, node: str) -> list[Timeline]:
    """Something unrelated on a node: its clock drifts."""
    rng = cluster.rng
    alert = _alert(
        cluster,
        f"{cluster.name}/noise/{node}/clock",
        "NodeClockNotSynchronising",
        "warning",
        {"node": node, "instance": f"{node}:9100"},
        summary="Clock not synchronising.",
        description=f"Clock at {node}:9100 is not synchronising. Ensure NTP is configured.",
    )
    return [alert.fire(start, start + rng.uniform(600, 1200))]


def unrelated_errors(cluster: Cluster, start: float) -> list[Timeline]:
    """A service no database outage touches has a slow spell of its own."""
    rng = cluster.rng
    service = rng.choice(["search-api", "ads-api", "identity-api"])
    namespace = service.removesuffix("-api")
    text = f"{service}: p99 latency above 2s"
    alert = _alert(
        cluster,
        f"{cluster.name}/noise/{service}/latency",
        "HTTPLatencyHigh",
        "warning",
        {"namespace": namespace, "service": service},
        summary=text,
        description=f"{text} for the last 5 minutes.",
    )
    return [alert.fire(start, start + rng.uniform(300, 600))]
