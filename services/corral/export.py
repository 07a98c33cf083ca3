"""``corral alerts export``: what ``corral.alerts`` holds, as JSONL.

Each line is an alert record exactly as ingest wrote it, so what the offline
tools read is what triage read; with ``--with-feedback`` the verdicts on
``corral.feedback`` follow. Records come out in event-time order across
partitions; ``--since`` keeps those received in the last while (the topic's
retention bounds what there is to export).
"""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

import structlog
from pydantic import ValidationError

from shared.config import KafkaSettings
from shared.kafka.state import read_to_end
from shared.messages import Alert, Feedback

log = structlog.get_logger(__name__)


async def export(
    kafka: KafkaSettings, out: TextIO, since: datetime | None, with_feedback: bool
) -> tuple[int, int]:
    """Write the records; returns how many alerts and verdicts."""
    alerts = await _read(kafka, kafka.topics.alerts, Alert, since)
    verdicts = await _read(kafka, kafka.topics.feedback, Feedback, since) if with_feedback else []
    for _, data in sorted(alerts + verdicts, key=lambda item: item[0]):
        out.write(data.decode())
        out.write("\n")
    return len(alerts), len(verdicts)


async def _read(
    kafka: KafkaSettings, topic: str, model: type[Alert] | type[Feedback], since: datetime | None
) -> list[tuple[datetime, bytes]]:
    found: list[tuple[datetime, bytes]] = []
    unreadable = 0

    def keep(_partition: int, _key: str, value: bytes | None) -> None:
        nonlocal unreadable
        if value is None:
            return
        try:
            at = model.from_bytes(value).received_at
        except ValidationError:
            unreadable += 1
            return
        if since is None or at >= since:
            found.append((at, value))

    await read_to_end(kafka, topic, None, keep)
    if unreadable:
        log.warning(
            "records skipped: not readable as " + model.__name__, topic=topic, count=unreadable
        )
    return found
