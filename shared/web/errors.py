"""JSON error bodies that name the offending field, for every 4xx and 503."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def error_response(
    status: int,
    message: str,
    field: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"status": "error", "error": message}
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status, headers=headers)
