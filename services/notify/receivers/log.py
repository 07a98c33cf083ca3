"""``log_configs``: write the incident to the worker's JSON log (the default receiver)."""

from __future__ import annotations

import structlog

from services.notify.receivers.base import Delivery

log = structlog.get_logger("corral.incidents")


class LogIntegration:
    def __init__(self, name: str, send_resolved: bool = True):
        self.name = name
        self.send_resolved = send_resolved
        self.acknowledges = False

    async def notify(self, delivery: Delivery) -> None:
        incident = delivery.incident
        log.info(
            "incident",
            receiver=delivery.receiver,
            id=incident.id,
            revision=incident.revision,
            change=incident.event.value,
            status=incident.status.value,
            repeat=delivery.repeat,
            notification=delivery.kind.value,
            changes=delivery.changes.summary if delivery.changes else None,
            priority=incident.priority,
            severity=incident.severity,
            title=incident.title,
            alerts=len(incident.alerts),
            explanation=incident.explanation,
        )
