"""``log_configs``: write the incident to the worker's JSON log (the default receiver)."""

from __future__ import annotations

import structlog

from shared.messages import Incident

log = structlog.get_logger("corral.incidents")


class LogIntegration:
    def __init__(self, name: str, send_resolved: bool = True):
        self.name = name
        self.send_resolved = send_resolved

    async def notify(self, incident: Incident, receiver: str) -> None:
        log.info(
            "incident",
            receiver=receiver,
            id=incident.id,
            revision=incident.revision,
            change=incident.event.value,
            status=incident.status.value,
            priority=incident.priority,
            severity=incident.severity,
            title=incident.title,
            alerts=len(incident.alerts),
            explanation=incident.explanation,
        )
