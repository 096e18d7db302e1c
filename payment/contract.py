"""The payment service's request and response bodies."""

from __future__ import annotations

from shared.contract import Amount, Balance, Body, Id


class NewTransfer(Body):
    """A transfer to make: the amount, in cents, to credit to the user."""

    amount: Amount


class Transfer(Body):
    """What a transfer did: the amount moved and the user's new balance."""

    user_id: Id
    amount: Amount
    balance: Balance
