"""``make bench``: what telemetry costs, per flow, in three modes, in one run.

- ``untraced``: ``OTEL_SDK_DISABLED=true``, no telemetry at all;
- ``project``: the services exactly as shipped (``shared.telemetry``: traces, metrics and logs,
  every trace kept), exporting over OTLP/gRPC to a counting receiver;
- ``distro``: "distro defaults", what the usual tutorial gives: the same services in their own
  virtualenv with every instrumentation ``opentelemetry-bootstrap`` picks, and a ``post_fork``
  that only calls ``initialize()`` (``bench/distro.py``, ``bench/distro_gunicorn_conf.py``).

Both traced modes export every 5 s of metrics (``OTEL_METRIC_EXPORT_INTERVAL=5000``) to a
receiver of their own. The three stacks (users, payment, order under gunicorn, each mode on its
own MySQL database ``<name>_<mode>``) run side by side; ``hey`` drives each flow at saturation
(requests/s) and at a fixed moderate rate (p50/p95/p99), the modes taking turns round by round,
and the medians are reported. The report adds spans and log records per request, spans
received vs expected, the receiver's CPU, each worker's memory and the time from start to every
``/readyz`` green. It prints tables and writes ``bench/results/<time>.json`` (``--out``).

``--smoke`` does all of it once, briefly, at a low rate: a check that the bench works, not a
measurement (its JSON goes to ``var/bench-smoke`` unless ``--out`` says otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, make_url, text

from bench import span_cost
from bench.distro import DEFAULT_VENV, GUNICORN_CONFIG, DistroVenv, ensure_venv
from devkit.otlp_receiver import Counts, OtlpReceiver, settle
from devkit.process import child_pids, free_port, resident_kib
from shared.db import create_db_engine
from shared.init_db import drop_schema, init_db
from shared.launch import GUNICORN_CONFIG as PROJECT_GUNICORN_CONFIG
from shared.launch import PROCESSES_BY_NAME
from shared.launch.process import NotReady, start_service, stop_processes, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "mysql+pymysql://root@127.0.0.1:3306/tracing_demo_bench?charset=utf8mb4"
MODES = ("untraced", "project", "distro")
TRACED = ("project", "distro")
FLOWS = ("GET /users/<id>", "transfer", "POST /orders")
# A span waits at most OTEL_BSP_SCHEDULE_DELAY (5 s by default) in its worker's queue, a log
# record OTEL_BLRP_SCHEDULE_DELAY (1 s): once the load stops, everything has arrived after that
# and a quiet second (more while exports still trickle in).
EXPORT_WAIT_S = int(os.environ.get("OTEL_BSP_SCHEDULE_DELAY", "5000")) / 1000 + 0.5
EXPORT_QUIET_S = 1.0
METRIC_EXPORT_INTERVAL_MS = "5000"
TARGETS: dict[str, Any] = {
    # project req/s over untraced req/s, at saturation
    "min_ratio_to_untraced": {"GET /users/<id>": 0.80, "transfer": 0.85, "POST /orders": 0.85},
    # "clearly ahead": project req/s at least 10 % above distro's
    "min_project_over_distro": 1.10,
}
FULL = {"seconds": 6, "rounds": 3, "concurrency": 16, "rate": 50.0, "warmup": 2}
SMOKE = {"seconds": 1, "rounds": 1, "concurrency": 4, "rate": 20.0, "warmup": 1}


@dataclass
class Flow:
    name: str
    method: str
    url: str
    body: str | None = None


@dataclass
class HeyResult:
    requests_per_s: float
    # None where hey printed no such percentile (it needs enough requests: 100 for p99).
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    responses: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.responses.values())


@dataclass
class ModeResult:
    mode: str
    ready_s: float
    saturation: dict[str, HeyResult] = field(default_factory=dict)
    fixed_rate: dict[str, HeyResult] = field(default_factory=dict)
    spans_per_request: dict[str, int] = field(default_factory=dict)
    log_records_per_request: dict[str, float] = field(default_factory=dict)
    # At the fixed rate: requests sent x spans per request, and what the receiver got.
    spans_expected: dict[str, int] = field(default_factory=dict)
    spans_received: dict[str, int] = field(default_factory=dict)
    log_records_received: dict[str, int] = field(default_factory=dict)
    # The same at saturation, where a full span queue drops spans.
    spans_expected_saturation: dict[str, int] = field(default_factory=dict)
    spans_received_saturation: dict[str, int] = field(default_factory=dict)
    worker_rss_mb: dict[str, list[float]] = field(default_factory=dict)
    # CPU this process (the in-process OTLP receivers, in practice) used while this mode ran
    # at saturation, in cores: on this box it competes with the services; a real collector
    # runs elsewhere.
    receiver_cores: dict[str, float] = field(default_factory=dict)
    metric_points: int = 0
    metric_points_per_s: float = 0.0


def hey(flow: Flow, seconds: int, concurrency: int, qps_per_worker: float | None) -> HeyResult:
    """Run ``hey`` against one flow and parse its summary."""
    command = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", flow.method, "-t", "10"]
    if qps_per_worker:
        command += ["-q", str(qps_per_worker)]
    if flow.body is not None:
        command += ["-T", "application/json", "-d", flow.body]
    output = subprocess.run(
        [*command, flow.url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout

    def latency(percent: int) -> float | None:
        match = re.search(rf"{percent}%+ in ([0-9.]+) secs", output)
        return float(match[1]) * 1000 if match else None

    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    responses = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", output))
    return HeyResult(
        requests_per_s=float(rps[1]) if rps else 0.0,
        p50_ms=latency(50),
        p95_ms=latency(95),
        p99_ms=latency(99),
        responses={code: int(count) for code, count in responses.items()},
    )


def send(flow: Flow, samples: int) -> None:
    """``samples`` requests of ``flow``, one after the other."""
    with requests.Session() as session:
        for _ in range(samples):
            session.request(
                flow.method,
                flow.url,
                data=flow.body,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )


def server_url(url: str) -> str:
    """``url`` without its database: a connection that works before any database exists."""
    return make_url(url).set(database="").render_as_string(hide_password=False)


def reset_database(url: str) -> None:
    parsed = make_url(url)
    server = create_engine(server_url(url))
    with server.connect() as connection:
        connection.execute(text(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}`"))
    server.dispose()
    engine = create_db_engine(url)
    drop_schema(engine)
    init_db(engine)
    engine.dispose()


def worker_rss_mb(master_pid: int) -> list[float]:
    """Resident memory of each gunicorn worker (the master's children), in MiB."""
    return [round(resident_kib(pid) / 1024, 1) for pid in child_pids(master_pid)]


@dataclass
class BenchStack:
    """One mode's three services and receiver, with the flows that drive them."""

    mode: str
    receiver: OtlpReceiver
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ready_s: float = 0.0
    flows: dict[str, Flow] = field(default_factory=dict)
    # Each service's base URL (http://127.0.0.1:<port>), by name.
    urls: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        stop_processes(self.processes.values(), timeout_s=30)
        self.receiver.stop()


def mode_env(
    mode: str, database_url: str, users_port: int, endpoint: str, args: argparse.Namespace
) -> dict[str, str]:
    """The services' environment in ``mode``: the same in all three but ``OTEL_SDK_DISABLED``."""
    env = {
        # OTEL_BSP_* passes through, to try batch settings; other OTEL_* would skew the modes,
        # and so would a local .env's database or scenario.
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "SQL_")) or k.startswith(("OTEL_BSP_", "OTEL_BLRP_"))
    }
    for name in ("DATABASE_URL", "USER_URL", "DEFAULT_SCENARIO"):
        env.pop(name, None)
    env.update(
        {
            # The distro venv does not have the project installed: the repo root is its path.
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url,
            "USER_URL": f"127.0.0.1:{users_port}",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": METRIC_EXPORT_INTERVAL_MS,
            "OTEL_SDK_DISABLED": "true" if mode == "untraced" else "false",
            "LOG_LEVEL": args.log_level,
            "WEB_CONCURRENCY": str(args.workers),
            "GUNICORN_THREADS": str(args.threads),
        }
    )
    return env


