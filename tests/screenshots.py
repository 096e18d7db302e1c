"""``make screenshots``: the README's pictures, taken from the real demo in headless Chromium.

It starts the services and the frontend server as ``make run`` does (SQLite, spans to a file,
the built-in viewer), clicks through the page, and opens each trace once it is complete:

- ``docs/frontend.png``: the page after Create User, Transfer Fund and Place Order;
- ``docs/trace-viewer.png``: that order's trace;
- ``docs/scenario-slow-db.png`` and ``docs/scenario-users-latency.png``: an order under each.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import run_init_db
from tests.stack import ROOT, ServiceProcess, Stack, base_env

DOCS = ROOT / "docs"
SCREENSHOT_DATA = ROOT / "var" / "screenshots"
TIMEOUT_MS = 30_000


def place_order(page: Page, scenario: str = "") -> str:
    """Place an order (under ``scenario``); its trace id, once its result has replaced the last."""
    trace = page.locator("#order-result .trace-id")
    previous = trace.inner_text() if trace.count() else ""
    page.locator("#scenario").select_option(scenario)
    page.get_by_role("button", name="Place Order").click()
    expect(page.locator("#order-result .status")).to_contain_text("201")
    expect(trace).not_to_have_text(previous or "-")
    return trace.inner_text()


def shoot_trace(page: Page, url: str, path: Path) -> None:
    """Open the trace viewer, wait until it says the trace is complete, screenshot it."""
    viewer = page.context.new_page()
    viewer.set_default_timeout(TIMEOUT_MS)
    viewer.goto(url)
    expect(viewer.locator(".complete")).to_be_visible()
    viewer.screenshot(path=str(path), full_page=True)
    viewer.close()
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    """Take the four screenshots into ``docs/``."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # Under var/ like make run's own database (its name shows in the SQL spans), apart from it.
        shutil.rmtree(SCREENSHOT_DATA, ignore_errors=True)
        SCREENSHOT_DATA.mkdir(parents=True)
        database = f"sqlite:///{SCREENSHOT_DATA.relative_to(ROOT) / 'tracing-demo.sqlite3'}"
        spans = work / "spans.log"
        init = run_init_db(database)
        if init.returncode:
            print(init.stderr, file=sys.stderr)
            return init.returncode
        env = base_env(
            DATABASE_URL=database,
            SPANS_FILE=str(spans),
            OTEL_TRACES_EXPORTER="span_lines",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OTEL_BSP_SCHEDULE_DELAY="200",
        )
        stack = Stack.start(work, env)
        frontend = ServiceProcess(
            "frontend",
            stack.frontend_env(SPANS_FILE=str(spans)),
            work / "frontend.log",
        )
        try:
            frontend.start().wait_ready()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1100, "height": 1000})
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(frontend.url)
                page.get_by_role("button", name="Create User").click()
                expect(page.locator("#create-user-result .status")).to_contain_text("201")
                page.get_by_label("Amount (dollars)").fill("1000")
                page.get_by_role("button", name="Transfer Fund").click()
                expect(page.locator("#transfer-result .status")).to_contain_text("200")
                page.get_by_label("Product").select_option(label="T-shirt — $25.00")
                order = place_order(page)
                page.screenshot(path=str(DOCS / "frontend.png"), full_page=True)
                print("wrote docs/frontend.png")
                shoot_trace(page, f"{frontend.url}/traces/{order}", DOCS / "trace-viewer.png")
                for scenario in ("slow-db", "users-latency"):
                    trace = place_order(page, scenario)
                    path = DOCS / f"scenario-{scenario}.png"
                    shoot_trace(page, f"{frontend.url}/traces/{trace}", path)
                browser.close()
        finally:
            frontend.stop()
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
