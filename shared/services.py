"""The three services: name, entry point, default port and how to start one under gunicorn."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.settings import normalize_base_url


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service."""

    name: str
    wsgi_app: str
    default_port: int
    url_variable: str
    otel_service_name: str
    # The services set up OpenTelemetry in each worker; the frontend server only forwards.
    gunicorn_config: str = "python:shared.gunicorn_conf"

    def port(self, env: Mapping[str, str]) -> int:
        """The port from the service's URL variable (the Go sample's convention), or the default."""
        address = env.get(self.url_variable)
        if not address:
            return self.default_port
        return urlsplit(normalize_base_url(address)).port or self.default_port


SERVICES = (
    ServiceSpec("users", "users.wsgi:app", 8080, "USER_URL", "user-service"),
    ServiceSpec("payment", "payment.wsgi:app", 8081, "PAYMENT_URL", "payment-service"),
    ServiceSpec("order", "order.wsgi:app", 8082, "ORDER_URL", "order-service"),
    ServiceSpec(
        "frontend",
        "frontend.wsgi:app",
        5000,
        "FRONTEND_URL",
        "frontend",
        gunicorn_config="python:frontend.gunicorn_conf",
    ),
)
SERVICES_BY_NAME = {spec.name: spec for spec in SERVICES}


def gunicorn_command(spec: ServiceSpec, port: int, host: str = "0.0.0.0") -> list[str]:
    """The command that serves ``spec`` on ``host:port`` with the project's gunicorn settings."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        spec.gunicorn_config,
        "--bind",
        f"{host}:{port}",
        spec.wsgi_app,
    ]
