"""The base every Kafka message model derives from: versioned JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, field_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """A record on a Corral topic, serialized as JSON with a schema version.

    ``SCHEMA_VERSION`` is the version this code writes (a subclass that bumps
    it also bumps the field's default). Older versions must stay readable; a
    newer one means a producer was upgraded before this consumer, and failing
    loudly is better than silently dropping fields.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    SCHEMA_VERSION: ClassVar[int] = 1
    schema_version: int = 1

    @field_validator("schema_version")
    @classmethod
    def _not_newer(cls, version: int) -> int:
        # A field validator, not a model validator: it keeps parsing in
        # pydantic-core, which matters at tens of thousands of records a second.
        if version > cls.SCHEMA_VERSION:
            raise ValueError(
                f"{cls.__name__} schema_version {version} is newer than this worker "
                f"understands ({cls.SCHEMA_VERSION}); upgrade the consumer"
            )
        return version

    # Straight to pydantic-core: ``model_dump_json`` and ``model_validate_json``
    # add about a microsecond of Python per call, as much as encoding a small
    # record itself, and every alert is encoded and decoded several times.
    def to_bytes(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        return cls.__pydantic_validator__.validate_json(data)
