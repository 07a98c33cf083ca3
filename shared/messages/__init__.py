"""One pydantic model per Kafka message type, each carrying a schema version.

Consumers reject a record whose ``schema_version`` is newer than they know,
rather than misreading it; producers always write the current version.
"""

from shared.messages.alert import Alert, AlertStatus
from shared.messages.base import Message
from shared.messages.feedback import Feedback, FeedbackVerdict
from shared.messages.incident import Incident, IncidentAlert, IncidentEvent, IncidentStatus
from shared.messages.notification import SentNotification

__all__ = [
    "Alert",
    "AlertStatus",
    "Feedback",
    "FeedbackVerdict",
    "Incident",
    "IncidentAlert",
    "IncidentEvent",
    "IncidentStatus",
    "Message",
    "SentNotification",
]
