"""``make soak``: the demo under steady shoppers for half an hour; does anything drift?

The three services and the frontend server run under gunicorn as ``make bench``'s project mode
runs them (``bench.run.start_stack``: MySQL, the local MariaDB or ``SOAK_DATABASE_URL``; every
trace kept and exported over OTLP/gRPC to a receiver that counts), exporting within 200 ms like
``make run``. Locust (``loadgen/locustfile.py``, headless) plays shoppers through the frontend
at a constant pace; a small share of transfers and orders (10 % at most) carries a scenario as
W3C baggage (``demo.scenario=<name>``, every name of ``shared.scenarios.Scenario``).

Once a minute it records:

- the resident memory of each of the demo's own processes (every gunicorn master and worker;
  not the database, the receiver or Locust);
- p50/p95/p99 latency per flow, over the requests without a scenario;
- responses by status and the rate of each error status, scenario requests counted apart;
- spans received against spans expected: each request's kind (flow, scenario, status) times
  the spans one request of that kind makes, as ``make bench`` counts them; before the load
  starts, a few requests of every kind are sent and their traces counted by the same receiver;
- the database's rows (users, credits, orders).

At the end it checks and prints the pass criteria, and exits 1 if any fails:

- memory: after the warm-up (``--warmup-minutes``, 5) no process grew by more than 10 MiB;
- latency: each flow's p95 did not drift, judged on windows, since a single minute's p95 (of
  about a hundred requests) is noise: the median of the last five minutes' p95 is within 20 %
  of the median of the first five steady minutes' (after the warm-up). A run with fewer than
  ten steady minutes uses half of them for each window (at least one: with a single steady
  minute, both windows are that minute). Single minutes outside 20 % are reported, not judged;
- spans: no expected span is missing;
- ledger: every balance equals its credits minus its paid orders.

It writes ``bench/results/soak-<time>.json`` (every minute's figures, and each criterion with
what decided it: for latency, each flow's two windows and their medians) and, beside it,
``.png``: memory and p95 over time, minute by minute.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import requests
from sqlalchemy import Engine, create_engine

from bench.run import BenchStack, machine, mode_env, start_stack, table
from bench.soak_plot import plot
from devkit.database import ledger_mismatches, snapshot
from devkit.otlp_receiver import OtlpReceiver, settle, trace_id_of
from devkit.process import child_pids, free_port, resident_kib
from shared.launch import PROCESSES_BY_NAME
from shared.launch.process import NotReady, start_service, stop_processes, wait_until_ready
from shared.scenarios import Scenario
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "mysql+pymysql://root@127.0.0.1:3306/tracing_demo_soak?charset=utf8mb4"
LOCUSTFILE = ROOT / "loadgen" / "locustfile.py"
# Locust's requests ("<method> <name>"), by what a person calls them.
FLOWS = {
    "POST /users": "create user",
    "GET /products": "browse",
    "PUT /payments/transfer/id/[user_id]": "transfer",
    "POST /orders": "order",
    "GET /users/[id]": "balance",
}
SCENARIOS = tuple(scenario.value for scenario in Scenario)
# The scenario whose first answer is lost: it takes HTTP_READ_TIMEOUT and more.
LOST = Scenario.LOST_RESPONSE.value
# As make run, compose and Kubernetes export: within a fifth of a second.
EXPORT_DELAY_MS = "200"
EXPORT_QUIET_S = 1.0
MAX_SCENARIO_SHARE = 0.10
RSS_GROWTH_LIMIT_KIB = 10 * 1024
P95_TOLERANCE = 0.20
# Minutes of p95 whose median is compared at each end of the steady part.
P95_WINDOW_MINUTES = 5
# Locust lets each shopper finish the task it is in when the time is up (a lost response takes
# HTTP_READ_TIMEOUT and more), so every request it sent is one it reports.
LOCUST_STOP_TIMEOUT_S = 30
Popen = subprocess.Popen[bytes]


@dataclass(frozen=True)
class Kind:
    """What a request was: its flow, its scenario (or none), the status it got."""

    flow: str
    scenario: str | None
    status: int

    def label(self) -> str:
        return f"{self.flow} [{self.scenario or '-'}] {self.status}"


@dataclass
class Request:
    """One request Locust made (a line of its requests file)."""

    start: float
    kind: Kind
    ms: float
    failure: bool

    @classmethod
    def from_line(cls, line: str) -> Request:
        record = json.loads(line)
        kind = Kind(record["flow"], record["scenario"], int(record["status"]))
        return cls(float(record["start"]), kind, float(record["ms"]), bool(record["failure"]))


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99 of ``values`` in ms (None when there are none)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    if len(values) == 1:
        return dict.fromkeys(("p50", "p95", "p99"), round(values[0], 1))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def demo_rss_kib(processes: dict[str, Popen]) -> dict[str, dict[str, int]]:
    """The resident memory of every gunicorn master and worker of the demo, in KiB, by kind
    (``users master``, ``users worker``...) and pid."""
    rss: dict[str, dict[str, int]] = {}
    for name, process in processes.items():
        alive = process.poll() is None
        rss[f"{name} master"] = {str(process.pid): resident_kib(process.pid)} if alive else {}
        workers = child_pids(process.pid) if alive else []
        rss[f"{name} worker"] = {str(pid): resident_kib(pid) for pid in workers}
    return rss


def rows(engine: Engine) -> dict[str, int]:
    """The database's users, orders and credits, and the sum of the balances."""
    return {name: int(value) for name, value in snapshot(engine).items()}


