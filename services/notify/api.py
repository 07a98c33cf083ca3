"""notify's HTTP API: silences, shaped like Alertmanager's ``/api/v2/silences``.

A silence is answered 200 only after the broker acknowledged it on the
silences topic, from where every notify worker applies it. Bodies use
Alertmanager's field names (``matchers``, ``startsAt``, ``endsAt``,
``createdBy``, ``comment``); a matcher is Alertmanager's object
(``{"name", "value", "isRegex", "isEqual"}``) or its text (``team=~"db|web"``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from aiokafka.errors import KafkaError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from services.notify.config import SilenceLimits
from services.notify.silences import SilenceStore
from shared.durations import format_duration
from shared.kafka.publisher import Publisher, PublishError, Record
from shared.matchers import Matcher, MatchType, parse_matcher
from shared.messages import Silence, SilenceState
from shared.web.config import Role
from shared.web.errors import error_response
from shared.web.openapi import Operation

SILENCES_PATH = "/api/v1/silences"
SILENCE_PATH = "/api/v1/silences/{id}"
ACCESS = {SILENCES_PATH: Role.ADMIN, SILENCE_PATH: Role.ADMIN}

# Field names are Alertmanager's (camelCase), so its clients and bodies work as they are.


class MatcherObject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    value: str
    isRegex: bool = False
    isEqual: bool = True

    def matcher(self) -> Matcher:
        kinds = {
            (False, True): MatchType.EQUAL,
            (False, False): MatchType.NOT_EQUAL,
            (True, True): MatchType.REGEX,
            (True, False): MatchType.NOT_REGEX,
        }
        return Matcher.create(self.name, kinds[(self.isRegex, self.isEqual)], self.value)


class PostableSilence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, description="Set to change an existing silence.")
    matchers: list[MatcherObject | str] = Field(min_length=1)
    startsAt: datetime | None = None
    endsAt: datetime
    createdBy: str = Field(min_length=1)
    comment: str = Field(min_length=1)

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: list[MatcherObject | str]) -> list[MatcherObject | str]:
        parsed = [m.matcher() if isinstance(m, MatcherObject) else parse_matcher(m) for m in value]
        if all(m.matches("") for m in parsed):
            raise ValueError("at least one matcher must not match the empty string")
        return value

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-11-26T10:00:00Z")
        return value

    def matcher_texts(self) -> list[str]:
        return [
            str(m.matcher() if isinstance(m, MatcherObject) else parse_matcher(m))
            for m in self.matchers
        ]


def silence_json(silence: Silence, now: datetime) -> dict[str, Any]:
    return {
        "id": silence.id,
        "status": {"state": silence.state(now).value},
        "matchers": [
            {
                "name": m.name,
                "value": m.value,
                "isRegex": m.type in (MatchType.REGEX, MatchType.NOT_REGEX),
                "isEqual": m.type in (MatchType.EQUAL, MatchType.REGEX),
            }
            for m in silence.parsed_matchers()
        ],
        "startsAt": silence.starts_at.isoformat(),
        "endsAt": silence.ends_at.isoformat(),
        "updatedAt": silence.updated_at.isoformat(),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    }


_UNION_MEMBERS = ("str", "constrained-str", "MatcherObject", "BoundedMatcher")


def _field(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_MEMBERS or str(part).startswith("function-"):
            continue  # which member of the union failed is noise to the reader
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def bounded_silence(limits: SilenceLimits) -> type[PostableSilence]:
    """``PostableSilence`` with ``notify.silences`` limits, checked while parsing."""
    length = limits.max_matcher_length
    BoundedText = Annotated[str, StringConstraints(max_length=2 * length)]

    class BoundedMatcher(MatcherObject):
        name: str = Field(min_length=1, max_length=length)
        value: str = Field(max_length=length)

    class BoundedSilence(PostableSilence):
        id: str | None = Field(default=None, max_length=128)
        matchers: list[BoundedMatcher | BoundedText] = Field(  # type: ignore[assignment]
            min_length=1, max_length=limits.max_matchers
        )
        createdBy: str = Field(min_length=1, max_length=256)
        comment: str = Field(min_length=1, max_length=limits.max_comment_length)

    return BoundedSilence


@dataclass(frozen=True)
class Refusal:
    """Why a silence request was not carried out: the status, the message and
    the field it names. Each API version words it its own way."""

    status: int
    message: str
    field: str | None = None

    def response(self) -> web.Response:
        return error_response(self.status, self.message, self.field)


class SilenceApi:
    def __init__(self, store: SilenceStore, topic: str, limits: SilenceLimits | None = None):
        self.store = store
        self.topic = topic
        self.limits = limits or SilenceLimits()
        self.body = bounded_silence(self.limits)
        self.publisher: Publisher | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(SILENCES_PATH, self.create),
            web.get(SILENCES_PATH, self.list),
            web.get(SILENCE_PATH, self.get),
            web.delete(SILENCE_PATH, self.expire),
        ]

    def operations(self) -> list[Operation]:
        silence_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
        return [
            Operation(
                "POST",
                SILENCES_PATH,
                "Create a silence, or change one (with its id).",
                "admin",
                self.body,
                {"200": "Stored; applies on every notify worker.", "404": "No such id."},
            ),
            Operation("GET", SILENCES_PATH, "Every silence.", "admin", errors=("401", "403")),
            Operation(
                "GET",
                SILENCE_PATH,
                "One silence.",
                "admin",
                ok={"200": "The silence.", "404": "No such id."},
                parameters=silence_id,
                errors=("401", "403"),
            ),
            Operation(
                "DELETE",
                SILENCE_PATH,
                "Expire a silence now.",
                "admin",
                ok={"200": "Expired.", "404": "No such id."},
                parameters=silence_id,
                errors=("401", "403", "422"),
            ),
        ]

    def _over_limit(
        self, body: PostableSilence, starts_at: datetime, now: datetime
    ) -> Refusal | None:
        if body.endsAt - starts_at > self.limits.max_duration:
            return Refusal(
                422,
                f"endsAt: longer than {format_duration(self.limits.max_duration)} after "
                "startsAt (notify.silences.max_duration)",
                "endsAt",
            )
        if body.id is None:
            live = sum(s.state(now) != SilenceState.EXPIRED for s in self.store.silences.values())
            if live >= self.limits.max_silences:
                return Refusal(
                    422,
                    f"{live} silences are active or pending (notify.silences.max_silences): "
                    "expire some first",
                    "(silences)",
                )
        return None

    async def add(self, raw: bytes) -> str | Refusal:
        """Store the silence a request body describes; its id, or why not."""
        try:
            body = self.body.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            if first["type"] == "json_invalid":
                return Refusal(400, f"body is not valid JSON: {first['msg']}", "(body)")
            field = _field(tuple(first["loc"]))
            return Refusal(422, f"{field}: {first['msg']}", field)
        now = datetime.now(UTC)
        starts_at = body.startsAt or now
        if body.endsAt <= max(starts_at, now):
            return Refusal(422, "endsAt: must be after startsAt and in the future", "endsAt")
        limited = self._over_limit(body, starts_at, now)
        if limited is not None:
            return limited
        previous = self.store.get(body.id) if body.id else None
        if body.id and previous is None:
            return Refusal(404, f"no silence with id {body.id!r}", "id")
        silence = Silence(
            id=body.id or str(uuid.uuid4()),
            matchers=body.matcher_texts(),
            starts_at=starts_at,
            ends_at=body.endsAt,
            created_by=body.createdBy,
            comment=body.comment,
            updated_at=now,
        )
        return await self._store(silence) or silence.id

    async def end(self, silence_id: str) -> str | Refusal:
        """Expire a silence now; its id, or why not."""
        silence = self.store.get(silence_id)
        if silence is None:
            return Refusal(404, f"no silence with id {silence_id!r}", "id")
        now = datetime.now(UTC)
        if silence.ends_at <= now:
            return Refusal(422, f"silence {silence.id} has already expired", "id")
        expired = silence.model_copy(
            update={"ends_at": now, "starts_at": min(silence.starts_at, now), "updated_at": now}
        )
        return await self._store(expired) or silence.id

    async def create(self, request: web.Request) -> web.Response:
        done = await self.add(await request.read())
        if isinstance(done, Refusal):
            return done.response()
        return web.json_response({"silenceID": done})

    async def list(self, _: web.Request) -> web.Response:
        now = datetime.now(UTC)
        return web.json_response([silence_json(s, now) for s in self.store.all()])

    async def get(self, request: web.Request) -> web.Response:
        silence = self.store.get(request.match_info["id"])
        if silence is None:
            return error_response(404, f"no silence with id {request.match_info['id']!r}", "id")
        return web.json_response(silence_json(silence, datetime.now(UTC)))

    async def expire(self, request: web.Request) -> web.Response:
        done = await self.end(request.match_info["id"])
        if isinstance(done, Refusal):
            return done.response()
        return web.json_response({"silenceID": done})

    async def _store(self, silence: Silence) -> Refusal | None:
        """Write and wait for the ack; a refusal if that is impossible now."""
        if self.publisher is None:
            return Refusal(503, "not connected to Kafka yet; retry later")
        try:
            await self.publisher.publish([Record(self.topic, silence.id, silence)])
        except (PublishError, KafkaError) as exc:
            return Refusal(503, f"the broker did not take the silence: {exc}; retry later")
        # Visible on this worker at once; the others follow the topic.
        self.store.apply(silence.id, silence)
        return None
