"""Setting aside what a worker cannot handle, so that its partition moves on.

A record some stage fails on, or an output the broker refuses, becomes a
``Quarantined`` record on ``kafka.topics.quarantine``, is counted in
``corral_records_quarantined_total{worker,stage}`` and logged with where it
came from. The consume loop publishes quarantine records together with the
batch's outputs, before it commits: a quarantined record is never lost, and
everything else in its batch goes on as if it had not been there.
"""

from __future__ import annotations

import structlog
from aiokafka import ConsumerRecord
from prometheus_client import Counter

from shared.kafka.publisher import Record, Refusal
from shared.messages.quarantine import Quarantined
from shared.metrics import RECORDS_QUARANTINED

log = structlog.get_logger(__name__)

MAX_VALUE_BYTES = 256 * 1024
"""Of a quarantined value, what is kept at most: enough to see what it was."""
# Room for the other fields of a quarantine record.
_ENVELOPE_BYTES = 8 * 1024


def describe(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Quarantine:
    def __init__(self, worker: str, topic: str, max_record_bytes: int):
        self.worker = worker
        self.topic = topic
        # A value refused for its size must still fit, base64-encoded, in a
        # quarantine record under the same limit.
        self.max_value_bytes = min(MAX_VALUE_BYTES, (max_record_bytes - _ENVELOPE_BYTES) * 3 // 4)
        self.pending: list[Record] = []
        self._counters: dict[str, Counter] = {}

    def input(self, stage: str, error: BaseException | str, message: ConsumerRecord) -> None:
        """An input record a stage failed on."""
        self.add(
            stage,
            error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key.decode(errors="replace") if message.key is not None else None,
            value=message.value,
            input=True,
        )

    def refused(self, refusal: Refusal, input_topic: str | None = None) -> None:
        """An output the broker refused (or would have)."""
        record = refusal.record
        if record.topic == self.topic:
            # A quarantine record is cut to fit; if it still cannot be
            # written, the log line is all that is left of it.
            log.error("quarantine record refused", worker=self.worker, reason=refusal.reason)
            return
        self.add(
            "publish",
            refusal.reason,
            topic=input_topic,
            partition=record.partition,
            key=record.key,
            value=refusal.data,
            output_topic=record.topic,
            subject=record.key,
        )

    def add(
        self,
        stage: str,
        error: BaseException | str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: str | None = None,
        value: bytes | None = None,
        output_topic: str | None = None,
        subject: str | None = None,
        input: bool = False,
    ) -> None:
        size = len(value) if value is not None else 0
        kept = value[: self.max_value_bytes] if value is not None else None
        entry = Quarantined(
            worker=self.worker,
            stage=stage,
            error=describe(error),
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            output_topic=output_topic,
            subject=subject,
            value=kept,
            size=size,
            truncated=size > self.max_value_bytes,
            input=input,
        )
        counter = self._counters.get(stage)
        if counter is None:
            counter = self._counters[stage] = RECORDS_QUARANTINED.labels(self.worker, stage)
        counter.inc()
        log.error(
            "record quarantined",
            worker=self.worker,
            stage=stage,
            error=entry.error,
            topic=topic,
            partition=partition,
            offset=offset,
            output_topic=output_topic,
            subject=subject,
        )
        self.pending.append(Record(self.topic, key, entry))

    def take(self) -> list[Record]:
        """The quarantine records to publish with the batch's outputs."""
        taken, self.pending = self.pending, []
        return taken
