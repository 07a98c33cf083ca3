"""JSON error bodies that name the offending field, for every 4xx and 503."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError


def field_path(loc: tuple[Any, ...]) -> str:
    """``("alerts", 0, "labels")`` -> ``alerts[0].labels``, as the body reads."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


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


def validation_response(exc: ValidationError) -> web.Response:
    """422 naming every bad field, or 400 when the body is not JSON at all."""
    raw = exc.errors(include_url=False, include_context=False, include_input=False)
    if raw and raw[0]["type"] == "json_invalid":
        return error_response(400, f"body is not valid JSON: {raw[0]['msg']}", field="(body)")
    errors = [{"field": field_path(tuple(e["loc"])), "message": e["msg"]} for e in raw]
    first = errors[0]
    return error_response(
        422, f"{first['field']}: {first['message']}", field=first["field"], errors=errors
    )
