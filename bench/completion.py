"""``python -m bench.completion``: how long after a click's answer the page calls its trace
complete, for the page's three main clicks (Create User, Transfer Fund, Place Order).

Two sources, one run: ``local``, ``make run``'s (the spans and logs files, its export delays)
and ``jaeger``, the real Collector and Jaeger (``make backends``) with the services' compose
settings. Real headless Chromium clicks; a script in the page notes the moment each result box
shows its answer (its trace id) and the moment its trace view says "complete". It reports the
median per click and over the three, per source, and whether any trace grew after it was called
complete: once the services and the Collector are stopped (each sends on what it still holds),
no trace may have more spans than its view drew.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page, sync_playwright

from devkit.backends import Collector, Jaeger, missing_binaries, start_on_free_ports
from devkit.browser import CHROMIUM, CHROMIUM_ARGS
from devkit.process import free_port
from shared.launch import PROCESSES_BY_NAME
from shared.launch.local import load_environment
from shared.launch.process import start_service, stop_processes, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("local", "jaeger")
CLICKS = {
    "create user": ("Create User", "create-user-result"),
    "transfer": ("Transfer Fund", "transfer-result"),
    "order": ("Place Order", "order-result"),
}
# Installed before the page's own scripts: for each result box, the time its trace id changed
# (the answer arrived) and the time its trace view first said "complete", in ms.
WATCH_SCRIPT = """
window.__completion = {};
new MutationObserver(() => {
  for (const id of BOXES) {
    const box = document.getElementById(id);
    if (!box) continue;
    const traceId = (box.querySelector(".trace-id") || {}).textContent || "";
    const seen = window.__completion[id] || {};
    if (traceId && traceId !== seen.traceId) {
      window.__completion[id] = { traceId, answer: performance.now(), complete: null };
    } else if (seen.traceId && seen.complete === null
               && box.querySelector(".inline-trace .complete")) {
      seen.complete = performance.now();
    }
  }
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
""".replace("BOXES", json.dumps([box for _, box in CLICKS.values()]))
# The box shows a new answer's trace id, and its view has been called complete.
NEW_AND_COMPLETE = """(args) => {
  const seen = window.__completion[args.box];
  return seen && seen.traceId !== args.before && seen.complete !== null;
}"""
# The export delays compose and Kubernetes give the services (make run's are the same).
EXPORT_DELAYS = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200"}


@dataclass
class Demo:
    """The page's origin, and what to stop so that every span still held reaches the source."""

    origin: str
    services: list[subprocess.Popen[bytes]]
    collector: Collector | None

    def flush(self) -> None:
        """Stop the services (each exports what it holds on SIGTERM), then the Collector (it
        sends on what it holds): the barrier after which no span can still arrive."""
        stop_processes(self.services, timeout_s=30)
        if self.collector is not None:
            self.collector.stop()


@contextmanager
def demo(source: str, work: Path) -> Iterator[Demo]:
    """The services and the frontend server with ``source``'s settings."""
    database = f"sqlite:///{work / 'demo.sqlite3'}"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database, "LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "-m", "shared.init_db"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    with ExitStack() as running:
        page_env: dict[str, str] = {}
        collector = None
        ports = {name: free_port() for name in ("users", "payment", "order", "frontend")}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        if source == "local":
            files = {
                "SPANS_FILE": str(work / "spans.log"),
                "LOGS_FILE": str(work / "logs.log"),
                "METRICS_FILE": str(work / "metrics.pb"),
            }
            # make run's: the services' metrics to this frontend server.
            given = {**env, **files, "FRONTEND_URL": urls["frontend"]}
            env = load_environment(work / "no.env", given)
            page_env = files
        else:
            jaeger = start_on_free_ports(lambda: Jaeger.create(work))
            running.callback(jaeger.stop)
            collector = start_on_free_ports(lambda: Collector.for_jaeger(work, jaeger))
            running.callback(collector.stop)
            env = {**env, **EXPORT_DELAYS, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
            page_env = {
                "COLLECTOR_OTLP_HTTP_URL": collector.http_endpoint,
                "JAEGER_QUERY_URL": jaeger.query_url,
            }
        processes = {}
        for name, port in ports.items():
            process_env = {**env, "USER_URL": urls["users"], "WEB_CONCURRENCY": "2"}
            if name == "frontend":
                process_env.update(PAYMENT_URL=urls["payment"], ORDER_URL=urls["order"], **page_env)
            with open(work / f"{name}.log", "ab") as log:
                processes[name] = start_service(
                    PROCESSES_BY_NAME[name], port, process_env, output=log
                )
        running.callback(stop_processes, processes.values(), timeout_s=30)
        for name, process in processes.items():
            wait_until_ready(urls[name], process, 60, "/healthz")
        services = [processes[name] for name in ("users", "payment", "order")]
        yield Demo(urls["frontend"], services, collector)


def span_count(origin: str, trace_id: str) -> int:
    answer = requests.get(f"{origin}/api/traces/{trace_id}", timeout=10)
    data = answer.json().get("data") if answer.ok else None
    return len(data[0]["spans"]) if data else 0


def round_of_clicks(page: Page) -> dict[str, dict[str, Any]]:
    """The three clicks once; for each, ms from answer to complete and the rows drawn then."""
    measured: dict[str, dict[str, Any]] = {}
    for click, (button, box) in CLICKS.items():
        if click == "transfer":
            page.get_by_label("Amount (dollars)").fill("100")
        before = page.evaluate(f"(window.__completion[{json.dumps(box)}] || {{}}).traceId")
        page.get_by_role("button", name=button).click()
        page.wait_for_function(NEW_AND_COMPLETE, arg={"box": box, "before": before}, timeout=30_000)
        seen = page.evaluate(f"window.__completion[{json.dumps(box)}]")
        spans = page.locator(f"#{box} .inline-trace .span-row").count()
        measured[click] = {
            "trace_id": seen["traceId"],
            "ms": round(seen["complete"] - seen["answer"], 1),
            "spans_when_complete": spans,
        }
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three clicks")
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES))
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    if "jaeger" in args.sources and missing_binaries():
        parser.error("the jaeger source needs the real Collector and Jaeger: make backends")
    results: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for source in args.sources:
            with tempfile.TemporaryDirectory() as tmp, demo(source, Path(tmp)) as running:
                context = browser.new_context(viewport={"width": 1100, "height": 1000})
                context.add_init_script(WATCH_SCRIPT)
                page = context.new_page()
                page.goto(running.origin)
                page.locator("#product-select option").first.wait_for(state="attached")
                rounds = [round_of_clicks(page) for _ in range(args.rounds)]
                context.close()
                # Then every span any of those traces will ever get has arrived: count again.
                running.flush()
                for result in (r[click] for r in rounds for click in CLICKS):
                    result["spans_later"] = span_count(running.origin, result["trace_id"])
            per_click = {
                click: statistics.median(r[click]["ms"] for r in rounds) for click in CLICKS
            }
            grew = [
                (click, r[click]["trace_id"])
                for r in rounds
                for click in CLICKS
                if r[click]["spans_later"] != r[click]["spans_when_complete"]
            ]
            results[source] = {
                "median_ms_per_click": per_click,
                "median_ms": statistics.median(per_click.values()),
                "grew_after_complete": grew,
                "rounds": rounds,
            }
            print(
                f"{source}: complete {results[source]['median_ms']:.0f} ms after the answer "
                f"(median of the three clicks' medians over {args.rounds} rounds: "
                + ", ".join(f"{c} {ms:.0f}" for c, ms in per_click.items())
                + f"); grew after complete: {len(grew)}"
            )
        browser.close()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
