"""``make bench``: what tracing costs, per flow, traced vs untraced, in one run.

For each mode (traced: OTLP/gRPC to a counting receiver; untraced: ``OTEL_SDK_DISABLED=true``)
the three services start under gunicorn against MySQL, and ``hey`` drives each flow twice:
at saturation (requests/s) and at a fixed moderate rate (p50/p95/p99). The report gives the
traced/untraced ratios, spans received vs expected at the fixed rate, each worker's memory after
the run, and the time from start to every ``/readyz`` green. It prints a table and writes
``bench/results/<time>.json`` with the machine and versions, so runs can be compared.
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.receiver import CountingReceiver  # noqa: E402
from shared.db import create_db_engine  # noqa: E402
from shared.init_db import init_db  # noqa: E402
from shared.models import Base  # noqa: E402
from shared.services import SERVICES_BY_NAME, gunicorn_command  # noqa: E402

DEFAULT_DATABASE = "mysql+pymysql://root@127.0.0.1:3306/tracing_demo_bench?charset=utf8mb4"
# Longer than the SDK's default export delay (OTEL_BSP_SCHEDULE_DELAY, 5 s): nothing left queued.
EXPORT_QUIET_S = 6.0
TARGETS = {"min_ratio": 0.85, "order_p99_ms_at_50rps": 50.0}


@dataclass
class Flow:
    name: str
    method: str
    url: str
    body: str | None = None


@dataclass
class HeyResult:
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
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
    spans_expected: dict[str, int] = field(default_factory=dict)
    spans_received: dict[str, int] = field(default_factory=dict)
    worker_rss_mb: dict[str, list[float]] = field(default_factory=dict)
    # CPU the in-process OTLP receiver used during each saturation run, in cores: on this box
    # it competes with the services; a real collector runs elsewhere.
    receiver_cores: dict[str, float] = field(default_factory=dict)


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

    def latency(percent: int) -> float:
        match = re.search(rf"{percent}%+ in ([0-9.]+) secs", output)
        return float(match[1]) * 1000 if match else float("nan")

    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    responses = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", output))
    return HeyResult(
        requests_per_s=float(rps[1]) if rps else 0.0,
        p50_ms=latency(50),
        p95_ms=latency(95),
        p99_ms=latency(99),
        responses={code: int(count) for code, count in responses.items()},
    )


def spans_per_request(flow: Flow, receiver: CountingReceiver, samples: int = 5) -> int:
    """How many spans one request of ``flow`` makes, counted at the receiver."""
    receiver.settle(quiet_s=EXPORT_QUIET_S)
    receiver.reset()
    with requests.Session() as session:
        for _ in range(samples):
            session.request(
                flow.method,
                flow.url,
                data=flow.body,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
    return round(receiver.settle(quiet_s=EXPORT_QUIET_S) / samples)


def reset_database(url: str) -> None:
    parsed = make_url(url)
    server = create_engine(parsed.set(database=""))
    with server.connect() as connection:
        connection.execute(text(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}`"))
    server.dispose()
    engine = create_db_engine(url)
    Base.metadata.drop_all(engine)
    init_db(engine)
    engine.dispose()


def start_services(
    env: dict[str, str], ports: dict[str, int], log_dir: Path
) -> tuple[dict[str, subprocess.Popen[bytes]], float]:
    """Start users, payment and order; return them and the seconds until all are ready."""
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    processes = {}
    for name, port in ports.items():
        spec = SERVICES_BY_NAME[name]
        service_env = {**env, "OTEL_SERVICE_NAME": spec.otel_service_name}
        with open(log_dir / f"{name}.log", "ab") as log:
            processes[name] = subprocess.Popen(
                gunicorn_command(spec, port, host="127.0.0.1"),
                cwd=ROOT,
                env=service_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    for name, port in ports.items():
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or processes[name].poll() is not None:
                raise SystemExit(f"{name} did not become ready; see {log_dir / name}.log")
            time.sleep(0.05)
    return processes, time.monotonic() - started


def worker_rss_mb(master_pid: int) -> list[float]:
    """Resident memory of each gunicorn worker (the master's children), in MiB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            sizes.append(round(int(match[1]) / 1024, 1))
    return sizes


@dataclass
class BenchStack:
    """One mode's three services, with the flows that drive them."""

    mode: str
    processes: dict[str, subprocess.Popen[bytes]]
    ready_s: float
    flows: dict[str, Flow]

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(30)


def start_stack(
    mode: str,
    base_port: int,
    database_url: str,
    receiver: CountingReceiver,
    args: argparse.Namespace,
    log_dir: Path,
) -> BenchStack:
    reset_database(database_url)
    ports = {name: base_port + offset for offset, name in enumerate(("users", "payment", "order"))}
    env = {
        # OTEL_BSP_* passes through, to try batch settings; other OTEL_* would skew the modes.
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith("OTEL_") or k.startswith("OTEL_BSP_")
        },
        "DATABASE_URL": database_url,
        "USER_URL": f"127.0.0.1:{ports['users']}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SDK_DISABLED": "false" if mode == "traced" else "true",
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
    }
    processes, ready_s = start_services(env, ports, log_dir / mode)
    users, payment, order = (f"http://127.0.0.1:{ports[n]}" for n in ("users", "payment", "order"))
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
    return BenchStack(mode, processes, round(ready_s, 2), {flow.name: flow for flow in flows})


