"""Silencing an incident: a silence in notify, made through notify's own API.

Silences belong to notify (``POST /api/v1/silences``, docs/notify.md). The
board's Silence button posts to this worker (``POST
/api/v1/incidents/{id}/silence``), which checks the user as for every action
and then calls notify with its own address and credentials
(``incidents.notify_api``): the browser needs neither a way to notify nor a
second password, and the silence names the user who asked for it. The
silence matches the incident's ``incident_id``, which notify matches against
every revision of it, so it mutes this incident and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from services.incidents.config import NotifyApi
from shared.config import ConfigError

SILENCES_PATH = "/api/v1/silences"
MAX_ANSWER_BYTES = 65_536


class SilenceRefused(Exception):
    """notify refused the silence (a 4xx): the request was wrong, or our credentials."""

    def __init__(self, status: int, message: str, field: str | None):
        super().__init__(message)
        self.status = status
        self.field = field


class NotifyUnavailable(Exception):
    """notify could not be reached, or failed."""


@dataclass(frozen=True)
class Silenced:
    silence_id: str
    ends_at: datetime


class NotifySilences:
    def __init__(self, settings: NotifyApi):
        self.settings = settings
        self.url = settings.url.rstrip("/") + SILENCES_PATH
        self.session: aiohttp.ClientSession | None = None

    async def silence_incident(
        self, incident_id: str, starts_at: datetime, ends_at: datetime, author: str, comment: str
    ) -> Silenced:
        """Create the silence; raises SilenceRefused or NotifyUnavailable."""
        if self.session is None:
            raise NotifyUnavailable("not started yet; retry later")
        body = {
            "matchers": [
                {"name": "incident_id", "value": incident_id, "isRegex": False, "isEqual": True}
            ],
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": author,
            "comment": comment,
        }
        client = self.settings.http_config
        try:
            # The password file is read at each use: a rotated one is picked up at once.
            headers = client.headers()
        except ConfigError as exc:
            raise NotifyUnavailable(f"incidents.notify_api.http_config: {exc}") from exc
        try:
            async with self.session.post(
                self.url,
                json=body,
                headers=headers,
                ssl=client.ssl_context() if self.url.startswith("https:") else False,
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout.total_seconds()),
            ) as response:
                status = response.status
                answer = await _json(response)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise NotifyUnavailable(f"notify at {self.settings.url} did not answer: {exc}") from exc
        if status == 200 and isinstance(answer.get("silenceID"), str):
            return Silenced(answer["silenceID"], ends_at)
        error = str(answer.get("error") or f"HTTP {status}")
        if status in (401, 403):
            raise SilenceRefused(
                status,
                f"notify refused this worker's credentials ({error}): "
                "give incidents.notify_api.http_config a user with notify's admin role",
                None,
            )
        if 400 <= status < 500:
            field = answer.get("field")
            raise SilenceRefused(
                status, f"notify: {error}", field if isinstance(field, str) else None
            )
        raise NotifyUnavailable(f"notify at {self.settings.url} answered {status}: {error}")


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    data = await response.content.read(MAX_ANSWER_BYTES)
    try:
        answer = json.loads(data)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