def idempotency_key() -> str:
    """A fresh Idempotency-Key, as the shoppers send it (an RFC 9651 string)."""
    return f'"{uuid.uuid4()}"'


@dataclass
class Sent:
    """A calibration request: its kind, its trace, when it started."""

    kind: Kind
    trace_id: str
    start: float


class Client:
    """The shoppers' requests through the frontend, from any thread (no shared session)."""

    def __init__(self, frontend_url: str) -> None:
        self.url = frontend_url

    def send(
        self, method: str, path: str, name: str, scenario: str | None = None, body: Any = None
    ) -> tuple[Sent, requests.Response]:
        """``method path`` with ``scenario`` as baggage; ``name`` is Locust's for it."""
        headers = {"baggage": f"demo.scenario={scenario}"} if scenario else {}
        if (method, name) in {("PUT", "/payments/transfer/id/[user_id]"), ("POST", "/orders")}:
            headers["Idempotency-Key"] = idempotency_key()
        start = time.time()
        reply = requests.request(method, self.url + path, json=body, headers=headers, timeout=60)
        kind = Kind(f"{method} {name}", scenario, reply.status_code)
        return Sent(kind, trace_id_of(reply), start), reply


def learn_spans_per_request(
    client: Client, receiver: OtlpReceiver, lost_response_s: float
) -> tuple[dict[Kind, int], dict[str, list[int]]]:
    """The spans one request of each kind makes: two requests of every flow with and without
    every scenario (orders for a funded user and for a broke one), each trace counted once all
    have arrived. Returns the count per kind, and every kind's observations (they should agree).
    """
    rich = client.send("POST", "/users", "/users", body={"user_name": "Soak", "account": "S"})
    broke = client.send("POST", "/users", "/users", body={"user_name": "Broke", "account": "B"})
    rich_id, broke_id = rich[1].json()["id"], broke[1].json()["id"]

    def browse() -> list[Sent]:
        return [client.send("GET", "/products", "/products")[0]]

    def balance() -> list[Sent]:
        return [client.send("GET", f"/users/{rich_id}", "/users/[id]")[0]]

    def fund(amount: int, scenario: str | None = None) -> list[Sent]:
        path, body = f"/payments/transfer/id/{rich_id}", {"amount": amount}
        return [client.send("PUT", path, "/payments/transfer/id/[user_id]", scenario, body)[0]]

    def order(user_id: int, scenario: str | None = None) -> list[Sent]:
        body = {"user_id": user_id, "product_id": 1}
        return [client.send("POST", "/orders", "/orders", scenario, body)[0]]

    def both_outcomes(scenario: str) -> list[Sent]:
        """Credits under payment-failure (it fails a share of them) until each outcome was
        seen twice."""
        sent: list[Sent] = []
        while len(sent) < 20:
            sent += fund(1_000, scenario)
            outcomes = Counter(s.kind.status for s in sent)
            if len(outcomes) >= 2 and min(outcomes.values()) >= 2:
                break
        return sent

    sent = [rich[0], broke[0], *fund(1_000_000_000)]
    with ThreadPoolExecutor(4) as pool:
        # Warm-up, not counted: every worker's pools and first statements.
        list(pool.map(lambda _: order(rich_id) + browse() + balance(), range(8)))
        jobs: list[Callable[[], list[Sent]]] = []
        for scenario in (*SCENARIOS, None):
            if scenario == Scenario.PAYMENT_FAILURE:
                jobs.append(partial(both_outcomes, scenario))
            else:
                jobs += [partial(fund, 1_000, scenario)] * 2
            jobs += [partial(order, rich_id, scenario), partial(order, broke_id, scenario)] * 2
        jobs += [browse, balance] * 2
        # The slowest first (a lost response takes seconds), each on a thread of its own.
        jobs.sort(key=lambda job: not isinstance(job, partial) or LOST not in job.args)
        for result in pool.map(lambda job: job(), jobs):
            sent += result
    lost = [s.start for s in sent if s.kind.scenario == LOST]
    # A lost response's first answer ends after the client had the retried one.
    tail = max((start + lost_response_s + 0.5 for start in lost), default=0.0) - time.time()
    settle([receiver], min_wait_s=max(tail, EXPORT_QUIET_S), quiet_s=EXPORT_QUIET_S)
    observed: dict[Kind, list[int]] = defaultdict(list)
    for request in sent:
        observed[request.kind].append(receiver.spans_of(request.trace_id))
    spans = {kind: Counter(counts).most_common(1)[0][0] for kind, counts in observed.items()}
    return spans, dict(sorted((kind.label(), counts) for kind, counts in observed.items()))


