"""The project's config files on the real Collector and Jaeger (built by `make backends`):
accepted by the Collector's own ``validate``, as compose loads them and as the Kubernetes
`jaeger` overlay renders them, and started with not one warning."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from devkit.backends import (
    COLLECTOR_BINARY,
    COLLECTOR_CONFIG_DIR,
    JAEGER_BINARY,
    Collector,
    Jaeger,
    start_on_free_ports,
    validate,
    version,
)
from tests.conftest import require_backends
from tests.stack import ROOT

SIGNOZ_ENV = {
    "SIGNOZ_ENDPOINT": "ingest.eu.signoz.cloud:443",
    "SIGNOZ_INSECURE": "false",
    "SIGNOZ_INGESTION_KEY": "a-key",
}
# A Jaeger built from its Go module has no UI assets (docs/backends.md); its query API is whole.
BUILT_FROM_SOURCE = "ui assets not embedded in the binary"


@pytest.fixture(autouse=True)
def _built() -> None:
    require_backends()


@pytest.mark.parametrize("backend", ["jaeger", "signoz"])
def test_the_collector_accepts_common_yaml_with_each_backend_file(backend: str) -> None:
    env = SIGNOZ_ENV if backend == "signoz" else {}
    result = validate(
        f"--config={COLLECTOR_CONFIG_DIR / 'common.yaml'}",
        f"--config={COLLECTOR_CONFIG_DIR / f'{backend}.yaml'}",
        env=env,
    )
    assert result.returncode == 0, result.stderr


def test_the_collector_refuses_a_config_it_does_not_know(tmp_path: Path) -> None:
    """``validate`` is a real check: a misspelt exporter fails it."""
    broken = tmp_path / "broken.yaml"
    text = (COLLECTOR_CONFIG_DIR / "jaeger.yaml").read_text()
    broken.write_text(text.replace("debug:", "debgu:", 1))
    result = validate(f"--config={COLLECTOR_CONFIG_DIR / 'common.yaml'}", f"--config={broken}")
    assert result.returncode != 0
    assert "debgu" in result.stderr


def test_the_collector_accepts_the_configmap_the_jaeger_overlay_renders(tmp_path: Path) -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "kubernetes" / "overlays" / "jaeger")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    objects = [o for o in yaml.safe_load_all(rendered) if o]
    (deployment,) = [
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "otel-collector"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (mount,) = container["volumeMounts"]
    (config_map,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("otel-collector-config")
    ]
    for name, text in config_map["data"].items():
        (tmp_path / name).write_text(text)
    # The Deployment's own arguments, with the mount path pointing at the rendered files.
    args = [arg.replace(mount["mountPath"], str(tmp_path)) for arg in container["args"]]
    assert args and all(arg.startswith("--config=") for arg in args)
    result = validate(*args)
    assert result.returncode == 0, result.stderr


def _warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if re.search(r"\twarn\t", line)]


def test_the_collector_and_jaeger_start_with_no_warning(
    collector: Collector, jaeger: Jaeger, tmp_path: Path
) -> None:
    """Started from the project's files (only the ports moved): not one warning until each says
    it is ready, no deprecated name, no old processor; the session's two, and the Collector
    with the SigNoz file (sending to Jaeger's OTLP port, a live gRPC server)."""
    to_jaeger = {
        "SIGNOZ_ENDPOINT": jaeger.otlp_endpoint,
        "SIGNOZ_INSECURE": "true",
        "SIGNOZ_INGESTION_KEY": "a-key",
    }
    signoz = start_on_free_ports(
        lambda: Collector.create(tmp_path, "signoz", {}, env=to_jaeger, name="signoz-collector")
    )
    try:
        started = {"jaeger.yaml": collector.start_up_log(), "signoz.yaml": signoz.start_up_log()}
    finally:
        signoz.stop()
    for config, log in started.items():
        assert "Everything is ready" in log, config
        assert _warnings(log) == [], config
    log = jaeger.start_up_log()
    assert "Everything is ready" in log
    assert [line for line in _warnings(log) if BUILT_FROM_SOURCE not in line] == []


def _images() -> dict[str, set[str]]:
    """Every image tag compose and the rendered Kubernetes overlays name, by repository."""
    texts = [(ROOT / "docker-compose.yml").read_text()]
    for overlay in ("jaeger", "signoz"):
        texts.append(
            subprocess.run(
                ["kubectl", "kustomize", str(ROOT / "kubernetes" / "overlays" / overlay)],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
    images: dict[str, set[str]] = {}
    for text in texts:
        for repository, tag in re.findall(r"image: ([\w./-]+):([\w.-]+)", text):
            images.setdefault(repository, set()).add(tag)
    return images


def test_compose_and_kubernetes_pin_the_releases_the_tests_build_and_run() -> None:
    images = _images()
    assert images["otel/opentelemetry-collector-contrib"] == {version(COLLECTOR_BINARY)}
    assert images["jaegertracing/jaeger"] == {version(JAEGER_BINARY)}
