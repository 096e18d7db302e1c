"""The order service: owns the product catalog and places orders paid from a user's balance."""

from __future__ import annotations

from flask import Flask

from shared.app import add_readiness_check, attach_database, create_service_app
from shared.settings import Settings
from shared.users_client import UsersClient

SERVICE_NAME = "order-service"


def create_app(config: Settings | None = None) -> Flask:
    """Application factory: ``gunicorn 'order.wsgi:app'`` in production, a fresh app in tests."""
    settings = config or Settings.from_env()
    app = create_service_app(__name__, SERVICE_NAME, settings)
    attach_database(app, settings)
    users = UsersClient(
        settings.user_url,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
    )
    app.extensions["users_client"] = users
    add_readiness_check(app, "users-service", users.check_health)

    from order.routes import bp

    app.register_blueprint(bp)
    return app
