"""The incident API: list and read incidents, act on them, get their review.

Reads come from the store. Every action (``POST .../ack`` and the rest) is
published to ``corral.actions`` and answered once the broker acknowledged
it: 200 with the incident as the store then shows it, or 202 when the store
has not caught up within ``incidents.action_wait`` (the action is taken and
will show). Errors are JSON naming the field: 404 for an unknown incident,
409 when its state forbids the action, 415 for a body that is not JSON,
422 for a field that is wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self, TypeVar

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.incidents.actions import ActionGateway, Conflict, NotFound, Taken, Unavailable
from services.incidents.config import IncidentsSettings
from services.incidents.inbound.pagerduty import PAGERDUTY_PATH
from services.incidents.inbound.slack import SLACK_PATH
from services.incidents.peers import PeerApi, PeerRefused, PeerUnavailable
from services.incidents.review import build_review, render_review
from services.incidents.store import IncidentStore
from services.incidents.store.database import TRANSIENT
from services.incidents.store.incidents import BadCursor, Query, StoredIncident
from services.incidents.times import iso, now_ms, to_ms
from services.incidents.views import detail, shown
from shared.durations import parse_duration
from shared.messages import ActionKind, ActionSource
from shared.messages.action import ROLE_PATTERN
from shared.web.config import Role
from shared.web.errors import error_response
from shared.web.guard import ANY, OPEN, PRINCIPAL, Access
from shared.web.openapi import Operation, document, openapi_route

MAX_PAGE = 500
MAX_SNOOZE = timedelta(days=7)
STATES = ("firing", "acknowledged", "resolved", "open")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


class ActionBody(BaseModel):
    """What every action request carries."""

    model_config = ConfigDict(extra="forbid")
    actor: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Who acts; with authentication on, the authenticated user instead.",
    )
    comment: str | None = Field(default=None, min_length=1, max_length=16_384)
    action_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="For a safe retry."
    )
    source: Literal["api", "board", "cli"] = "api"

    def fields(self) -> dict[str, Any]:
        return {"text": self.comment}


class AssignBody(ActionBody):
    role: str = Field(pattern=ROLE_PATTERN)
    person: str = Field(min_length=1, max_length=256)

    def fields(self) -> dict[str, Any]:
        return {**super().fields(), "role": self.role, "person": self.person}


class NoteBody(ActionBody):
    text: str = Field(min_length=1, max_length=16_384)

    def fields(self) -> dict[str, Any]:
        return {"text": self.text}


class SnoozeBody(ActionBody):
    until: datetime | None = None
    duration: str | None = Field(default=None, description="e.g. 1h, instead of until")

    @model_validator(mode="after")
    def _one_end(self) -> Self:
        if (self.until is None) == (self.duration is None):
            raise ValueError("give until or duration")
        return self

    def end(self, now: datetime) -> datetime:
        if self.until is not None:
            return self.until if self.until.tzinfo else self.until.replace(tzinfo=UTC)
        return now + parse_duration(self.duration or "")


class SilenceBody(ActionBody):
    duration: str = Field(min_length=1, max_length=32, description="How long, e.g. 2h.")


class VerdictBody(ActionBody):
    """Was this page right? Passed on to ingest's feedback API (docs/scoring.md)."""

    verdict: Literal["right", "noise", "page_sooner", "priority"]
    priority: str | None = Field(default=None, pattern=r"^P[1-5]$", validate_default=True)
    comment: str | None = Field(default=None, min_length=1, max_length=4096)

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (info.data.get("verdict") == "priority") != (value is not None):
            raise ValueError("give it with the verdict priority, and only then")
        return value


VERDICT_TEXT = {
    "right": "the page was right",
    "noise": "it should not have paged anyone",
    "page_sooner": "it should have paged, or sooner",
}


B = TypeVar("B", bound=ActionBody)
# What another worker did, for the timeline and the answer: the note, the answer's fields.
Done = tuple[str, dict[str, Any]]

