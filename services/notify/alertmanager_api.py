"""Alertmanager's API v2, where its clients use it: amtool and Grafana's
Alertmanager data source talk to a notify worker as to an Alertmanager.

* ``/api/v2/silences``, ``/api/v2/silence/{id}``: Corral's silences (the same
  store and limits as ``/api/v1/silences``), in Alertmanager's shapes, sorted
  and filtered as Alertmanager does; errors are Alertmanager's ``400`` with a
  JSON string.
* ``/api/v2/alerts``: the alerts of every incident firing now, with the
  receivers Corral routes them to, the silences that cover them, the cause an
  alert is a symptom of as ``inhibitedBy`` (Corral's answer to inhibition) and
  the time intervals muting their routes as ``mutedBy``.
* ``/api/v2/alerts/groups``: each firing incident as a group, once per receiver.
* ``/api/v2/status``: the route tree as Alertmanager configuration
  (``config.original``), which ``amtool config routes test`` routes with.
* ``/api/v2/receivers``.

Reads need the ``metrics`` role (what Grafana's data source holds), writes
the ``admin`` role, once authentication is on.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.notify.alertmanager_payload import ZERO_TIME
from services.notify.api import Refusal, SilenceApi, silence_json
from services.notify.current import CurrentIncidents
from services.notify.routing import RouteNode, routes_for, routing_labels
from services.notify.silences import SilenceStore
from shared.matchers import Matcher, MatchType, parse_matcher
from shared.messages import Incident, IncidentAlert, Silence, SilenceState
from shared.regex import Pattern
from shared.web.config import Role
from shared.web.guard import ReadWrite
from shared.web.openapi import Operation

PREFIX = "/api/v2"
READ = ReadWrite(Role.METRICS, Role.ADMIN)
ACCESS = {
    f"{PREFIX}/status": READ,
    f"{PREFIX}/receivers": READ,
    f"{PREFIX}/silences": READ,
    f"{PREFIX}/silence/{{silenceID}}": READ,
    f"{PREFIX}/alerts": READ,
    f"{PREFIX}/alerts/groups": READ,
}
VERSION = "0.1.0"


class BadRequest(Exception):
    """Alertmanager's 400: the body is the message as a JSON string."""


def bad_request(message: str, status: int = 400) -> web.Response:
    return web.json_response(message, status=status)


def _refused(refusal: Refusal) -> web.Response:
    # Alertmanager answers an invalid silence with 400; its clients expect that.
    return bad_request(refusal.message, 400 if refusal.status == 422 else refusal.status)


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "true").lower()
    if value not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name}: expected true or false, got {value!r}")
    return value in ("true", "1")


def _filters(request: web.Request) -> list[Matcher]:
    try:
        return [parse_matcher(text) for text in request.query.getall("filter", [])]
    except ValueError as exc:
        raise BadRequest(f"filter: {exc}") from None


def matches_filter(matchers: Iterable[Matcher], labels: dict[str, str]) -> bool:
    """Alertmanager's filter rule: a matcher on an empty value is about presence."""
    for matcher in matchers:
        present = matcher.name in labels
        if matcher.value == "" and (
            present if matcher.type in (MatchType.NOT_EQUAL, MatchType.NOT_REGEX) else not present
        ):
            continue
        if not matcher.matches(labels.get(matcher.name, "")):
            return False
    return True


def _time(value: datetime | None) -> str:
    return ZERO_TIME if value is None else value.isoformat()


def _silence_order(silence: Silence, now: datetime) -> tuple[int, float]:
    """Active first (ending soonest first), then pending (starting soonest),
    then expired (most recently ended first), as Alertmanager lists them."""
    state = silence.state(now)
    if state == SilenceState.ACTIVE:
        return (0, silence.ends_at.timestamp())
    if state == SilenceState.PENDING:
        return (1, silence.starts_at.timestamp())
    return (2, -silence.ends_at.timestamp())


@dataclass(frozen=True)
class AlertStatus:
    silenced_by: list[str]
    inhibited_by: list[str]
    muted_by: list[str]

    @property
    def state(self) -> str:
        return "suppressed" if self.silenced_by or self.inhibited_by or self.muted_by else "active"

    def json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "silencedBy": self.silenced_by,
            "inhibitedBy": self.inhibited_by,
            "mutedBy": self.muted_by,
        }


