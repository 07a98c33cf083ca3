"""The base every Kafka message model derives from: versioned JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """A record on a Corral topic, serialized as JSON with a schema version.

    ``SCHEMA_VERSION`` is the version this code writes. Older versions must
    stay readable; a newer one means a producer was upgraded before this
    consumer, and failing loudly is better than silently dropping fields.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    SCHEMA_VERSION: ClassVar[int] = 1
    schema_version: int

    @model_validator(mode="before")
    @classmethod
    def _check_version(cls, data: Any) -> Any:
        if isinstance(data, dict):
            version = data.get("schema_version")
            if version is None:
                data = {**data, "schema_version": cls.SCHEMA_VERSION}
            elif isinstance(version, int) and version > cls.SCHEMA_VERSION:
                raise ValueError(
                    f"{cls.__name__} schema_version {version} is newer than this worker "
                    f"understands ({cls.SCHEMA_VERSION}); upgrade the consumer"
                )
        return data

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        return cls.model_validate_json(data)
