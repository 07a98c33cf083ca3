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

from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import PRIORITY_SEVERITY
from services.triage.training.train import Example
from shared.config import KafkaSettings
from shared.kafka.state import read_to_end
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
    latest: dict[str, M] = {}

    def keep(_partition: int, key: str, value: bytes | None) -> None:
        try:
            latest[key] = model.from_bytes(value or b"")
        except ValidationError:
            latest.pop(key, None)  # a record this version cannot read teaches nothing

    await read_to_end(settings, topic, None, keep)
    return latest


async def read_from_kafka(settings: KafkaSettings, weight: float = FEEDBACK_WEIGHT) -> FeedbackData:
    verdicts = await latest_by_key(settings, settings.topics.feedback, Feedback)
    incidents = await latest_by_key(settings, settings.topics.incidents, Incident)
    return examples_from(verdicts, incidents, weight)
