"""The demo page in real headless Chromium: each click is one trace from the browser to the SQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from playwright.sync_api import Browser, Locator, Page, Request, Response, Route, expect

from devkit.otlp_receiver import CLIENT, INTERNAL, SERVER, OtlpReceiver, ReceivedSpan
from devkit.process import free_port
from tests.docs import doc_quote
from tests.helpers import UI_TIMEOUT_MS, page_at
from tests.nginx_frontend import NginxFrontend, start_frontend
from tests.stack import ROOT, ServiceProcess, Stack, base_env
from tests.trace_tree import draw, drawn_tree, settled_trace, tree_lines, without_begin

TRACE_UI = "http://localhost:16686/trace/{trace_id}"
HEX_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
# What each result box says about its click: the time its API calls took, measured in the page.
TOOK = re.compile(r"^took (\d+) ms$")
# The catalog (order.models.SEED_PRODUCTS, prices in cents) as the page shows it, in dollars.
CATALOG_IN_DOLLARS = [
    "Coffee mug — $12.00",
    "T-shirt — $25.00",
    "Hoodie — $49.00",
    "Mechanical keyboard — $129.00",
    "Standing desk — $499.00",
]
# The browser SDK shifts span times by the drift between its wall clock and its monotonic
# clock; on one machine that is well under this.
DOCUMENT_LOAD_CLOCK_SLACK_NS = 50_000_000
# The page's Idempotency-Key: a random UUID, as a quoted string (the IETF draft's form).
QUOTED_UUID = re.compile(r'^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$')
# How many of the user's latest credits and orders the page lists.
HISTORY_SIZE = 5


@pytest.fixture(scope="session")
def frontend(
    request: pytest.FixtureRequest,
    stack: Stack,
    receiver: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceProcess | NginxFrontend]:
    """The page's origin in front of the stack: `make run`'s server, or the image's nginx."""
    variables = {
        "USER_URL": stack.users.url,
        "PAYMENT_URL": stack.payment.url,
        "ORDER_URL": stack.order.url,
        "COLLECTOR_OTLP_HTTP_URL": receiver.http_endpoint,
        "TRACE_UI_URL": TRACE_UI,
    }
    server = start_frontend(request.param, variables, tmp_path_factory.mktemp("frontend"))
    yield server
    server.stop()


@pytest.fixture
def page(browser: Browser, frontend: ServiceProcess | NginxFrontend) -> Iterator[Page]:
    # A query string no other load has, so this load's documentLoad span is told from the rest.
    with page_at(browser, f"{frontend.url}/?load={uuid.uuid4().hex}") as opened:
        expect(opened.locator("#product-select option").first).to_be_attached()
        yield opened


def _create_user(page: Page) -> None:
    page.get_by_role("button", name="Create User").click()
    expect(page.locator("#create-user-result .status")).to_contain_text("201")


def _transfer(page: Page, dollars: str) -> None:
    page.get_by_label("Amount (dollars)").fill(dollars)
    page.get_by_role("button", name="Transfer Fund").click()


def _took_ms(result: Locator) -> int:
    """The duration a result box shows ("took 42 ms"), in milliseconds."""
    duration = result.locator(".status .duration")
    expect(duration).to_have_text(TOOK)
    match = TOOK.match(duration.inner_text())
    assert match is not None
    return int(match[1])


def _duration_ms(span: ReceivedSpan) -> float:
    return (span.end_ns - span.start_ns) / 1e6


def _names(spans: list[ReceivedSpan]) -> set[tuple[str, str]]:
    return {(span.service, span.name) for span in spans}


def _connected(spans: list[ReceivedSpan]) -> bool:
    """Every span's parent has arrived too (the browser may export a parent before its child)."""
    ids = {span.span_id for span in spans}
    return all(not span.parent_span_id or span.parent_span_id in ids for span in spans)


def _document_load(page: Page, receiver: OtlpReceiver) -> ReceivedSpan:
    """The documentLoad span of ``page``'s own navigation, checked against the browser's timing.

    The page's URL is unique to it (see ``page``), and the span must start at the moment this
    navigation's fetch started by the browser's own clock: any other load's span (an earlier
    test's, say) fails both.
    """
    url = page.url
    fetch_start_ms: float = page.evaluate(
        "performance.timeOrigin + performance.getEntriesByType('navigation')[0].fetchStart"
    )
    spans = receiver.wait_for(
        lambda found: {"documentLoad", "documentFetch"} <= {s.name for s in found},
        lambda span: span.service == "frontend" and span.attributes.get("url.full") == url,
    )
    (load,) = [s for s in spans if s.name == "documentLoad"]
    (fetch,) = [s for s in spans if s.name == "documentFetch"]
    assert not load.parent_span_id, "a page load starts a trace of its own"
    assert (fetch.trace_id, fetch.parent_span_id) == (load.trace_id, load.span_id)
    assert abs(load.start_ns - fetch_start_ms * 1e6) < DOCUMENT_LOAD_CLOCK_SLACK_NS
    assert load.attributes["user_agent.original"] == page.evaluate("navigator.userAgent")

    def fetched(found: list[ReceivedSpan]) -> set[str]:
        """The file names this load's resourceFetch children fetched."""
        return {
            str(s.attributes.get("url.full", "")).rsplit("/", 1)[-1]
            for s in found
            if s.name == "resourceFetch" and s.parent_span_id == load.span_id
        }

    # The page's own scripts are resourceFetch children of the same load.
    resources = receiver.wait_for_trace(
        load.trace_id, lambda found: {"otel-tracing.js", "app.js"} <= fetched(found)
    )
    assert {s.service for s in resources} == {"frontend"}
    return load


