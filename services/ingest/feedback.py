"""``POST /api/v1/incidents/{id}/feedback``: the people on call judge an incident's page.

The verdict is published to ``corral.feedback`` keyed by incident id, through
the same sink as alerts (same backpressure bound, same wait for the broker's
acknowledgement), and answered 202 only once the broker has it. ``corral
train --feedback`` later turns these verdicts into training data, and
``corral evaluate --feedback`` into paging precision and recall per team.
Every tool that asks "was this page right?" posts here (the contract is in
docs/scoring.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.ingest.errors import validation_response
from services.ingest.metrics import FEEDBACK_RECEIVED
from services.ingest.sink import AlertSink, Overloaded, TooLarge, Unavailable
from shared.kafka.publisher import Record
from shared.messages import Feedback, FeedbackVerdict
from shared.web.errors import error_response

log = structlog.get_logger(__name__)

INCIDENT_ID = r"[A-Za-z0-9._:-]{1,128}"
FEEDBACK_PATH = "/api/v1/incidents/{id}/feedback"


class FeedbackRequest(BaseModel):
    """The request body; unknown fields are refused so a typo is not silently lost."""

    model_config = ConfigDict(extra="forbid")
    verdict: FeedbackVerdict
    priority: str | None = Field(default=None, pattern=r"^P[1-5]$")
    revision: int | None = Field(default=None, ge=1)
    author: str | None = Field(default=None, max_length=256)
    comment: str | None = Field(default=None, max_length=4096)
    source: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9_.-]+$")


class FeedbackEndpoint:
    def __init__(
        self, sink: AlertSink, topic: str, unavailable: Callable[[str], web.Response]
    ) -> None:
        self.sink = sink
        self.topic = topic
        self.unavailable = unavailable

    def route(self) -> web.RouteDef:
        return web.post(f"/api/v1/incidents/{{id:{INCIDENT_ID}}}/feedback", self.post)

    async def post(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        try:
            body = FeedbackRequest.model_validate_json(await request.read())
            feedback = Feedback(
                incident_id=incident_id, received_at=datetime.now(UTC), **body.model_dump()
            )
        except ValidationError as exc:
            return validation_response(exc)
        try:
            await self.sink.publish_records([Record(self.topic, incident_id, feedback)])
        except TooLarge as exc:
            return error_response(413, f"feedback too large to store: {exc}", field="comment")
        except (TimeoutError, Overloaded, Unavailable) as exc:
            log.warning("feedback not stored", incident=incident_id, error=str(exc))
            return self.unavailable(f"feedback not stored, retry later: {exc}")
        FEEDBACK_RECEIVED.labels(feedback.verdict).inc()
        return web.json_response(
            {"status": "accepted", "incident_id": incident_id, "verdict": feedback.verdict},
            status=202,
        )
