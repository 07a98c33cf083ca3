"""What changed since a receiver's last notification, as the webhook body and texts say it."""

from __future__ import annotations

import json

from services.notify.changes import Shown, changes
from services.notify.payload import body_fields, incident_body
from shared.messages import IncidentAlert
from tests.integration.notify_fakes import incident


def pod(i: int, status: str = "firing", namespace: str | None = None) -> IncidentAlert:
    return IncidentAlert(
        fingerprint=f"pod-{i}",
        status=status,
        labels={
            "alertname": "KubePodNotReady",
            "namespace": namespace or f"team-{i % 4}",
            "pod": f"web-{i}",
            "cluster": "prod",
        },
        annotations={},
    )


def node(status: str = "firing") -> IncidentAlert:
    return IncidentAlert(
        fingerprint="node-7",
        status=status,
        labels={"alertname": "KubeNodeNotReady", "node": "worker-7", "cluster": "prod"},
        annotations={},
    )


def test_the_first_notification_has_no_changes() -> None:
    assert changes(None, incident(1)) is None


def test_alerts_joined_merged_incidents_and_a_raise_in_one_line() -> None:
    before = incident(1, alerts=[node()], priority="P3")
    after = incident(
        4, alerts=[node(), *(pod(i) for i in range(12))], priority="P1", merged=["a", "b"]
    )
    found = changes(Shown.of(before), after)
    assert found is not None
    assert found.summary == (
        "+12 alerts: KubePodNotReady in 4 namespaces; merged 2 incidents; now P1 (was P3)"
    )
    body = found.body()
    assert body["version"] == "1" and body["since_revision"] == 1
    assert body["firing"] == [
        {
            "alertname": "KubePodNotReady",
            "count": 12,
            "label": "namespace",
            "distinct": 4,
            "values": ["team-0", "team-1", "team-2", "team-3"],
        }
    ]
    assert body["merged"] == ["a", "b"]
    assert body["priority"] == {"from": "P3", "to": "P1"}


def test_only_what_is_new_since_the_last_notification_counts() -> None:
    told = incident(3, alerts=[node(), pod(1)], merged=["a"])
    now = incident(
        5, alerts=[node(), pod(1, "resolved"), pod(2, namespace="shop")], merged=["a", "b"]
    )
    found = changes(Shown.of(told), now)
    assert found is not None
    assert found.summary == (
        "+1 alert: KubePodNotReady (namespace shop); 1 alert resolved: "
        "KubePodNotReady (namespace team-1); merged 1 incident"
    )


def test_several_names_and_the_end_of_an_incident() -> None:
    told = incident(2, alerts=[node(), pod(1)])
    gone = incident(6, "resolved", alerts=[node("resolved"), pod(1, "resolved")])
    found = changes(Shown.of(told), gone)
    assert found is not None
    assert found.summary == (
        "2 alerts resolved: 1 KubeNodeNotReady (node worker-7), "
        "1 KubePodNotReady (namespace team-1); resolved"
    )
    merged = incident(3, "resolved", alerts=[node()], merged_into="inc-9")
    into = changes(Shown.of(told), merged)
    assert into is not None and into.summary.startswith("merged into inc-9")


def test_the_webhook_body_carries_the_changes() -> None:
    told = incident(1, alerts=[node()])
    now = incident(2, alerts=[node(), pod(1)])
    body = json.loads(incident_body(now, "team", changes=changes(Shown.of(told), now)))
    assert body["changes"]["summary"] == "+1 alert: KubePodNotReady (namespace team-1)"
    assert body["notification"] == "trigger" and body["revision"] == 2


def test_what_a_receiver_was_shown_is_the_validated_model() -> None:
    shown = incident(alerts=[pod(1), pod(2, "resolved"), node()], merged=["inc-0"])
    validated = Shown.model_validate(
        {
            "revision": shown.revision,
            "status": "firing",
            "priority": shown.priority,
            "severity": shown.severity,
            "flapping": False,
            "alerts": {"pod-1": "firing", "pod-2": "resolved", "node-7": "firing"},
            "truncated": 0,
            "merged": ["inc-0"],
        }
    )
    made = Shown.of(shown)
    assert made == validated
    assert made.model_dump_json() == validated.model_dump_json()
    assert Shown.model_validate_json(made.model_dump_json()) == made


def test_webhooks_sharing_a_revision_get_the_body_each_would_get_alone() -> None:
    fields = body_fields()
    revision = incident(alerts=[pod(1), node()])
    for receiver in ("team", "audit", "team"):
        shared = incident_body(revision, receiver, repeat=receiver == "audit", fields=fields)
        assert shared == incident_body(revision, receiver, repeat=receiver == "audit")
