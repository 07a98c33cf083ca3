"""Correlation policies: scope grouping, cause → symptom, topology, and the boundary."""

from __future__ import annotations

from typing import Any

from tests.triage import Triage, alert

NODE_RULE = {
    "name": "node down",
    "source_matchers": ['alertname="KubeNodeNotReady"'],
    "target_matchers": ['alertname=~"KubePodNotReady|TargetDown|KubeletDown"'],
    "equal": ["node"],
}
TOPOLOGY = {"depends_on": {"checkout": ["payments", "cart"], "payments": ["postgres"]}}


def node_down(node: str = "worker-7") -> dict[str, str]:
    return {"alertname": "KubeNodeNotReady", "node": node, "severity": "critical"}


def pod(name: str, namespace: str, node: str = "worker-7") -> dict[str, str]:
    return {"alertname": "KubePodNotReady", "namespace": namespace, "pod": name, "node": node}


def errors(service: str, name: str = "HTTPErrorRateHigh") -> dict[str, str]:
    return {"alertname": name, "service": service, "namespace": f"{service}-ns"}


def names(triage: Triage) -> list[list[str]]:
    """Each live incident as the sorted identifying labels of its alerts."""

    def name(labels: dict[str, str]) -> str:
        return labels.get("pod") or labels.get("service") or labels["alertname"]

    return sorted(
        sorted(name(a.labels) for a in i.alerts)
        for i in triage.latest().values()
        if i.merged_into is None
    )


async def test_scope_groups_across_alert_names_within_the_window() -> None:
    triage = Triage(scopes=[["namespace"], ["node"]], group_window="5m")
    await triage.send(
        alert({"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-1"}),
        alert({"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop"}, at=60),
        alert({"alertname": "KubePodCrashLooping", "namespace": "auth", "pod": "auth-1"}, at=70),
        # Six minutes after the shop incident last changed: a new problem.
        alert({"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-2"}, at=420),
    )
    assert names(triage) == [["KubeDeploymentReplicasMismatch", "api-1"], ["api-2"], ["auth-1"]]
    shop = next(i for i in triage.latest().values() if len(i.alerts) == 2)
    assert shop.correlation_key == "namespace=shop"
    assert any("joined: same namespace=shop within 5m" in line for line in shop.explanation)


async def test_first_scope_an_alert_carries_in_full_decides() -> None:
    triage = Triage(scopes=[["namespace", "service"], ["node"]])
    await triage.send(
        alert({"alertname": "A", "namespace": "shop", "node": "n1"}),  # no service: [node]
        alert({"alertname": "B", "node": "n1"}, at=1),
        alert({"alertname": "C", "namespace": "shop", "service": "cart", "node": "n1"}, at=2),
    )
    assert names(triage) == [["A", "B"], ["cart"]]


async def test_symptom_joins_the_incident_of_its_cause() -> None:
    triage = Triage(causes={"rules": [NODE_RULE]})
    [opened] = await triage.send(alert(node_down()))
    [joined] = await triage.send(alert(pod("api-1", "shop"), at=30))
    [other] = await triage.send(alert(pod("db-1", "data", node="worker-3"), at=40))
    assert joined.id == opened.id and other.id != opened.id
    assert joined.root_cause == opened.alerts[0].fingerprint
    assert joined.title.startswith("KubeNodeNotReady")
    assert any(
        'symptom of KubeNodeNotReady{node="worker-7"}' in line and "node down" in line
        for line in joined.explanation
    )


