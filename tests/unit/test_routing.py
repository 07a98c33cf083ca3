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


def test_group_wait_and_repeat_interval_are_inherited() -> None:
    settings = NotifySettings.model_validate(
        {
            "route": {
                "receiver": "default",
                "repeat_interval": "2h",
                "routes": [
                    {
                        "matchers": ['team="db"'],
                        "group_wait": "30s",
                        "routes": [{"matchers": ['priority="P1"'], "repeat_interval": "15m"}],
                    }
                ],
            },
            "receivers": [{"name": "default", "log_configs": [{}]}],
        }
    )
    root = RouteNode.build(settings.route)
    child = root.children[0]
    grandchild = child.children[0]
    assert (root.group_wait.total_seconds(), root.repeat_interval.total_seconds()) == (0, 7200)
    assert (child.group_wait.total_seconds(), child.repeat_interval.total_seconds()) == (30, 7200)
    assert (grandchild.group_wait.total_seconds(), grandchild.repeat_interval.total_seconds()) == (
        30,
        900,
    )
    assert grandchild.path == "route.routes[0].routes[0]"
