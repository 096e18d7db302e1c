"""Strict parsing of JSON request bodies and path ids: every mistake is a clear 400 or 404."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import request
from werkzeug.routing import BaseConverter

from shared.errors import BadRequest

# Ids fit a signed 64-bit column with room to spare; longer digit strings are simply unknown.
MAX_ID = 10**18 - 1
# One transfer or balance may not exceed ten million units (a billion cents): bigger is a typo.
MAX_AMOUNT_CENTS = 1_000_000_000


class IdConverter(BaseConverter):
    """``<id:user_id>``: a positive integer id; anything else does not match the route (404)."""

    regex = r"[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Integer:
    """A JSON integer (not a float, string or boolean) within ``[minimum, maximum]``."""

    minimum: int
    maximum: int

    def parse(self, name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"'{name}' must be an integer", code="invalid_field", field=name)
        if not self.minimum <= value <= self.maximum:
            raise BadRequest(
                f"'{name}' must be between {self.minimum} and {self.maximum}",
                code="invalid_field",
                field=name,
            )
        return value


@dataclass(frozen=True)
class Text:
    """A JSON string, non-blank after trimming, of at most ``max_length`` characters."""

    max_length: int

    def parse(self, name: str, value: object) -> str:
        if not isinstance(value, str):
            raise BadRequest(f"'{name}' must be a string", code="invalid_field", field=name)
        value = value.strip()
        if not value:
            raise BadRequest(f"'{name}' must not be empty", code="invalid_field", field=name)
        if len(value) > self.max_length:
            raise BadRequest(
                f"'{name}' must be at most {self.max_length} characters",
                code="invalid_field",
                field=name,
            )
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise BadRequest(
                f"'{name}' must not contain control characters", code="invalid_field", field=name
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800": not text
            raise BadRequest(
                f"'{name}' must be valid Unicode text", code="invalid_field", field=name
            ) from None
        return value


Field = Integer | Text
AMOUNT = Integer(1, MAX_AMOUNT_CENTS)
ID = Integer(1, MAX_ID)


def parse_json_body(fields: Mapping[str, Field]) -> dict[str, Any]:
    """Parse the request body as a JSON object with exactly ``fields``, all required."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    missing = sorted(set(fields) - body.keys())
    if missing:
        raise BadRequest(f"Missing field(s): {', '.join(missing)}", code="missing_field")
    unknown = sorted(body.keys() - set(fields))
    if unknown:
        raise BadRequest(f"Unknown field(s): {', '.join(unknown)}", code="unknown_field")
    return {name: spec.parse(name, body[name]) for name, spec in fields.items()}