def start_stack(
    mode: str,
    database_url: str,
    args: argparse.Namespace,
    log_dir: Path,
    distro: DistroVenv | None,
    receiver: OtlpReceiver | None = None,
) -> BenchStack:
    """Reset ``mode``'s database, start its receiver (``receiver``, else a new one) and
    services, fund a user."""
    reset_database(database_url)
    stack = BenchStack(mode, (receiver or OtlpReceiver(counting_only=True)).start())
    ports = {name: free_port() for name in ("users", "payment", "order")}
    env = mode_env(mode, database_url, ports["users"], stack.receiver.endpoint, args)
    (log_dir / mode).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    python, config = sys.executable, PROJECT_GUNICORN_CONFIG
    if mode == "distro":
        assert distro is not None
        python, config = str(distro.python), GUNICORN_CONFIG
    for name, port in ports.items():
        with open(log_dir / mode / f"{name}.log", "ab") as log:
            stack.processes[name] = start_service(
                PROCESSES_BY_NAME[name], port, env, output=log, python=python, config=config
            )
    for name, port in ports.items():
        try:
            wait_until_ready(f"http://127.0.0.1:{port}", stack.processes[name], 90)
        except NotReady as exc:
            stack.stop()
            raise SystemExit(f"{mode} {name}: {exc}; see {log_dir / mode}") from None
    stack.ready_s = round(time.monotonic() - started, 2)
    stack.urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    users, payment, order = (stack.urls[n] for n in ("users", "payment", "order"))
    user = requests.post(users + "/users", json={"user_name": "Bench", "account": "B"}, timeout=10)
    user_id = user.json()["id"]
    for _ in range(100):  # 100 x the largest transfer: enough for every order of the run
        requests.put(
            f"{payment}/payments/transfer/id/{user_id}", json={"amount": 1_000_000_000}, timeout=10
        )
    flows = [
        Flow("GET /users/<id>", "GET", f"{users}/users/{user_id}"),
        Flow("transfer", "PUT", f"{payment}/payments/transfer/id/{user_id}", '{"amount": 1}'),
        Flow(
            "POST /orders",
            "POST",
            f"{order}/orders",
            json.dumps({"user_id": user_id, "product_id": 1}),
        ),
    ]
    stack.flows = {flow.name: flow for flow in flows}
    return stack


