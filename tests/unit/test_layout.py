"""Each service folder is a unit: it runs with ``shared/`` and nothing of the other services;
what runs (the services, ``shared/``, the frontend) never needs the tests' and bench's tools."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.docs import first_code_block
from tests.stack import ROOT

SERVICES = ("users", "payment", "order")
RUNTIME = (*SERVICES, "shared", "frontend")
# For development only: not in the wheel, nor in the image.
DEV_ONLY = {"devkit", "tests", "bench"}
DYNAMIC_IMPORTS = {"import_module", "__import__"}
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
    assert not packages & DEV_ONLY, f"{service} loads {packages & DEV_ONLY}"


def imported_packages(path: Path) -> set[str]:
    """The top-level packages ``path`` imports, statically or by a literal name
    (``importlib.import_module("x.y")``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in DYNAMIC_IMPORTS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {name.partition(".")[0] for name in found}


@pytest.mark.parametrize("folder", RUNTIME)
def test_what_runs_imports_nothing_of_the_tests_or_the_bench(folder: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & DEV_ONLY)
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "node_modules" not in path.parts
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_the_wheel_and_the_image_hold_none_of_the_tests_tools() -> None:
    """``devkit``, like ``tests`` and ``bench``, is imported from the repository's root only."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {name.partition(".")[0] for name in packages["packages"]} == {*RUNTIME}
    copied = {
        Path(source).parts[0]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    }
    assert not copied & DEV_ONLY, copied
    assert DEV_ONLY <= set((ROOT / ".dockerignore").read_text().splitlines())


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
