"""Local stand-ins for the services notify talks to, and helpers for notify tests.

``PagerDutyFake`` checks events as the Events API v2 does and keeps
PagerDuty's incident state per ``dedup_key``, so a test can count pages the
way an on-call engineer would. ``HeldServer`` can take a request and hold
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