def start_frontend(stack: BenchStack, env: dict[str, str], log_dir: Path) -> str:
    """The frontend server in front of ``stack`` (the shoppers' origin); its URL."""
    env = {
        **env,
        "USER_URL": stack.urls["users"],
        "PAYMENT_URL": stack.urls["payment"],
        "ORDER_URL": stack.urls["order"],
    }
    port = free_port()
    with open(log_dir / "frontend.log", "ab") as log:
        process = start_service(PROCESSES_BY_NAME["frontend"], port, env, output=log)
    stack.processes["frontend"] = process
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, 90)
    except NotReady as exc:
        raise SystemExit(f"frontend: {exc}; see {log_dir}") from None
    return url


def start_locust(args: argparse.Namespace, frontend_url: str, requests_file: Path) -> Popen:
    """The shoppers, headless, for ``args.minutes``; each request goes to ``requests_file``."""
    env = {
        **os.environ,
        "LOAD_SCENARIO_SHARE": str(args.scenario_share),
        "LOAD_SCENARIOS": ",".join(SCENARIOS),
        "LOAD_PACING": str(args.pacing),
        "LOAD_REQUESTS_FILE": str(requests_file),
    }
    command = [sys.executable, "-m", "locust", "--locustfile", str(LOCUSTFILE), "--headless"]
    command += ["--users", str(args.users), "--spawn-rate", str(args.users)]
    command += [
        "--run-time",
        f"{args.minutes * args.minute_seconds}s",
        "--stop-timeout",
        str(LOCUST_STOP_TIMEOUT_S),
    ]
    command += ["--host", frontend_url, "--only-summary"]
    with open(args.log_dir / "locust.log", "ab") as log:
        return subprocess.Popen(
            command, cwd=args.log_dir, env=env, stdout=log, stderr=subprocess.STDOUT
        )


