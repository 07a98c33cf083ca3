"""Corral's routing tree written as an Alertmanager configuration.

Alertmanager's ``GET /api/v2/status`` carries the running configuration
(``config.original``); ``amtool config routes test`` reads the route tree
from it and routes label sets as Alertmanager would. The tree, the time
intervals it names and the receivers (by name: their settings and secrets
stay out) are written so that Alertmanager's own loader accepts them, and
routes the way Corral's routing does.
"""

from __future__ import annotations

from typing import Any

import yaml

from services.notify.config import NotifySettings, Route
from shared.durations import format_duration

HEADER = (
    "# Corral's notify.route as Alertmanager configuration (GET /api/v2/status), for\n"
    "# amtool config routes test. Receivers are listed by name only.\n"
)


def _route(route: Route, root: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if route.receiver is not None:
        out["receiver"] = route.receiver
    # Alertmanager's root route matches everything and cannot have matchers.
    if route.matchers and not root:
        out["matchers"] = list(route.matchers)
    if route.continue_:
        out["continue"] = True
    for field in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(route, field)
        if value is not None:
            out[field] = format_duration(value)
    for field in ("mute_time_intervals", "active_time_intervals"):
        names = getattr(route, field)
        if names:
            out[field] = list(names)
    if route.routes:
        out["routes"] = [_route(child, False) for child in route.routes]
    return out


def alertmanager_yaml(settings: NotifySettings) -> str:
    config: dict[str, Any] = {
        "route": _route(settings.route, True),
        "receivers": [{"name": receiver.name} for receiver in settings.receivers],
    }
    if settings.time_intervals:
        config["time_intervals"] = [
            named.model_dump(exclude_none=True) for named in settings.time_intervals
        ]
    return HEADER + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