@pytest.mark.both_databases
@pytest.mark.both_frontends
def test_click_through_create_transfer_order_is_one_trace_per_click(
    page: Page, receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    expect(page.locator("#product-select option")).to_have_text(CATALOG_IN_DOLLARS)
    _create_user(page)
    expect(page.locator("#balance")).to_have_text("$0.00")
    created = page.locator("#create-user-result")
    expect(created.locator(".message")).to_have_text(
        re.compile(r"^Created user #\d+ \(ACC-0001\), balance \$0\.00\.$")
    )
    _took_ms(created)

    _transfer(page, "100.00")
    transferred = page.locator("#transfer-result")
    expect(transferred.locator(".status")).to_contain_text("200")
    expect(page.locator("#balance")).to_have_text("$100.00")
    expect(transferred.locator(".message")).to_have_text(
        "Transferred $100.00; the balance is now $100.00."
    )
    # The page reads dollars; the API still counts cents.
    expect(transferred.locator("pre")).to_contain_text('"amount": 10000')
    _took_ms(transferred)

    page.get_by_label("Product").select_option(label="T-shirt — $25.00")
    page.get_by_role("button", name="Place Order").click()
    result = page.locator("#order-result")
    expect(result.locator(".status")).to_contain_text("201")
    expect(result.locator("pre")).to_contain_text('"status": "PAID"')
    expect(result.locator(".message")).to_have_text(
        re.compile(r"^Paid \$25\.00 for T-shirt: order #\d+\.$")
    )
    expect(page.locator("#balance")).to_have_text("$75.00")
    order_took = _took_ms(result)

    trace_id = result.locator(".trace-id").inner_text()
    assert len(trace_id) == 32
    link = result.locator("a.trace-link")
    assert link.get_attribute("href") == TRACE_UI.format(trace_id=trace_id)
    # A collector and no Jaeger: the page has no trace to draw (the frontend says so), so the
    # box keeps the link and no view; the view's own tests are in test_trace_view.py.
    expect(result.locator(".inline-trace")).to_be_empty()
    expect(link).to_be_visible()
    # The browser's spans reach the collector: no notice says otherwise.
    expect(page.locator("#telemetry-notice")).to_be_hidden()

    shot = Path(os.environ.get("SCREENSHOT_PATH", tmp_path / "frontend.png"))
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    spans = receiver.wait_for_trace(
        trace_id,
        lambda found: (
            {
                ("frontend", "click Place Order"),
                ("order-service", "POST /orders"),
                ("order-service", "insert order"),
                ("user-service", "get user"),
            }
            <= _names(found)
            and _connected(found)
        ),
    )
    (root,) = [span for span in spans if not span.parent_span_id]
    assert (root.service, root.name) == ("frontend", "click Place Order")
    assert root.attributes["app.product.id"] == 2
    # The page times the click's API calls, inside the click's span (1 ms: the page rounds).
    assert order_took <= _duration_ms(root) + 1
    order_server = next(
        s for s in spans if (s.service, s.name) == ("order-service", "POST /orders")
    )
    fetch = next(s for s in spans if s.span_id == order_server.parent_span_id)
    assert (fetch.service, fetch.kind) == ("frontend", CLIENT)
    assert fetch.parent_span_id == root.span_id
    assert any(s.service == "user-service" and s.kind == SERVER for s in spans)
    assert any("db.statement" in s.attributes for s in spans if s.service == "order-service")
    assert any("db.statement" in s.attributes for s in spans if s.service == "user-service")
    assert {s.service for s in spans} == {"frontend", "order-service", "user-service"}
    # README.md draws this very trace: same spans, same tree (its notes column aside).
    real = tree_lines(settled_trace(receiver, trace_id))
    drawn = drawn_tree("README.md", "### One order's trace")
    if database_url.startswith("mysql"):  # PyMySQL begins a transaction without a statement
        drawn = without_begin(drawn)
    assert drawn == real, "README.md's tree differs from this real trace:\n" + draw(real)

    # The transfer click is a trace of its own, through payment to users.
    transfer_trace = page.locator("#transfer-result .trace-id").inner_text()
    assert transfer_trace != trace_id
    transfer_spans = receiver.wait_for_trace(
        transfer_trace,
        lambda found: (
            {("frontend", "click Transfer Fund"), ("user-service", "update user amount")}
            <= _names(found)
            and _connected(found)
        ),
    )
    assert {s.service for s in transfer_spans} == {"frontend", "payment-service", "user-service"}
    load = _document_load(page, receiver)
    assert load.trace_id not in (trace_id, transfer_trace)


def test_insufficient_funds_shows_the_error_message_in_dollars(page: Page) -> None:
    _create_user(page)
    _transfer(page, "5")
    expect(page.locator("#balance")).to_have_text("$5.00")
    page.get_by_label("Product").select_option(label="Mechanical keyboard — $129.00")
    page.get_by_role("button", name="Place Order").click()
    result = page.locator("#order-result")
    expect(result.locator(".status")).to_contain_text("422")
    expect(result).to_have_class("result error")
    # The API's sentence says cents; the page writes its own from the error's fields.
    expect(result.locator(".message")).to_have_text(
        "Insufficient funds: Mechanical keyboard costs $129.00, the balance is $5.00, "
        "$124.00 short."
    )
    expect(result.locator("pre")).to_contain_text('"missing": 12400')
    _took_ms(result)
    expect(result.locator(".trace-id")).to_have_text(HEX_TRACE_ID)
    expect(page.locator("#balance")).to_have_text("$5.00")


def test_transfer_before_creating_a_user_explains_itself(page: Page) -> None:
    page.get_by_role("button", name="Transfer Fund").click()
    expect(page.locator("#transfer-result")).to_contain_text("Create a user first")


def test_transfer_amount_is_typed_in_dollars_and_sent_in_cents(page: Page) -> None:
    _create_user(page)
    result = page.locator("#transfer-result")

    # Refused in the page, before any call: no trace, the balance untouched.
    _transfer(page, "1.005")
    expect(result.locator(".status")).to_have_text(
        "1.005 has more than 2 decimals: amounts are whole cents."
    )
    expect(result).to_have_class("result error")
    _transfer(page, "ten")
    expect(result.locator(".status")).to_have_text(
        "Type an amount in dollars, such as 25 or 12.50."
    )
    expect(result.locator(".trace-id")).to_have_count(0)
    expect(page.locator("#balance")).to_have_text("$0.00")

    _transfer(page, "12.5")
    expect(result.locator(".status")).to_contain_text("200")
    expect(result.locator("pre")).to_contain_text('"amount": 1250')
    expect(page.locator("#balance")).to_have_text("$12.50")

    # The API's own limit (in cents) reads in dollars too.
    _transfer(page, "20000000")
    expect(result.locator(".status")).to_contain_text("400")
    expect(result.locator(".message")).to_contain_text("$10,000,000.00")
    expect(result.locator(".message")).not_to_contain_text("1000000000")
    _took_ms(result)
    expect(page.locator("#balance")).to_have_text("$12.50")


@pytest.mark.both_frontends
def test_page_load_answers_no_404_and_names_its_icon(
    browser: Browser, frontend: ServiceProcess | NginxFrontend
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        responses: list[Response] = []
        page.on("response", lambda response: responses.append(response))
        page.goto(f"{frontend.url}/")
        expect(page.locator("#product-select option")).to_have_count(len(CATALOG_IN_DOLLARS))
        # Chromium asks for /favicon.ico by itself unless the page names an icon, and does not
        # report that request to Playwright: so the page must name one, and it must load.
        icon = page.locator("link[rel=icon]").get_attribute("href")
        assert icon
        icon_width = page.evaluate(
            """(href) => new Promise((resolve) => {
                const image = new Image();
                image.onload = () => resolve(image.naturalWidth);
                image.onerror = () => resolve(0);
                image.src = href;
            })""",
            icon,
        )
        assert icon_width > 0, f"the page's icon does not load: {icon[:80]}"
        page.wait_for_load_state("networkidle")
        paths = {r.url.removeprefix(frontend.url).split("?")[0] for r in responses}
        assert {"/", "/styles.css", "/config.js", "/otel-tracing.js", "/app.js", "/products"} <= (
            paths
        )
        assert [(r.status, r.url) for r in responses if r.status == 404] == []
    finally:
        context.close()


def test_scenario_row_is_aligned_and_fits_a_narrow_window(page: Page) -> None:
    label, select = page.locator("label[for=scenario]"), page.locator("#scenario")
    wide_label, wide_select = label.bounding_box(), select.bounding_box()
    assert wide_label and wide_select
    # Side by side, centred on one line.
    assert wide_label["x"] + wide_label["width"] <= wide_select["x"]
    label_middle = wide_label["y"] + wide_label["height"] / 2
    assert abs(label_middle - (wide_select["y"] + wide_select["height"] / 2)) <= 2

    page.set_viewport_size({"width": 360, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    narrow = select.bounding_box()
    assert narrow and narrow["x"] >= 0 and narrow["x"] + narrow["width"] <= 360


def test_without_a_collector_browser_spans_reach_the_spans_file_and_viewer(
    tmp_path: Path,
) -> None:
    spans_file = tmp_path / "spans.log"
    env = base_env(COLLECTOR_OTLP_HTTP_URL="", SPANS_FILE=str(spans_file))
    server = ServiceProcess("frontend", env, tmp_path / "frontend.log").start().wait_ready()
    try:
        config = requests.get(server.url + "/config.js", timeout=10).text
        assert '"traceUiUrl": "/traces/{trace_id}"' in config
        trace_id = bytes(range(16))
        root = Span(trace_id=trace_id, span_id=b"\x01" * 8, name="click Place Order", kind=INTERNAL)
        root.start_time_unix_nano, root.end_time_unix_nano = 1_000_000_000, 1_050_000_000
        child = Span(
            trace_id=trace_id,
            span_id=b"\x02" * 8,
            parent_span_id=b"\x01" * 8,
            name="HTTP POST",
            kind=CLIENT,
        )
        child.start_time_unix_nano, child.end_time_unix_nano = 1_010_000_000, 1_040_000_000
        export = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=Resource(
                        attributes=[
                            KeyValue(key="service.name", value=AnyValue(string_value="frontend"))
                        ]
                    ),
                    scope_spans=[ScopeSpans(spans=[child, root])],
                )
            ]
        )
        posted = requests.post(
            server.url + "/otlp-http/v1/traces",
            data=export.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=10,
        )
        assert posted.status_code == 200
        assert f"trace={trace_id.hex()}" in spans_file.read_text()

        # The page's trace view reads them back, in Jaeger's shape.
        answer = requests.get(f"{server.url}/api/traces/{trace_id.hex()}", timeout=10)
        assert answer.status_code == 200
        [trace] = answer.json()["data"]
        assert [span["operationName"] for span in trace["spans"]] == [
            "click Place Order",
            "HTTP POST",
        ]
        assert trace["processes"] == {"p1": {"serviceName": "frontend", "tags": []}}
        bad = requests.post(server.url + "/otlp-http/v1/traces", data=b"\xff garbage", timeout=10)
        assert bad.status_code == 400
    finally:
        server.stop()


def test_bundle_rebuilds_identically_from_the_lock_file(npm_installed_frontend: Path) -> None:
    """The committed otel-tracing.js is exactly what `npm ci && npm run build` produces."""
    built = subprocess.run(
        ["npm", "run", "build"],
        cwd=npm_installed_frontend,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    rebuilt = (npm_installed_frontend / "static" / "otel-tracing.js").read_bytes()
    assert rebuilt == (ROOT / "frontend" / "static" / "otel-tracing.js").read_bytes()


def test_scenario_selector_sends_baggage_through_every_hop(
    page: Page, receiver: OtlpReceiver
) -> None:
    _create_user(page)
    page.get_by_label("Amount (dollars)").fill("50.00")
    page.get_by_role("button", name="Transfer Fund").click()
    expect(page.locator("#transfer-result .status")).to_contain_text("200")

    page.locator("#scenario").select_option("slow-db")
    page.get_by_role("button", name="Place Order").click()
    expect(page.locator("#order-result .status")).to_contain_text("201")
    took = _took_ms(page.locator("#order-result"))
    trace_id = page.locator("#order-result .trace-id").inner_text()
    spans = receiver.wait_for_trace(
        trace_id,
        lambda found: (
            {("frontend", "click Place Order"), ("user-service", "get user")} <= _names(found)
            and any("sleep" in s.attributes.get("db.statement", "").lower() for s in found)
            and _connected(found)
        ),
    )
    root = next(s for s in spans if not s.parent_span_id)
    assert root.attributes["app.scenario"] == "slow-db"
    # The page's duration covers the slow statement, and lies within the click's span.
    sleep = next(s for s in spans if "sleep" in s.attributes.get("db.statement", "").lower())
    assert _duration_ms(sleep) - 1 <= took <= _duration_ms(root) + 1
    for service in ("order-service", "user-service"):
        assert all(
            s.attributes.get("app.scenario") == "slow-db" for s in spans if s.service == service
        )


# Clicks that move money: a key each, one retry with the same key, and the lists of what the
# services recorded.


def _new_result(page: Page, button: str, box_id: str) -> Locator:
    """Click ``button``; its result box, once it shows this click's answer (a new trace id)."""
    box = page.locator(f"#{box_id}")
    trace_id = box.locator(".trace-id")
    before = trace_id.inner_text() if trace_id.count() else ""
    page.get_by_role("button", name=button).click()
    expect(trace_id).not_to_have_text(before)
    expect(trace_id).to_have_text(HEX_TRACE_ID)
    return box


def _user_id(page: Page) -> int:
    return int(json.loads(page.locator("#create-user-result pre").inner_text())["id"])


def _balance_in_the_database(stack: Stack, user_id: int) -> int:
    """The user's balance in cents, read from the users service itself (not through the page)."""
    answer = requests.get(f"{stack.users.url}/users/{user_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["amount"])


def _moves_money(request: Request) -> bool:
    """A transfer or an order."""
    path = urlsplit(request.url).path
    if request.method == "PUT":
        return path.startswith("/payments/transfer/id/")
    return (request.method, path) == ("POST", "/orders")


def test_each_click_that_moves_money_sends_a_fresh_idempotency_key(page: Page) -> None:
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    _create_user(page)
    for dollars in ("10", "10"):
        page.get_by_label("Amount (dollars)").fill(dollars)
        expect(
            _new_result(page, "Transfer Fund", "transfer-result").locator(".status")
        ).to_contain_text("200")
    expect(_new_result(page, "Place Order", "order-result").locator(".status")).to_contain_text(
        "201"
    )
    money = [request for request in sent if _moves_money(request)]
    keys = [request.header_value("idempotency-key") for request in money]
    assert [request.method for request in money] == ["PUT", "PUT", "POST"]
    assert all(key and QUOTED_UUID.match(key) for key in keys), keys
    assert len(set(keys)) == 3, "a fresh key for every click"
    # Nothing else carries one: creating a user, the catalog, the balance and the lists.
    others = [request for request in sent if request not in money]
    assert {request.method for request in others} >= {"GET", "POST"}
    assert [r.url for r in others if r.header_value("idempotency-key")] == []


def test_the_lists_show_the_latest_credits_and_orders_each_with_its_trace(page: Page) -> None:
    credits, orders = page.locator("#credits-list li"), page.locator("#orders-list li")
    expect(credits).to_have_text(["Create a user first."])
    _create_user(page)
    expect(credits).to_have_text(["No credits yet."])
    expect(orders).to_have_text(["No orders yet."])
    transfers: list[str] = []
    for dollars in range(10, 10 * (HISTORY_SIZE + 2), 10):  # one more than the list shows
        page.get_by_label("Amount (dollars)").fill(str(dollars))
        box = _new_result(page, "Transfer Fund", "transfer-result")
        transfers.append(box.locator(".trace-id").inner_text())
        expect(credits.first).to_have_attribute("data-trace-id", transfers[-1])
    page.get_by_label("Product").select_option(label="T-shirt — $25.00")
    order = _new_result(page, "Place Order", "order-result")
    order_trace = order.locator(".trace-id").inner_text()
    order_id = json.loads(order.locator("pre").inner_text())["id"]

    # Newest first, the last HISTORY_SIZE: $60 down to $20; each links to the click that made it.
    expect(credits).to_have_count(HISTORY_SIZE)
    expect(credits.locator(".amount")).to_have_text(
        [f"+${dollars}.00" for dollars in range(10 * (HISTORY_SIZE + 1), 10, -10)]
    )
    newest_first = transfers[::-1][:HISTORY_SIZE]
    assert [credits.nth(i).get_attribute("data-trace-id") for i in range(HISTORY_SIZE)] == (
        newest_first
    )
    assert [
        credits.nth(i).locator("a.trace-link").get_attribute("href") for i in range(HISTORY_SIZE)
    ] == [TRACE_UI.format(trace_id=trace_id) for trace_id in newest_first]
    expect(orders).to_have_count(1)
    expect(orders).to_contain_text(f"−$25.00 order #{order_id}: T-shirt, PAID")
    expect(orders.first).to_have_attribute("data-trace-id", order_trace)
    link = orders.first.locator("a.trace-link")
    expect(link).to_have_attribute("href", TRACE_UI.format(trace_id=order_trace))
    expect(link).to_have_attribute("target", "_blank")


@dataclass(frozen=True)
class Canned:
    """The flaky address answers this itself: the service never sees the request."""

    status: int
    error: str


@dataclass(frozen=True)
class Lost:
    """The service gets the request and applies it; its answer is lost on the way back, and the
    flaky address answers ``status`` instead (a proxy that gave up waiting)."""

    status: int
    error: str


@dataclass(frozen=True)
class Dropped:
    """The flaky address closes the connection without a word: the frontend (the Python server
    or nginx) answers ``status`` itself, in the API's JSON error shape."""

    status: int = 502
    error: str = "upstream_unavailable"


@dataclass(frozen=True)
class Seen:
    """A request the flaky address got: its method, path and headers (names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]


class FlakyService:
    """A service's address for the frontend: it forwards every request to the real service,
    except that the next writes (``method`` requests) play ``script`` first."""

    def __init__(self, upstream: str, method: str) -> None:
        self.upstream, self.method = upstream, method
        self.script: list[Canned | Lost | Dropped] = []
        self._seen: list[Seen] = []
        self._changed = threading.Condition()
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                flaky._handle(self)

            do_GET = do_PUT = do_POST = _handle  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self._changed:
            self.script, self._seen = [], []

    def writes(self) -> list[Seen]:
        with self._changed:
            return [seen for seen in self._seen if seen.method == self.method]

    def wait_for(self, predicate: Callable[[list[Seen]], bool], timeout: float = 20.0) -> None:
        """Until ``predicate`` holds for the requests seen since the last reset."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._seen), timeout):
                raise AssertionError(f"not seen in {timeout}s; seen: {self._seen}")

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host"}}
        with self._changed:
            self._seen.append(
                Seen(request.command, request.path, {k.lower(): v for k, v in headers.items()})
            )
            step = self.script.pop(0) if request.command == self.method and self.script else None
            self._changed.notify_all()
        if isinstance(step, Dropped):
            request.close_connection = True
            return
        if isinstance(step, Canned):
            self._answer(request, step.status, step.error, request.headers.get("traceparent"))
            return
        upstream = requests.request(
            request.command, self.upstream + request.path, data=body, headers=headers, timeout=30
        )
        if isinstance(step, Lost):
            self._answer(request, step.status, step.error, request.headers.get("traceparent"))
            return
        request.send_response(upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in {"connection", "content-length", "transfer-encoding"}:
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(upstream.content)))
        request.end_headers()
        request.wfile.write(upstream.content)

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler, status: int, error: str, traceparent: str | None
    ) -> None:
        """The API's JSON error, with a ``traceresponse`` in the request's trace, as a traced
        service sends it (the page links each result to its trace)."""
        body = json.dumps({"error": error, "message": f"The flaky address says {error}."}).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        if traceparent:
            trace_id = traceparent.split("-")[1]
            request.send_header("traceresponse", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
        request.end_headers()
        request.wfile.write(body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class FlakyDemo:
    """A frontend whose payment and order services are behind flaky addresses."""

    url: str
    payment: FlakyService
    order: FlakyService


@pytest.fixture(scope="session", params=["python-server", "nginx"])
def flaky_demo(
    request: pytest.FixtureRequest,
    stack: Stack,
    receiver: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FlakyDemo]:
    payment = FlakyService(stack.payment.url, "PUT")
    order = FlakyService(stack.order.url, "POST")
    variables = {
        "USER_URL": stack.users.url,
        "PAYMENT_URL": payment.url,
        "ORDER_URL": order.url,
        "COLLECTOR_OTLP_HTTP_URL": receiver.http_endpoint,
        "TRACE_UI_URL": TRACE_UI,
    }
    server = start_frontend(request.param, variables, tmp_path_factory.mktemp("flaky-frontend"))
    yield FlakyDemo(server.url, payment, order)
    server.stop()
    payment.close()
    order.close()


@pytest.fixture
def flaky_page(browser: Browser, flaky_demo: FlakyDemo) -> Iterator[Page]:
    """The page in front of ``flaky_demo``, with a user who has $100.00; nothing scripted yet."""
    with page_at(browser, flaky_demo.url) as opened:
        expect(opened.locator("#product-select option").first).to_be_attached()
        _create_user(opened)
        opened.get_by_label("Amount (dollars)").fill("100")
        funded = _new_result(opened, "Transfer Fund", "transfer-result").locator(".trace-id")
        # Both lists read again (the credits and the orders, through the flaky order address).
        credits = opened.locator("#credits-list li")
        expect(credits).to_have_count(1)
        expect(credits).to_have_attribute("data-trace-id", funded.inner_text())
        flaky_demo.payment.reset()
        flaky_demo.order.reset()
        yield opened


# A click that moves money, and what its result says once applied (the user has $100.00).
MONEY_CLICKS = {
    "transfer": (
        "Transfer Fund",
        "transfer-result",
        "Transferred $10.00; the balance is now $110.00.",
        11_000,
    ),
    "order": ("Place Order", "order-result", "Paid $12.00 for Coffee mug: order #", 8_800),
}
RETRIED = "retried once with the same key: "


@pytest.mark.parametrize(
    ("click", "first", "outcome"),
    [
        (
            "transfer",
            Lost(504, "upstream_timeout"),
            "answered from the first attempt, so it was applied once.",
        ),
        (
            "order",
            Lost(502, "upstream_unavailable"),
            "answered from the first attempt, so it was applied once.",
        ),
        (
            "transfer",
            Canned(502, "upstream_unavailable"),
            "the first attempt had not been applied; this one was.",
        ),
        (
            "order",
            Canned(504, "upstream_timeout"),
            "the first attempt had not been applied; this one was.",
        ),
        # The frontend's own 502: the service hung up.
        ("transfer", Dropped(), "the first attempt had not been applied; this one was."),
    ],
    ids=[
        "transfer-answer-lost",
        "order-answer-lost",
        "transfer-refused",
        "order-refused",
        "transfer-dropped",
    ],
)
def test_a_click_without_an_answer_is_sent_once_more_with_its_key_and_applied_once(
    flaky_page: Page,
    flaky_demo: FlakyDemo,
    stack: Stack,
    receiver: OtlpReceiver,
    click: str,
    first: Canned | Lost | Dropped,
    outcome: str,
) -> None:
    page = flaky_page
    button, box_id, applied, balance = MONEY_CLICKS[click]
    service = getattr(flaky_demo, "payment" if click == "transfer" else "order")
    service.script = [first]
    page.get_by_label("Amount (dollars)").fill("10")
    box = _new_result(page, button, box_id)
    expect(box.locator(".status")).to_contain_text("200" if click == "transfer" else "201")
    expect(box.locator(".retry")).to_have_text(
        f"The first attempt got no answer ({first.status} {first.error}); {RETRIED}{outcome}"
    )
    expect(box.locator(".message")).to_contain_text(applied)
    # Both attempts carried the one key of the click; the money moved once.
    keys = [seen.headers.get("idempotency-key") for seen in service.writes()]
    assert len(keys) == 2 and keys[0] == keys[1] and QUOTED_UUID.match(keys[0] or ""), keys
    assert _balance_in_the_database(stack, _user_id(page)) == balance
    listed = page.locator("#credits-list li" if click == "transfer" else "#orders-list li")
    trace_id = box.locator(".trace-id").inner_text()
    expect(listed.first).to_have_attribute("data-trace-id", trace_id)
    expect(listed).to_have_count(2 if click == "transfer" else 1)

    # Both attempts are client spans of the click, in its trace; the second says it is a resend.
    def attempts(found: list[ReceivedSpan]) -> list[ReceivedSpan]:
        return sorted(
            (s for s in found if s.service == "frontend" and "app.idempotency.key" in s.attributes),
            key=lambda span: span.start_ns,
        )

    spans = receiver.wait_for_trace(trace_id, lambda found: len(attempts(found)) == 2)
    (root,) = [s for s in spans if not s.parent_span_id]
    assert root.name == f"click {button}"
    one, two = attempts(spans)
    assert (
        one.kind == two.kind == CLIENT and one.parent_span_id == two.parent_span_id == root.span_id
    )
    assert one.attributes["app.idempotency.key"] == two.attributes["app.idempotency.key"]
    assert f'"{one.attributes["app.idempotency.key"]}"' == keys[0]
    assert "http.request.resend_count" not in one.attributes
    assert one.attributes["http.response.status_code"] == first.status
    assert two.attributes["http.request.resend_count"] == 1
    assert two.attributes["app.idempotency.replayed"] is isinstance(first, Lost)


def test_a_retry_that_finds_the_first_attempt_in_progress_says_so_and_stops(
    flaky_page: Page, flaky_demo: FlakyDemo, stack: Stack
) -> None:
    page = flaky_page
    flaky_demo.payment.script = [
        Canned(504, "upstream_timeout"),
        Canned(409, "request_in_progress"),
    ]
    page.get_by_label("Amount (dollars)").fill("10")
    box = _new_result(page, "Transfer Fund", "transfer-result")
    expect(box.locator(".status")).to_contain_text("409")
    expect(box).to_have_class("result error")
    expect(box.locator(".retry")).to_have_text(
        f"The first attempt got no answer (504 upstream_timeout); {RETRIED}the first request is "
        "still being processed, so the page does not retry again; the lists below show it once "
        "it is done."
    )
    expect(box.locator(".message")).to_have_text("The flaky address says request_in_progress.")
    # The click is over once the page has read the lists again (orders through the flaky
    # order address): by then any third attempt would have been sent.
    user_id = _user_id(page)
    flaky_demo.order.wait_for(
        lambda seen: any(s.path.startswith(f"/orders?user_id={user_id}&") for s in seen)
    )
    keys = [seen.headers.get("idempotency-key") for seen in flaky_demo.payment.writes()]
    assert len(keys) == 2 and keys[0] == keys[1], keys
    assert _balance_in_the_database(stack, user_id) == 10_000
    expect(page.locator("#balance")).to_have_text("$100.00")


def test_a_network_error_is_retried_once_with_the_same_key(page: Page, stack: Stack) -> None:
    _create_user(page)
    keys: list[str | None] = []

    def drop_the_first(route: Route) -> None:
        keys.append(route.request.header_value("idempotency-key"))
        if len(keys) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/payments/transfer/id/*", drop_the_first)
    page.get_by_label("Amount (dollars)").fill("10")
    box = _new_result(page, "Transfer Fund", "transfer-result")
    expect(box.locator(".status")).to_contain_text("200")
    expect(box.locator(".retry")).to_have_text(
        f"The first attempt got no answer (a network error: Failed to fetch); {RETRIED}"
        "the first attempt had not been applied; this one was."
    )
    assert len(keys) == 2 and keys[0] == keys[1] and QUOTED_UUID.match(keys[0] or ""), keys
    assert _balance_in_the_database(stack, _user_id(page)) == 1_000


# The browser's spans when the frontend cannot forward them: one notice, until they get through.

TROUBLESHOOTING = ("docs/telemetry.md", "## Where is my telemetry? Troubleshooting")
# The exporter tries an export for up to 10 s (retrying 502s) before it calls it failed.
EXPORT_GIVES_UP_MS = 30_000


class CollectorComingBack:
    """An OTLP/HTTP address where nothing listens (a collector that is down) until ``start``;
    from then on it hands every export to ``receiver``, as the collector back up would."""

    def __init__(self, receiver: OtlpReceiver) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._receiver = receiver
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver_url = self._receiver.http_endpoint

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                content_type = self.headers.get("Content-Type", "application/x-protobuf")
                answer = requests.post(
                    receiver_url + self.path,
                    data=body,
                    headers={"Content-Type": content_type},
                    timeout=10,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", content_type))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class CollectorDownDemo:
    """A frontend in front of the stack whose collector address refuses, until it comes back."""

    url: str
    collector: CollectorComingBack


@pytest.fixture(params=["python-server", "nginx"])
def collector_down(
    request: pytest.FixtureRequest,
    stack: Stack,
    receiver: OtlpReceiver,
    tmp_path: Path,
) -> Iterator[CollectorDownDemo]:
    collector = CollectorComingBack(receiver)
    variables = {
        "USER_URL": stack.users.url,
        "PAYMENT_URL": stack.payment.url,
        "ORDER_URL": stack.order.url,
        "COLLECTOR_OTLP_HTTP_URL": collector.url,
        "TRACE_UI_URL": TRACE_UI,
    }
    server = start_frontend(request.param, variables, tmp_path)
    try:
        yield CollectorDownDemo(server.url, collector)
    finally:
        server.stop()
        collector.close()


def test_a_collector_that_refuses_gets_one_notice_until_an_export_gets_through(
    browser: Browser, collector_down: CollectorDownDemo, receiver: OtlpReceiver
) -> None:
    with page_at(browser, collector_down.url) as page:
        notice = page.locator(".telemetry-notice")
        # The page load's own spans (document load, the catalog) cannot be forwarded: the notice
        # says what the frontend answered and what to check.
        expect(notice).to_be_visible(timeout=EXPORT_GIVES_UP_MS)
        expect(notice).to_contain_text("The browser's spans are not reaching the collector.")
        expect(notice).to_contain_text(
            "The frontend answered /otlp-http/v1/traces with 502 collector_unavailable: "
            "The collector is unreachable"
        )
        for what in ("COLLECTOR_OTLP_HTTP_URL", "nginx's upstream for /otlp-http/", "port 4318"):
            expect(notice).to_contain_text(what)
        # Word for word as docs/telemetry.md's troubleshooting quotes it (its count and nginx's
        # message aside).
        quoted = doc_quote(*TROUBLESHOOTING, "**The browser's spans")
        shown = re.sub(r"\b\d+ exports?( in a row)? failed", "1 export failed", notice.inner_text())
        assert shown.replace(" from the frontend.", " (ConnectionError).") == quoted
        # The clicks still work; each export that fails adds to the one notice.
        _create_user(page)
        expect(notice).to_have_attribute(
            "data-failed-exports", re.compile(r"^([2-9]|\d\d+)$"), timeout=EXPORT_GIVES_UP_MS
        )
        expect(notice).to_contain_text(re.compile(r"\d+ exports in a row failed"))
        expect(page.get_by_text("The browser's spans are not reaching")).to_have_count(1)

        # The collector is back: the next click's spans get through, and the notice goes.
        collector_down.collector.start()
        trace_id = _new_result(page, "Create User", "create-user-result").locator(".trace-id")
        expect(notice).to_be_hidden(timeout=EXPORT_GIVES_UP_MS)
        receiver.wait_for_trace(
            trace_id.inner_text(),
            lambda found: ("frontend", "click Create User") in _names(found),
        )
