"""The users service's own request body; the user it answers with is ``shared.contract.User``
(payment and order read it too)."""

from __future__ import annotations

from typing import Annotated

from shared.contract import Body, text
from users.models import ACCOUNT_MAX, USER_NAME_MAX


class NewUser(Body):
    """A new user: a name and an account; the balance starts at zero."""

    user_name: Annotated[str, text(USER_NAME_MAX)]
    account: Annotated[str, text(ACCOUNT_MAX)]
