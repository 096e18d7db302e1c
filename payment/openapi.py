"""The payment service's OpenAPI paths."""

from shared.openapi import AMOUNT, CREDIT, ID, Schema, errors, json_body, ok, path_id

TRANSFER = {
    "type": "object",
    "required": ["user_id", "amount", "balance"],
    "properties": {"user_id": ID, "amount": AMOUNT, "balance": {"type": "integer", "minimum": 0}},
    "additionalProperties": False,
}

PATHS: dict[str, Schema] = {
    "/payments/transfer/id/{user_id}": {
        "parameters": path_id("user_id"),
        "put": {
            "summary": "Transfer amount cents to the user (a credit on the users service)",
            "requestBody": json_body(CREDIT),
            "responses": {
                "200": ok("The transfer and the new balance", TRANSFER),
                **errors(400, 404, 413, 422, 502, 503, 504),
            },
        },
    },
}
