"""The payment service: transfers funds to a user by crediting them through the users service."""

from __future__ import annotations

from flask import Flask

from shared.app import add_readiness_check, create_service_app
from shared.settings import Settings
from shared.users_client import UsersClient

SERVICE_NAME = "payment-service"


def create_app(config: Settings | None = None) -> Flask:
    """Application factory: ``gunicorn 'payment.wsgi:app'`` in production, a fresh app in tests."""
    settings = config or Settings.from_env()
    app = create_service_app(__name__, SERVICE_NAME, settings)
    users = UsersClient(
        settings.user_url,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
    )
    app.extensions["users_client"] = users
    add_readiness_check(app, "users-service", users.check_health)

    from payment.routes import bp

    app.register_blueprint(bp)
    return app
