"""The users service: creates users, reads them, and credits their balance."""

from __future__ import annotations

from flask import Flask

from shared.app import attach_database, create_service_app
from shared.settings import Settings

SERVICE_NAME = "user-service"


def create_app(config: Settings | None = None) -> Flask:
    """Application factory: ``gunicorn 'users.wsgi:app'`` in production, a fresh app in tests."""
    settings = config or Settings.from_env()
    app = create_service_app(
        __name__, SERVICE_NAME, settings, "Users and their balances, in cents."
    )
    attach_database(app, settings)

    from users.routes import bp
    from users.scenarios import DelayBeforeServing

    app.register_blueprint(bp)
    # Outside the instrumented app: the users-latency wait happens before the server span.
    app.wsgi_app = DelayBeforeServing(  # type: ignore[method-assign]
        app.wsgi_app, settings, paths=("/users",)
    )
    return app