ENDPOINTS: dict[str, tuple[ActionKind, type[ActionBody]]] = {
    "ack": (ActionKind.ACKNOWLEDGE, ActionBody),
    "unack": (ActionKind.UNACKNOWLEDGE, ActionBody),
    "resolve": (ActionKind.RESOLVE, ActionBody),
    "reopen": (ActionKind.REOPEN, ActionBody),
    "assign": (ActionKind.ASSIGN, AssignBody),
    "notes": (ActionKind.NOTE, NoteBody),
    "escalate": (ActionKind.ESCALATE, ActionBody),
    "snooze": (ActionKind.SNOOZE, SnoozeBody),
}


def field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(body)"


def validation_error(exc: ValidationError) -> web.Response:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return error_response(400, f"body is not valid JSON: {first['msg']}", "(body)")
    field = field_path(tuple(first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    return error_response(422, f"{field}: {message}", field)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


STORELESS = ("/-/", "/metrics", "/static/")
"""Paths that do not read the store: health, metrics, the board's script and style."""


def store_guard(store_open: Callable[[], bool]) -> Any:
    """503 rather than 500 while the store is not open yet, or does not answer."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(STORELESS):
            return await handler(request)
        if not store_open():
            return error_response(
                503, "the incident store is not open yet; retry later", headers={"Retry-After": "1"}
            )
        try:
            return await handler(request)
        except TRANSIENT as exc:
            return error_response(
                503, f"the incident store does not answer: {exc}", headers={"Retry-After": "1"}
            )

    return guard


LIST_PATH = "/api/v1/incidents"
INCIDENT_PATH = "/api/v1/incidents/{id}"
REVIEW_PATH = "/api/v1/incidents/{id}/review"
SILENCE_PATH = "/api/v1/incidents/{id}/silence"
VERDICT_PATH = "/api/v1/incidents/{id}/verdict"

ACCESS: dict[str, Access] = {
    LIST_PATH: ANY,
    INCIDENT_PATH: ANY,
    REVIEW_PATH: ANY,
    **{f"{INCIDENT_PATH}/{name}": Role.ADMIN for name in ENDPOINTS},
    SILENCE_PATH: Role.ADMIN,
    VERDICT_PATH: Role.ADMIN,
    # PagerDuty and Slack sign their requests instead (inbound/).
    PAGERDUTY_PATH: OPEN,
    SLACK_PATH: OPEN,
}
MEDIA_TYPES = {SLACK_PATH: "application/x-www-form-urlencoded"}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]


class IncidentApi:
    def __init__(self, settings: IncidentsSettings, store: IncidentStore, gateway: ActionGateway):
        self.settings = settings
        self.store = store
        self.gateway = gateway
        self.notify = PeerApi("notify", "incidents.notify_api", settings.notify_api)
        self.ingest = PeerApi("ingest", "incidents.ingest_api", settings.ingest_api)
        self.roles = settings.all_roles()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(LIST_PATH, self.list),
            web.get(INCIDENT_PATH, self.get),
            web.get(REVIEW_PATH, self.review),
            *(web.post(f"{INCIDENT_PATH}/{name}", self.act) for name in ENDPOINTS),
            web.post(SILENCE_PATH, self.silence),
            web.post(VERDICT_PATH, self.verdict),
            openapi_route(self.document()),
        ]

    def document(self) -> dict[str, Any]:
        """The API as OpenAPI, from the models that validate it."""
        query = [
            {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            for name in ("status", "priority", "team", "since", "cursor", "limit")
        ]
        reads = ("401", "403", "422")
        operations = [
            Operation(
                "GET", LIST_PATH, "Incidents, newest first.", "any", parameters=query, errors=reads
            ),
            Operation(
                "GET",
                INCIDENT_PATH,
                "One incident with its timeline.",
                "any",
                ok={"200": "The incident.", "404": "No such incident."},
                parameters=_ID,
                errors=reads,
            ),
            Operation(
                "GET",
                REVIEW_PATH,
                "The post-incident review.",
                "any",
                ok={"200": "The review.", "404": "No such incident."},
                parameters=[
                    *_ID,
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["json", "markdown", "html"]},
                    },
                ],
                errors=reads,
            ),
        ]
        for name, (kind, model) in ENDPOINTS.items():
            operations.append(
                Operation(
                    "POST",
                    f"{INCIDENT_PATH}/{name}",
                    f"{kind.value.capitalize()} the incident.",
                    "admin",
                    model,
                    {
                        "200": "Taken and shown.",
                        "202": "Taken.",
                        "404": "No such incident.",
                        "409": "The incident's state forbids it.",
                    },
                    parameters=_ID,
                )
            )
        operations.append(
            Operation(
                "POST",
                SILENCE_PATH,
                "Silence the incident in notify for a while; noted on its timeline.",
                "admin",
                SilenceBody,
                {
                    "200": "Silenced in notify.",
                    "404": "No such incident.",
                    "502": "notify did not answer, or refused this worker's credentials.",
                },
                parameters=_ID,
            )
        )
        operations.append(
            Operation(
                "POST",
                VERDICT_PATH,
                "Was this page right? A verdict to ingest's feedback API; noted on the timeline.",
                "admin",
                VerdictBody,
                {
                    "200": "Taken by ingest.",
                    "404": "No such incident.",
                    "502": "ingest did not answer, or refused this worker's credentials.",
                },
                parameters=_ID,
            )
        )
        return document("Corral incidents", operations)

    async def list(self, request: web.Request) -> web.Response:
        params = request.query
        try:
            query = Query(
                states=choices(params.get("status"), STATES, "status"),
                priorities=choices(params.get("priority"), PRIORITIES, "priority"),
                team=params.get("team"),
                since_ms=_since(params["since"]) if "since" in params else None,
                cursor=params.get("cursor") or None,
                limit=_limit(params.get("limit")),
            )
            now = now_ms()
            page, cursor = await self.store.list(query, now)
        except BadParameter as exc:
            return error_response(422, str(exc), exc.field)
        except BadCursor as exc:
            return error_response(422, f"cursor: {exc}", "cursor")
        return web.json_response(
            {
                "incidents": [shown(item, snoozed, now) for item, snoozed in page],
                "next_cursor": cursor,
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        stored = await self.store.get(incident_id)
        if stored is None:
            return error_response(404, f"no incident {incident_id!r}", "id")
        return web.json_response(
            detail(stored.incident, stored.lifecycle, stored.summary, stored.events, now_ms())
        )

    async def review(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        form = request.query.get("format", "json")
        if form not in ("json", "markdown", "html"):
            return error_response(422, "format: json, markdown or html", "format")
        stored = await self.store.get(incident_id)
        if stored is None:
            return error_response(404, f"no incident {incident_id!r}", "id")
        review = build_review(stored, now_ms())
        if form == "json":
            return web.json_response(review.as_json())
        content_type = "text/markdown" if form == "markdown" else "text/html"
        return web.Response(text=render_review(review, form), content_type=content_type)

    async def act(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        name = request.path.rsplit("/", 1)[-1]
        kind, model = ENDPOINTS[name]
        asked = await _asked(request, model)
        if isinstance(asked, web.Response):
            return asked
        body, actor = asked
        fields = body.fields()
        if isinstance(body, AssignBody) and body.role not in self.roles:
            return error_response(
                422, f"role: one of {', '.join(self.roles)} (incidents.roles names more)", "role"
            )
        now = datetime.now(UTC)
        if isinstance(body, SnoozeBody):
            try:
                until = body.end(now)
                too_long = until - now > MAX_SNOOZE
            except ValueError as exc:
                return error_response(422, f"duration: {exc}", "duration")
            except OverflowError:
                return error_response(422, "until: must be within 7 days", "until")
            if until <= now or too_long:
                return error_response(422, "until: must be in the future, within 7 days", "until")
            fields["until"] = until
        action_id = body.action_id or request.headers.get("Idempotency-Key")
        try:
            taken = await self.gateway.take(
                incident_id,
                kind,
                actor,
                ActionSource(body.source),
                action_id=action_id,
                at=now,
                **fields,
            )
        except NotFound as exc:
            return error_response(404, str(exc), "id")
        except Conflict as exc:
            return web.json_response(
                {"status": "error", "error": str(exc), "state": exc.state}, status=409
            )
        except Unavailable as exc:
            return error_response(503, str(exc), headers={"Retry-After": "1"})
        except ValidationError as exc:
            return validation_error(exc)
        return await self._taken(incident_id, taken)

    async def silence(self, request: web.Request) -> web.Response:
        """A silence in notify matching this incident, then a note saying so."""
        return await self._through_peer(request, SilenceBody, self._silence)

    async def verdict(self, request: web.Request) -> web.Response:
        """Was this page right: to ingest's feedback API, then a note saying so."""
        return await self._through_peer(request, VerdictBody, self._verdict)

    async def _silence(
        self, body: SilenceBody, actor: str, stored: StoredIncident, now: datetime
    ) -> Done | web.Response:
        incident_id = stored.incident.id
        try:
            ends_at = now + parse_duration(body.duration)
        except ValueError as exc:
            return error_response(422, f"duration: {exc}", "duration")
        except OverflowError:
            return error_response(422, "duration: too long", "duration")
        if ends_at <= now:
            return error_response(422, "duration: must be more than 0s", "duration")
        silence = {
            "matchers": [
                {"name": "incident_id", "value": incident_id, "isRegex": False, "isEqual": True}
            ],
            "startsAt": now.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": actor,
            "comment": body.comment or f"incident {incident_id}: {stored.incident.title}",
        }
        try:
            answer = await self.notify.post("/api/v1/silences", silence)
        except (PeerRefused, PeerUnavailable) as exc:
            return _peer_error(exc, {"endsAt": "duration", "createdBy": "actor"})
        silence_id = str(answer.get("silenceID", "?"))
        until = iso(to_ms(ends_at))
        text = f"silenced in notify for {body.duration}, until {until} (silence {silence_id})"
        return text, {"silenceID": silence_id, "endsAt": until}

    async def _verdict(
        self, body: VerdictBody, actor: str, stored: StoredIncident, now: datetime
    ) -> Done | web.Response:
        revision = stored.incident.revision
        feedback = {
            "verdict": body.verdict,
            "revision": revision,
            "author": actor,
            "source": body.source,
            **({"priority": body.priority} if body.priority else {}),
            **({"comment": body.comment} if body.comment else {}),
        }
        try:
            await self.ingest.post(f"/api/v1/incidents/{stored.incident.id}/feedback", feedback)
        except (PeerRefused, PeerUnavailable) as exc:
            return _peer_error(exc, {"author": "actor"})
        judged = VERDICT_TEXT.get(body.verdict) or f"it deserved {body.priority}"
        return f"verdict on revision {revision}: {judged}", {"verdict": body.verdict}

    async def _through_peer(
        self,
        request: web.Request,
        model: type[B],
        do: Callable[[B, str, StoredIncident, datetime], Awaitable[Done | web.Response]],
    ) -> web.Response:
        """What another worker does for the board (``do``: the note's text and what
        the answer adds), then a note saying so, or the answer that ends it (a bad
        body, no incident, a retry, the other worker's refusal)."""
        asked = await _asked(request, model)
        if isinstance(asked, web.Response):
            return asked
        body, actor = asked
        incident_id = request.match_info["id"]
        stored = await self.store.get(incident_id, with_events=False)
        if stored is None:
            return error_response(404, f"no incident {incident_id!r}", "id")
        action_id = body.action_id or request.headers.get("Idempotency-Key")
        if action_id is not None and await self.store.action_recorded(incident_id, action_id):
            return web.json_response({"status": "success", "repeated": True})
        now = datetime.now(UTC)
        done = await do(body, actor, stored, now)
        if isinstance(done, web.Response):
            return done
        text, extra = done
        if body.comment:
            text += f": {body.comment}"
        return await self._noted(incident_id, actor, body, action_id, now, text, **extra)

    async def _noted(
        self,
        incident_id: str,
        actor: str,
        body: ActionBody,
        action_id: str | None,
        at: datetime,
        text: str,
        **done: Any,
    ) -> web.Response:
        """What another worker did for the board, noted on the timeline."""
        try:
            taken = await self.gateway.take(
                incident_id,
                ActionKind.NOTE,
                actor,
                ActionSource(body.source),
                action_id=action_id,
                at=at,
                text=text,
            )
        except (NotFound, Unavailable) as exc:
            # What the other worker did holds; only its note on the timeline is missing.
            return web.json_response(
                {"status": "success", **done, "warning": f"done, but not noted: {exc}"}
            )
        return await self._taken(incident_id, taken, **done)

    async def _taken(self, incident_id: str, taken: Taken, **extra: Any) -> web.Response:
        action = taken.action.model_dump(mode="json", exclude_none=True, exclude={"schema_version"})
        if not taken.applied:
            return web.json_response({"status": "accepted", "action": action, **extra}, status=202)
        stored = await self.store.get(incident_id, with_events=False)
        assert stored is not None
        return web.json_response(
            {
                "status": "success",
                "action": action,
                "repeated": taken.repeated,
                "incident": shown(stored.summary, stored.lifecycle.snoozed_until_ms, now_ms()),
                **extra,
            }
        )


def _peer_error(exc: PeerRefused | PeerUnavailable, fields: dict[str, str]) -> web.Response:
    """The other worker's refusal, with its field named as our body names it."""
    if isinstance(exc, PeerUnavailable):
        return error_response(502, str(exc), headers={"Retry-After": "5"})
    field = fields.get(exc.field or "", exc.field)
    return error_response(422 if exc.status in (400, 413, 422) else 502, str(exc), field)


async def _asked(request: web.Request, model: type[B]) -> tuple[B, str] | web.Response:
    """An action's body and who acts, or the 422 saying what is wrong with them."""
    try:
        body = model.model_validate_json(await request.read())
    except ValidationError as exc:
        return validation_error(exc)
    actor = _actor(request, body)
    if actor is None:
        return error_response(422, "actor: who acts is required", "actor")
    return body, actor


def _actor(request: web.Request, body: ActionBody) -> str | None:
    """Who acts: the authenticated user when authentication is on, else the body's actor."""
    principal = request.get(PRINCIPAL)
    return principal.name if principal is not None else body.actor


class BadParameter(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def choices(value: str | None, allowed: tuple[str, ...], field: str) -> tuple[str, ...]:
    if not value:
        return ()
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    wrong = [v for v in chosen if v not in allowed]
    if wrong:
        raise BadParameter(field, f"{wrong[0]!r} is not one of {', '.join(allowed)}")
    return chosen


def _since(value: str) -> int:
    """An RFC 3339 time, or a duration back from now (``24h``)."""
    try:
        return now_ms() - round(parse_duration(value).total_seconds() * 1000)
    except ValueError:
        pass
    try:
        return to_ms(value)
    except ValueError:
        raise BadParameter(
            "since", f"{value!r} is neither a time (2026-11-26T10:00:00Z) nor a duration (24h)"
        ) from None


def _limit(value: str | None) -> int:
    if value is None:
        return 50
    try:
        limit = int(value)
    except ValueError:
        raise BadParameter("limit", f"{value!r} is not a number") from None
    if not 1 <= limit <= MAX_PAGE:
        raise BadParameter("limit", f"between 1 and {MAX_PAGE}")
    return limit
