"""``telegram_configs``: a message from a Telegram bot to a chat.

``sendMessage`` on the Bot API with the text in Telegram's HTML (what a
template inserts is escaped; its own tags are Telegram's: ``<b>``, ``<i>``,
``<a href>``, ``<code>``, ``<pre>``), or plain text with ``parse_mode: ""``.
The bot token is part of the URL, which errors and logs never show. Telegram
answers ``{"ok": true}``; a 429 says in its body how long to wait
(``parameters.retry_after``), which the retry stage honours; 400 ("chat not
found") and 403 (the bot was removed) are not retried. A message longer than
Telegram's 4096 characters is sent as plain text, cut, rather than with its
markup cut in half.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from services.notify.config import TelegramConfig
from services.notify.receivers.base import Delivery
from services.notify.receivers.http import JsonApiIntegration, post_json
from services.notify.templates import Flavor, template_context, truncate
from shared.secrets import Secret

TEXT_MAX = 4096
SUMMARY_MAX = 1000
"""Of the summary the default message shows: leaves room for the rest."""
_TAG = re.compile(r"<[^>]*>")


def wait_from_body(body: bytes) -> float | None:
    """``parameters.retry_after`` of a Bot API error."""
    try:
        wait = json.loads(body).get("parameters", {}).get("retry_after")
    except (ValueError, AttributeError):
        return None
    return float(wait) if isinstance(wait, int | float) else None


def plain(text: str) -> str:
    """Telegram HTML as the plain text it shows."""
    return html.unescape(_TAG.sub("", text))


class TelegramIntegration(JsonApiIntegration[TelegramConfig]):
    def endpoint(self) -> Secret:
        token = self.config.secret("bot_token")
        assert token is not None  # required by the config
        api = str(self.config.api_url).rstrip("/")
        return lambda: f"{api}/bot{token()}/sendMessage"

    def body(self, delivery: Delivery) -> dict[str, Any]:
        config = self.config
        context = template_context(delivery.incident, delivery.receiver, delivery.repeat)
        context["title"] = self.templates.render(None, "title", context, Flavor.TEXT)
        context["summary"] = truncate(context["summary"], SUMMARY_MAX)
        markup = config.parse_mode == "HTML"
        # The default is written in HTML: escaped as HTML, then read as plain text.
        flavor = Flavor.HTML if markup or config.message is None else Flavor.TEXT
        text = self.templates.render(config.message, "telegram", context, flavor)
        if not markup and config.message is None:
            text = plain(text)
        body: dict[str, Any] = {
            "chat_id": config.chat_id,
            "text": text,
            "disable_notification": config.disable_notifications,
            "link_preview_options": {"is_disabled": True},
        }
        if len(text) > TEXT_MAX:
            body["text"] = truncate(plain(text) if markup else text, TEXT_MAX)
        elif markup:
            body["parse_mode"] = "HTML"
        if config.message_thread_id is not None:
            body["message_thread_id"] = config.message_thread_id
        return body

    async def notify(self, delivery: Delivery) -> None:
        await post_json(
            self.session,
            self.url(),
            self.body(delivery),
            {},
            self.config.timeout.total_seconds(),
            wait_from_body=wait_from_body,
        )
