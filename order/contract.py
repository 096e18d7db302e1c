"""The order service's request and response bodies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contract import Body, Id, PageQuery, UtcTime

Price = Annotated[int, Field(ge=1, description="cents")]


class Product(Body):
    """An item of the catalog."""

    id: Id
    name: str
    price: Price


class NewOrder(Body):
    """An order to place: one product for one user (the price is the catalog's)."""

    user_id: Id
    product_id: Id


class Order(Body):
    """A paid order."""

    id: Id
    user_id: Id
    product_id: Id
    product_name: str
    price: Price
    status: Literal["PAID"]


class PastOrder(Order):
    """A paid order in a listing, with when it was placed and the trace that placed it."""

    trace_id: str | None
    created_at: UtcTime


class OrdersQuery(PageQuery):
    """Whose orders to list, and which page."""

    user_id: Id


class OrdersPage(Body):
    """A user's orders, newest first, and the cursor to the next page (null: no more)."""

    orders: list[PastOrder]
    next_cursor: str | None
