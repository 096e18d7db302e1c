"""Starting the processes: the service registry, and everything that launches them.

- this module: the registry of the four processes (the three services and the frontend
  server), their entry points and ports;
- ``gunicorn_conf``: the gunicorn settings every one of them runs with;
- ``process``: start one under gunicorn and wait until it is ready (``make run``, tests, bench);
- ``serve``: the container entry point (``serve users``);
- ``local``: ``make run``, the whole demo on one machine.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.settings import Settings

GUNICORN_CONFIG = "python:shared.launch.gunicorn_conf"


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one process of the demo."""

    name: str
    wsgi_app: str
    default_port: int
    # The settings field holding where it listens, as the others reach it (USER_URL...).
    url_setting: str
    otel_service_name: str
    # Variables this process always runs with (the frontend server has no telemetry of its own).
    environment: Mapping[str, str] = field(default_factory=dict)

    def port(self, settings: Settings) -> int:
        """The port of the process's URL setting (the Go sample's convention), or the default."""
        url: str = getattr(settings, self.url_setting)
        return urlsplit(url).port or self.default_port


PROCESSES = (
    ProcessSpec("users", "users.wsgi:app", 8080, "user_url", "user-service"),
    ProcessSpec("payment", "payment.wsgi:app", 8081, "payment_url", "payment-service"),
    ProcessSpec("order", "order.wsgi:app", 8082, "order_url", "order-service"),
    # The frontend server only serves the page and forwards requests (nginx does the same in
    # containers): no spans of its own between the browser's and the services'.
    ProcessSpec(
        "frontend",
        "frontend.wsgi:app",
        5000,
        "frontend_url",
        "frontend",
        environment={"OTEL_SDK_DISABLED": "true"},
    ),
)
PROCESSES_BY_NAME = {spec.name: spec for spec in PROCESSES}


def gunicorn_command(
    spec: ProcessSpec,
    port: int,
    host: str = "0.0.0.0",
    *,
    python: str = sys.executable,
    config: str = GUNICORN_CONFIG,
) -> list[str]:
    """The command that serves ``spec`` on ``host:port`` with the project's gunicorn settings."""
    return [python, "-m", "gunicorn", "--config", config, "--bind", f"{host}:{port}", spec.wsgi_app]