async def test_cause_arriving_after_its_symptoms_gathers_them() -> None:
    triage = Triage(causes={"rules": [NODE_RULE]}, scopes=[["namespace"]])
    await triage.send(
        alert({"alertname": "KubeJobFailed", "namespace": "auth", "job_name": "sync"}),
        alert(pod("auth-1", "auth"), at=2),  # no symptom waits yet: joins by scope
        alert(pod("api-1", "shop"), at=5),  # waits for its cause in an incident of its own
        alert(pod("api-2", "shop"), at=7),
        alert(pod("web-1", "web"), at=10),  # same node, another namespace: waits with them
        alert(pod("db-1", "data", node="worker-3"), at=15),  # another node: waits apart
    )
    assert names(triage) == [["KubeJobFailed", "auth-1"], ["api-1", "api-2", "web-1"], ["db-1"]]
    by_key = {i.correlation_key: i.id for i in triage.latest().values()}
    shop, auth = by_key["namespace=shop"], by_key["namespace=auth"]
    waits = triage.latest()[shop].explanation
    assert any("web-1" in line and "waits for the same cause" in line for line in waits)
    await triage.send(alert(node_down(), at=60))
    [root] = [r for r in triage.latest().values() if not r.merged_into and r.root_cause]
    # The waiting incident holds only its symptoms: the cause joins it. From the
    # auth incident it takes its symptom alone: the failed job stays.
    assert root.id == shop
    assert names(triage) == [
        ["KubeJobFailed"],
        ["KubeNodeNotReady", "api-1", "api-2", "auth-1", "web-1"],
        ["db-1"],
    ]
    left = triage.latest()[auth]
    assert left.status == "firing" and left.merged_into is None
    assert any(f"1 alert moved to incident {shop}" in line for line in left.explanation)
    assert any(f"took 1 alert from incident {auth}" in line for line in root.explanation)
    [cause] = [a for a in root.alerts if a.labels["alertname"] == "KubeNodeNotReady"]
    assert root.title.startswith("KubeNodeNotReady") and root.root_cause == cause.fingerprint


async def test_cause_merges_the_incidents_of_its_symptoms() -> None:
    triage = Triage(causes={"rules": [NODE_RULE]}, scopes=[["namespace"]], group_window="1m")
    await triage.send(alert(pod("api-1", "shop")), alert(pod("auth-1", "auth"), at=90))
    assert len(triage.latest()) == 2  # too far apart to wait together
    await triage.send(alert(node_down(), at=120))
    merged = [r for r in triage.latest().values() if r.merged_into]
    [root] = [r for r in triage.latest().values() if not r.merged_into]
    assert len(merged) == 1 and merged[0].merged_into == root.id and merged[0].status == "resolved"
    assert root.merged == [merged[0].id]  # what notify tells receivers: "merged 1 incident"
    assert names(triage) == [["KubeNodeNotReady", "api-1", "auth-1"]]
    # Gathered, the symptoms no longer pull their namespaces in.
    await triage.send(alert({"alertname": "KubeJobFailed", "namespace": "shop"}, at=150))
    assert names(triage) == [["KubeJobFailed"], ["KubeNodeNotReady", "api-1", "auth-1"]]


async def test_topology_joins_dependencies_and_names_the_deepest_as_root() -> None:
    triage = Triage(topology=TOPOLOGY, scopes=[["alertname"]])
    await triage.send(
        alert(errors("checkout")),
        alert(errors("payments", "HTTPLatencyHigh"), at=20),
        alert({"alertname": "PostgresqlDown", "service": "postgres"}, at=40),
        alert(errors("search", "HTTPLatencyHigh"), at=50),  # not on the map: its own scope
    )
    assert names(triage) == [["checkout", "payments", "postgres"], ["search"]]
    incident = next(i for i in triage.latest().values() if len(i.alerts) == 3)
    postgres = next(a for a in incident.alerts if a.labels["service"] == "postgres")
    assert incident.root_cause == postgres.fingerprint
    assert any("payments depends on postgres" in line for line in incident.explanation)
    assert any(
        "probable root: PostgresqlDown" in line and "checkout, payments" in line
        for line in incident.explanation
    )


async def test_topology_leaves_unrelated_services_apart() -> None:
    triage = Triage(topology=TOPOLOGY)
    await triage.send(alert(errors("cart")), alert(errors("payments"), at=10))
    # cart and payments share a dependent (checkout) but neither depends on the other.
    assert names(triage) == [["cart"], ["payments"]]


async def test_correlation_never_crosses_the_alert_key() -> None:
    settings: dict[str, Any] = {"causes": {"rules": [NODE_RULE]}, "scopes": [["node"]]}
    triage = Triage(**settings)
    await triage.send(alert(node_down()))
    triage.boundary = "other-cluster"
    await triage.send(alert(pod("api-1", "shop"), at=10))
    assert len(triage.latest()) == 2
