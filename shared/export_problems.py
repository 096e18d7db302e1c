"""Where is my telemetry? Each process says where it sends each signal, and why it cannot.

At start, one line names each signal's destination (exporter, protocol, endpoint). When an OTLP
export fails, the exporters' own lines (one per batch and retry, in the library's words) give
way to one line per signal that names the endpoint, the kind of failure (refused, name not
found, TLS, timeout, rejected, dropped) and what to check; then a reminder at most every
``EXPORT_PROBLEM_INTERVAL_SECONDS`` while it goes on. OpenTelemetry's other lines (a full queue
says so for every span it drops) reach the terminal at most once per message in that interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("telemetry")

SIGNALS = ("traces", "metrics", "logs")
# The OTLP exporters' loggers: each failure is logged to one of these.
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
)
# What the HTTP exporters call each signal.
_HTTP_KINDS = {"spans": "traces", "metrics": "metrics", "logs": "logs"}
# (words in the error, the kind of failure, what to check), first match wins.
_KINDS = (
    (
        (
            "name or service not known",
            "name resolution",
            "nodename nor servname",
            "dns resolution",
            "getaddrinfo",
            "name does not resolve",
            "domain name not found",
            "errors resolving",
            "no address associated",
        ),
        "name not found",
        "the endpoint's host name does not resolve: check its spelling (host.docker.internal "
        "exists only where Docker provides it; in Kubernetes use the Service's name)",
    ),
    (
        ("ssl", "tls", "handshake", "wrong version number", "certificate"),
        "TLS",
        "TLS failed: a plaintext collector needs http:// in the endpoint (for gRPC also "
        "OTEL_EXPORTER_OTLP_INSECURE=true); a TLS one, https:// and a certificate this host trusts",
    ),
    (
        ("connection refused", "econnrefused", "failed to connect to remote host"),
        "refused",
        "nothing listens at that host and port: is the collector running? OTLP/gRPC is port "
        "4317, OTLP/HTTP 4318; inside a container, localhost is the container itself",
    ),
    (
        ("timed out", "timeout", "deadline"),
        "timeout",
        "nothing answered in time: a firewall, a wrong port, or one protocol sent to the other's "
        "port (OTLP/gRPC 4317, OTLP/HTTP 4318)",
    ),
    (
        ("http/2", "settings frame", "badstatusline", "bad status line"),
        "wrong protocol",
        "the port speaks the other OTLP protocol: OTLP/gRPC is usually 4317, OTLP/HTTP 4318; "
        "set OTEL_EXPORTER_OTLP_PROTOCOL (grpc or http/protobuf) to match the port",
    ),
    (
        (
            "reset by peer",
            "connection aborted",
            "remote end closed",
            "connection reset",
            "protocol error",
            "socket closed",
            "eof",
        ),
        "dropped",
        "the collector closed the connection: it stopped or restarted (export resumes once it is "
        "back), or OTLP/gRPC went to an OTLP/HTTP port or the reverse (check "
        "OTEL_EXPORTER_OTLP_PROTOCOL against the port)",
    ),
)
_REJECTED = (
    "the collector refused the export: check OTEL_EXPORTER_OTLP_HEADERS (an API key, e.g. "
    "SigNoz Cloud's signoz-ingestion-key=<key>) and, for OTLP/HTTP, the path (/v1/<signal>)"
)

# The gRPC status codes of a collector that refuses the export (its key, or its rights).
_GRPC_REFUSALS = ("UNAUTHENTICATED", "PERMISSION_DENIED")


@dataclass(frozen=True)
class Destination:
    """Where one signal goes: its exporter and, for OTLP, the protocol and endpoint."""

    exporter: str
    protocol: str | None = None
    endpoint: str | None = None

    def __str__(self) -> str:
        if self.endpoint is None:
            return self.exporter
        wire = "OTLP/gRPC" if self.protocol == "grpc" else "OTLP/HTTP"
        return f"{wire} {self.endpoint}"


def destinations(env: Mapping[str, str]) -> dict[str, Destination]:
    """Each signal's destination, as the SDK reads it from the ``OTEL_*`` variables."""
    found = {}
    for signal in SIGNALS:
        exporter = (env.get(f"OTEL_{signal.upper()}_EXPORTER") or "otlp").split(",")[0].strip()
        if not exporter.startswith("otlp"):
            found[signal] = Destination(exporter)
            continue
        protocol = (
            env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "grpc"
        )
        if exporter != "otlp":  # otlp_proto_grpc, otlp_proto_http: the protocol is in the name
            protocol = "grpc" if exporter.endswith("grpc") else "http/protobuf"
        found[signal] = Destination("otlp", protocol, _endpoint(env, signal, protocol))
    return found


def _endpoint(env: Mapping[str, str], signal: str, protocol: str) -> str:
    specific = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if specific:
        return specific
    general = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if protocol == "grpc":
        return general or "http://localhost:4317"
    return f"{(general or 'http://localhost:4318').rstrip('/')}/v1/{signal}"


def describe(found: Mapping[str, Destination]) -> str:
    """``traces -> OTLP/gRPC http://collector:4317; metrics -> none; ...``"""
    return "; ".join(f"{signal} -> {destination}" for signal, destination in found.items())


def kind_of_failure(error: str) -> tuple[str, str]:
    """The kind of an export failure from its error text, and what to check."""
    lowered = error.lower()
    for words, kind, check in _KINDS:
        if any(word in lowered for word in words):
            return kind, check
    return "error", "the error at the end of this line (the exporter's own lines: LOG_LEVEL=DEBUG)"


