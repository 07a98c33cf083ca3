"""One pydantic model per Kafka message type, each carrying a schema version.

Consumers reject a record whose ``schema_version`` is newer than they know,
rather than misreading it; producers always write the current version.
"""

from shared.messages.action import Action, ActionKind, ActionSource
from shared.messages.alert import Alert, AlertStatus
from shared.messages.base import Message
from shared.messages.dead_letter import DeadLetter
from shared.messages.feedback import Feedback, FeedbackVerdict
from shared.messages.incident import Incident, IncidentAlert, IncidentEvent, IncidentStatus
from shared.messages.outcome import DeliveryOutcome, DeliveryStatus, NotificationKind
from shared.messages.silence import Silence, SilenceState

__all__ = [
    "Action",
    "ActionKind",
    "ActionSource",
    "Alert",
    "AlertStatus",
    "DeadLetter",
    "DeliveryOutcome",
    "DeliveryStatus",
    "Feedback",
    "FeedbackVerdict",
    "Incident",
    "IncidentAlert",
    "IncidentEvent",
    "IncidentStatus",
    "Message",
    "NotificationKind",
    "Silence",
    "SilenceState",
]
