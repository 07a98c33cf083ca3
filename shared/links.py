"""Links from alert content, made safe to put in a page or a message."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def safe_link(url: Any) -> str:
    """``url`` if it is an http or https URL, else "": a link from alert content
    (``generatorURL``, an annotation) must not become ``javascript:`` or
    ``data:`` in a page, a Slack message or a mail."""
    if not isinstance(url, str):
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""