def median_result(results: list[HeyResult]) -> HeyResult:
    """The median of each figure over the rounds (runs drift on a shared 2-core machine)."""
    responses: dict[str, int] = {}
    for result in results:
        for code, count in result.responses.items():
            responses[code] = responses.get(code, 0) + count
    return HeyResult(
        requests_per_s=statistics.median(r.requests_per_s for r in results),
        p50_ms=_median([r.p50_ms for r in results]),
        p95_ms=_median([r.p95_ms for r in results]),
        p99_ms=_median([r.p99_ms for r in results]),
        responses=responses,
    )


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def turns(round_: int) -> Iterator[str]:
    """The modes in this round's order: each round starts one mode later, so drift hits all."""
    for i in range(len(MODES)):
        yield MODES[(round_ + i) % len(MODES)]


def measure(stacks: dict[str, BenchStack], args: argparse.Namespace) -> dict[str, ModeResult]:
    """Each flow on the three stacks in rotating rounds; telemetry counted per mode."""
    results = {mode: ModeResult(mode=mode, ready_s=stacks[mode].ready_s) for mode in MODES}
    receivers = [stacks[mode].receiver for mode in MODES]
    started, start_counts = time.monotonic(), [r.counts() for r in receivers]

    def deltas(before: Sequence[Counts]) -> tuple[dict[str, Counts], list[Counts]]:
        """What each mode's receiver got since ``before``, once settled; the counts then."""
        after = settle(receivers, min_wait_s=EXPORT_WAIT_S, quiet_s=EXPORT_QUIET_S)
        return {mode: a - b for mode, a, b in zip(MODES, after, before, strict=True)}, after

    for name in FLOWS:  # warm-up: pools and caches, every flow on every stack
        for mode in MODES:
            hey(stacks[mode].flows[name], args.warmup, 4, None)
    counts = settle(receivers, min_wait_s=EXPORT_WAIT_S, quiet_s=EXPORT_QUIET_S)
    for name in FLOWS:
        # Spans and log records per request: a few requests, one after the other.
        for mode in MODES:
            send(stacks[mode].flows[name], args.samples)
        got, counts = deltas(counts)
        for mode, result in results.items():
            result.spans_per_request[name] = round(got[mode].spans / args.samples)
            result.log_records_per_request[name] = round(got[mode].log_records / args.samples, 2)

        saturation: dict[str, list[HeyResult]] = {mode: [] for mode in MODES}
        cpu = dict.fromkeys(MODES, 0.0)
        for round_ in range(args.rounds):
            for mode in turns(round_):
                cpu_before = time.process_time()
                saturation[mode].append(
                    hey(stacks[mode].flows[name], args.seconds, args.concurrency, None)
                )
                cpu[mode] += time.process_time() - cpu_before
        got, counts = deltas(counts)
        for mode, result in results.items():
            sent = sum(r.total for r in saturation[mode])
            result.spans_expected_saturation[name] = sent * result.spans_per_request[name]
            result.spans_received_saturation[name] = got[mode].spans
            result.receiver_cores[name] = round(cpu[mode] / (args.rounds * args.seconds), 3)

        fixed: dict[str, list[HeyResult]] = {mode: [] for mode in MODES}
        for round_ in range(args.rounds):
            for mode in turns(round_):
                flow = stacks[mode].flows[name]
                fixed[mode].append(hey(flow, args.seconds, 5, args.rate / 5))
        got, counts = deltas(counts)
        for mode, result in results.items():
            sent = sum(r.total for r in fixed[mode])
            result.spans_expected[name] = sent * result.spans_per_request[name]
            result.spans_received[name] = got[mode].spans
            result.log_records_received[name] = got[mode].log_records
            result.saturation[name] = median_result(saturation[mode])
            result.fixed_rate[name] = median_result(fixed[mode])
    elapsed = time.monotonic() - started
    for mode, now, before in zip(MODES, counts, start_counts, strict=True):
        results[mode].metric_points = (now - before).metric_points
        results[mode].metric_points_per_s = round(results[mode].metric_points / elapsed, 1)
        for service, process in stacks[mode].processes.items():
            results[mode].worker_rss_mb[service] = worker_rss_mb(process.pid)
    return results


