"""Training rows from the verdicts of the people on call.

A verdict names an incident; what the model learns from are that incident's
alerts, so verdicts on ``corral.feedback`` are joined with the latest
revision of each incident on ``corral.incidents``. Both topics are keyed by
incident id, so reading each to its end and keeping the last record per key
gives the latest verdict and the latest revision. A verdict whose incident
is no longer on the topic (retention) cannot be used and is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from services.triage.scoring.classifier import Example
from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import PRIORITY_SEVERITY
from shared.config import KafkaSettings
from shared.kafka.changelog import ChangelogStore
from shared.kafka.clients import new_consumer
from shared.messages import Feedback, FeedbackVerdict, Incident, Message

FEEDBACK_WEIGHT = 3.0


@dataclass
class FeedbackData:
    examples: list[Example]
    verdicts: int
    unmatched: int


def target_severity(feedback: Feedback, incident: Incident) -> str:
    match feedback.verdict:
        case FeedbackVerdict.RIGHT:
            return incident.severity
        case FeedbackVerdict.NOISE:
            return "info"
    assert feedback.priority is not None
    return PRIORITY_SEVERITY[feedback.priority]


def examples_from(
    verdicts: Mapping[str, Feedback],
    incidents: Mapping[str, Incident],
    weight: float = FEEDBACK_WEIGHT,
) -> FeedbackData:
    """One example per alert of each judged incident, weighted above catalogue rows."""
    examples = []
    unmatched = 0
    for incident_id, feedback in verdicts.items():
        incident = incidents.get(incident_id)
        if incident is None:
            unmatched += 1
            continue
        severity = target_severity(feedback, incident)
        for alert in incident.alerts:
            examples.append(
                Example(
                    AlertText.of(alert), severity, weight, origin=f"feedback:{feedback.verdict}"
                )
            )
    return FeedbackData(examples, len(verdicts), unmatched)


M = TypeVar("M", bound=Message)


async def latest_by_key(settings: KafkaSettings, topic: str, model: type[M]) -> dict[str, M]:
    """The last readable record of every key on a topic, read to its end."""

    def decode(value: bytes) -> M | None:
        try:
            return model.from_bytes(value)
        except ValidationError:
            return None  # a record this version cannot read teaches nothing

    consumer = new_consumer(settings, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic) or set()
    finally:
        await consumer.stop()
    store = ChangelogStore(settings, topic, decode)
    await store.restore(set(partitions))
    return {
        key: value
        for partition in partitions
        for key, value in store.items(partition)
        if value is not None
    }


async def read_from_kafka(settings: KafkaSettings, weight: float = FEEDBACK_WEIGHT) -> FeedbackData:
    verdicts = await latest_by_key(settings, settings.topics.feedback, Feedback)
    incidents = await latest_by_key(settings, settings.topics.incidents, Incident)
    return examples_from(verdicts, incidents, weight)
