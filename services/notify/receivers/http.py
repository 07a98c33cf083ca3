"""POSTing JSON to a receiver's API, with the outcome classified for the retry stage."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

import aiohttp

from services.notify.config import IntegrationConfig
from services.notify.receivers.base import Delivery, DeliveryError
from services.notify.templates import Flavor, Templates, delivery_context
from shared.links import safe_link
from shared.secrets import Secret

C = TypeVar("C", bound=IntegrationConfig)


class MessageTexts(NamedTuple):
    context: dict[str, Any]
    title: str
    text: str
    link: str


def message_texts(
    templates: Templates,
    delivery: Delivery,
    title: str | None,
    text: str | None,
    link: str | None,
    flavor: Flavor = Flavor.TEXT,
) -> MessageTexts:
    """A chat message's title, text (in ``flavor``: what changed since the
    receiver's last message, then the summary) and http(s) link, from the
    user's templates or the defaults, with the context they were rendered in."""
    context = delivery_context(delivery)
    render = templates.render
    return MessageTexts(
        context,
        render(title, "title", context, Flavor.TEXT),
        render(text, "summary", context, flavor),
        safe_link(render(link, "link", context, Flavor.TEXT)),
    )


MAX_RESPONSE_BYTES = 64 * 1024
"""Of a receiver's answer, only this much is read: it only ever explains an error."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in either of its forms: seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any] | bytes,
    headers: dict[str, str],
    timeout: float,
    method: str = "POST",
    wait_from_body: Callable[[bytes], float | None] | None = None,
) -> bytes:
    """Send and classify: 2xx taken; 5xx, 408, 429 and network trouble retryable.
    ``wait_from_body`` reads how long to wait from an error's body, for services
    that say it there rather than in Retry-After (Telegram)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        async with session.request(
            method,
            url,
            data=data,
            headers={"Content-Type": "application/json", **headers},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.content.read(MAX_RESPONSE_BYTES)
            if response.status < 300:
                return text
            retryable = response.status >= 500 or response.status in (408, 429)
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is None and wait_from_body is not None:
                wait = wait_from_body(text)
            raise DeliveryError(
                f"HTTP {response.status}: {text[:200].decode(errors='replace')}",
                retryable=retryable,
                retry_after=wait,
            )
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # ValueError: a URL (from a *_file) aiohttp cannot even parse.
        raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from None


class JsonApiIntegration(Generic[C]):
    """A service API taking one JSON document per notification (Slack, PagerDuty,
    Teams, Discord)."""

    acknowledges = False

    def __init__(self, name: str, config: C, session: aiohttp.ClientSession, templates: Templates):
        self.name = name
        self.config = config
        self.session = session
        self.templates = templates
        self.send_resolved = config.send_resolved
        self.url = self.endpoint()

    URL_SECRET: ClassVar[str] = ""
    """The config's secret that is the service's URL (its credential), if one is."""

    def endpoint(self) -> Secret:
        """Where to post: by default the ``URL_SECRET`` field (webhook URLs carry their token)."""
        url: Secret | None = self.config.secret(self.URL_SECRET)  # type: ignore[attr-defined]
        assert url is not None  # required by the config
        return url

    def body(self, delivery: Delivery) -> dict[str, Any]:
        raise NotImplementedError

    async def notify(self, delivery: Delivery) -> None:
        await post_json(
            self.session, self.url(), self.body(delivery), {}, self.config.timeout.total_seconds()
        )
