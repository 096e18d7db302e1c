"""The order service's OpenAPI paths."""

from shared.openapi import ID, Schema, errors, json_body, ok, path_id

PRODUCT = {
    "type": "object",
    "required": ["id", "name", "price"],
    "properties": {
        "id": ID,
        "name": {"type": "string"},
        "price": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}
NEW_ORDER = {
    "type": "object",
    "required": ["user_id", "product_id"],
    "properties": {"user_id": ID, "product_id": ID},
    "additionalProperties": False,
}
ORDER = {
    "type": "object",
    "required": ["id", "user_id", "product_id", "product_name", "price", "status"],
    "properties": {
        "id": ID,
        "user_id": ID,
        "product_id": ID,
        "product_name": {"type": "string"},
        "price": {"type": "integer", "minimum": 1},
        "status": {"type": "string", "enum": ["PAID"]},
    },
    "additionalProperties": False,
}

PATHS: dict[str, Schema] = {
    "/products": {
        "get": {
            "summary": "The catalog, cheapest first",
            "responses": {"200": ok("Every product", {"type": "array", "items": PRODUCT})},
        }
    },
    "/orders": {
        "post": {
            "summary": "Buy one product: debit its price and record the order, in one transaction",
            "requestBody": json_body(NEW_ORDER),
            "responses": {
                "201": ok("The paid order", ORDER),
                **errors(400, 404, 413, 422, 502, 503, 504),
            },
        }
    },
    "/orders/{order_id}": {
        "parameters": path_id("order_id"),
        "get": {
            "summary": "Read an order",
            "responses": {"200": ok("The order", ORDER), **errors(404)},
        },
    },
}
