"""Each service folder is a unit: it runs with ``shared/`` and nothing of the other services."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.docs import first_code_block
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


def documented_layout() -> dict[str, set[str]]:
    """The Python files docs/architecture.md's source tree names, by top-level folder."""
    tree = first_code_block("docs/architecture.md", "## The source tree")
    named: dict[str, set[str]] = {}
    folders: list[str] = []  # the folder of each indentation level
    for line in tree.splitlines():
        entry = re.match(r"^( *)(\S+)", line)
        if entry is None or line.startswith(" " * 27):  # a description's continuation
            continue
        depth, name = len(entry[1]) // 2, entry[2]
        folders = [*folders[:depth], name.rstrip("/")] if name.endswith("/") else folders[:depth]
        if name.endswith(".py"):
            named.setdefault(folders[0], set()).add("/".join([*folders[1:], name]))
    return named


@pytest.mark.parametrize("folder", [*SERVICES, "shared", "frontend"])
def test_the_documented_tree_is_the_code(folder: str) -> None:
    on_disk = {
        str(path.relative_to(ROOT / folder))
        for path in (ROOT / folder).rglob("*.py")
        if "node_modules" not in path.parts
    }
    assert documented_layout().get(folder, set()) == on_disk
