"""Training rows from the verdicts of the people on call.

A verdict names an incident; what the model learns from are that incident's
alerts, so verdicts on ``corral.feedback`` are joined with the latest
revision of each incident on ``corral.incidents``. Both topics are keyed by
incident id, so reading each to its end and keeping the last record per key
gives the latest verdict and the latest revision. A verdict whose incident
is no longer on the topic (retention) cannot be used and is counted.

The same join gives the paging figures of ``corral evaluate --feedback``: an
incident paged when its priority was P1 or P2 (the priorities notify routes
page on, see docs/notify.md), and the verdict says whether it should have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from services.triage.scoring.features import AlertText
from services.triage.scoring.levels import PRIORITY_SEVERITY
from services.triage.training.train import Example
from shared.config import KafkaSettings
from shared.kafka.state import read_to_end
from shared.messages import Feedback, FeedbackVerdict, Incident, Message

FEEDBACK_WEIGHT = 3.0
PAGING_PRIORITIES = frozenset({"P1", "P2"})
NO_TEAM = "(no team)"


@dataclass
class FeedbackData:
    examples: list[Example]
    verdicts: int
    unmatched: int


def target_severity(feedback: Feedback, incident: Incident) -> str:
    """The severity the verdict says the incident's alerts deserve."""
    match feedback.verdict:
        case FeedbackVerdict.RIGHT:
            return incident.severity
        case FeedbackVerdict.NOISE:
            return "info"
        case FeedbackVerdict.PAGE_SOONER:
            return "critical"
    assert feedback.priority is not None
    return PRIORITY_SEVERITY[feedback.priority]


def paged(incident: Incident) -> bool:
    return incident.priority in PAGING_PRIORITIES


def should_have_paged(feedback: Feedback, incident: Incident) -> bool:
    match feedback.verdict:
        case FeedbackVerdict.RIGHT:
            return paged(incident)
        case FeedbackVerdict.NOISE:
            return False
        case FeedbackVerdict.PAGE_SOONER:
            return True
    return feedback.priority in PAGING_PRIORITIES


@dataclass
class Paging:
    """One team's pages as its people judged them."""

    right_pages: int = 0  # paged, and should have
    false_pages: int = 0  # paged, and should not have
    missed_pages: int = 0  # did not page, and should have
    right_quiet: int = 0  # did not page, and should not have
    verdicts: dict[str, int] = field(default_factory=dict)

    @property
    def precision(self) -> float | None:
        pages = self.right_pages + self.false_pages
        return self.right_pages / pages if pages else None

    @property
    def recall(self) -> float | None:
        needed = self.right_pages + self.missed_pages
        return self.right_pages / needed if needed else None

    def count(self, feedback: Feedback, incident: Incident) -> None:
        did, should = paged(incident), should_have_paged(feedback, incident)
        if did:
            self.right_pages += should
            self.false_pages += not should
        else:
            self.missed_pages += should
            self.right_quiet += not should
        self.verdicts[feedback.verdict] = self.verdicts.get(feedback.verdict, 0) + 1

    def to_json(self) -> dict[str, object]:
        return {
            "right_pages": self.right_pages,
            "false_pages": self.false_pages,
            "missed_pages": self.missed_pages,
            "right_quiet": self.right_quiet,
            "precision": self.precision,
            "recall": self.recall,
            "verdicts": dict(sorted(self.verdicts.items())),
        }


def judged(
    verdicts: Mapping[str, Feedback], incidents: Mapping[str, Incident]
) -> tuple[list[tuple[Feedback, Incident]], int]:
    """Each verdict with its incident, and how many verdicts lost theirs (retention)."""
    pairs = [(f, incidents[i]) for i, f in verdicts.items() if i in incidents]
    return pairs, len(verdicts) - len(pairs)


def paging_by_team(
    verdicts: Mapping[str, Feedback], incidents: Mapping[str, Incident]
) -> tuple[dict[str, Paging], int]:
    """Paging figures per team (the incident's ``team`` label), and verdicts without incident."""
    teams: dict[str, Paging] = {}
    pairs, unmatched = judged(verdicts, incidents)
    for feedback, incident in pairs:
        teams.setdefault(incident.labels.get("team") or NO_TEAM, Paging()).count(feedback, incident)
    return dict(sorted(teams.items())), unmatched


def examples_from(
    verdicts: Mapping[str, Feedback],
    incidents: Mapping[str, Incident],
    weight: float = FEEDBACK_WEIGHT,
) -> FeedbackData:
    """One example per alert of each judged incident, weighted above catalogue rows."""
    pairs, unmatched = judged(verdicts, incidents)
    examples = [
        Example(
            AlertText.of(alert),
            target_severity(feedback, incident),
            weight,
            origin=f"feedback:{feedback.verdict}",
        )
        for feedback, incident in pairs
        for alert in incident.alerts
    ]
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


async def read_verdicts(settings: KafkaSettings) -> tuple[dict[str, Feedback], dict[str, Incident]]:
    """The latest verdict and the latest revision of every incident, from Kafka."""
    verdicts = await latest_by_key(settings, settings.topics.feedback, Feedback)
    incidents = await latest_by_key(settings, settings.topics.incidents, Incident)
    return verdicts, incidents


async def read_from_kafka(settings: KafkaSettings, weight: float = FEEDBACK_WEIGHT) -> FeedbackData:
    return examples_from(*await read_verdicts(settings), weight)