@dataclass(frozen=True)
class Query:
    active: bool
    silenced: bool
    inhibited: bool
    filters: list[Matcher]
    receiver: Pattern | None

    @classmethod
    def of(cls, request: web.Request) -> Query:
        receiver = request.query.get("receiver")
        try:
            pattern = Pattern(receiver) if receiver else None
        except ValueError as exc:
            raise BadRequest(f"receiver: {exc}") from None
        return cls(
            _flag(request, "active"),
            _flag(request, "silenced"),
            _flag(request, "inhibited"),
            _filters(request),
            pattern,
        )

    def shows(self, alert: IncidentAlert, status: AlertStatus) -> bool:
        if not self.active and status.state == "active":
            return False
        if not self.silenced and status.silenced_by:
            return False
        if not self.inhibited and status.inhibited_by:
            return False
        return matches_filter(self.filters, alert.labels)


class AlertmanagerApi:
    def __init__(
        self,
        silences: SilenceApi,
        store: SilenceStore,
        incidents: CurrentIncidents,
        routes: RouteNode,
        receivers: list[str],
        config_yaml: str,
        muted_by: Callable[[RouteNode, datetime], list[str]] | None = None,
    ):
        self.silences = silences
        self.store = store
        self.incidents = incidents
        self.tree = routes
        self.receivers = receivers
        self.config_yaml = config_yaml
        self.muted_by = muted_by or (lambda _route, _now: [])
        self.started = datetime.now(UTC)
        self.loaded: Callable[[], bool] = lambda: True
        """Whether the incidents are read up to now (the alerts answer 503 before)."""

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/status", self.status),
            web.get(f"{PREFIX}/receivers", self.list_receivers),
            web.get(f"{PREFIX}/silences", self.list_silences),
            web.post(f"{PREFIX}/silences", self.post_silence),
            web.get(f"{PREFIX}/silence/{{silenceID}}", self.get_silence),
            web.delete(f"{PREFIX}/silence/{{silenceID}}", self.delete_silence),
            web.get(f"{PREFIX}/alerts", self.alerts),
            web.get(f"{PREFIX}/alerts/groups", self.groups),
        ]

    def operations(self) -> list[Operation]:
        """For Corral's own API document (clients and the fuzzer read it);
        Alertmanager's OpenAPI document describes the same operations."""
        filters = {
            "name": "filter",
            "in": "query",
            "required": False,
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form",
            "explode": True,
        }
        flags = [
            {"name": name, "in": "query", "required": False, "schema": {"type": "boolean"}}
            for name in ("active", "silenced", "inhibited")
        ]
        receiver = {
            "name": "receiver",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
        }
        silence_id = [
            {"name": "silenceID", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
        reads = ("400", "401", "403")
        return [
            Operation(
                "GET",
                f"{PREFIX}/status",
                "Alertmanager's status, with the route tree as its configuration.",
                "metrics",
                errors=("401", "403"),
            ),
            Operation(
                "GET", f"{PREFIX}/receivers", "Receivers by name.", "metrics", errors=("401", "403")
            ),
            Operation(
                "GET",
                f"{PREFIX}/silences",
                "Silences, Alertmanager's order.",
                "metrics",
                parameters=[filters],
                errors=reads,
            ),
            Operation(
                "POST",
                f"{PREFIX}/silences",
                "Create or change a silence.",
                "admin",
                self.silences.body,
                {"200": "Stored; applies on every notify worker.", "404": "No such id."},
                errors=("400", "401", "403", "413", "415"),
            ),
            Operation(
                "GET",
                f"{PREFIX}/silence/{{silenceID}}",
                "One silence.",
                "metrics",
                ok={"200": "The silence.", "404": "No such id."},
                parameters=silence_id,
                errors=("401", "403"),
            ),
            Operation(
                "DELETE",
                f"{PREFIX}/silence/{{silenceID}}",
                "Expire a silence now.",
                "admin",
                ok={"200": "Expired.", "404": "No such id."},
                parameters=silence_id,
                errors=("400", "401", "403"),
            ),
            Operation(
                "GET",
                f"{PREFIX}/alerts",
                "Alerts of the incidents firing now.",
                "metrics",
                ok={"200": "The alerts.", "503": "Still loading."},
                parameters=[*flags, filters, receiver],
                errors=reads,
            ),
            Operation(
                "GET",
                f"{PREFIX}/alerts/groups",
                "Firing incidents as groups.",
                "metrics",
                ok={"200": "The groups.", "503": "Still loading."},
                parameters=[*flags, filters, receiver],
                errors=reads,
            ),
        ]

    # -- status and receivers --------------------------------------------------

    async def status(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "cluster": {"name": "corral", "status": "disabled", "peers": []},
                "versionInfo": {
                    "version": VERSION,
                    "revision": "",
                    "branch": "",
                    "buildUser": "corral",
                    "buildDate": "",
                    "goVersion": f"python{platform.python_version()}",
                },
                "config": {"original": self.config_yaml},
                "uptime": self.started.isoformat(),
            }
        )

    async def list_receivers(self, _: web.Request) -> web.Response:
        return web.json_response([{"name": name} for name in self.receivers])

    # -- silences ---------------------------------------------------------------

    async def list_silences(self, request: web.Request) -> web.Response:
        try:
            filters = _filters(request)
        except BadRequest as exc:
            return bad_request(str(exc))
        now = datetime.now(UTC)
        chosen = [
            s
            for s in self.store.all()
            if matches_filter(filters, {m.name: m.value for m in s.parsed_matchers()})
        ]
        chosen.sort(key=lambda s: _silence_order(s, now))
        return web.json_response([silence_json(s, now) for s in chosen])

    async def post_silence(self, request: web.Request) -> web.Response:
        done = await self.silences.add(await request.read())
        if isinstance(done, Refusal):
            return _refused(done)
        return web.json_response({"silenceID": done})

    async def get_silence(self, request: web.Request) -> web.Response:
        silence = self.store.get(request.match_info["silenceID"])
        if silence is None:
            return bad_request("silence not found", 404)
        return web.json_response(silence_json(silence, datetime.now(UTC)))

    async def delete_silence(self, request: web.Request) -> web.Response:
        done = await self.silences.end(request.match_info["silenceID"])
        if isinstance(done, Refusal):
            return _refused(done)
        return web.Response(status=200)

    # -- alerts and groups --------------------------------------------------------

    def _status(
        self, incident: Incident, alert: IncidentAlert, routes: list[RouteNode], now: datetime
    ) -> AlertStatus:
        active = [s for s in self.store.silences.values() if s.state(now) == SilenceState.ACTIVE]
        incident_labels = routing_labels(incident)
        silenced = sorted(
            s.id
            for s in active
            if self.store.covers(s, alert.labels) or self.store.covers(s, incident_labels)
        )
        cause = incident.root_cause
        inhibited = [cause] if cause and cause != alert.fingerprint else []
        # Muted when no route can send it now: then every window holding one is named.
        held = [self.muted_by(route, now) for route in routes]
        muted = sorted({n for names in held for n in names}) if held and all(held) else []
        return AlertStatus(silenced, inhibited, muted)

    def _gettable(
        self, incident: Incident, alert: IncidentAlert, receivers: list[str], status: AlertStatus
    ) -> dict[str, Any]:
        return {
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": _time(alert.starts_at or incident.opened_at),
            "endsAt": _time(alert.ends_at),
            "updatedAt": incident.updated_at.isoformat(),
            "generatorURL": alert.generator_url,
            "fingerprint": alert.fingerprint,
            "receivers": [{"name": name} for name in receivers],
            "status": status.json(),
        }

    def _walk(
        self, query: Query, now: datetime
    ) -> Iterable[tuple[Incident, list[RouteNode], list[dict[str, Any]]]]:
        """Each firing incident, its routes, and its alerts the query shows."""
        for incident in self.incidents.incidents():
            routes = routes_for(self.tree, routing_labels(incident))
            names = [r.receiver for r in routes]
            if query.receiver is not None and not any(query.receiver.fullmatch(n) for n in names):
                continue
            shown = []
            for alert in incident.firing_alerts:
                status = self._status(incident, alert, routes, now)
                if query.shows(alert, status):
                    shown.append(self._gettable(incident, alert, names, status))
            yield incident, routes, shown

    def _query(self, request: web.Request) -> Query | web.Response:
        if not self.loaded():
            return bad_request("still reading the incidents topic; retry shortly", 503)
        try:
            return Query.of(request)
        except BadRequest as exc:
            return bad_request(str(exc))

    async def alerts(self, request: web.Request) -> web.Response:
        query = self._query(request)
        if isinstance(query, web.Response):
            return query
        found = [a for _, _, shown in self._walk(query, datetime.now(UTC)) for a in shown]
        found.sort(key=lambda a: a["fingerprint"])
        return web.json_response(found)

    async def groups(self, request: web.Request) -> web.Response:
        query = self._query(request)
        if isinstance(query, web.Response):
            return query
        groups = []
        for incident, routes, shown in self._walk(query, datetime.now(UTC)):
            if not shown:
                continue
            labels = {**incident.labels, "incident_id": incident.id}
            for route in routes:
                if query.receiver is not None and not query.receiver.fullmatch(route.receiver):
                    continue
                groups.append(
                    {"labels": labels, "receiver": {"name": route.receiver}, "alerts": shown}
                )
        return web.json_response(groups)