def machine(database_url: str) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    meminfo = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    memory_kb = int(meminfo[1]) if meminfo else 0
    packages = [
        "flask",
        "gunicorn",
        "sqlalchemy",
        "pymysql",
        "opentelemetry-sdk",
        "opentelemetry-distro",
        "opentelemetry-instrumentation-flask",
    ]
    # The server, not the database of the URL: only the per-mode databases exist.
    engine = create_engine(server_url(database_url))
    with engine.connect() as connection:
        database = connection.scalar(text("SELECT VERSION()"))
    engine.dispose()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "database": database,
        "hey": shutil.which("hey"),
        "packages": {name: metadata.version(name) for name in packages},
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def report(
    results: dict[str, ModeResult],
    distro: DistroVenv,
    settings: dict[str, Any],
    database_url: str,
) -> dict[str, Any]:
    rows = []
    for flow in FLOWS:
        rps = {mode: round(results[mode].saturation[flow].requests_per_s, 1) for mode in MODES}
        ratios = {
            "project/untraced": _ratio(rps["project"], rps["untraced"]),
            "distro/untraced": _ratio(rps["distro"], rps["untraced"]),
            "project/distro": _ratio(rps["project"], rps["distro"]),
        }
        min_ratio = TARGETS["min_ratio_to_untraced"][flow]
        ratio_met = (ratios["project/untraced"] or 0.0) >= min_ratio
        ahead_met = (ratios["project/distro"] or 0.0) >= TARGETS["min_project_over_distro"]
        rows.append(
            {
                "flow": flow,
                "rps": rps,
                "ratios": ratios,
                "latency_ms": {
                    mode: {
                        f"p{p}": _round(getattr(results[mode].fixed_rate[flow], f"p{p}_ms"))
                        for p in (50, 95, 99)
                    }
                    for mode in MODES
                },
                "spans_per_request": {m: results[m].spans_per_request[flow] for m in TRACED},
                "spans_received": {m: results[m].spans_received[flow] for m in MODES},
                "spans_expected": {m: results[m].spans_expected[flow] for m in MODES},
                "spans_received_saturation": {
                    m: results[m].spans_received_saturation[flow] for m in TRACED
                },
                "spans_expected_saturation": {
                    m: results[m].spans_expected_saturation[flow] for m in TRACED
                },
                "log_records_per_request": {
                    m: results[m].log_records_per_request[flow] for m in TRACED
                },
                "receiver_cores": {m: results[m].receiver_cores[flow] for m in MODES},
                "statuses": {m: results[m].saturation[flow].responses for m in MODES},
                "target": {
                    "min_ratio_to_untraced": min_ratio,
                    "ratio_met": ratio_met,
                    "ahead_of_distro_met": ahead_met,
                    "met": ratio_met and ahead_met,
                },
            }
        )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(database_url),
        "settings": settings,
        "targets": TARGETS,
        "modes": {
            "untraced": {"OTEL_SDK_DISABLED": "true"},
            "project": {
                "telemetry": "shared.telemetry.start_telemetry (traces, metrics, logs)",
                "OTEL_METRIC_EXPORT_INTERVAL": METRIC_EXPORT_INTERVAL_MS,
            },
            "distro": {
                "telemetry": "initialize() only (bench/distro_gunicorn_conf.py)",
                "OTEL_METRIC_EXPORT_INTERVAL": METRIC_EXPORT_INTERVAL_MS,
                "venv": str(distro.path),
                "instrumentations": distro.instrumentations,
            },
        },
        "flows": rows,
        "ready_s": {mode: results[mode].ready_s for mode in MODES},
        "worker_rss_mb": {mode: results[mode].worker_rss_mb for mode in MODES},
        "metric_points": {mode: results[mode].metric_points for mode in MODES},
        "metric_points_per_s": {mode: results[mode].metric_points_per_s for mode in MODES},
        "raw": {mode: asdict(results[mode]) for mode in MODES},
    }


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns two spaces apart: the first left-aligned, the others right-aligned."""
    cells = [[str(c) for c in row] for row in (header, *rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _fmt_ms(latency: dict[str, float | None]) -> str:
    return "/".join("-" if v is None else f"{v:.1f}" for v in latency.values())


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_tables(results: dict[str, Any]) -> None:
    s, m = results["settings"], results["machine"]
    costs = ", ".join(f"{step} {us} us" for step, us in results["span_cost_us"].items())
    print(f"\nCPU per span through the SDK (bench.span_cost): {costs}")
    if s["smoke"]:
        print("\nSMOKE RUN: one short round at a low rate; the figures are not measurements.")
    print(
        f"\n{m['cores']} cores, {m['cpu']}; {m['database']}; {s['workers']} workers x "
        f"{s['threads']} threads per service; median of {s['rounds']} round(s) of "
        f"{s['seconds']} s per measurement\n"
    )
    flows = results["flows"]
    over = TARGETS["min_project_over_distro"]
    print(
        f"req/s at saturation ({s['concurrency']} connections); target per flow: "
        f"project/untraced >= the flow's minimum and project/distro >= {over:.2f}"
    )
    rows = []
    for row in flows:
        target = row["target"]
        missed = []
        if not target["ratio_met"]:
            missed.append(f"project/untraced < {target['min_ratio_to_untraced']:.2f}")
        if not target["ahead_of_distro_met"]:
            missed.append(f"project/distro < {over:.2f}")
        ratios = row["ratios"]
        rows.append(
            [
                row["flow"],
                *(row["rps"][mode] for mode in MODES),
                _fmt_ratio(ratios["project/untraced"]),
                _fmt_ratio(ratios["distro/untraced"]),
                _fmt_ratio(ratios["project/distro"]),
                "met" if target["met"] else "MISSED: " + ", ".join(missed),
            ]
        )
    header = ["flow", *MODES, "project/untraced", "distro/untraced", "project/distro", "target"]
    print(table(header, rows))

    print(f"\nlatency at {s['rate']:g} req/s, ms p50/p95/p99")
    rows = [
        [
            row["flow"],
            *(_fmt_ms(row["latency_ms"][mode]) for mode in MODES),
        ]
        for row in flows
    ]
    print(table(["flow", *MODES], rows))

    print("\ntelemetry of the traced modes (receiver CPU: cores, at saturation)")
    rows = []
    for row in flows:
        for i, mode in enumerate(TRACED):
            rows.append(
                [
                    row["flow"] if i == 0 else "",
                    mode,
                    row["spans_per_request"][mode],
                    f"{row['spans_received'][mode]}/{row['spans_expected'][mode]}",
                    f"{row['spans_received_saturation'][mode]}/"
                    f"{row['spans_expected_saturation'][mode]}",
                    f"{row['log_records_per_request'][mode]:g}",
                    f"{row['receiver_cores'][mode]:.3f}",
                ]
            )
    header = [
        "flow",
        "mode",
        "spans/req",
        "spans recv/exp (fixed rate)",
        "(saturation)",
        "log records/req",
        "receiver CPU",
    ]
    print(table(header, rows))
    untraced_spans = sum(row["spans_received"]["untraced"] for row in flows)
    if untraced_spans:
        print(f"\nWARNING: the untraced stack exported {untraced_spans} spans")

    print()
    for mode in MODES:
        rss = ", ".join(
            f"{service} {'/'.join(f'{v:g}' for v in sizes)}"
            for service, sizes in results["worker_rss_mb"][mode].items()
        )
        print(
            f"{mode:>8}: ready in {results['ready_s'][mode]} s; worker RSS MiB: {rss}; "
            f"metric points {results['metric_points'][mode]} "
            f"({results['metric_points_per_s'][mode]}/s)"
        )
    names = [
        r.split("==")[0].removeprefix("opentelemetry-instrumentation-")
        for r in results["modes"]["distro"]["instrumentations"]
    ]
    print(f"\ndistro instrumentations (opentelemetry-bootstrap): {', '.join(names)}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE),
        help="MySQL URL; each mode gets the database <name>_<mode> (created, then reset)",
    )
    parser.add_argument("--smoke", action="store_true", help="one short round: does it work?")
    parser.add_argument("--seconds", type=int, help=f"per measurement ({FULL['seconds']})")
    parser.add_argument("--rounds", type=int, help=f"rounds per mode ({FULL['rounds']})")
    parser.add_argument("--concurrency", type=int, help=f"at saturation ({FULL['concurrency']})")
    parser.add_argument("--rate", type=float, help=f"req/s of the latency runs ({FULL['rate']})")
    parser.add_argument("--warmup", type=int, help=f"seconds per flow and mode ({FULL['warmup']})")
    parser.add_argument(
        "--samples", type=int, default=5, help="requests to count spans per request"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL (INFO, as shipped)")
    parser.add_argument("--out", type=Path, help="where the JSON goes (bench/results)")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "var" / "bench-logs")
    parser.add_argument("--distro-venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args(argv)
    for name, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.out is None:
        args.out = ROOT / "var" / "bench-smoke" if args.smoke else ROOT / "bench" / "results"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("hey"):
        raise SystemExit("hey is missing: `make bench` installs Debian's hey (apt-get install hey)")
    distro = ensure_venv(args.distro_venv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    base = make_url(args.database_url)
    stacks: dict[str, BenchStack] = {}
    try:
        for mode in MODES:
            url = base.set(database=f"{base.database}_{mode}").render_as_string(hide_password=False)
            stacks[mode] = start_stack(mode, url, args, args.log_dir, distro)
            print(f"{mode} stack ready in {stacks[mode].ready_s} s", flush=True)
        results = measure(stacks, args)
    finally:
        for stack in stacks.values():
            stack.stop()
    settings = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in vars(args).items()
        if k != "database_url"
    }
    settings["otel_bsp"] = {k: v for k, v in os.environ.items() if k.startswith("OTEL_BSP_")}
    output = report(results, distro, settings, args.database_url)
    output["span_cost_us"] = span_cost.measure()
    print_tables(output)
    path = args.out / f"{output['when'].replace(':', '').replace('+0000', 'Z')}.json"
    path.write_text(json.dumps(output, indent=2, default=str) + "\n")
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"\nwritten to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
