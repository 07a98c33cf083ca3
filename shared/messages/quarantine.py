"""A record a worker could not handle, or an output the broker refused, on ``corral.quarantine``."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from shared.messages.base import Message, utcnow


class Quarantined(Message):
    """One record set aside so that its partition moves on.

    Either an input record some stage of a worker failed on (``topic``,
    ``partition`` and ``offset`` say where it is; ``value`` is the record), or
    an output the broker refused (``output_topic`` names where it was going;
    ``value`` is the output, and ``topic``/``partition``/``offset`` the input
    position the worker was at, when it has one). ``value`` holds at most
    ``value_bytes`` of the original, whose size ``size`` gives: a record the
    broker refused for its size must still fit here.
    """

    # The value may be anything (it may not be text): base64 in JSON.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    worker: str = Field(description="triage, notify, ...")
    stage: str = Field(description="Where: decode, correlate, score, emit, admit, publish, ...")
    error: str = Field(description="The exception: its type and message.")
    topic: str | None = Field(default=None, description="Input topic.")
    partition: int | None = Field(default=None, ge=0)
    offset: int | None = Field(default=None, ge=0, description="Input offset, when one record.")
    key: str | None = None
    output_topic: str | None = Field(
        default=None, description="Set when the quarantined value is an output that was refused."
    )
    subject: str | None = Field(
        default=None, description="What the stage was handling, e.g. the incident id."
    )
    value: bytes | None = Field(default=None, description="The record, possibly cut short.")
    input: bool = Field(
        default=False,
        description="The value is the input record read at topic, partition and offset "
        "(not an output or an incident's state): written back, a worker reads it again.",
    )
    size: int = Field(default=0, ge=0, description="Size of the whole value in bytes.")
    truncated: bool = False
    quarantined_at: datetime = Field(default_factory=utcnow)
