"""The API's contract: what every body shares, and the users service's bodies two services use.

Each service declares its own request and response bodies on :class:`Body` (``users/contract.py``,
``payment/contract.py``, ``order/contract.py``). Request bodies are validated against them
(strict: no ``"100"`` for 100, no ``1.5``, no ``true``; unknown fields refused), responses are
built from them, and each service's ``/openapi.json`` is generated from them: the three cannot
drift apart. ``User`` and ``Credit`` live here because payment and order call the users service
with them (``shared.users_client``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypeVar

from flask import request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails
from werkzeug.routing import IntegerConverter, Map

from shared.errors import BadRequest

# Ids fit a signed 64-bit column with room to spare; longer digit strings are simply unknown.
MAX_ID = 10**18 - 1
# One transfer or balance may not exceed ten million units (a billion cents): bigger is a typo.
MAX_AMOUNT_CENTS = 1_000_000_000

# A listing's page: this many items unless the client asks for fewer, or more up to the max.
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Amount = Annotated[int, Field(ge=1, le=MAX_AMOUNT_CENTS, description="cents")]
Balance = Annotated[int, Field(ge=0, description="cents")]
# The database writes times in UTC without a zone (SQLite's CURRENT_TIMESTAMP; MySQL's NOW() in
# the UTC session shared.db sets): the answer says so (RFC 3339, "Z").
UtcTime = Annotated[
    datetime, AfterValidator(lambda at: at if at.tzinfo else at.replace(tzinfo=UTC))
]
# Non-blank, no control characters, no surrounding spaces: the schema says exactly what the
# service accepts (the page trims what a person types).
_TEXT_PATTERN = r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
_TEXT_RULE = "must be text without control characters or surrounding spaces"


def text(max_length: int) -> object:
    """A string field: non-blank, no control characters or surrounding spaces, ``max_length``."""
    return StringConstraints(min_length=1, max_length=max_length, pattern=_TEXT_PATTERN)


class Body(BaseModel):
    """Every body: strict types, no unknown fields, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, from_attributes=True)


class User(Body):
    """A user and their balance."""

    # The JSON keeps the Go sample's name for the balance, "amount"; Python says what it is.
    # The users service builds it from a UserRecord by field name (by_name=True).
    model_config = ConfigDict(serialize_by_alias=True)

    id: Id
    user_name: str
    account: str
    balance: Balance = Field(alias="amount")


class Credit(Body):
    """A credit: the amount, in cents, to add to the user's balance."""

    amount: Amount


class IdConverter(IntegerConverter):
    """``<id:user_id>``: werkzeug's ``int`` converter limited to ``Id``; others are a 404.

    Only the canonical spelling matches (``/users/001`` is not user 1).
    """

    regex = r"[1-9][0-9]{0,17}"

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


class Query(BaseModel):
    """A request's query parameters: no unknown ones; numbers arrive as text, so not strict."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PageQuery(Query):
    """A page of a listing, newest first: at most ``limit`` items, below ``cursor``."""

    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE
    cursor: Annotated[
        Id | None, Field(description="next_cursor of the previous page; omit for the first")
    ] = None


BodyT = TypeVar("BodyT", bound=Body)
QueryT = TypeVar("QueryT", bound=Query)

_ERROR_CODES = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
    "model_type": "invalid_json",
    "model_attributes_type": "invalid_json",
}


def parse_body(model: type[BodyT]) -> BodyT:
    """The request's JSON body as ``model``; any mistake is a 400 naming the field at fault."""
    try:
        return model.model_validate_json(request.get_data(cache=True))
    except ValidationError as exc:
        raise _bad_request(exc.errors(include_url=False)[0]) from None


def parse_query(model: type[QueryT]) -> QueryT:
    """The request's query parameters as ``model``; any mistake is a 400 naming the parameter."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise _bad_request(exc.errors(include_url=False)[0]) from None


def _bad_request(error: ErrorDetails) -> BadRequest:
    code = _ERROR_CODES.get(error["type"], "invalid_field")
    if error["type"] in ("json_invalid", "json_type"):
        return BadRequest(f"The request body is not valid JSON ({error['msg']}).", code=code)
    if code == "invalid_json":
        return BadRequest("The request body must be a JSON object.", code=code)
    field = ".".join(str(part) for part in error["loc"])
    rule = _TEXT_RULE if error["type"] == "string_pattern_mismatch" else error["msg"]
    return BadRequest(f"'{field}': {rule}", code=code, field=field)
