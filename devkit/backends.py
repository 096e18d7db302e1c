"""The real OpenTelemetry Collector and Jaeger, as local processes running the project's own
config files: what the tests (and the bench) cross on the demo's main path.

`make backends` builds both into ``var/bin`` (docs/backends.md). Every port either program
listens on is moved to a free one with ``--set``, including their own metrics (8888) and the
Collector's health check, so several can run side by side and beside a `make run`; nothing
else of the config files changes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

import requests

from devkit.process import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = ROOT / "var" / "bin"
COLLECTOR_BINARY = BIN_DIR / "otelcol-contrib"
JAEGER_BINARY = BIN_DIR / "jaeger"
COLLECTOR_CONFIG_DIR = ROOT / "kubernetes" / "components" / "otel-collector" / "config"
JAEGER_CONFIG = ROOT / "kubernetes" / "overlays" / "jaeger" / "jaeger-config.yaml"
HOST = "127.0.0.1"
# The line both programs log once every component has started.
READY = "Everything is ready"
P = TypeVar("P", bound="Program")


def missing_binaries() -> list[Path]:
    """The programs `make backends` has not built (yet)."""
    return [path for path in (COLLECTOR_BINARY, JAEGER_BINARY) if not path.is_file()]


def own_metrics_on(port: int) -> str:
    """A ``--config`` that moves the program's own metrics endpoint (8888 in both configs:
    Jaeger's says so, the Collector's is its default) to ``port``. A list, so ``--set`` can't."""
    reader = f"{{pull: {{exporter: {{prometheus: {{host: {HOST}, port: {port}}}}}}}}}"
    return f"--config=yaml:service::telemetry::metrics::readers: [{reader}]"


class PortTaken(AssertionError):
    """A port picked as free was taken before the program bound it (another process's
    outgoing connection can land on it): start it again on other ports."""


def start_on_free_ports(create: Callable[[], P], attempts: int = 3) -> P:
    """``create()`` a program on free ports and start it, on others if one was taken."""
    for attempt in range(attempts):
        try:
            return create().start()
        except PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@dataclass
