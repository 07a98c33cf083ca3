"""notify's HTTP API: silences, shaped like Alertmanager's ``/api/v2/silences``.

A silence is answered 200 only after the broker acknowledged it on the
silences topic, from where every notify worker applies it. Bodies use
Alertmanager's field names (``matchers``, ``startsAt``, ``endsAt``,
``createdBy``, ``comment``); a matcher is Alertmanager's object
(``{"name", "value", "isRegex", "isEqual"}``) or its text (``team=~"db|web"``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.notify.silences import SilenceStore
from shared.kafka.publisher import Publisher, PublishError, Record
from shared.matchers import Matcher, MatchType, parse_matcher
from shared.messages import Silence

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


def _field(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("str", "MatcherObject"):
            continue  # which member of the union failed is noise to the reader
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"status": "error", "error": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)


class SilenceApi:
    def __init__(self, store: SilenceStore, topic: str):
        self.store = store
        self.topic = topic
        self.publisher: Publisher | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/silences", self.create),
            web.get("/api/v1/silences", self.list),
            web.get("/api/v1/silences/{id}", self.get),
            web.delete("/api/v1/silences/{id}", self.expire),
        ]

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = PostableSilence.model_validate_json(await request.read())
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            if first["type"] == "json_invalid":
                return _error(400, f"body is not valid JSON: {first['msg']}", "(body)")
            field = _field(tuple(first["loc"]))
            return _error(422, f"{field}: {first['msg']}", field)
        now = datetime.now(UTC)
        starts_at = body.startsAt or now
        if body.endsAt <= max(starts_at, now):
            return _error(422, "endsAt: must be after startsAt and in the future", "endsAt")
        previous = self.store.get(body.id) if body.id else None
        if body.id and previous is None:
            return _error(404, f"no silence with id {body.id!r}", "id")
        silence = Silence(
            id=body.id or str(uuid.uuid4()),
            matchers=body.matcher_texts(),
            starts_at=starts_at,
            ends_at=body.endsAt,
            created_by=body.createdBy,
            comment=body.comment,
            updated_at=now,
        )
        return await self._store(silence) or web.json_response({"silenceID": silence.id})

    async def list(self, _: web.Request) -> web.Response:
        now = datetime.now(UTC)
        return web.json_response([silence_json(s, now) for s in self.store.all()])

    async def get(self, request: web.Request) -> web.Response:
        silence = self.store.get(request.match_info["id"])
        if silence is None:
            return _error(404, f"no silence with id {request.match_info['id']!r}", "id")
        return web.json_response(silence_json(silence, datetime.now(UTC)))

    async def expire(self, request: web.Request) -> web.Response:
        silence = self.store.get(request.match_info["id"])
        if silence is None:
            return _error(404, f"no silence with id {request.match_info['id']!r}", "id")
        now = datetime.now(UTC)
        if silence.ends_at <= now:
            return _error(422, f"silence {silence.id} has already expired", "id")
        expired = silence.model_copy(
            update={"ends_at": now, "starts_at": min(silence.starts_at, now), "updated_at": now}
        )
        return await self._store(expired) or web.json_response({"silenceID": silence.id})

    async def _store(self, silence: Silence) -> web.Response | None:
        """Write and wait for the ack; an error response if that is impossible now."""
        if self.publisher is None:
            return _error(503, "not connected to Kafka yet; retry later")
        try:
            await self.publisher.publish([Record(self.topic, silence.id, silence)])
        except (PublishError, KafkaError) as exc:
            return _error(503, f"the broker did not take the silence: {exc}; retry later")
        # Visible on this worker at once; the others follow the topic.
        self.store.apply(silence.id, silence)
        return None
