"""The GitHub Actions workflow (.github/workflows/*.yml), which nothing here can run.

actionlint (with shellcheck on every ``run:`` block) must find nothing, and the stack workflow
must start what the deployment files describe: compose's published ports, the images the
kustomize overlay runs (built by docker-bake.hcl and loaded into kind), its Services' ports.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.stack import ROOT
from tests.test_deploy import COMPOSE_FILES, compose_config, objects, run
from tests.test_portable import bake_targets

VENV_BIN = Path(sys.executable).parent
WORKFLOWS = ROOT / ".github" / "workflows"
STACK = WORKFLOWS / "stack.yml"
SMOKE = "python -m tests.smoke"
OVERLAY = "kubernetes/overlays/jaeger"


def tool(name: str) -> str:
    path = VENV_BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed: make test installs it (pyproject's test extra)"
    return found


@cache
def jobs() -> dict[str, Any]:
    workflow = yaml.safe_load(STACK.read_text())
    found: dict[str, Any] = workflow["jobs"]
    return found


def scripts(job: str) -> list[str]:
    return [step["run"] for step in jobs()[job]["steps"] if "run" in step]


def smoke_urls(job: str) -> dict[str, str]:
    """The smoke check's options (--base-url, --jaeger-url) in a job."""
    (command,) = [script for script in scripts(job) if SMOKE in script]
    words = shlex.split(command)
    return {word: words[i + 1] for i, word in enumerate(words) if word.startswith("--")}


def port_of(url: str) -> int:
    match = re.fullmatch(r"http://localhost:(\d+)/?", url)
    assert match, url
    return int(match[1])


def test_actionlint_and_shellcheck_find_nothing() -> None:
    workflows = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert STACK in workflows
    result = run(tool("actionlint"), f"-shellcheck={tool('shellcheck')}", *workflows, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "", result.stdout


def test_the_compose_job_starts_the_stack_and_smokes_compose_published_ports() -> None:
    job = jobs()["compose"]
    run_steps = [step for step in job["steps"] if "run" in step]
    assert any("docker compose up --build --wait" in step["run"] for step in run_steps)
    (down,) = [step for step in run_steps if "docker compose down -v" in step["run"]]
    assert down["if"] == "always()"
    published = {
        int(port["target"]): int(port["published"])
        for service in ("frontend", "jaeger")
        for port in compose_config()["services"][service]["ports"]
    }
    urls = smoke_urls("compose")
    assert port_of(urls["--base-url"]) == published[8080]
    assert port_of(urls["--jaeger-url"]) == published[16686]


def test_the_signoz_job_starts_the_signoz_variant_and_smokes_its_page_without_jaeger() -> None:
    job = jobs()["compose-signoz"]
    files = job["env"]["COMPOSE_FILE"].split(":")
    assert files == list(COMPOSE_FILES["signoz"])
    text = "\n".join(scripts("compose-signoz"))
    assert "docker compose up --build --wait" in text
    assert "grep -qx jaeger" in text and "docker compose ps --all --services" in text
    (page,) = compose_config(backend="signoz")["services"]["frontend"]["ports"]
    urls = smoke_urls("compose-signoz")
    assert port_of(urls["--base-url"]) == int(page["published"])
    assert "--jaeger-url" not in urls


def test_the_kind_job_loads_every_image_of_ours_that_the_overlay_runs() -> None:
    text = "\n".join(scripts("kind"))
    assert f"kubectl apply -k {OVERLAY}\n" in text + "\n"
    overlay_images = {
        container["image"]
        for kind in ("Deployment", "StatefulSet")
        for workload in objects("jaeger", kind).values()
        for container in workload["spec"]["template"]["spec"]["containers"]
        + workload["spec"]["template"]["spec"].get("initContainers", [])
    }
    targets = {t.name: t for t in bake_targets().values() if set(t.tags) & overlay_images}
    assert targets, "the overlay runs none of the images docker-bake.hcl builds"
    (bake,) = [shlex.split(s) for s in text.splitlines() if "docker buildx bake" in s]
    assert set(targets) <= set(bake), bake
    (load,) = [s for s in scripts("kind") if "kind load docker-image" in s]
    loaded = set(shlex.split(load))
    for target in targets.values():
        assert set(target.tags) & overlay_images <= loaded, target


def test_the_kind_job_port_forwards_the_services_the_smoke_check_reaches() -> None:
    text = "\n".join(scripts("kind"))
    assert "rollout status" in text and "get deployments -o name" in text
    forwards = dict(re.findall(r"port-forward svc/([a-z-]+) (\d+:\d+)", text))
    services = objects("jaeger", "Service")
    for name, ports in forwards.items():
        local, remote = map(int, ports.split(":"))
        assert remote in {p["port"] for p in services[name]["spec"]["ports"]}, name
    urls = smoke_urls("kind")
    by_local_port = {int(ports.split(":")[0]): name for name, ports in forwards.items()}
    assert by_local_port[port_of(urls["--base-url"])] == "frontend"
    assert by_local_port[port_of(urls["--jaeger-url"])] == "jaeger"