@dataclass
class Recorder:
    """Each minute: what Locust's requests got since the last look, and where the demo is."""

    requests_file: Path
    processes: dict[str, Popen]
    receiver: OtlpReceiver
    engine: Engine
    spans_per_request: dict[Kind, int]
    offset: int = 0
    spans_before: int = 0
    # Every request so far, and those not yet in a minute's record.
    requests: list[Request] = field(default_factory=list)
    pending: list[Request] = field(default_factory=list)
    uncalibrated: Counter[str] = field(default_factory=Counter)

    def read(self) -> None:
        """The requests Locust finished since the last look (whole lines only)."""
        if not self.requests_file.exists():
            return
        with open(self.requests_file, "rb") as lines:
            lines.seek(self.offset)
            complete, newline, _ = lines.read().rpartition(b"\n")
        self.offset += len(complete) + len(newline)
        batch = [Request.from_line(line) for line in complete.decode().splitlines() if line]
        self.requests += batch
        self.pending += batch

    def sample(self, minute: int) -> dict[str, Any]:
        """One minute's record: the requests finished since the previous one, the demo now."""
        self.read()
        batch, self.pending = self.pending, []
        spans_now = self.receiver.counts().spans
        received, self.spans_before = spans_now - self.spans_before, spans_now
        expected = 0
        for request in batch:
            if request.kind in self.spans_per_request:
                expected += self.spans_per_request[request.kind]
            else:
                self.uncalibrated[request.kind.label()] += 1
        latencies: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, Counter[str]] = {"plain": Counter(), "scenario": Counter()}
        unexplained: Counter[str] = Counter()
        for request in batch:
            group = "scenario" if request.kind.scenario else "plain"
            statuses[group][str(request.kind.status)] += 1
            unexplained[group] += request.failure
            if group == "plain":
                latencies[FLOWS.get(request.kind.flow, request.kind.flow)].append(request.ms)
        counts = {group: sum(c.values()) for group, c in statuses.items()}
        return {
            "minute": minute,
            "rss_kib": demo_rss_kib(self.processes),
            "requests": counts,
            "latency_ms": {
                flow: {"requests": len(values), **percentiles(values)}
                for flow, values in sorted(latencies.items())
            },
            "statuses": {group: dict(sorted(c.items())) for group, c in statuses.items()},
            # Each error status's share of the group's requests (0: no answer at all).
            "error_rate": {
                group: {
                    status: round(n / counts[group], 4)
                    for status, n in sorted(c.items())
                    if int(status) >= 400 or int(status) == 0
                }
                for group, c in statuses.items()
            },
            "unexplained_failures": {group: unexplained[group] for group in statuses},
            "spans": {"expected": expected, "received": received},
            "rows": rows(self.engine),
        }


def print_minute(record: dict[str, Any], minutes: int) -> None:
    """A progress line: requests, p95 per flow, the largest worker, spans."""
    p95 = ", ".join(
        f"{flow} {v['p95']:g}" for flow, v in record["latency_ms"].items() if v["p95"] is not None
    )
    workers = [kib for kind, pids in record["rss_kib"].items() for kib in pids.values()]
    spans = record["spans"]
    print(
        f"minute {record['minute']}/{minutes}: {record['requests']['plain']} requests "
        f"(+{record['requests']['scenario']} with a scenario); p95 ms {p95}; "
        f"largest process {max(workers, default=0) / 1024:.0f} MiB; "
        f"spans {spans['received']}/{spans['expected']}",
        flush=True,
    )


