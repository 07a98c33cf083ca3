"""The routing tree follows Alertmanager's rules: first match, continue, inheritance."""

from datetime import UTC, datetime

from services.notify.config import NotifySettings
from services.notify.routing import RouteNode, receivers_for
from shared.messages import Incident

SETTINGS = NotifySettings.model_validate(
    {
        "route": {
            "receiver": "default",
            "routes": [
                {"matchers": ['priority="P1"'], "receiver": "pager", "continue": True},
                {
                    "matchers": ['team="db"'],
                    "receiver": "db",
                    "routes": [{"matchers": ['severity="info"'], "receiver": "db-low"}],
                },
                {"matchers": ['team=~"db|web"'], "receiver": "web"},
                {"matchers": ['cluster="staging"']},
            ],
        },
        "receivers": [
            {"name": n, "log_configs": [{}]} for n in ("default", "pager", "db", "db-low", "web")
        ],
    }
)
ROOT = RouteNode.build(SETTINGS.route)


def incident(priority: str = "P3", severity: str = "warning", **labels: str) -> Incident:
    now = datetime.now(UTC)
    return Incident(
        id="i",
        revision=1,
        event="opened",
        status="firing",
        correlation_key="k",
        title="t",
        labels=labels,
        alerts=[],
        severity=severity,
        priority=priority,
        opened_at=now,
        updated_at=now,
    )


def test_first_matching_route_wins() -> None:
    assert receivers_for(ROOT, incident(team="db")) == ["db"]


def test_continue_goes_on_to_siblings() -> None:
    assert receivers_for(ROOT, incident("P1", team="db")) == ["pager", "db"]


def test_nested_routes_and_fallback_to_parent() -> None:
    assert receivers_for(ROOT, incident(severity="info", team="db")) == ["db-low"]
    assert receivers_for(ROOT, incident(team="web")) == ["web"]
    assert receivers_for(ROOT, incident(team="mobile")) == ["default"]


def test_child_without_receiver_inherits_parent() -> None:
    assert receivers_for(ROOT, incident(cluster="staging")) == ["default"]
