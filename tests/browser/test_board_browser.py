"""The incident board in headless Chromium, as a responder uses it.

ingest, triage, notify and incidents run on the test broker behind a web
config (the responder signs in with basic auth; the board acts as that user),
and the browser holds the board open while alerts arrive and the incident
is acknowledged, assigned, noted, silenced and resolved on its own page.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from services.incidents.worker import IncidentsWorker
from shared.config import KafkaSettings
from shared.messages import Feedback, Incident
from shared.web.guard import WebSecurity
from tests.alertmanager import NODE_DOWN, NODE_DOWN_TEXT, am_alert, send
from tests.helpers import RecordingServer, Request, read_topic, running, wait_ready
from tests.incidents import alert, incidents_config, publish, revision
from tests.integration.pipeline import pipeline, webhook_route
from tests.integration.test_board import web_config
from tests.integration.test_web_security import PASSWORDS, basic

pytestmark = pytest.mark.broker

SIGNED_IN = {"username": "oncall", "password": PASSWORDS["oncall"]}
ARRIVAL_TIMEOUT_MS = 20_000


@dataclass
class Corral:
    board_url: str
    ingest_url: str
    receiver: RecordingServer


def one_receiver(receiver: RecordingServer) -> dict[str, Any]:
    return webhook_route(receiver.url())


STEP_2_AFTER = 8.0


def escalating(receiver: RecordingServer) -> dict[str, Any]:
    """An escalation policy: ``/primary`` paged at once, ``/secondary`` STEP_2_AFTER later."""
    steps = {"primary": "0s", "secondary": f"{STEP_2_AFTER:g}s"}
    return {
        **webhook_route(receiver.url()),
        "route": {"receiver": "primary", "routes": [{"escalation": "oncall"}]},
        "escalation_policies": [
            {
                "name": "oncall",
                "steps": [{"after": after, "receivers": [name]} for name, after in steps.items()],
            }
        ],
        "receivers": [
            {"name": name, "webhook_configs": [{"url": receiver.url(f"/{name}")}]} for name in steps
        ],
    }


def paged(receiver: RecordingServer, path: str) -> list[str]:
    """The incident ids of the pages ``path`` has had so far."""
    return [r.json()["id"] for r in receiver.requests if r.path == path]


async def next_to(receiver: RecordingServer, path: str) -> Request:
    while (request := await receiver.next()).path != path:
        pass
    return request


@contextlib.asynccontextmanager
async def whole_pipeline(
    kafka: KafkaSettings,
    directory: Path,
    routes: Callable[[RecordingServer], dict[str, Any]] = one_receiver,
) -> AsyncIterator[Corral]:
    """The four workers with authentication on; notify's section is ``routes``
    of the test receiver (whose paths can tell receivers apart); incidents
    silences through notify and sends verdicts through ingest as the admin user."""
    security = WebSecurity.load(web_config(directory))
    receiver = await RecordingServer().start()
    try:
        async with pipeline(kafka, routes(receiver), security=security) as stack:
            admin = {"basic_auth": {"username": "oncall", "password": PASSWORDS["oncall"]}}
            worker = IncidentsWorker(
                incidents_config(
                    kafka,
                    "sqlite",
                    str(directory),
                    notify_api={"url": stack.notify_url, "http_config": admin},
                    ingest_api={"url": stack.ingest_url, "http_config": admin},
                )
            )
            async with running(worker, worker.app(security), security) as port:
                await wait_ready(worker)
                yield Corral(f"http://127.0.0.1:{port}", stack.ingest_url, receiver)
    finally:
        await receiver.stop()


@contextlib.asynccontextmanager
async def incidents_only(kafka: KafkaSettings, directory: Path) -> AsyncIterator[str]:
    """An incidents worker without a web config (as `make run` starts it)."""
    worker = IncidentsWorker(incidents_config(kafka, "sqlite", str(directory)))
    async with running(worker, worker.app()) as port:
        await wait_ready(worker)
        yield f"http://127.0.0.1:{port}"


class Console:
    """What the page said in its console: an error or a CSP violation fails the test."""

    def __init__(self, *pages: Page):
        self.problems: list[str] = []
        for page in pages:
            page.on("console", self._message)
            page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _message(self, message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(message.text)


@contextlib.asynccontextmanager
async def context(browser: Browser, url: str, **options: Any) -> AsyncIterator[BrowserContext]:
    opened = await browser.new_context(base_url=url, **options)
    opened.set_default_timeout(10_000)
    try:
        yield opened
    finally:
        await opened.close()


async def test_an_alert_appears_live_and_is_handled_from_its_page(
    browser: Browser, kafka: KafkaSettings, tmp_path: Path
) -> None:
    async with (
        whole_pipeline(kafka, tmp_path, escalating) as corral,
        context(browser, corral.board_url, http_credentials=SIGNED_IN) as signed_in,
    ):
        board = await signed_in.new_page()
        incident = await signed_in.new_page()
        console = Console(board, incident)
        await board.goto("/")
        await expect(board.locator("#connection")).to_have_text("Live")
        await expect(board.locator("#board-empty")).to_be_visible()
        # Set once: still there at the end only if the board never reloaded.
        await board.evaluate("window.corralNeverReloaded = true")

        await send(corral.ingest_url, [am_alert(NODE_DOWN, NODE_DOWN_TEXT)], basic("alertmanager"))
        row = board.locator("#incidents tr", has_text="KubeNodeNotReady")
        await expect(row).to_be_visible(timeout=ARRIVAL_TIMEOUT_MS)
        await expect(row.locator(".state")).to_have_text("firing")
        await expect(board.locator("#board-summary")).to_have_text("1 incident")
        incident_id = (await row.get_attribute("id") or "").removeprefix("incident-")
        page = await corral.receiver.next()
        assert (page.path, page.json()["id"]) == ("/primary", incident_id)
        step_2_due = time.monotonic() + STEP_2_AFTER

        await incident.goto(f"/incidents/{incident_id}")
        await expect(incident.locator("h1")).to_contain_text("KubeNodeNotReady")
        await expect(incident.locator("#members")).to_contain_text("node=worker-7")
        source = incident.locator("#members a", has_text="source")
        assert (await source.get_attribute("href") or "").startswith("http://prometheus:9090/")
        await expect(incident.locator("#why")).to_contain_text("Score")

        await incident.get_by_label("Comment").fill("on it")
        await incident.get_by_role("button", name="Acknowledge").click()
        await expect(incident.locator("#action-status")).to_have_text("Acknowledged by oncall.")
        await expect(incident.locator("#state")).to_have_text("acknowledged")
        await expect(incident.locator("#timeline")).to_contain_text(
            "acknowledged by oncall via board: on it"
        )
        await expect(row.locator(".state")).to_have_text("acknowledged by oncall")
        assert time.monotonic() < step_2_due, "acknowledged too late to tell"
        await asyncio.sleep(step_2_due + 2 - time.monotonic())
        assert paged(corral.receiver, "/secondary") == []

        await incident.get_by_label("Role").select_option("incident_commander")
        await incident.get_by_label("Person").fill("carol")
        await incident.get_by_role("button", name="Assign").click()
        await expect(incident.locator("#action-status")).to_have_text(
            "carol is incident commander."
        )
        await expect(row.locator(".commander")).to_have_text("carol")

        await incident.get_by_label("Note").fill("worker-7 lost its disk; cordoned")
        await incident.get_by_role("button", name="Add note").click()
        await expect(incident.locator("#timeline")).to_contain_text(
            "note by oncall: worker-7 lost its disk; cordoned"
        )

        await incident.get_by_role("button", name="Escalate now").click()
        await expect(incident.locator("#action-status")).to_have_text(
            "Escalated: the next step is paged now."
        )
        await expect(incident.locator("#timeline")).to_contain_text("escalated by oncall via board")
        await next_to(corral.receiver, "/secondary")
        await expect(incident.locator("#timeline")).to_contain_text("escalation step 2")

        await incident.get_by_label("For").select_option("4h")
        await incident.get_by_label("Reason").fill("node replacement")
        await incident.get_by_role("button", name="Silence").click()
        await expect(incident.locator("#action-status")).to_contain_text("Silenced until")
        await expect(incident.locator("#timeline")).to_contain_text("silenced in notify for 4h")

        await incident.get_by_label("Verdict").select_option(label="Should have been P2")
        await incident.get_by_role("button", name="Send verdict").click()
        await expect(incident.locator("#action-status")).to_have_text("Verdict sent: thank you.")
        await expect(incident.locator("#timeline")).to_contain_text("it deserved P2")
        [verdict] = await read_topic(kafka, kafka.topics.feedback)
        assert Feedback.from_bytes(verdict).priority == "P2"

        await incident.get_by_role("button", name="Resolve").click()
        await expect(incident.locator("#action-status")).to_have_text("Resolved.")
        await expect(incident.get_by_role("button", name="Reopen")).to_be_visible()
        await expect(row).to_have_count(0)
        await expect(board.locator("#board-empty")).to_be_visible()
        assert await board.evaluate("window.corralNeverReloaded") is True

        await incident.get_by_role("link", name="Post-incident review").click()
        await expect(incident.locator("h1")).to_contain_text("Post-incident review")
        await expect(incident.locator("article")).to_contain_text("Acknowledged by oncall after")
        async with incident.expect_download() as download:
            await incident.get_by_role("link", name="Download as Markdown").click()
        saved = await download.value
        assert saved.suggested_filename == f"review-{incident_id}.md"
        markdown = await asyncio.to_thread(Path(await saved.path()).read_text)
        assert markdown.startswith("# Post-incident review: KubeNodeNotReady")
        assert "worker-7 lost its disk; cordoned" in markdown
        assert console.problems == []


async def test_a_keyboard_is_enough(browser: Browser, kafka: KafkaSettings, tmp_path: Path) -> None:
    await publish(
        kafka,
        kafka.topics.incidents,
        revision(1, [alert("Latency")], 0, id="inc-p2", title="checkout slow", priority="P2"),
        revision(1, [alert("DiskFull")], 5, id="inc-p1", title="db-1 disk full", priority="P1"),
    )
    async with (
        incidents_only(kafka, tmp_path) as url,
        context(browser, url) as anonymous,
    ):
        page = await anonymous.new_page()
        console = Console(page)
        await page.goto("/")
        titles = page.locator("#incidents th.title a")
        await expect(titles).to_have_count(2)
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        await page.keyboard.press("j")
        await expect(titles.nth(0)).to_be_focused()
        await expect(titles.nth(0)).to_have_text("db-1 disk full")  # P1 before P2
        await page.keyboard.press("j")
        await expect(titles.nth(1)).to_be_focused()
        await page.keyboard.press("k")
        await expect(titles.nth(0)).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(f"{url}/incidents/inc-p1")

        # No web config: the board asks who acts, and keeps it for the next time.
        await page.get_by_role("button", name="Acknowledge").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#action-status")).to_have_text(
            "Enter your name first: it goes on the timeline."
        )
        await expect(page.get_by_label("Your name")).to_be_focused()
        await page.keyboard.type("dana")
        for _ in range(10):  # Tab along to the button, as a keyboard user does
            await page.keyboard.press("Tab")
            if await page.evaluate("document.activeElement.value") == "ack":
                break
        await expect(page.get_by_role("button", name="Acknowledge")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("#action-status")).to_have_text("Acknowledged by dana.")
        # The button it pressed is gone (the incident is acknowledged): focus is on the news.
        await expect(page.locator("#action-status")).to_be_focused()
        await page.keyboard.press("b")
        await expect(page).to_have_url(f"{url}/")
        await expect(page.locator("#incident-inc-p1 .state")).to_have_text("acknowledged by dana")
        await page.keyboard.press("/")
        await expect(page.get_by_label("State")).to_be_focused()
        assert console.problems == []


def team_incident(id: str, team: str, priority: str, version: int = 1) -> Incident:
    return revision(
        version,
        [alert("DiskFull", team=team)],
        version,
        id=id,
        title=f"{id}: disk full",
        priority=priority,
        labels={"cluster": "prod", "team": team},
    )


async def test_filters_live_in_the_url_and_a_bookmark_keeps_them(
    browser: Browser, kafka: KafkaSettings, tmp_path: Path
) -> None:
    await publish(
        kafka,
        kafka.topics.incidents,
        team_incident("db-p1", "db", "P1"),
        team_incident("db-p3", "db", "P3"),
        team_incident("web-p1", "web", "P1"),
    )
    async with incidents_only(kafka, tmp_path) as url, context(browser, url) as opened:
        everything, bookmarked = await opened.new_page(), await opened.new_page()
        console = Console(everything, bookmarked)
        await everything.goto("/")
        titles = everything.locator("#incidents th.title a")
        await expect(titles).to_have_count(3)

        await everything.get_by_role("checkbox", name="P1").check()
        await everything.get_by_label("Team").fill("db")
        await everything.get_by_role("button", name="Show").click()
        await expect(titles).to_have_text(["db-p1: disk full"])
        query = parse_qs(urlsplit(everything.url).query)
        assert (query["priority"], query["team"]) == (["P1"], ["db"])

        # The URL is the view: opened again (a bookmark), it shows the same, form included.
        await bookmarked.goto(everything.url)
        shown = bookmarked.locator("#incidents th.title a")
        await expect(shown).to_have_text(["db-p1: disk full"])
        await expect(bookmarked.get_by_role("checkbox", name="P1")).to_be_checked()
        await expect(bookmarked.get_by_role("checkbox", name="P3")).not_to_be_checked()
        await expect(bookmarked.get_by_label("Team")).to_have_value("db")
        await bookmarked.evaluate("window.corralNeverReloaded = true")

        # Live, the filtered board takes what matches and lets go of what stops matching.
        await everything.get_by_role("link", name="Clear filters").click()
        await expect(titles).to_have_count(3)
        await publish(kafka, kafka.topics.incidents, team_incident("web-p1b", "web", "P1"))
        await expect(everything.locator("#incident-web-p1b")).to_be_visible()
        await publish(kafka, kafka.topics.incidents, team_incident("db-p1b", "db", "P1"))
        await expect(shown).to_have_text(["db-p1: disk full", "db-p1b: disk full"])
        await publish(kafka, kafka.topics.incidents, team_incident("db-p1", "db", "P3", 2))
        await expect(everything.locator("#incident-db-p1 .badge")).to_have_text("P3")
        await expect(shown).to_have_text(["db-p1b: disk full"])
        await expect(bookmarked.locator("#board-summary")).to_have_text("1 incident")
        assert await bookmarked.evaluate("window.corralNeverReloaded") is True
        assert console.problems == []


async def test_a_phone_shows_cards_that_fit(
    browser: Browser, kafka: KafkaSettings, tmp_path: Path
) -> None:
    long_title = "KubePersistentVolumeFillingUp: " + "very-long-volume-name-" * 4
    await publish(
        kafka,
        kafka.topics.incidents,
        revision(1, [alert("DiskFull")], 0, title=long_title),
    )
    phone = {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
    }
    async with incidents_only(kafka, tmp_path) as url, context(browser, url, **phone) as opened:
        page = await opened.new_page()
        await page.goto("/")
        link = page.get_by_role("link", name=long_title)
        await expect(link).to_be_visible()
        await expect(page.locator("table.board thead")).to_be_hidden()
        await expect(page.locator("#incident-inc-1 .state")).to_contain_text("firing")
        box = await page.locator("#incident-inc-1").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await link.tap()
        await expect(page.locator("h1")).to_have_text(long_title)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        button = await page.get_by_role("button", name="Acknowledge").bounding_box()
        assert button is not None and button["height"] >= 40  # a finger's target