def median_result(results: list[HeyResult]) -> HeyResult:
    """The median of each figure over the rounds (runs drift on a shared 2-core machine)."""
    responses: dict[str, int] = {}
    for result in results:
        for code, count in result.responses.items():
            responses[code] = responses.get(code, 0) + count
    return HeyResult(
        requests_per_s=statistics.median(r.requests_per_s for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p95_ms=statistics.median(r.p95_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        responses=responses,
    )


def measure(
    traced: BenchStack, untraced: BenchStack, receiver: CountingReceiver, args: argparse.Namespace
) -> tuple[ModeResult, ModeResult]:
    """Each flow on both stacks in alternating rounds, so drift hits both modes alike."""
    results = {
        stack.mode: ModeResult(mode=stack.mode, ready_s=stack.ready_s)
        for stack in (traced, untraced)
    }
    t_result = results["traced"]
    for name in traced.flows:
        for stack in (traced, untraced):
            hey(stack.flows[name], 2, 4, None)  # warm-up: pools and caches
        t_result.spans_per_request[name] = spans_per_request(traced.flows[name], receiver)
        saturation: dict[str, list[HeyResult]] = {"traced": [], "untraced": []}
        fixed: dict[str, list[HeyResult]] = {"traced": [], "untraced": []}
        cpu_before = time.process_time()
        for round_ in range(args.rounds):
            for stack in (traced, untraced) if round_ % 2 == 0 else (untraced, traced):
                saturation[stack.mode].append(
                    hey(stack.flows[name], args.seconds, args.concurrency, None)
                )
        receiver_cpu = time.process_time() - cpu_before
        t_result.receiver_cores[name] = round(receiver_cpu / (args.rounds * args.seconds), 3)
        receiver.settle(quiet_s=EXPORT_QUIET_S)
        receiver.reset()
        for round_ in range(args.rounds):
            for stack in (traced, untraced) if round_ % 2 == 0 else (untraced, traced):
                fixed[stack.mode].append(hey(stack.flows[name], args.seconds, 5, args.rate / 5))
        sent = sum(r.total for r in fixed["traced"])
        t_result.spans_expected[name] = sent * t_result.spans_per_request[name]
        t_result.spans_received[name] = receiver.settle(quiet_s=EXPORT_QUIET_S)
        for mode, result in results.items():
            result.saturation[name] = median_result(saturation[mode])
            result.fixed_rate[name] = median_result(fixed[mode])
    for stack in (traced, untraced):
        for service, process in stack.processes.items():
            results[stack.mode].worker_rss_mb[service] = worker_rss_mb(process.pid)
    return results["traced"], results["untraced"]


def machine(database_url: str) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])  # type: ignore[index]
    packages = [
        "flask",
        "gunicorn",
        "sqlalchemy",
        "pymysql",
        "opentelemetry-sdk",
        "opentelemetry-instrumentation-flask",
    ]
    engine = create_engine(database_url)
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


