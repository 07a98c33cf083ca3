"""Local stand-ins for the services notify talks to, and helpers for notify tests.

``PagerDutyFake`` checks events as the Events API v2 does and keeps
PagerDuty's incident state per ``dedup_key``, so a test can count pages the
way an on-call engineer would. ``SlackFake`` is Slack's Web API for a bot
(``chat.postMessage``, ``chat.update``, threads), keeping each channel's
messages as a person would see them. ``HeldServer`` can take a request and hold
its answer (to kill a worker between send and record). ``SmtpFake`` is an
aiosmtpd server that insists on STARTTLS and AUTH, with a certificate made
for the test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.corral.embedded import free_port
from services.notify.config import NotifyConfig
from services.notify.worker import NotifyWorker
from shared.config import KafkaSettings
from shared.kafka.clients import new_producer
from shared.messages import Incident, IncidentAlert
from tests.helpers import RecordingServer, Request

FAST_RETRY = {"initial_backoff": "50ms", "max_backoff": "200ms", "max_elapsed": "5s"}


def incident(
    revision: int = 1,
    status: str = "firing",
    id: str = "inc-1",
    labels: dict[str, str] | None = None,
    alerts: list[IncidentAlert] | None = None,
    opened_at: datetime | None = None,
    **fields: Any,
) -> Incident:
    now = datetime.now(UTC)
    event = {"firing": "opened" if revision == 1 else "updated", "resolved": "resolved"}[status]
    labels = labels if labels is not None else {"alertname": "DiskFull", "team": "storage"}
    return Incident(
        id=id,
        revision=revision,
        event=event,
        status=status,
        correlation_key=f"alertname={labels.get('alertname', '')}",
        title=f"{labels.get('alertname', 'Incident')}: /var is 97% full",
        labels=labels,
        alerts=alerts
        if alerts is not None
        else [
            IncidentAlert(
                fingerprint="c5f2b3a1d4e6f708",
                status=status,
                labels={**labels, "instance": "db-1:9100", "severity": "warning"},
                annotations={"summary": "/var on db-1 is 97% full"},
                generator_url="http://prometheus:9090/graph?g0.expr=disk",
            )
        ],
        severity=fields.pop("severity", "warning"),
        priority=fields.pop("priority", "P3"),
        opened_at=opened_at or now - timedelta(seconds=1),
        updated_at=now,
        resolved_at=now if status == "resolved" else None,
        **fields,
    )


async def publish(kafka: KafkaSettings, *incidents: Incident) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        sent = [
            await producer.send(kafka.topics.incidents, item.to_bytes(), key=item.id.encode())
            for item in incidents
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def notify_config(kafka: KafkaSettings, notify: dict[str, Any]) -> NotifyConfig:
    suffix = kafka.topics.incidents.rsplit(".", 1)[-1]
    return NotifyConfig.model_validate(
        {
            "kafka": kafka.model_dump(),
            "notify": {"group_id": f"notify-{suffix}", "retry": FAST_RETRY, **notify},
        }
    )


def notify_worker(kafka: KafkaSettings, notify: dict[str, Any]) -> NotifyWorker:
    return NotifyWorker(notify_config(kafka, notify))


def one_receiver(name: str, **configs: Any) -> dict[str, Any]:
    """A notify section sending everything to one receiver."""
    return {"route": {"receiver": name}, "receivers": [{"name": name, **configs}]}


@dataclass
class HeldServer(RecordingServer):
    """A RecordingServer that, while ``hold`` is set, takes each request and
    answers only once ``release`` is set."""

    hold: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _handle(self, request: web.Request) -> web.Response:
        if not self.hold:
            return await super()._handle(request)
        recorded = Request(request.path, dict(request.headers), await request.read())
        self.requests.append(recorded)
        await self.arrived.put(recorded)
        await self.release.wait()
        return web.json_response({"ok": True})


@dataclass
class PagerDutyFake(HeldServer):
    """Events API v2 as PagerDuty answers it: 202 for a valid event, 400 otherwise."""

    incidents: dict[str, str] = field(default_factory=dict)
    pages: int = 0

    async def _handle(self, request: web.Request) -> web.Response:
        recorded = Request(request.path, dict(request.headers), await request.read())
        self.requests.append(recorded)
        await self.arrived.put(recorded)
        event = recorded.json()
        problem = self.problem(event)
        if problem:
            return web.json_response({"status": "invalid event", "errors": [problem]}, status=400)
        status, headers = self.responses.pop(0) if self.responses else (202, {})
        if status >= 300:
            return web.json_response({"status": "error"}, status=status, headers=headers)
        self.apply(event)
        if self.hold:
            await self.release.wait()
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]},
            status=202,
        )

    @staticmethod
    def problem(event: dict[str, Any]) -> str | None:
        if len(json.dumps(event).encode()) > 512 * 1024:
            return "event larger than 512 KB"
        if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            return "'event_action' is invalid"
        if not event.get("routing_key") or not event.get("dedup_key"):
            return "'routing_key' and 'dedup_key' are required"
        if event["event_action"] == "trigger":
            payload = event.get("payload") or {}
            if not payload.get("summary") or not payload.get("source"):
                return "'payload.summary' and 'payload.source' are required"
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                return "'payload.severity' is invalid"
        return None

    def apply(self, event: dict[str, Any]) -> None:
        """PagerDuty's rule: a trigger opens an incident unless one is open for the key."""
        key, action = event["dedup_key"], event["event_action"]
        if action == "trigger" and self.incidents.get(key) in (None, "resolved"):
            self.incidents[key] = "triggered"
            self.pages += 1
        elif action == "resolve" and key in self.incidents:
            self.incidents[key] = "resolved"

    def url(self, path: str = "/v2/enqueue") -> str:
        return super().url(path)


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    replies: list[str] = field(default_factory=list)
    updates: int = 0

    @property
    def status(self) -> str:
        """The message's Status field, as a person reads it."""
        for block in self.blocks:
            for field_ in block.get("fields", []):
                if field_["text"].startswith("*Status*"):
                    return str(field_["text"].split("\n", 1)[1])
        return ""

    @property
    def buttons(self) -> list[str]:
        return [
            element["text"]["text"]
            for block in self.blocks
            if block["type"] == "actions"
            for element in block["elements"]
        ]


