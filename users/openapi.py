"""The users service's OpenAPI paths."""

from shared.openapi import CREDIT, NEW_USER, USER, Schema, errors, json_body, ok, path_id

PATHS: dict[str, Schema] = {
    "/users": {
        "post": {
            "summary": "Create a user with a zero balance",
            "requestBody": json_body(NEW_USER),
            "responses": {"201": ok("The new user", USER), **errors(400, 413)},
        }
    },
    "/users/{user_id}": {
        "parameters": path_id("user_id"),
        "get": {
            "summary": "Read a user",
            "responses": {"200": ok("The user", USER), **errors(404)},
        },
        "put": {
            "summary": "Credit the user's balance by amount cents",
            "requestBody": json_body(CREDIT),
            "responses": {"200": ok("The updated user", USER), **errors(400, 404, 413, 422, 503)},
        },
    },
}
