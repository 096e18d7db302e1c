"""OpenAPI documents: each service serves ``/openapi.json`` describing what it really does
(the fuzz test holds it to that)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from shared.models import ACCOUNT_MAX, USER_NAME_MAX
from shared.validation import MAX_AMOUNT_CENTS, MAX_ID

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "additionalProperties": True,
}
ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
AMOUNT: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT_CENTS}
# Non-blank, no control characters (what shared.validation.Text accepts).
TEXT_PATTERN = r"^[^\u0000-\u001f]*[^\s\u0000-\u001f][^\u0000-\u001f]*$"
USER: Schema = {
    "type": "object",
    "required": ["id", "user_name", "account", "amount"],
    "properties": {
        "id": ID,
        "user_name": {"type": "string", "maxLength": USER_NAME_MAX},
        "account": {"type": "string", "maxLength": ACCOUNT_MAX},
        "amount": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}
NEW_USER: Schema = {
    "type": "object",
    "required": ["user_name", "account"],
    "properties": {
        "user_name": {
            "type": "string",
            "minLength": 1,
            "maxLength": USER_NAME_MAX,
            "pattern": TEXT_PATTERN,
        },
        "account": {
            "type": "string",
            "minLength": 1,
            "maxLength": ACCOUNT_MAX,
            "pattern": TEXT_PATTERN,
        },
    },
    "additionalProperties": False,
}
CREDIT: Schema = {
    "type": "object",
    "required": ["amount"],
    "properties": {"amount": AMOUNT},
    "additionalProperties": False,
}

_REASONS = {
    400: "Malformed request: bad JSON, missing, unknown or invalid fields",
    404: "No such user, product or order",
    413: "Request body too large",
    422: "Refused by the business rules",
    502: "The users service answered something unusable",
    503: "A dependency (database or users service) is unavailable",
    504: "The users service did not answer in time",
}


def json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def ok(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Schema]:
    """The error responses an operation can give, all in the one error shape."""
    return {str(status): ok(_REASONS[status], ERROR) for status in statuses}


def path_id(name: str) -> list[Schema]:
    return [{"name": name, "in": "path", "required": True, "schema": ID}]


PROBES: dict[str, Schema] = {
    "/healthz": {
        "get": {
            "summary": "Liveness: the process answers",
            "responses": {"200": ok("Alive", {"type": "object"})},
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: every dependency answers",
            "responses": {"200": ok("Ready", {"type": "object"}), **errors(503)},
        }
    },
}


def serve_openapi(app: Flask, title: str, description: str, paths: dict[str, Schema]) -> None:
    """Serve ``/openapi.json`` for ``paths`` plus the probes."""
    document = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "paths": {**paths, **PROBES},
    }

    def openapi() -> Response:
        return jsonify(document)

    app.add_url_rule("/openapi.json", "openapi", openapi)
