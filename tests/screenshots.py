"""``make screenshots``: the pictures in docs/, taken from the real demo in headless Chromium.

It starts the services and the frontend server as ``make run`` does (its environment, from
``shared.launch.local.load_environment``: SQLite, spans and logs to files), clicks through the
page, and waits until each click's trace under its result says it is complete:

- ``docs/frontend.png``: the page after Create User, Transfer Fund and Place Order;
- ``docs/trace-viewer.png``: that order's result with its trace;
- ``docs/scenario-<name>.png``: the result and trace of a click under each scenario: an order
  for ``slow-db``, ``users-latency`` and ``lock-contention`` (with a second order of the same
  user in flight), a transfer for ``payment-failure`` and ``lost-response`` (the payment
  service's read timeout, then its retry answered from the record: seconds).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from playwright.sync_api import Locator, Page, expect, sync_playwright

from devkit.browser import CHROMIUM, CHROMIUM_ARGS
from devkit.process import free_port
from shared.launch.local import load_environment
from tests.conftest import run_init_db
from tests.stack import ROOT, ServiceProcess, Stack, base_env

DOCS = ROOT / "docs"
SCREENSHOT_DATA = ROOT / "var" / "screenshots"
TIMEOUT_MS = 30_000


def click(page: Page, button: str, box_id: str, scenario: str = "") -> Locator:
    """Click ``button`` under ``scenario``; its result box, once its trace is complete."""
    box = page.locator(f"#{box_id}")
    trace = box.locator(".trace-id")
    previous = trace.inner_text() if trace.count() else ""
    page.locator("#scenario").select_option(scenario)
    page.get_by_role("button", name=button).click()
    # A click may take seconds (lost-response waits out the payment service's read timeout).
    expect(trace).not_to_have_text(previous or "-", timeout=TIMEOUT_MS)
    expect(box.locator(".inline-trace .complete")).to_be_visible(timeout=TIMEOUT_MS)
    # And its metrics, with the click's exemplar of every route it hit (the next export).
    rows = box.locator(".inline-metrics .route-row")
    expect(rows.first).to_be_visible(timeout=TIMEOUT_MS)
    expect(rows.locator(".exemplar:not(.found)")).to_have_count(0, timeout=TIMEOUT_MS)
    return box


def shoot(box: Locator, name: str) -> None:
    path = DOCS / name
    box.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def order_meanwhile(order_url: str, user_id: int) -> threading.Thread:
    """Another order of the same user, under lock-contention, already holding the row lock."""
    thread = threading.Thread(
        target=requests.post,
        args=(f"{order_url}/orders",),
        kwargs={
            "json": {"user_id": user_id, "product_id": 1},
            "headers": {"baggage": "demo.scenario=lock-contention"},
            "timeout": 30,
        },
    )
    thread.start()
    time.sleep(0.05)
    return thread


def main() -> int:
    """Take the screenshots into ``docs/``."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # Under var/ like make run's own database (its name shows in the SQL spans), apart from it.
        shutil.rmtree(SCREENSHOT_DATA, ignore_errors=True)
        SCREENSHOT_DATA.mkdir(parents=True)
        database = f"sqlite:///{SCREENSHOT_DATA.relative_to(ROOT) / 'tracing-demo.sqlite3'}"
        files = {
            "SPANS_FILE": str(work / "spans.log"),
            "LOGS_FILE": str(work / "logs.log"),
            "METRICS_FILE": str(work / "metrics.pb"),
        }
        frontend_port = free_port()
        init = run_init_db(database)
        if init.returncode:
            print(init.stderr, file=sys.stderr)
            return init.returncode
        # make run's environment; every payment-failure transfer fails, for a steady picture.
        given = base_env(
            DATABASE_URL=database,
            PAYMENT_FAILURE_RATE="1",
            OTEL_METRIC_EXPORT_INTERVAL="3000",  # an exemplar lives one export: time to see it
            FRONTEND_URL=f"http://127.0.0.1:{frontend_port}",  # the services' metrics go there
            **files,
        )
        del given["OTEL_BSP_SCHEDULE_DELAY"], given["OTEL_BLRP_SCHEDULE_DELAY"]
        stack = Stack.start(work, load_environment(work / "no.env", given))
        frontend = ServiceProcess(
            "frontend", stack.frontend_env(**files), work / "frontend.log", port=frontend_port
        )
        try:
            frontend.start().wait_ready()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1100, "height": 1000})
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(frontend.url)
                user = click(page, "Create User", "create-user-result")
                user_id = int(json.loads(user.locator("pre").inner_text())["id"])
                page.get_by_label("Amount (dollars)").fill("1000")
                click(page, "Transfer Fund", "transfer-result")
                page.get_by_label("Product").select_option(label="T-shirt — $25.00")
                order = click(page, "Place Order", "order-result")
                page.screenshot(path=str(DOCS / "frontend.png"), full_page=True)
                print("wrote docs/frontend.png")
                shoot(order, "trace-viewer.png")
                for scenario in ("slow-db", "users-latency"):
                    shoot(
                        click(page, "Place Order", "order-result", scenario),
                        f"scenario-{scenario}.png",
                    )
                other = order_meanwhile(stack.order.url, user_id)
                box = click(page, "Place Order", "order-result", "lock-contention")
                other.join()
                shoot(box, "scenario-lock-contention.png")
                box = click(page, "Transfer Fund", "transfer-result", "payment-failure")
                shoot(box, "scenario-payment-failure.png")
                box = click(page, "Transfer Fund", "transfer-result", "lost-response")
                shoot(box, "scenario-lost-response.png")
                browser.close()
        finally:
            frontend.stop()
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