def report(
    traced: ModeResult, untraced: ModeResult, settings: dict[str, Any], database_url: str
) -> dict[str, Any]:
    rows = []
    for flow in traced.saturation:
        t_sat, u_sat = traced.saturation[flow], untraced.saturation[flow]
        t_fix, u_fix = traced.fixed_rate[flow], untraced.fixed_rate[flow]
        rows.append(
            {
                "flow": flow,
                "rps_traced": round(t_sat.requests_per_s, 1),
                "rps_untraced": round(u_sat.requests_per_s, 1),
                "throughput_ratio": round(t_sat.requests_per_s / u_sat.requests_per_s, 3),
                "p50_ms": [round(t_fix.p50_ms, 1), round(u_fix.p50_ms, 1)],
                "p95_ms": [round(t_fix.p95_ms, 1), round(u_fix.p95_ms, 1)],
                "p99_ms": [round(t_fix.p99_ms, 1), round(u_fix.p99_ms, 1)],
                "p99_ratio": round(t_fix.p99_ms / u_fix.p99_ms, 2),
                "spans_expected": traced.spans_expected[flow],
                "spans_received": traced.spans_received[flow],
                "statuses_traced": {**t_sat.responses},
            }
        )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(database_url),
        "settings": settings,
        "targets": TARGETS,
        "flows": rows,
        "ready_s": {"traced": traced.ready_s, "untraced": untraced.ready_s},
        "worker_rss_mb": {"traced": traced.worker_rss_mb, "untraced": untraced.worker_rss_mb},
        "spans_per_request": traced.spans_per_request,
        "receiver_cores_at_saturation": traced.receiver_cores,
        "raw": {"traced": asdict(traced), "untraced": asdict(untraced)},
    }


def _row(cells: list[Any], widths: tuple[int, ...]) -> str:
    """The first cell left-aligned, the others right-aligned."""
    pairs = enumerate(zip(cells, widths, strict=True))
    return "".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in pairs)


def print_table(results: dict[str, Any]) -> None:
    s, m = results["settings"], results["machine"]
    print(
        f"\n{m['cores']} cores, {m['cpu']}; {m['database']}; {s['workers']} workers x "
        f"{s['threads']} threads per service; saturation at {s['concurrency']} connections, "
        f"latency at {s['rate']} req/s; {s['seconds']} s per measurement\n"
    )
    columns = ("flow", "req/s traced", "untraced", "ratio", "p50 ms t/u", "p95 ms t/u")
    widths = (18, 13, 10, 7, 13, 13, 13, 16)
    header = [*columns, "p99 ms t/u", "spans recv/exp"]
    print(_row(header, widths))
    print("-" * sum(widths))
    for row in results["flows"]:
        cells = [
            row["flow"],
            row["rps_traced"],
            row["rps_untraced"],
            f"{row['throughput_ratio']:.2f}",
            "{:.1f}/{:.1f}".format(*row["p50_ms"]),
            "{:.1f}/{:.1f}".format(*row["p95_ms"]),
            "{:.1f}/{:.1f}".format(*row["p99_ms"]),
            f"{row['spans_received']}/{row['spans_expected']}",
        ]
        print(_row(cells, widths))
    ready = results["ready_s"]
    print(f"\nspans per request: {results['spans_per_request']}")
    print(f"OTLP receiver CPU at saturation (cores): {results['receiver_cores_at_saturation']}")
    print(f"start to all /readyz green: traced {ready['traced']} s, untraced {ready['untraced']} s")
    print(f"worker RSS after the run (MiB): {results['worker_rss_mb']}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--seconds", type=int, default=6, help="per measurement (default 6)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode")
    parser.add_argument("--concurrency", type=int, default=16, help="connections at saturation")
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s for the latency runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey is missing: `make bench` installs Debian's hey")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    log_dir = ROOT / "var" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    receiver = CountingReceiver().start()
    base = make_url(args.database_url)
    stacks: list[BenchStack] = []
    try:
        for mode, port in (("untraced", 28080), ("traced", 18080)):
            url = base.set(database=f"{base.database}_{mode}").render_as_string(hide_password=False)
            stacks.append(start_stack(mode, port, url, receiver, args, log_dir))
        untraced_stack, traced_stack = stacks
        traced, untraced = measure(traced_stack, untraced_stack, receiver, args)
    finally:
        for stack in stacks:
            stack.stop()
        receiver.stop()
    settings = {k: v for k, v in vars(args).items() if k != "database_url"}
    settings["otel_bsp"] = {k: v for k, v in os.environ.items() if k.startswith("OTEL_BSP_")}
    results = report(traced, untraced, settings, args.database_url)
    print_table(results)
    path = out_dir / f"{results['when'].replace(':', '').replace('+0000', 'Z')}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
