"""The order service: owns the product catalog and places orders paid from a user's balance."""

from __future__ import annotations

from flask import Flask

from shared.app import attach_database, attach_users_client, create_service_app
from shared.settings import Settings

SERVICE_NAME = "order-service"


def create_app(config: Settings | None = None) -> Flask:
    """Application factory: ``gunicorn 'order.wsgi:app'`` in production, a fresh app in tests."""
    settings = config or Settings.from_env()
    app = create_service_app(
        __name__,
        SERVICE_NAME,
        settings,
        "The product catalog and orders paid from a user's balance.",
    )
    attach_database(app, settings)
    attach_users_client(app, settings)

    from order.routes import bp

    app.register_blueprint(bp)
    return app
