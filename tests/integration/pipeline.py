"""The three workers wired to a test's own topics and receiver, run in-process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from services.ingest.config import IngestConfig
from services.ingest.worker import IngestWorker
from services.notify.config import NotifyConfig
from services.notify.worker import NotifyWorker
from services.triage.config import TriageConfig
from services.triage.worker import TriageWorker
from shared.config import KafkaSettings
from shared.web.guard import WebSecurity
from tests.helpers import running, wait_ready


@dataclass
class Pipeline:
    ingest_url: str
    ingest: IngestWorker
    triage: TriageWorker
    notify: NotifyWorker
    notify_url: str


@contextlib.asynccontextmanager
async def pipeline(
    kafka: KafkaSettings,
    notify: dict[str, Any],
    triage: dict[str, Any] | None = None,
    ingest: dict[str, Any] | None = None,
    security: WebSecurity | None = None,
) -> AsyncIterator[Pipeline]:
    """``security`` (a web config) guards ingest's and notify's listeners, as ``serve`` would."""
    security = security or WebSecurity()
    suffix = kafka.topics.alerts.rsplit(".", 1)[-1]
    common = {"kafka": kafka.model_dump()}
    ingest_worker = IngestWorker(IngestConfig.model_validate({**common, "ingest": ingest or {}}))
    triage_worker = TriageWorker(
        TriageConfig.model_validate(
            {**common, "triage": {"group_id": f"triage-{suffix}", **(triage or {})}}
        )
    )
    notify_worker = NotifyWorker(
        NotifyConfig.model_validate(
            {**common, "notify": {"group_id": f"notify-{suffix}", **notify}}
        )
    )
    async with (
        running(ingest_worker, ingest_worker.app(security), security) as port,
        running(triage_worker),
        running(notify_worker, notify_worker.app(security), security) as notify_port,
    ):
        await wait_ready(triage_worker)
        await wait_ready(notify_worker)
        url = f"{security.scheme}://127.0.0.1:{port}"
        notify_url = f"{security.scheme}://127.0.0.1:{notify_port}"
        yield Pipeline(url, ingest_worker, triage_worker, notify_worker, notify_url)


def webhook_route(url: str, **webhook: Any) -> dict[str, Any]:
    """A notify section sending everything to one webhook receiver."""
    return {
        "route": {"receiver": "oncall"},
        "receivers": [{"name": "oncall", "webhook_configs": [{"url": url, **webhook}]}],
        "retry": {"initial_backoff": "50ms", "max_backoff": "200ms", "max_elapsed": "5s"},
    }
