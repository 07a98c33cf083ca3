"""The base every Kafka message model derives from: versioned JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """A record on a Corral topic, serialized as JSON with a schema version.

    ``SCHEMA_VERSION`` is the version this code writes (a subclass that bumps
    it also declares ``schema_version = Field(default=N, le=N)``). Older
    versions must stay readable; a newer one means a producer was upgraded
    before this consumer, and failing loudly is better than silently dropping
    fields.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    SCHEMA_VERSION: ClassVar[int] = 1
    # A constraint, not a field validator: it keeps parsing in pydantic-core,
    # where a Python validator is a large share of decoding an alert.
    schema_version: int = Field(default=1, le=1)

    # Straight to pydantic-core: ``model_dump_json`` and ``model_validate_json``
    # add a layer of Python per call that costs about as much as encoding a
    # small record itself, and every alert is encoded and decoded several times.
    def to_bytes(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        try:
            message: Self = cls.__pydantic_validator__.validate_json(data)
            return message
        except ValidationError as exc:
            newer = _newer_schema(cls, exc)
            if newer is None:
                raise
            raise newer from None


def _newer_schema(model: type[Message], exc: ValidationError) -> ValidationError | None:
    """The constraint's own message says only "less than or equal to": say why."""
    errors = exc.errors()
    for error in errors:
        if error["loc"] == ("schema_version",) and error["type"] == "less_than_equal":
            error["type"] = PydanticCustomError(  # type: ignore[typeddict-item]
                "newer_schema",
                "{model} schema_version {version} is newer than this worker understands "
                "({known}); upgrade the consumer",
                {"model": model.__name__, "version": error["input"], "known": model.SCHEMA_VERSION},
            )
            return ValidationError.from_exception_data(model.__name__, errors)  # type: ignore[arg-type]
    return None
