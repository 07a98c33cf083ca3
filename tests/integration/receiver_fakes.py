"""Local stand-ins for Teams, Opsgenie, Discord and Telegram, answering as
their APIs do: the same paths, authentication, limits and error bodies, and
the state an on-call engineer would look at (Opsgenie's alerts by alias).

Each checks what it receives against the service's documented rules and
answers the service's own error for a request that breaks one, so a test
fails the way production would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers import RecordingServer, Request


@dataclass
class ServiceFake(RecordingServer):
    """A RecordingServer whose answers come from ``answer``; ``responses``
    (status, headers) still go first, for outages and rate limits."""

    statuses: list[int] = field(default_factory=list)

    async def _handle(self, request: web.Request) -> web.Response:
        recorded = Request(request.path_qs, dict(request.headers), await request.read())
        if self.responses:
            status, headers = self.responses.pop(0)
            response = self.outage(status, headers)
        else:
            response = self.answer(request, recorded)
        self.statuses.append(response.status)
        self.requests.append(recorded)
        await self.arrived.put(recorded)
        return response

    def outage(self, status: int, headers: dict[str, str]) -> web.Response:
        return web.json_response({"error": "unavailable"}, status=status, headers=headers)

    def answer(self, request: web.Request, recorded: Request) -> web.Response:
        raise NotImplementedError


@dataclass
class TeamsWorkflowFake(ServiceFake):
    """A Teams workflow's "When a Teams webhook request is received" trigger."""

    cards: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, request: web.Request, recorded: Request) -> web.Response:
        if len(recorded.body) > 28 * 1024:
            return web.json_response({"error": {"code": "MessageSizeTooBig"}}, status=413)
        message = recorded.json()
        attachments = message.get("attachments") or []
        if message.get("type") != "message" or not attachments:
            return web.json_response({"error": {"code": "InvalidRequestContent"}}, status=400)
        for attachment in attachments:
            card = attachment.get("content") or {}
            if (
                attachment.get("contentType") != "application/vnd.microsoft.card.adaptive"
                or card.get("type") != "AdaptiveCard"
                or not card.get("body")
            ):
                return web.json_response({"error": {"code": "InvalidAdaptiveCard"}}, status=400)
            self.cards.append(card)
        return web.Response(status=202)

    def url(self, path: str = "/workflows/abc/triggers/manual/paths/invoke") -> str:
        return super().url(path + "?api-version=1&sig=SIGNATURE")


@dataclass
class OpsgenieFake(ServiceFake):
    """Opsgenie's Alert API v2: alerts by alias, GenieKey authentication."""

    key: str = "0123-api-key"
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    pages: int = 0

    def outage(self, status: int, headers: dict[str, str]) -> web.Response:
        return web.json_response(
            {"message": "You are making too many requests!", "took": 0.0, "requestId": "r"},
            status=status,
            headers=headers,
        )

    def _error(self, status: int, message: str) -> web.Response:
        return web.json_response({"message": message, "took": 0.0, "requestId": "r"}, status=status)

    def answer(self, request: web.Request, recorded: Request) -> web.Response:
        if request.headers.get("Authorization") != f"GenieKey {self.key}":
            return self._error(401, "Could not authenticate")
        body = recorded.json()
        path = request.path
        if request.method == "POST" and path == "/v2/alerts":
            problem = self._invalid_create(body)
            if problem:
                return self._error(422, problem)
            current = self.alerts.get(body["alias"])
            if current is None or current["status"] == "closed":
                self.alerts[body["alias"]] = {**body, "status": "open", "count": 1, "notes": []}
                self.pages += 1
            else:
                current["count"] += 1  # Opsgenie's deduplication on an open alias
        else:
            found = re.fullmatch(r"/v2/alerts/([^/]+)/(\w+)", path)
            if found is None or request.query.get("identifierType") != "alias":
                return self._error(404, "not found")
            alias, action = found.group(1), found.group(2)
            alert = self.alerts.get(alias)
            if alert is None:
                return self._error(404, "Alert does not exist")
            if request.method == "POST" and action in ("close", "acknowledge"):
                alert["status"] = {"close": "closed", "acknowledge": "acknowledged"}[action]
                alert["notes"].append(body.get("note", ""))
            elif request.method == "PUT" and action in ("message", "description", "priority"):
                alert[action] = body[action]
            else:
                return self._error(404, "not found")
        return web.json_response(
            {"result": "Request will be processed", "took": 0.01, "requestId": "r"}, status=202
        )

    @staticmethod
    def _invalid_create(body: dict[str, Any]) -> str | None:
        message = body.get("message")
        if not message or len(message) > 130:
            return "Message can not be empty and can be at most 130 characters"
        if len(body.get("alias", "")) > 512 or len(body.get("description", "")) > 15_000:
            return "alias or description too long"
        if body.get("priority") not in (None, "P1", "P2", "P3", "P4", "P5"):
            return "Priority should be one of [P1, P2, P3, P4, P5]"
        if len(body.get("tags", [])) > 20 or len(body.get("actions", [])) > 10:
            return "too many tags or actions"
        details = body.get("details", {})
        if sum(len(k) + len(v) for k, v in details.items()) > 8000:
            return "Details can be at most 8000 characters"
        return None


