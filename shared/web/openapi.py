"""Each worker's API described as OpenAPI 3.1, served at ``/api/openapi.json``.

The request schemas come from the very pydantic models that validate the
requests, with the configured limits in them, so the document cannot drift
from what the worker accepts; API clients and fuzzers (Schemathesis, in the
test suite) read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

OPENAPI_PATH = "/api/openapi.json"
_REF = "#/components/schemas/{model}"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["status", "error"],
    "properties": {
        "status": {"const": "error"},
        "error": {"type": "string"},
        "field": {"type": "string", "description": "The offending field, as the body names it."},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
ERRORS = {
    "400": "Not JSON.",
    "401": "Credentials missing or wrong (with WWW-Authenticate).",
    "403": "The credentials lack the route's role.",
    "413": "Body or batch over a limit.",
    "415": "Content-Type is not application/json.",
    "422": "A field is invalid or over a limit; `field` names it.",
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    role: str
    body: type[BaseModel] | None = None
    ok: dict[str, str] = field(default_factory=lambda: {"200": "Done."})
    parameters: list[dict[str, Any]] = field(default_factory=list)
    errors: tuple[str, ...] = ("400", "401", "403", "413", "415", "422")


def document(title: str, operations: list[Operation]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for op in operations:
        responses: dict[str, Any] = {code: {"description": text} for code, text in op.ok.items()}
        for code in op.errors:
            responses[code] = {
                "description": ERRORS.get(code, "Error."),
                "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
            }
        operation: dict[str, Any] = {
            "summary": op.summary,
            "description": f"Needs the `{op.role}` role when authentication is on.",
            "responses": responses,
        }
        if op.parameters:
            operation["parameters"] = op.parameters
        if op.body is not None:
            schema = op.body.model_json_schema(by_alias=True, ref_template=_REF)
            schemas.update(schema.pop("$defs", {}))
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"basic": []}, {"bearer": []}, {}],
    }


def openapi_route(document: dict[str, Any]) -> web.RouteDef:
    body = json.dumps(document).encode()

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    return web.get(OPENAPI_PATH, serve)