@dataclass
class SlackFake(RecordingServer):
    """Slack's Web API as a bot token sees it: ``chat.postMessage`` (a new
    message, or a reply with ``thread_ts``) and ``chat.update``, JSON bodies
    with ``Authorization: Bearer``; answers ``{"ok": false, "error": ...}``
    for what Slack would refuse."""

    token: str = "xoxb-test"
    channels: dict[str, str] = field(default_factory=lambda: {"#oncall": "C0ONCALL"})
    messages: dict[str, SlackMessage] = field(default_factory=dict)
    changed: asyncio.Queue[SlackMessage] = field(default_factory=asyncio.Queue)
    _clock: int = 1_700_000_000

    async def _handle(self, request: web.Request) -> web.Response:
        recorded = Request(request.path, dict(request.headers), await request.read())
        self.requests.append(recorded)
        await self.arrived.put(recorded)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return web.json_response({"ok": False, "error": "invalid_arguments"})
        body = recorded.json()
        channel = self.channels.get(body.get("channel", ""), body.get("channel", ""))
        if not channel.startswith("C"):
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if request.path.endswith("/chat.postMessage"):
            parent = body.get("thread_ts")
            if parent:
                self.messages[parent].replies.append(body["text"])
                await self.changed.put(self.messages[parent])
                return web.json_response({"ok": True, "channel": channel, "ts": self._ts()})
            posted = SlackMessage(channel, self._ts(), body["text"], body.get("blocks", []))
            self.messages[posted.ts] = posted
            await self.changed.put(posted)
            return web.json_response({"ok": True, "channel": channel, "ts": posted.ts})
        if request.path.endswith("/chat.update"):
            found = self.messages.get(body.get("ts", ""))
            if found is None or found.channel != channel:
                return web.json_response({"ok": False, "error": "message_not_found"})
            found.text, found.blocks = body["text"], body.get("blocks", [])
            found.updates += 1
            await self.changed.put(found)
            return web.json_response({"ok": True, "channel": channel, "ts": found.ts})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)

    def _ts(self) -> str:
        self._clock += 1
        return f"{self._clock}.000100"

    def api(self) -> str:
        return self.url("/api/")

    async def until(self, check: Any, timeout: float = 30.0) -> SlackMessage:
        """The first message change that passes ``check``."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.changed.get()
                if check(message):
                    return message


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the SMTP server's certificate")
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class _Mailbox:
    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[EmailMessage]):
        self.loop = loop
        self.queue = queue
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.loop.call_soon_threadsafe(self.queue.put_nowait, message)
        return "250 Message accepted for delivery"


class SmtpFake:
    """An SMTP server requiring STARTTLS, then AUTH as ``user``/``password``;
    with ``tls=False`` an old server that offers AUTH without any TLS."""

    def __init__(
        self, directory: Path, user: str = "corral", password: str = "s3cret", tls: bool = True
    ):
        context: ssl.SSLContext | None = None
        if tls:
            self.cert, key = self_signed_cert(directory)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert, key)
        self.port = free_port()
        self.messages: asyncio.Queue[EmailMessage] = asyncio.Queue()
        self.mailbox = _Mailbox(asyncio.get_running_loop(), self.messages)
        self.logins: list[str] = []

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                user.encode(),
                password.encode(),
            )
            if ok:
                self.logins.append(user)
            return AuthResult(success=ok)

        self.controller = Controller(
            self.mailbox,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=tls,
            auth_required=True,
            auth_require_tls=tls,
            authenticator=authenticate,
        )

    def start(self) -> SmtpFake:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    async def next(self, timeout: float = 20.0) -> EmailMessage:
        return await asyncio.wait_for(self.messages.get(), timeout)
