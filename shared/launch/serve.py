"""``serve SERVICE``: run one service under gunicorn (the container image's entry point).

``serve users`` (or ``SERVICE=users serve``) listens on ``PORT`` (default: the service's own
port) with the project's gunicorn settings; the process becomes gunicorn, so it receives
SIGTERM directly and shuts down gracefully.
"""

from __future__ import annotations

import os
import sys

from shared.launch import PROCESSES_BY_NAME, gunicorn_command
from shared.settings import settings_or_exit


def main(argv: list[str] | None = None) -> int:
    """Exec gunicorn for the named service."""
    args = sys.argv[1:] if argv is None else argv
    settings = settings_or_exit()
    name = args[0] if args else settings.service or ""
    spec = PROCESSES_BY_NAME.get(name)
    if spec is None or len(args) > 1:
        choices = ", ".join(sorted(PROCESSES_BY_NAME))
        print(f"usage: serve SERVICE (or SERVICE=...), one of: {choices}", file=sys.stderr)
        return 2
    bind = settings.bind or f"0.0.0.0:{settings.port or spec.default_port}"
    host, _, port = bind.rpartition(":")
    command = gunicorn_command(spec, int(port), host=host or "0.0.0.0")
    os.environ.setdefault("OTEL_SERVICE_NAME", spec.otel_service_name)
    os.environ.update(spec.environment)
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
