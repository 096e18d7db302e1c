"""The users service: creates users, reads them, and credits their balance."""

from __future__ import annotations

from flask import Flask

from shared.app import attach_database, create_service_app
from shared.openapi import serve_openapi
from shared.scenarios import DelayBeforeServing
from shared.settings import Settings

SERVICE_NAME = "user-service"


def create_app(config: Settings | None = None) -> Flask:
    """Application factory: ``gunicorn 'users.wsgi:app'`` in production, a fresh app in tests."""
    settings = config or Settings.from_env()
    app = create_service_app(__name__, SERVICE_NAME, settings)
    attach_database(app, settings)

    from users.openapi import PATHS
    from users.routes import bp

    app.register_blueprint(bp)
    serve_openapi(app, "user-service", "Users and their balances, in cents.", PATHS)
    # Outside the instrumented app: the users-latency wait happens before the server span.
    app.wsgi_app = DelayBeforeServing(  # type: ignore[method-assign]
        app.wsgi_app, settings.scenarios, paths=("/users",)
    )
    return app
