"""The users service's own bodies; the user it answers with is ``shared.contract.User``
(payment and order read it too)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contract import Amount, Body, Id, UtcTime, text
from users.models import ACCOUNT_MAX, USER_NAME_MAX


class NewUser(Body):
    """A new user: a name and an account; the balance starts at zero."""

    user_name: Annotated[str, text(USER_NAME_MAX)]
    account: Annotated[str, text(ACCOUNT_MAX)]


class LedgerCredit(Body):
    """One applied credit of the ledger, and the trace of the request that made it."""

    id: Id
    amount: Amount
    source: Literal["credit", "opening"] = Field(
        description="credit: PUT /users/{id}; opening: the balance a user had before the ledger"
    )
    trace_id: str | None
    created_at: UtcTime


class CreditsPage(Body):
    """A user's credits, newest first, and the cursor to the next page (null: no more)."""

    credits: list[LedgerCredit]
    next_cursor: str | None