class ExportProblems(logging.Filter):
    """Put on the terminal's log handlers: OpenTelemetry's own lines, said once, not per batch.

    An exporter's failure lines become one clear line per signal: the first failure (or a new
    kind of failure) at once, with the endpoint and what to check; while it goes on, a reminder
    at most every ``interval_s``. Any other line of an OpenTelemetry logger passes at most once
    per message every ``interval_s``. Other loggers' lines always pass.
    """

    def __init__(self, found: Mapping[str, Destination], interval_s: float) -> None:
        super().__init__()
        self.found = dict(found)
        self.interval_s = interval_s
        self._lock = threading.Lock()
        # (signal and kind, or "line" and another line's message) -> (kind, when last said,
        # held back since)
        self._said: dict[tuple[str, str], tuple[str, float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        # Decided once per record: with several terminal handlers, each asks about the same one.
        decided = record.__dict__.get("export_problems_pass")
        if decided is None:
            decided = record.__dict__["export_problems_pass"] = self._passes(record)
        return bool(decided)

    def _passes(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("opentelemetry"):
            return True
        failure = _failure(record) if record.name in EXPORTER_LOGGERS else None
        if failure is None:
            due, _ = self._due(("line", str(record.msg)), "line", time.monotonic())
            return due
        signal, error = failure
        if error is not None:  # None: "retries exhausted", whose cause the retry's line said
            self.report(signal, error)
        return False

    def report(self, signal: str, error: str) -> None:
        """Say (or count) one failed export of ``signal``."""
        kind, check = kind_of_failure(error)
        status = _http_status(error)
        refusal = next((code for code in _GRPC_REFUSALS if code in error), None)
        if status is not None and 400 <= status < 500:
            kind, check = f"rejected (HTTP {status})", _REJECTED
        elif refusal is not None:
            kind, check = f"rejected ({refusal})", _REJECTED
        now = time.monotonic()
        # Each kind of a signal's failure on its own: failures that alternate (the collector
        # drops the connection, then a retry runs out of time) are each said once, not again at
        # every change.
        due, said = self._due((signal, kind), kind, now)
        if not due:
            return
        destination = self.found.get(signal, Destination("otlp"))
        if said is None or said[0] != kind:
            log.warning(
                "%s export to %s failed: %s. Check: %s. (%s)",
                signal,
                destination,
                kind,
                check,
                _printable(error)[:200],
            )
        else:
            log.warning(
                "%s export to %s still failing: %s (%d more failures in the last %.0f s)",
                signal,
                destination,
                kind,
                said[2] + 1,
                now - said[1],
            )

    def _due(
        self, subject: tuple[str, str], kind: str, now: float
    ) -> tuple[bool, tuple[str, float, int] | None]:
        """Whether ``subject`` is said now (the first time, in a new kind, or ``interval_s``
        after it was last said; else it is counted), and what was said of it before."""
        with self._lock:
            said = self._said.get(subject)
            if said is not None and said[0] == kind and now - said[1] < self.interval_s:
                self._said[subject] = (kind, said[1], said[2] + 1)
                return False, said
            self._said[subject] = (kind, now, 0)
            return True, said


def _failure(record: logging.LogRecord) -> tuple[str, str | None] | None:
    """(signal, error text) of an exporter's failure line; ``None`` for its other lines."""
    message = str(record.msg)
    args = record.args if isinstance(record.args, tuple) else ()
    if message.startswith("Failed to export %s to %s") and len(args) >= 4:  # gRPC, final
        return str(args[0]), f"{args[2]}: {args[3]}"
    if message.startswith("Transient error %s encountered while exporting %s to %s"):  # gRPC
        return str(args[1]), f"{args[0]}: {args[4] if len(args) > 4 else ''}"
    if message.startswith("Failed to export %s batch code") and len(args) >= 3:  # HTTP
        return _HTTP_KINDS.get(str(args[0]), str(args[0])), f"HTTP {args[1]}: {args[2]}"
    if message.startswith("Transient error %s encountered while exporting %s batch"):  # HTTP
        return _HTTP_KINDS.get(str(args[1]), str(args[1])), str(args[0])
    if message.startswith("Failed to export %s batch due to timeout") and args:
        return _HTTP_KINDS.get(str(args[0]), str(args[0])), None
    return None


def _printable(error: str) -> str:
    """The error's first line in plain ASCII (a protocol mix-up can echo binary frames)."""
    first = error.splitlines()[0] if error else ""
    return "".join(c if " " <= c <= "~" else "?" for c in first)


def _http_status(error: str) -> int | None:
    if not error.startswith("HTTP "):
        return None
    code = error[5:].split(":", 1)[0]
    return int(code) if code.isdigit() else None


def remove_duplicate_filters() -> None:
    """Take the SDK's ``DuplicateFilter`` off the OTLP exporters' loggers, once the distro has
    built the exporters: ``ExportProblems`` says their failures once per signal instead.

    The OTLP/gRPC exporters of all three signals log through one logger with one message, and
    that filter lets a message through once per 20 s whatever its arguments: the failure of the
    second signal to fail vanished behind the first's (a wrong ingestion key showed the logs'
    and the metrics' failures, never the traces').
    """
    for name in EXPORTER_LOGGERS:
        exporter_log = logging.getLogger(name)
        for installed in list(exporter_log.filters):
            # By name: the class is private to the SDK (opentelemetry.sdk._shared_internal).
            if type(installed).__name__ == "DuplicateFilter":
                exporter_log.removeFilter(installed)


def say_where_signals_go(env: Mapping[str, str]) -> None:
    """One line, at start: where each signal goes (failures are ``ExportProblems``' lines)."""
    log.info("sending %s", describe(destinations(env)))
