"""JSON error bodies that name the offending field, for every 4xx and 503."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from shared.payloads import field_path


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


def _describe(loc: tuple[Any, ...], message: str) -> dict[str, str]:
    if loc and loc[-1] == "[key]":
        # pydantic reports a bad dict key as (..., key, "[key]").
        loc = loc[:-1]
        message = f"invalid label name {loc[-1]!r}: must match [a-zA-Z_][a-zA-Z0-9_]*"
    return {"field": field_path(loc), "message": message}


def validation_response(exc: ValidationError) -> web.Response:
    """422 naming every bad field, or 400 when the body is not JSON at all."""
    raw = exc.errors(include_url=False, include_context=False, include_input=False)
    if raw and raw[0]["type"] == "json_invalid":
        return error_response(400, f"body is not valid JSON: {raw[0]['msg']}", field="(body)")
    errors = [_describe(tuple(e["loc"]), e["msg"]) for e in raw]
    first = errors[0]
    return error_response(
        422, f"{first['field']}: {first['message']}", field=first["field"], errors=errors
    )
