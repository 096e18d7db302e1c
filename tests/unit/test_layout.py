"""Each service folder is a unit: it runs with ``shared/`` and nothing of the other services."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.stack import ROOT

SERVICES = ("users", "payment", "order")
# Loads the service as gunicorn does (its wsgi module builds the app), then lists what came in.
PROBE = """
import json, sys
import {service}.wsgi
print(json.dumps(sorted({{name.partition(".")[0] for name in sys.modules}})))
"""


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_loads_no_other_service(service: str) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", PROBE.format(service=service)],
        cwd=ROOT,
        env={"DATABASE_URL": "sqlite:///:memory:", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    packages = set(json.loads(loaded.stdout.splitlines()[-1]))
    others = {*SERVICES, "frontend"} - {service}
    assert service in packages and "shared" in packages
    assert not packages & others, f"{service} loads {packages & others}"
