"""Calling another worker's API for the board: notify for silences, ingest for verdicts.

Silences belong to notify (``POST /api/v1/silences``, docs/notify.md) and
verdicts to ingest (``POST /api/v1/incidents/{id}/feedback``,
docs/scoring.md). The board's Silence and Verdict buttons post to this
worker, which checks the user as for every action and then calls the other
worker with its own configured address and credentials
(``incidents.notify_api``, ``incidents.ingest_api``): the browser needs
neither a way to those workers nor a second password, and what is made
names the user who asked for it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from services.incidents.config import WorkerApi
from shared.config import ConfigError

MAX_ANSWER_BYTES = 65_536


class PeerRefused(Exception):
    """The other worker refused the request (a 4xx): the request was wrong, or our credentials."""

    def __init__(self, status: int, message: str, field: str | None):
        super().__init__(message)
        self.status = status
        self.field = field


class PeerUnavailable(Exception):
    """The other worker could not be reached, or failed."""


class PeerApi:
    def __init__(self, worker: str, setting: str, settings: WorkerApi):
        self.worker = worker
        self.setting = setting
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer of a 2xx; raises PeerRefused or PeerUnavailable."""
        if self.session is None:
            raise PeerUnavailable("not started yet; retry later")
        client = self.settings.http_config
        url = self.settings.url.rstrip("/") + path
        try:
            # The password file is read at each use: a rotated one is picked up at once.
            headers = client.headers()
        except ConfigError as exc:
            raise PeerUnavailable(f"{self.setting}.http_config: {exc}") from exc
        try:
            async with self.session.post(
                url,
                json=body,
                headers=headers,
                ssl=client.ssl_context() if url.startswith("https:") else False,
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout.total_seconds()),
            ) as response:
                status = response.status
                answer = _json(await response.content.read(MAX_ANSWER_BYTES))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PeerUnavailable(
                f"{self.worker} at {self.settings.url} did not answer: {exc}"
            ) from exc
        if 200 <= status < 300:
            return answer
        error = str(answer.get("error") or f"HTTP {status}")
        if status in (401, 403):
            raise PeerRefused(
                status,
                f"{self.worker} refused this worker's credentials ({error}): give "
                f"{self.setting}.http_config a user with {self.worker}'s admin role",
                None,
            )
        if 400 <= status < 500:
            field = answer.get("field")
            raise PeerRefused(
                status, f"{self.worker}: {error}", field if isinstance(field, str) else None
            )
        raise PeerUnavailable(f"{self.worker} at {self.settings.url} answered {status}: {error}")


def _json(data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
