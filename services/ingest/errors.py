"""422 bodies that name every offending field, and the limit it broke."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.payloads import field_path, shown
from shared.web.errors import error_response

# Which ``ingest.limits`` setting a too-long value or too-large set broke,
# by the name of the field it sits in.
_LIMITS = {
    ("labels", "dict"): "max_labels_per_alert",
    ("labels", "key"): "max_label_name_length",
    ("labels", "value"): "max_label_value_length",
    ("annotations", "dict"): "max_annotations_per_alert",
    ("annotations", "key"): "max_label_name_length",
    ("annotations", "value"): "max_annotation_value_length",
    ("generatorURL", "value"): "max_url_length",
    ("externalURL", "value"): "max_url_length",
    ("dashboardURL", "value"): "max_url_length",
    ("panelURL", "value"): "max_url_length",
    ("imageURL", "value"): "max_url_length",
    ("valueString", "value"): "max_annotation_value_length",
}


def _limit(loc: tuple[Any, ...], error_type: str) -> str | None:
    names = [part for part in loc if isinstance(part, str) and part != "[key]"]
    if error_type == "too_long" and names:
        return _LIMITS.get((names[-1], "dict"))
    if error_type != "string_too_long" or not names:
        return None
    if loc[-1] == "[key]":
        return _LIMITS.get((names[-2], "key")) if len(names) >= 2 else None
    if len(names) >= 2 and names[-2] in ("labels", "annotations"):
        return _LIMITS.get((names[-2], "value"))
    return _LIMITS.get((names[-1], "value"))


def _describe(error: ErrorDetails) -> dict[str, str]:
    loc, message = tuple(error["loc"]), error["msg"]
    setting = _limit(loc, error["type"])
    if loc and loc[-1] == "[key]":
        # pydantic reports a bad dict key as (..., key, "[key]").
        loc = loc[:-1]
        if setting is None:
            message = (
                f"invalid label name {shown(str(loc[-1]))!r}: must match [a-zA-Z_][a-zA-Z0-9_]*"
            )
    if setting is not None:
        message = f"{message} (ingest.limits.{setting})"
    return {"field": field_path(loc), "message": message}


def validation_response(exc: ValidationError) -> web.Response:
    """422 naming every bad field, 413 for too many alerts, 400 when not JSON at all."""
    raw = exc.errors(include_url=False, include_context=False, include_input=False)
    if raw and raw[0]["type"] == "json_invalid":
        return error_response(400, f"body is not valid JSON: {raw[0]['msg']}", field="(body)")
    for error in raw:
        loc = tuple(error["loc"])
        if error["type"] == "too_long" and loc in ((), ("alerts",)):
            field = field_path(loc) if loc else "(body)"
            return error_response(
                413,
                f"{field}: {error['msg']} (ingest.limits.max_alerts_per_request); split the batch",
                field=field,
            )
    errors = [_describe(e) for e in raw]
    first = errors[0]
    return error_response(
        422, f"{first['field']}: {first['message']}", field=first["field"], errors=errors
    )