def drift_window(steady_minutes: int) -> int:
    """The minutes in each of the two windows latency drift is judged on: five, or half the
    steady minutes of a shorter run (at least one)."""
    return max(1, min(P95_WINDOW_MINUTES, steady_minutes // 2))


def p95_drift(series: Sequence[tuple[int, float | None]]) -> dict[str, Any]:
    """Did one flow's p95 drift over the steady minutes ``series`` ((minute, p95) in order; None
    for a minute without requests)? The median of its last window of minutes against the median
    of its first, within ``P95_TOLERANCE`` either way; the single minutes are reported, with
    those outside the tolerance around the first window's median, but do not decide."""
    measured = [(minute, p95) for minute, p95 in series if p95 is not None]
    if not measured:
        return {"passed": True, "window_minutes": 0, "change": None}
    window = drift_window(len(measured))
    ends = {"first_window": measured[:window], "last_window": measured[-window:]}
    medians = {end: statistics.median(p95 for _, p95 in part) for end, part in ends.items()}
    began, ended = medians["first_window"], medians["last_window"]
    change = ended / began - 1 if began else 0.0
    p95s = [p95 for _, p95 in measured]
    return {
        "passed": abs(change) <= P95_TOLERANCE,
        "window_minutes": window,
        **{
            end: {"minutes": [minute for minute, _ in part], "median_p95": round(medians[end], 1)}
            for end, part in ends.items()
        },
        "change": round(change, 4),
        "first_steady_p95": p95s[0],
        "last_p95": p95s[-1],
        "min_p95": min(p95s),
        "max_p95": max(p95s),
        "minutes_outside": [
            {"minute": minute, "p95": p95}
            for minute, p95 in measured
            if began and abs(p95 / began - 1) > P95_TOLERANCE
        ],
    }


def judge(
    start: dict[str, Any],
    minutes: list[dict[str, Any]],
    warmup: int,
    spans: dict[str, Any],
    mismatches: list[tuple[int, int, int]],
) -> dict[str, dict[str, Any]]:
    """The four pass criteria, each with what it was decided on."""
    # Memory: every process's growth from the end of the warm-up to the end.
    baseline = minutes[warmup - 1]["rss_kib"] if warmup else start["rss_kib"]
    last = minutes[-1]["rss_kib"]
    growth, gone = {}, []
    for kind, pids in baseline.items():
        for pid, kib in pids.items():
            if pid in last.get(kind, {}):
                growth[f"{kind} {pid}"] = last[kind][pid] - kib
            else:
                gone.append(f"{kind} {pid}")
    worst = max(growth.values(), default=0)
    memory = {
        "passed": worst <= RSS_GROWTH_LIMIT_KIB,
        "limit_kib": RSS_GROWTH_LIMIT_KIB,
        "growth_kib": growth,
        # Replaced workers (a crash) cannot be judged on growth: listed, not hidden.
        "gone": gone,
    }
    steady = minutes[warmup:]
    flows = {
        flow: p95_drift([(m["minute"], m["latency_ms"].get(flow, {}).get("p95")) for m in steady])
        for flow in sorted({f for m in steady for f in m["latency_ms"]})
    }
    latency = {
        "passed": all(f["passed"] for f in flows.values()),
        "tolerance": P95_TOLERANCE,
        "first_steady_minute": warmup + 1,
        "window_minutes": drift_window(len(steady)),
        "flows": flows,
    }
    missing = max(0, spans["expected"] - spans["received"])
    return {
        "memory": memory,
        "latency": latency,
        "spans": {"passed": missing == 0, "missing": missing},
        "ledger": {"passed": not mismatches, "mismatches": mismatches[:20]},
    }


def print_report(report: dict[str, Any]) -> None:
    """The figures that decide, then PASS or FAIL per criterion."""
    s, criteria = report["settings"], report["criteria"]
    share = report["totals"]["scenario_share"]
    print(
        f"\nsoak: {s['minutes']} min (warm-up {s['warmup_minutes']}), {s['users']} shoppers at "
        f"{s['pacing']:g} task/s each, {share:.1%} of requests with a scenario; "
        f"{report['totals']['requests']} requests"
    )
    start_rss = report["start"]["rss_kib"]
    warm = report["minutes"][s["warmup_minutes"] - 1]["rss_kib"] if s["warmup_minutes"] else {}
    end = report["minutes"][-1]["rss_kib"]
    rows = []
    for kind, pids in end.items():
        for pid, kib in pids.items():
            rows.append(
                [
                    f"{kind} {pid}",
                    _mib(start_rss.get(kind, {}).get(pid)),
                    _mib(warm.get(kind, {}).get(pid)),
                    _mib(kib),
                    _mib(criteria["memory"]["growth_kib"].get(f"{kind} {pid}")),
                ]
            )
    print("\nresident memory, MiB")
    print(table(["process", "start", "after warm-up", "end", "growth"], rows))
    latency = criteria["latency"]
    rows = [
        [
            flow,
            _ms(f.get("first_window", {}).get("median_p95")),
            _ms(f.get("last_window", {}).get("median_p95")),
            "-" if f["change"] is None else f"{f['change']:+.1%}",
            _ms(f.get("first_steady_p95")),
            _ms(f.get("last_p95")),
            _ms(f.get("min_p95")),
            _ms(f.get("max_p95")),
            str(len(f.get("minutes_outside", []))),
        ]
        for flow, f in latency["flows"].items()
    ]
    window, tolerance = latency["window_minutes"], f"{latency['tolerance'] * 100:g} %"
    steady = [m["minute"] for m in report["minutes"][s["warmup_minutes"] :]]
    print(
        f"\np95 ms per flow (requests without a scenario) over the steady minutes "
        f"{steady[0]}-{steady[-1]}: the median of the last {window} "
        f"({steady[-window]}-{steady[-1]}) against that of the first {window} "
        f"({steady[0]}-{steady[window - 1]}), within {tolerance}; single minutes shown, not judged"
    )
    headers = [f"first {window} min", f"last {window} min", "change", "first min", "last min"]
    headers += ["min", "max", f"minutes outside {tolerance}"]
    print(table(["flow", *headers], rows))
    spans, totals = report["spans"], report["totals"]
    print(
        f"\nspans: {spans['received']} received, {spans['expected']} expected; requests of a "
        f"kind not seen before the load (their spans not expected): {spans['uncalibrated']}"
    )
    statuses = totals["statuses"]
    print(
        f"responses by status: {statuses['plain']} without a scenario, "
        f"{statuses['scenario']} with one; {totals['unexplained_failures']} that Locust "
        "counted as failures (no scenario explains them)"
    )
    print(f"rows at the end: {report['minutes'][-1]['rows']}")
    print()
    for name, verdict in criteria.items():
        print(f"{'PASS' if verdict['passed'] else 'FAIL'}  {CRITERIA[name].format(**verdict)}")


CRITERIA = {
    "memory": "no process grew by more than 10 MiB RSS after the warm-up",
    "latency": (
        "each flow's p95 did not drift: the median of its last {window_minutes} steady minutes "
        "is within 20 % of the median of its first {window_minutes}"
    ),
    "spans": "no expected span is missing",
    "ledger": "every balance equals its credits minus its paid orders",
}


def _mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--minutes", type=int, default=int(os.environ.get("SOAK_MINUTES", "30")), help="(30)"
    )
    parser.add_argument("--warmup-minutes", type=int, default=5, help="(5)")
    parser.add_argument(
        "--minute-seconds",
        type=int,
        default=60,
        help="how long each record's minute lasts (60; the smoke test shortens it)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SOAK_DATABASE_URL", DEFAULT_DATABASE),
        help="MySQL URL; its database is created, then reset",
    )
    parser.add_argument("--users", type=int, default=10, help="shoppers (10)")
    parser.add_argument("--pacing", type=float, default=1.0, help="tasks/s per shopper (1)")
    parser.add_argument(
        "--scenario-share",
        type=float,
        default=MAX_SCENARIO_SHARE,
        help=f"of transfers and orders, at most {MAX_SCENARIO_SHARE} ({MAX_SCENARIO_SHARE})",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL (INFO, as shipped)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "var" / "soak-logs")
    args = parser.parse_args(argv)
    if not 0 <= args.warmup_minutes < args.minutes:
        parser.error("--warmup-minutes must be at least 0 and less than --minutes")
    if not 0 <= args.scenario_share <= MAX_SCENARIO_SHARE:
        parser.error(f"--scenario-share must be within 0..{MAX_SCENARIO_SHARE}")
    return args


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: unwind, so that every process started is stopped."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", EXPORT_DELAY_MS)
    os.environ.setdefault("OTEL_BLRP_SCHEDULE_DELAY", EXPORT_DELAY_MS)
    args.out.mkdir(parents=True, exist_ok=True)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    requests_file = args.log_dir / "requests.jsonl"
    requests_file.unlink(missing_ok=True)
    receiver = OtlpReceiver(counting_only=True, by_trace=True)
    stack: BenchStack | None = None
    locust: Popen | None = None
    engine = create_engine(args.database_url)
    try:
        stack = start_stack("project", args.database_url, args, args.log_dir, None, receiver)
        env = mode_env("project", args.database_url, 0, receiver.endpoint, args)
        frontend_url = start_frontend(stack, env, args.log_dir / "project")
        lost_response_s = Settings.from_env(env).scenario_lost_response_ms / 1000
        print(f"demo ready in {stack.ready_s} s; counting the spans of each kind of request")
        learning = time.monotonic()
        spans_per_request, observed = learn_spans_per_request(
            Client(frontend_url), receiver, lost_response_s
        )
        print(f"{len(spans_per_request)} kinds in {time.monotonic() - learning:.0f} s", flush=True)
        recorder = Recorder(requests_file, stack.processes, receiver, engine, spans_per_request)
        start = {"rss_kib": demo_rss_kib(stack.processes), "rows": rows(engine)}
        recorder.spans_before = spans_at_start = receiver.counts().spans
        locust = start_locust(args, frontend_url, requests_file)
        print(f"{args.users} shoppers for {args.minutes} min (logs: {args.log_dir})", flush=True)
        started = time.monotonic()
        minutes = []
        for minute in range(1, args.minutes):
            try:
                locust.wait(max(0.0, started + args.minute_seconds * minute - time.monotonic()))
                raise SystemExit(f"Locust exited early ({locust.returncode}): see locust.log")
            except subprocess.TimeoutExpired:
                minutes.append(recorder.sample(minute))
                print_minute(minutes[-1], args.minutes)
        locust_exit = locust.wait(args.minute_seconds + LOCUST_STOP_TIMEOUT_S + 120)
        # The last requests, then every span they make: a lost response's first answer ends
        # HTTP_READ_TIMEOUT and more after its request started.
        recorder.read()
        lost = [r.start for r in recorder.requests if r.kind.scenario == LOST]
        tail = max((t + lost_response_s + 0.5 for t in lost), default=0.0) - time.time()
        settle([receiver], min_wait_s=max(tail, EXPORT_QUIET_S), quiet_s=EXPORT_QUIET_S)
        minutes.append(recorder.sample(args.minutes))
        print_minute(minutes[-1], args.minutes)
        mismatches = ledger_mismatches(engine)
    finally:
        if locust is not None:
            stop_processes([locust], timeout_s=LOCUST_STOP_TIMEOUT_S)
        if stack is not None:
            stack.stop()
        receiver.stop()
        engine.dispose()

    requests_made = recorder.requests
    with_scenario = sum(1 for r in requests_made if r.kind.scenario)
    spans = {
        "expected": sum(m["spans"]["expected"] for m in minutes),
        "received": receiver.counts().spans - spans_at_start,
        "uncalibrated": sum(recorder.uncalibrated.values()),
        "uncalibrated_kinds": dict(recorder.uncalibrated),
        "per_request": dict(sorted((k.label(), n) for k, n in spans_per_request.items())),
        "observed_before_the_load": observed,
    }
    settings = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in vars(args).items()
        if k != "database_url"
    }
    settings["scenarios"] = list(SCENARIOS)
    settings["otel"] = {k: v for k, v in env.items() if k.startswith("OTEL_")}
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(args.database_url),
        "settings": settings,
        "locust_exit_code": locust_exit,
        "start": start,
        "minutes": minutes,
        "totals": {
            "requests": len(requests_made),
            "with_scenario": with_scenario,
            "scenario_share": round(with_scenario / max(1, len(requests_made)), 4),
            "statuses": {
                group: dict(sorted(Counter(str(r.kind.status) for r in made).items()))
                for group, made in (
                    ("plain", [r for r in requests_made if not r.kind.scenario]),
                    ("scenario", [r for r in requests_made if r.kind.scenario]),
                )
            },
            "unexplained_failures": sum(r.failure for r in requests_made),
            "kinds": dict(sorted(Counter(r.kind.label() for r in requests_made).items())),
        },
        "spans": spans,
    }
    report["criteria"] = judge(start, minutes, args.warmup_minutes, spans, mismatches)
    report["passed"] = all(c["passed"] for c in report["criteria"].values())
    print_report(report)
    stem = f"soak-{report['when'].replace(':', '').replace('+0000', 'Z')}"
    path = args.out / f"{stem}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, path.with_suffix(".png"))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"\nwritten to {shown} and {shown.with_suffix('.png')}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