@dataclass
class DiscordFake(ServiceFake):
    """A Discord channel webhook: ``POST /api/webhooks/{id}/{token}``, 204."""

    token: str = "WEBHOOK-TOKEN"

    def outage(self, status: int, headers: dict[str, str]) -> web.Response:
        wait = float(headers.get("Retry-After", "1"))
        return web.json_response(
            {"message": "You are being rate limited.", "retry_after": wait, "global": False},
            status=status,
            headers=headers,
        )

    def answer(self, request: web.Request, recorded: Request) -> web.Response:
        if request.path != f"/api/webhooks/123/{self.token}":
            return web.json_response({"message": "Unknown Webhook", "code": 10015}, status=404)
        problem = self._invalid(recorded.json())
        if problem:
            return web.json_response(
                {"message": "Invalid Form Body", "code": 50035, "errors": problem}, status=400
            )
        return web.Response(status=204)

    @staticmethod
    def _invalid(message: dict[str, Any]) -> str | None:
        if len(message.get("content", "")) > 2000:
            return "content"
        embeds = message.get("embeds", [])
        if not message.get("content") and not embeds:
            return "empty message"
        for embed in embeds:
            fields = embed.get("fields", [])
            texts = [embed.get("title", ""), embed.get("description", "")]
            texts += [embed.get("footer", {}).get("text", "")]
            texts += [f["name"] + f["value"] for f in fields]
            if (
                len(embed.get("title", "")) > 256
                or len(embed.get("description", "")) > 4096
                or len(fields) > 25
                or any(len(f["name"]) > 256 or len(f["value"]) > 1024 for f in fields)
                or sum(map(len, texts)) > 6000
            ):
                return "embeds.0"
        return None

    def url(self, path: str = "") -> str:
        return super().url(path or f"/api/webhooks/123/{self.token}")


_TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)[^>]*>")


@dataclass
class TelegramFake(ServiceFake):
    """The Bot API's ``sendMessage``, with its HTML rules and error bodies."""

    token: str = "123456:BOT-TOKEN"
    chats: tuple[int, ...] = (-1001234567890,)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def outage(self, status: int, headers: dict[str, str]) -> web.Response:
        # Telegram says how long to wait in the body, not in a header.
        wait = int(headers.get("X-Wait", "1"))
        return web.json_response(
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {wait}",
                "parameters": {"retry_after": wait},
            },
            status=status,
        )

    def _error(self, status: int, description: str) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": status, "description": description}, status=status
        )

    def answer(self, request: web.Request, recorded: Request) -> web.Response:
        if request.path != f"/bot{self.token}/sendMessage":
            return self._error(404, "Not Found")
        message = recorded.json()
        if message.get("chat_id") not in self.chats:
            return self._error(400, "Bad Request: chat not found")
        text = message.get("text", "")
        if not text or len(text) > 4096:
            return self._error(400, "Bad Request: message is too long")
        if message.get("parse_mode") == "HTML" and not self._valid_html(text):
            return self._error(400, "Bad Request: can't parse entities")
        self.messages.append(message)
        return web.json_response({"ok": True, "result": {"message_id": len(self.messages)}})

    @staticmethod
    def _valid_html(text: str) -> bool:
        """Telegram's HTML: only its tags, properly nested, and ``<``/``&`` escaped."""
        stack: list[str] = []
        for found in _TAG.finditer(text):
            closing, tag = found.group(1), found.group(2).lower()
            if tag not in _TELEGRAM_TAGS:
                return False
            if closing:
                if not stack or stack.pop() != tag:
                    return False
            else:
                stack.append(tag)
        bare = _TAG.sub("", text)
        return not stack and "<" not in bare and not re.search(r"&(?!(lt|gt|amp|quot|#\d+);)", bare)

    def url(self, path: str = "") -> str:
        return super().url(path)
