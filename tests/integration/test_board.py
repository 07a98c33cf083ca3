"""The incident board over HTTP: its pages behind the web security layer, what
they show of alert content, the live stream, and silencing through notify.

(The browser tests in tests/browser drive the same pages in Chromium.)
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.incidents.board.pages import CONTENT_SECURITY_POLICY
from services.incidents.worker import IncidentsWorker
from services.ingest.config import IngestConfig
from services.ingest.worker import IngestWorker
from shared.config import KafkaSettings
from shared.messages import AlertStatus, Feedback, IncidentAlert
from shared.web.guard import WebSecurity
from tests.helpers import read_topic, running, wait_ready
from tests.incidents import T0, action, alert, eventually, incidents_config, publish, revision
from tests.integration.notify_fakes import notify_worker
from tests.integration.test_web_security import PASSWORDS, basic, write_web_config

pytestmark = pytest.mark.broker

ONCALL = basic("oncall")  # the admin role
READER = basic("alertmanager")  # any authenticated user may read


@dataclass
class Site:
    url: str
    kafka: KafkaSettings

    async def get(
        self, path: str, headers: dict[str, str] | None = ONCALL
    ) -> tuple[int, str, dict[str, str]]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}{path}", headers=headers) as response,
        ):
            return response.status, await response.text(), dict(response.headers)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}{path}", json=body, headers=ONCALL) as response,
        ):
            return response.status, await response.json()

    async def shows(self, incident_id: str, text: str) -> None:
        async def check() -> bool:
            status, page, _ = await self.get(f"/incidents/{incident_id}")
            return status == 200 and text in page

        await eventually(check)


def web_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return write_web_config(directory)


@contextlib.asynccontextmanager
async def site(
    kafka: KafkaSettings, directory: Path, **settings: Any
) -> AsyncIterator[tuple[Site, IncidentsWorker]]:
    security = WebSecurity.load(web_config(directory))
    worker = IncidentsWorker(
        incidents_config(kafka, "sqlite", str(directory), action_wait="15s", **settings)
    )
    async with running(worker, worker.app(security), security) as port:
        await wait_ready(worker)
        yield Site(f"http://127.0.0.1:{port}", kafka), worker


@pytest.fixture
async def board(kafka: KafkaSettings, tmp_path: Path) -> AsyncIterator[Site]:
    async with site(kafka, tmp_path) as (found, _):
        yield found


async def test_pages_need_a_user_and_carry_a_strict_policy(board: Site) -> None:
    await publish(board.kafka, board.kafka.topics.incidents, revision(1, [alert("DiskFull")], 0))
    await board.shows("inc-1", "DiskFull")
    for path in ("/", "/incidents/inc-1", "/incidents/inc-1/review", "/static/board.js"):
        status, _, headers = await board.get(path, headers=None)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith("Basic")
    status, page, headers = await board.get("/")
    assert status == 200
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    # Scripts and styles only from files this worker serves, none inline.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "<style" not in page and " style=" not in page and " on" + "click=" not in page
    script = re.search(r'<script src="(/static/board\.js\?v=[^"]+)"', page)
    assert script is not None
    status, text, headers = await board.get(script.group(1))
    assert status == 200 and "EventSource" in text
    assert headers["Content-Type"].startswith("text/javascript") or headers[
        "Content-Type"
    ].startswith("application/javascript")
    # Nothing secret in a page: no password, hash or token of the web config.
    for secret in PASSWORDS.values():
        assert secret not in page


async def test_a_reader_sees_the_incident_without_the_buttons(board: Site) -> None:
    await publish(board.kafka, board.kafka.topics.incidents, revision(1, [alert("DiskFull")], 0))
    await board.shows("inc-1", "DiskFull")
    status, page, _ = await board.get("/incidents/inc-1", headers=READER)
    assert status == 200
    assert "Signed in as <strong>alertmanager</strong> (read only)" in page
    assert "needs the <code>admin</code> role" in page
    assert 'value="ack"' not in page
    _, page, _ = await board.get("/incidents/inc-1")
    assert "Signed in as <strong>oncall</strong>" in page
    assert 'value="ack"' in page and 'value="silence"' in page


async def test_alert_content_is_text_and_only_http_links_are_links(board: Site) -> None:
    hostile = IncidentAlert(
        fingerprint="fp-x",
        status=AlertStatus.FIRING,
        labels={"alertname": "Evil", "team": "storage", "pod": '"><img src=x onerror=alert(1)>'},
        annotations={
            "summary": "<script>alert('summary')</script>",
            "runbook_url": "javascript:alert(document.cookie)",
            "dashboard": "https://grafana.example/d/disk",
        },
        starts_at=T0,
        generator_url="data:text/html,<script>alert(1)</script>",
    )
    await publish(
        board.kafka,
        board.kafka.topics.incidents,
        revision(1, [hostile], 0, title="<b>bold</b> & <script>alert('title')</script>"),
    )
    await board.shows("inc-1", "Evil")
    for path in ("/", "/incidents/inc-1", "/incidents/inc-1/review"):
        _, page, _ = await board.get(path)
        assert "<script>alert" not in page, path
        assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in page, path
        assert "<img src=x" not in page
    _, page, _ = await board.get("/incidents/inc-1")
    assert "javascript:" not in page and "data:text/html" not in page
    assert '<a href="https://grafana.example/d/disk" rel="noopener noreferrer"' in page
    assert "&lt;script&gt;alert(&#39;summary&#39;)" in page


async def test_filters_are_in_the_url(board: Site) -> None:
    await publish(
        board.kafka,
        board.kafka.topics.incidents,
        revision(1, [alert("DiskFull")], 0, id="db-p1", title="db disk", priority="P1"),
        revision(
            1,
            [alert("Latency", team="web")],
            1,
            id="web-p3",
            title="web latency",
            priority="P3",
            labels={"team": "web"},
        ),
    )
    await board.shows("web-p3", "web latency")
    _, page, _ = await board.get("/")
    assert "db disk" in page and "web latency" in page
    # The board's order: the most urgent first.
    assert page.index("db disk") < page.index("web latency")
    _, page, _ = await board.get("/?team=web")
    assert "web latency" in page and "db disk" not in page
    _, page, _ = await board.get("/?priority=P1&priority=P2")
    assert "db disk" in page and "web latency" not in page
    assert 'value="P1" checked' in page and 'value="P2" checked' in page
    _, page, _ = await board.get("/?state=resolved")
    assert "db disk" not in page and "Nothing here" in page
    status, page, _ = await board.get("/?priority=P9")
    assert status == 422
    assert "priority: &#39;P9&#39; is not one of P1, P2, P3, P4, P5" in page


async def test_the_review_is_a_page_and_a_markdown_download(board: Site) -> None:
    await publish(
        board.kafka,
        board.kafka.topics.incidents,
        revision(1, [alert("DiskFull")], 0),
        revision(2, [alert("DiskFull", status="resolved")], 600),
    )
    await board.shows("inc-1", "resolved")
    status, page, headers = await board.get("/incidents/inc-1/review")
    assert status == 200
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<h1>Post-incident review: DiskFull: /var on db-1 is 97% full</h1>" in page
    assert "Resolved when its alerts resolved after 10m 00s." in page
    status, text, headers = await board.get("/incidents/inc-1/review.md")
    assert status == 200
    assert headers["Content-Disposition"] == 'attachment; filename="review-inc-1.md"'
    assert text.startswith("# Post-incident review: DiskFull")
    status, page, _ = await board.get("/incidents/nope")
    assert status == 404 and "No incident &#39;nope&#39;." in page


async def read_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """Server-Sent Events as (name, data), as EventSource hands them to the page."""
    name, data = "message", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and data:
            yield name, json.loads(data)
            name, data = "message", ""


@contextlib.asynccontextmanager
async def stream(
    board: Site, path: str
) -> AsyncIterator[tuple[aiohttp.ClientResponse, AsyncIterator[tuple[str, Any]]]]:
    """inc-1 on the board, then the events of ``path`` as a page follows them."""
    kafka = board.kafka
    await publish(kafka, kafka.topics.incidents, revision(1, [alert("DiskFull")], 0))
    await board.shows("inc-1", "DiskFull")
    async with (
        aiohttp.ClientSession(headers=ONCALL) as session,
        session.get(f"{board.url}{path}") as response,
    ):
        yield response, read_events(response)


async def test_the_stream_starts_with_a_snapshot_then_sends_what_changed(board: Site) -> None:
    kafka = board.kafka
    async with stream(board, "/board/events?priority=P1,P2") as (response, events):
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        name, snapshot = await anext(events)
        assert name == "snapshot" and snapshot["more"] is False
        [row] = snapshot["rows"]
        assert 'id="incident-inc-1"' in row and "DiskFull" in row

        async def next_rows() -> dict[str, str | None]:
            name, data = await anext(events)
            assert name == "rows"
            return {r["id"]: r["html"] for r in data["rows"]}

        await publish(
            kafka,
            kafka.topics.incidents,
            revision(1, [alert("Latency")], 5, id="inc-2", title="checkout slow", priority="P2"),
        )
        rows = await next_rows()
        assert "checkout slow" in (rows["inc-2"] or "")
        await publish(kafka, kafka.topics.actions, action("acknowledge", 6, actor="carol"))
        rows = await next_rows()
        assert "acknowledged" in (rows["inc-1"] or "") and "by carol" in (rows["inc-1"] or "")
        # Not this board's: a P4, and an incident resolved.
        await publish(
            kafka,
            kafka.topics.incidents,
            revision(1, [alert("Noise")], 7, id="inc-3", priority="P4"),
        )
        assert await next_rows() == {"inc-3": None}
        await publish(
            kafka,
            kafka.topics.incidents,
            revision(2, [alert("DiskFull", status="resolved")], 8),
        )
        assert await next_rows() == {"inc-1": None}


async def test_an_incident_page_hears_its_incident_change(board: Site) -> None:
    kafka = board.kafka
    async with stream(board, "/incidents/inc-1/events") as (_, events):
        name, hello = await anext(events)
        assert name == "hello" and hello["updated_at"] == "2026-11-26T10:00:00.000Z"
        await publish(kafka, kafka.topics.actions, action("note", 3, text="disk swapped"))
        assert await anext(events) == ("changed", {"id": "inc-1"})
    status, _, _ = await board.get("/incidents/nope/events")
    assert status == 404


async def test_streams_are_bounded(kafka: KafkaSettings, tmp_path: Path) -> None:
    async with (
        site(kafka, tmp_path, board={"max_streams": 1}) as (found, _),
        aiohttp.ClientSession(headers=ONCALL) as session,
        session.get(f"{found.url}/board/events") as first,
    ):
        assert first.status == 200
        await anext(read_events(first))
        async with session.get(f"{found.url}/board/events") as second:
            assert second.status == 503
            assert "incidents.board.max_streams" in (await second.json())["error"]


async def test_silence_makes_a_silence_in_notify_and_notes_it(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    security = WebSecurity.load(write_web_config(tmp_path))
    notify = notify_worker(kafka, {})
    async with running(notify, notify.app(security), security) as notify_port:
        password = tmp_path / "oncall.password"
        password.write_text(PASSWORDS["oncall"] + "\n")
        notify_api = {
            "url": f"http://127.0.0.1:{notify_port}",
            "http_config": {"basic_auth": {"username": "oncall", "password_file": str(password)}},
        }
        async with site(kafka, tmp_path / "incidents", notify_api=notify_api) as (found, _):
            await publish(kafka, kafka.topics.incidents, revision(1, [alert("DiskFull")], 0))
            await found.shows("inc-1", "DiskFull")
            status, answer = await found.post(
                "/api/v1/incidents/inc-1/silence",
                {"duration": "2h", "comment": "disk swap", "source": "board"},
            )
            assert status == 200, answer
            silence_id = answer["silenceID"]
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"http://127.0.0.1:{notify_port}/api/v1/silences/{silence_id}", headers=ONCALL
                ) as response,
            ):
                silence = await response.json()
            assert silence["status"]["state"] == "active"
            assert silence["createdBy"] == "oncall"
            assert silence["comment"] == "disk swap"
            assert silence["matchers"] == [
                {"name": "incident_id", "value": "inc-1", "isRegex": False, "isEqual": True}
            ]
            await found.shows("inc-1", f"silenced in notify for 2h, until {answer['endsAt']}")
            status, answer = await found.post(
                "/api/v1/incidents/inc-1/silence", {"duration": "400d"}
            )
            assert (status, answer["field"]) == (422, "duration")
            status, answer = await found.post("/api/v1/incidents/nope/silence", {"duration": "1h"})
            assert status == 404


async def test_silence_says_what_is_wrong_with_notify(kafka: KafkaSettings, tmp_path: Path) -> None:
    security = WebSecurity.load(write_web_config(tmp_path))
    notify = notify_worker(kafka, {})
    async with running(notify, notify.app(security), security) as notify_port:
        # No credentials for notify: the worker's configuration is wrong, not the request.
        notify_api = {"url": f"http://127.0.0.1:{notify_port}"}
        async with site(kafka, tmp_path / "a", notify_api=notify_api) as (found, _):
            await publish(kafka, kafka.topics.incidents, revision(1, [alert("DiskFull")], 0))
            await found.shows("inc-1", "DiskFull")
            status, answer = await found.post("/api/v1/incidents/inc-1/silence", {"duration": "1h"})
            assert status == 502
            assert "incidents.notify_api.http_config" in answer["error"]
    async with site(kafka, tmp_path / "b", notify_api=notify_api) as (found, _):
        await found.shows("inc-1", "DiskFull")
        status, answer = await found.post("/api/v1/incidents/inc-1/silence", {"duration": "1h"})
        assert status == 502
        assert answer["error"].startswith(f"notify at {notify_api['url']} did not answer")


async def test_a_verdict_goes_to_ingest_and_on_the_timeline(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    security = WebSecurity.load(web_config(tmp_path))
    ingest = IngestWorker(IngestConfig.model_validate({"kafka": kafka.model_dump()}))
    async with running(ingest, ingest.app(security), security) as ingest_port:
        ingest_api = {
            "url": f"http://127.0.0.1:{ingest_port}",
            "http_config": {"basic_auth": {"username": "oncall", "password": PASSWORDS["oncall"]}},
        }
        async with site(kafka, tmp_path / "incidents", ingest_api=ingest_api) as (found, _):
            await publish(
                kafka,
                kafka.topics.incidents,
                revision(1, [alert("DiskFull")], 0),
                revision(2, [alert("DiskFull"), alert("Inodes")], 9),
            )
            await found.shows("inc-1", "Inodes")
            status, answer = await found.post(
                "/api/v1/incidents/inc-1/verdict",
                {"verdict": "priority", "priority": "P3", "comment": "can wait", "source": "board"},
            )
            assert status == 200, answer
            [record] = await read_topic(kafka, kafka.topics.feedback)
            feedback = Feedback.from_bytes(record)
            assert (feedback.incident_id, feedback.verdict, feedback.priority) == (
                "inc-1",
                "priority",
                "P3",
            )
            assert (feedback.revision, feedback.author, feedback.source) == (2, "oncall", "board")
            assert feedback.comment == "can wait"
            await found.shows("inc-1", "verdict on revision 2: it deserved P3: can wait")
            status, answer = await found.post("/api/v1/incidents/inc-1/verdict", {"verdict": "P3"})
            assert (status, answer["field"]) == (422, "verdict")
            status, answer = await found.post(
                "/api/v1/incidents/inc-1/verdict", {"verdict": "priority"}
            )
            assert status == 422 and answer["error"].startswith("priority")
