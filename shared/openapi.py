"""``/openapi.json``: each service's document, generated from its routes and the contract.

A view declares what it takes and answers with :func:`operation`, and every status it can
answer; the schemas come from the pydantic models of the service's ``contract.py``, so the
document, the validation and the responses share one definition (the fuzz test holds the
service to it, and the drift test holds each route to its statuses under faults).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, jsonify
from pydantic import BaseModel, TypeAdapter

from shared.contract import Id
from shared.errors import Error
from shared.idempotency import KEY_HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER

Schema = dict[str, Any]
View = TypeVar("View", bound=Callable[..., Any])

_REASONS = {
    400: "Malformed request: bad JSON, missing, unknown or invalid fields",
    404: "No such user, product or order",
    409: "A request with this idempotency key (or on the same row) is still in progress",
    413: "Request body too large",
    422: "Refused by the business rules (or an idempotency key reused for another request)",
    502: "The users service answered something unusable",
    503: "A dependency (database or users service) is unavailable",
    504: "The users service did not answer in time",
}
_REF = "#/components/schemas/{model}"
IDEMPOTENCY_KEY_PARAMETER: Schema = {
    "name": KEY_HEADER,
    "in": "header",
    "required": False,
    "description": (
        'Makes a retry safe: a quoted string ("k-123", the IETF draft\'s form) or bare (k-123). '
        "The same key with the same body answers the recorded result again "
        f"({REPLAYED_HEADER}: true); with another body, 422 idempotency_key_reused."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH + 2},
}
_PATH_PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def operation(
    status: int,
    answer: Any,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    idempotent: bool = False,
) -> Callable[[View], View]:
    """Document a view: its request ``body`` or ``query``, its ``status`` and ``answer`` type,
    its errors, and whether it takes an ``Idempotency-Key`` (``shared.idempotency``).

    The summary is the first line of the view's docstring.
    """

    def document(view: View) -> View:
        view.__openapi__ = {  # type: ignore[attr-defined]
            "status": status,
            "answer": answer,
            "body": body,
            "query": query,
            "errors": errors,
            "idempotent": idempotent,
        }
        return view

    return document


def serve_openapi(app: Flask, title: str, description: str) -> None:
    """Serve ``/openapi.json`` for every documented route of ``app`` (the probes too).

    The document is built on the first request, once every blueprint is registered.
    """
    built: list[Schema] = []

    def openapi() -> Response:
        if not built:
            built.append(openapi_document(app, title, description))
        return jsonify(built[0])

    app.add_url_rule("/openapi.json", "openapi", openapi)


def openapi_document(app: Flask, title: str, description: str) -> Schema:
    """The OpenAPI 3.1 document of ``app``'s documented routes."""
    components: dict[str, Schema] = {}
    paths: dict[str, Schema] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        spec = getattr(view, "__openapi__", None)
        if spec is None:
            continue
        path = _PATH_PARAMETER.sub(r"{\2}", rule.rule)
        item = paths.setdefault(path, {})
        if rule.arguments:
            id_schema = _schema(Id, "validation", components)
            item["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": id_schema}
                for name in sorted(rule.arguments)
            ]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            item[method.lower()] = {
                "operationId": rule.endpoint.replace(".", "_"),
                **_operation(view, spec, components),
            }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "paths": paths,
        "components": {"schemas": components},
    }


def _operation(view: Callable[..., Any], spec: Schema, components: dict[str, Schema]) -> Schema:
    summary = (view.__doc__ or view.__name__).strip().splitlines()[0]
    error_schema = _schema(Error, "serialization", components)
    answer = spec["answer"]
    described = isinstance(answer, type) and issubclass(answer, BaseModel) and answer.__doc__
    success = _json(
        described.strip().splitlines()[0] if described else "OK",
        _schema(answer, "serialization", components),
    )
    headers = success["headers"] = {}
    if spec["status"] == 201:
        headers["Location"] = {"description": "Where to read it", "schema": {"type": "string"}}
    if spec["idempotent"]:
        headers[REPLAYED_HEADER] = {
            "description": "true: the answer recorded for this key earlier; nothing was applied",
            "schema": {"type": "string", "enum": ["true"]},
        }
    if not headers:
        del success["headers"]
    responses = {
        str(spec["status"]): success,
        **{str(status): _json(_REASONS[status], error_schema) for status in spec["errors"]},
    }
    operation: Schema = {"summary": summary, "responses": responses}
    parameters = _query_parameters(spec["query"])
    if spec["idempotent"]:
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
    if parameters:
        operation["parameters"] = parameters
    if spec["body"] is not None:
        body_schema = _schema(spec["body"], "validation", components)
        operation["requestBody"] = {"required": True, **_json("", body_schema)}
        del operation["requestBody"]["description"]
    return operation


def _query_parameters(query: type[BaseModel] | None) -> list[Schema]:
    if query is None:
        return []
    schema = query.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": field}
        for name, field in schema["properties"].items()
    ]


def _schema(annotation: Any, mode: str, components: dict[str, Schema]) -> Schema:
    schema = TypeAdapter(annotation).json_schema(mode=mode, ref_template=_REF)  # type: ignore[arg-type]
    components.update(schema.pop("$defs", {}))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        components[annotation.__name__] = schema
        return {"$ref": _REF.format(model=annotation.__name__)}
    return schema


def _json(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