class Program:
    """One of the two binaries, started with ``args``; its log (stdout and stderr) in
    ``log_path``. Ready once ``ready_url`` answers 200."""

    binary: Path
    args: Sequence[str]
    log_path: Path
    ready_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    # Where its last start begins in the log.
    started_at: int = 0

    def start(self, timeout: float = 60.0) -> Self:
        self.started_at = len(self.log()) if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", ""), **self.env},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                said = self.log()[self.started_at :]
                failure = PortTaken if "address already in use" in said else AssertionError
                raise failure(f"{self.binary.name} exited at start:\n{said}")
            try:
                if requests.get(self.ready_url, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop(signal.SIGKILL)  # no caller would stop what it never got
        raise AssertionError(f"{self.binary.name} not ready in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it (``SIGKILL``: at once, as a crash would) and wait for the exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines_since(self, offset: int) -> list[str]:
        """The log's lines written after ``offset`` characters."""
        return self.log()[offset:].splitlines()

    def start_up_log(self) -> str:
        """The log of its last start, up to the line that says it is ready."""
        log = self.log()[self.started_at :]
        ready = log.find(READY)
        return log[: ready + len(READY)] if ready >= 0 else log


@dataclass
class Jaeger(Program):
    """Jaeger v2 running ``kubernetes/overlays/jaeger/jaeger-config.yaml`` (the file compose and
    the `jaeger` overlay run: OTLP/gRPC in, memory storage, the query API), on free ports."""

    otlp_port: int = 0
    query_port: int = 0

    @classmethod
    def create(cls, log_dir: Path) -> Jaeger:
        otlp, query, query_grpc, metrics = (free_port() for _ in range(4))
        args = [
            f"--config={JAEGER_CONFIG}",
            f"--set=receivers::otlp::protocols::grpc::endpoint={HOST}:{otlp}",
            f"--set=extensions::jaeger_query::http::endpoint={HOST}:{query}",
            f"--set=extensions::jaeger_query::grpc::endpoint={HOST}:{query_grpc}",
            own_metrics_on(metrics),
        ]
        return cls(
            binary=JAEGER_BINARY,
            args=args,
            log_path=log_dir / "jaeger.log",
            ready_url=f"http://{HOST}:{query}/api/services",
            otlp_port=otlp,
            query_port=query,
        )

    @property
    def query_url(self) -> str:
        """Jaeger's UI and query API: the frontend's JAEGER_QUERY_URL."""
        return f"http://{HOST}:{self.query_port}"

    @property
    def otlp_endpoint(self) -> str:
        return f"{HOST}:{self.otlp_port}"

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as Jaeger's query API returns it (``data[0]``), or None if it has none."""
        answer = requests.get(f"{self.query_url}/api/traces/{trace_id}", timeout=10)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        data = answer.json()["data"]
        return data[0] if data else None


@dataclass
class Collector(Program):
    """The Collector running ``common.yaml`` plus one backend file from
    ``kubernetes/components/otel-collector/config``, on free ports; only addresses change."""

    grpc_port: int = 0
    http_port: int = 0
    # The `jaeger` backend's prometheus exporter (0 for another backend).
    prometheus_port: int = 0

    @classmethod
    def create(
        cls,
        log_dir: Path,
        backend: str,
        sets: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        name: str = "collector",
    ) -> Collector:
        """``backend`` is ``jaeger`` or ``signoz``; ``sets`` are more ``--set`` key=value pairs
        (``::`` between keys), e.g. where the backend's exporter sends."""
        grpc, http, health, metrics = (free_port() for _ in range(4))
        args = [
            f"--config={COLLECTOR_CONFIG_DIR / 'common.yaml'}",
            f"--config={COLLECTOR_CONFIG_DIR / f'{backend}.yaml'}",
            f"--set=receivers::otlp::protocols::grpc::endpoint={HOST}:{grpc}",
            f"--set=receivers::otlp::protocols::http::endpoint={HOST}:{http}",
            f"--set=extensions::health_check::endpoint={HOST}:{health}",
            *(f"--set={key}={value}" for key, value in sets.items()),
            own_metrics_on(metrics),
        ]
        return cls(
            binary=COLLECTOR_BINARY,
            args=args,
            log_path=log_dir / f"{name}.log",
            ready_url=f"http://{HOST}:{health}/",
            env=env or {},
            grpc_port=grpc,
            http_port=http,
        )

    @classmethod
    def for_jaeger(cls, log_dir: Path, jaeger: Jaeger, **sets: str) -> Collector:
        """``common.yaml`` + ``jaeger.yaml``, exporting traces to ``jaeger``; its prometheus
        exporter, which serves the metrics, on a free port too."""
        prometheus = free_port()
        collector = cls.create(
            log_dir,
            "jaeger",
            {
                "exporters::otlp_grpc/jaeger::endpoint": jaeger.otlp_endpoint,
                "exporters::prometheus::endpoint": f"{HOST}:{prometheus}",
                **sets,
            },
        )
        collector.prometheus_port = prometheus
        return collector

    @property
    def endpoint(self) -> str:
        """OTLP/gRPC, as the services' OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://{HOST}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """OTLP/HTTP, as the frontend's COLLECTOR_OTLP_HTTP_URL."""
        return f"http://{HOST}:{self.http_port}"

    @property
    def prometheus_url(self) -> str:
        """The prometheus exporter (``/metrics``), as the frontend's COLLECTOR_PROMETHEUS_URL."""
        return f"http://{HOST}:{self.prometheus_port}"


def version(binary: Path) -> str:
    """The release a binary reports: ``otelcol-contrib --version``, ``jaeger version``."""
    command = [str(binary), "--version" if binary == COLLECTOR_BINARY else "version"]
    said = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    match = re.search(r"version (\d+\.\d+\.\d+)|\"gitVersion\":\"v(\d+\.\d+\.\d+)\"", said.stdout)
    assert match, said.stdout
    return match[1] or match[2]


def validate(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``otelcol-contrib validate`` with ``args`` (``--config=…``): the Collector's own check."""
    return subprocess.run(
        [str(COLLECTOR_BINARY), "validate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
    )
