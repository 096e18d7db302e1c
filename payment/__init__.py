"""The payment service: transfers funds to a user by crediting them through the users service."""

from __future__ import annotations

from flask import Flask

from shared.app import attach_users_client, create_service_app
from shared.settings import Settings

SERVICE_NAME = "payment-service"


def create_app(config: Settings | None = None) -> Flask:
    """Application factory: ``gunicorn 'payment.wsgi:app'`` in production, a fresh app in tests."""
    settings = config or Settings.from_env()
    app = create_service_app(
        __name__, SERVICE_NAME, settings, "Transfers funds to users through the users service."
    )
    attach_users_client(app, settings)

    from payment.routes import bp

    app.register_blueprint(bp)
    return app
