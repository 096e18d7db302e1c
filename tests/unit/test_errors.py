"""One JSON error shape for every failure, with the right status, from the apps themselves."""

from __future__ import annotations

from flask import Flask

from tests.unit.conftest import MakeApp


def _raising(app: Flask, exc: Exception) -> None:
    def fail() -> str:
        raise exc

    app.add_url_rule("/fail", "fail", fail)


def test_unknown_routes_and_ids_are_json_404s(make_app: MakeApp) -> None:
    client = make_app("users").test_client()
    paths = ("/nope", "/users/0", "/users/-1", "/users/abc", "/users/001", "/users/" + "9" * 19)
    for path in (*paths, "/users/7"):
        reply = client.get(path)
        assert reply.status_code == 404, path
        assert reply.json is not None and {"error", "message"} <= reply.json.keys()


def test_a_wrong_method_is_405_with_allow(make_app: MakeApp) -> None:
    reply = make_app("users").test_client().delete("/users/1")
    assert reply.status_code == 405
    assert reply.json is not None and reply.json["error"] == "method_not_allowed"
    assert set(reply.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "PUT"}


def test_a_body_over_the_limit_is_413(make_app: MakeApp) -> None:
    client = make_app("users", MAX_BODY_BYTES="100").test_client()
    reply = client.post("/users", json={"user_name": "a" * 200, "account": "b"})
    assert reply.status_code == 413
    assert reply.json is not None and reply.json["error"] == "request_entity_too_large"


def test_an_unexpected_exception_is_a_500_without_its_text(make_app: MakeApp) -> None:
    app = make_app("users")
    _raising(app, RuntimeError("secret internals"))
    reply = app.test_client().get("/fail")
    assert reply.status_code == 500
    assert reply.json == {"error": "internal_error", "message": "An unexpected error occurred."}


def test_an_unreachable_database_is_a_503_with_retry_after(make_app: MakeApp) -> None:
    app = make_app("users", DATABASE_URL="sqlite:////nonexistent-dir/x.sqlite3")
    reply = app.test_client().get("/users/1")
    assert reply.status_code == 503
    assert reply.json is not None and reply.json["error"] == "database_unavailable"
    assert reply.headers["Retry-After"] == "1"
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json is not None and ready.json["checks"]["database"] != "ok"


def test_cors_only_for_the_configured_origins(make_app: MakeApp) -> None:
    client = make_app("users", CORS_ALLOWED_ORIGINS="http://page.example").test_client()
    preflight = client.options(
        "/users",
        headers={
            "Origin": "http://page.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,traceparent,baggage",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://page.example"
    assert "traceparent" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Origin" in preflight.headers["Vary"]
    foreign = client.get("/users/1", headers={"Origin": "http://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    no_origin = client.get("/users/1")
    assert "Access-Control-Allow-Origin" not in no_origin.headers
    assert "Origin" in no_origin.headers["Vary"]
