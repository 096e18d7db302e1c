"""The trace under each click, in real headless Chromium: whole, readable, with its logs, and
with the span that explains it marked.

Two sources, one view:

- ``make run``'s setup (``shared.launch.local.load_environment``: the ``span_lines`` and
  ``log_lines`` exporters and their export delays) on each database, with the frontend server
  reading the two files back;
- Jaeger's query API, stood in for by a small HTTP server answering with
  ``tests/fixtures/jaeger-payment-failure-trace.json``, a trace of this project written in the
  shape of Jaeger's own fixtures (see ``tests/unit/test_trace_api.py`` for which files), and
  with traces nobody wrote for this demo, jaeger-ui's own test fixtures
  (``tests/fixtures/jaeger-ui/README.md``), behind the frontend server and behind the image's
  nginx.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from devkit.otlp_receiver import OtlpReceiver
from devkit.process import free_port
from frontend.trace_files import logs_of_trace, spans_of_trace
from shared.launch.local import load_environment
from tests.docs import doc_quote
from tests.helpers import UI_TIMEOUT_MS, page_at
from tests.nginx_frontend import start_frontend
from tests.stack import ServiceProcess, Stack, base_env

# "Within a couple of seconds" of the answer, with room for a busy machine.
WHOLE_TRACE_MS = 6_000
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE = FIXTURES / "jaeger-payment-failure-trace.json"
JAEGER_UI_FIXTURES = sorted((FIXTURES / "jaeger-ui").glob("*.json"))
TRACE_UI = "http://localhost:16686/trace/{trace_id}"
# The view gives up on a trace with no spans after 15 s of looks; room for a busy machine.
GIVE_UP_WAIT_MS = 45_000


@dataclass
class LocalDemo:
    """The services and the frontend server as ``make run`` sets them up, and their files."""

    stack: Stack
    frontend: ServiceProcess
    spans_file: Path
    logs_file: Path

    def spans(self, trace_id: str) -> int:
        return len(spans_of_trace(str(self.spans_file), trace_id))

    def log_messages(self, trace_id: str) -> list[str]:
        return [record.message for record in logs_of_trace(str(self.logs_file), trace_id)]


@contextmanager
def started_local_demo(database_url: str, work: Path) -> Iterator[LocalDemo]:
    """The services and the frontend server as `make run` sets them up, files in ``work``."""
    spans_file, logs_file = work / "spans.log", work / "logs.log"
    files = {"SPANS_FILE": str(spans_file), "LOGS_FILE": str(logs_file)}
    files["METRICS_FILE"] = str(work / "metrics.pb")
    frontend_port = free_port()
    given = base_env(
        DATABASE_URL=database_url,
        FRONTEND_URL=f"http://127.0.0.1:{frontend_port}",  # the services' metrics go there
        PAYMENT_FAILURE_RATE="1",  # every payment-failure transfer fails: no retry loop
        # An exemplar lives one export: 3 s leaves a busy machine's browser time to look (make
        # run and compose: 5 s).
        OTEL_METRIC_EXPORT_INTERVAL="3000",
        **files,
    )
    del given["OTEL_BSP_SCHEDULE_DELAY"], given["OTEL_BLRP_SCHEDULE_DELAY"]  # make run's own
    env = load_environment(work / "no.env", given)
    assert env["OTEL_TRACES_EXPORTER"] == "span_lines" and env["OTEL_LOGS_EXPORTER"] == "log_lines"
    stack = Stack.start(work, env)
    frontend = ServiceProcess(
        "frontend", stack.frontend_env(**files), work / "frontend.log", port=frontend_port
    )
    try:
        frontend.start().wait_ready()
        yield LocalDemo(stack, frontend, spans_file, logs_file)
    finally:
        frontend.stop()
        stack.stop()


@pytest.fixture(scope="module")
def local_demo(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDemo]:
    with started_local_demo(database_url, tmp_path_factory.mktemp("local-demo")) as demo:
        yield demo


@pytest.fixture
def page(browser: Browser, local_demo: LocalDemo) -> Iterator[Page]:
    with page_at(browser, local_demo.frontend.url) as opened:
        expect(opened.locator("#product-select option").first).to_be_attached()
        yield opened


def _click(page: Page, button: str, box_id: str, timeout: float = 5_000) -> tuple[Locator, str]:
    """Click ``button``; wait for its new result (``timeout`` ms); return the result box and
    its trace id."""
    box = page.locator(f"#{box_id}")
    trace_id = box.locator(".trace-id")
    before = trace_id.inner_text() if trace_id.count() else ""
    page.get_by_role("button", name=button).click()
    expect(trace_id).not_to_have_text(before, timeout=timeout)
    expect(trace_id).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    return box, trace_id.inner_text()


def _whole_view(box: Locator) -> Locator:
    """The box's trace view, once it says the trace is complete."""
    view = box.locator(".inline-trace")
    expect(view.locator(".complete")).to_be_visible(timeout=WHOLE_TRACE_MS)
    return view


def _order(page: Page, scenario: str = "") -> tuple[Locator, str]:
    page.locator("#scenario").select_option(scenario)
    _click(page, "Create User", "create-user-result")
    page.get_by_label("Amount (dollars)").fill("1000")
    _click(page, "Transfer Fund", "transfer-result")
    return _click(page, "Place Order", "order-result")


def test_the_order_click_shows_its_whole_trace_with_the_sql_without_opening_anything(
    page: Page, local_demo: LocalDemo
) -> None:
    box, trace_id = _order(page)
    expect(box.locator(".status")).to_contain_text("201")
    view = _whole_view(box)
    rows = view.locator(".span-row")
    # Whole: every span of the trace that reached the spans file is a row.
    assert rows.count() == local_demo.spans(trace_id) >= 15
    assert view.locator("details[open]").count() == 0
    statements = view.locator(".fact.sql")
    expect(statements.filter(has_text="INSERT INTO orders")).to_be_visible()
    expect(statements.filter(has_text="UPDATE users SET amount")).to_be_visible()
    expect(statements.filter(has_text=re.compile(r"^SELECT users\.id"))).to_have_count(2)
    expect(view.locator(".fact.http").filter(has_text="POST /orders → 201").first).to_be_visible()
    expect(view.locator(".fact.app").filter(has_text="app.order.id=")).to_be_visible()
    # Each service has its colour; a time axis spans the waterfall.
    colours = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#order-result .span-row')]
            .map((row) => [row.dataset.service,
                getComputedStyle(row.querySelector('.service')).borderLeftColor]))"""
    )
    assert set(colours) == {"frontend", "order-service", "user-service"}
    assert len(set(colours.values())) == 3
    expect(view.locator(".axis .tick")).to_have_count(4)
    # Details open as a key/value table.
    insert = rows.filter(has=page.locator(".fact.sql", has_text="INSERT INTO orders"))
    insert.locator("summary").click()
    details = insert.locator("table.span-details")
    expect(details.locator("tr", has_text="db.statement")).to_be_visible()
    expect(details.locator("th", has_text="self time")).to_be_visible()


# The services export their metrics every 3 s here (make run: 5 s); room for a busy machine.
METRICS_MS = 30_000


def test_the_order_click_shows_its_metrics_with_its_own_exemplar(page: Page) -> None:
    """Beside the trace: the route's request count, growing by one per order, and the exemplar
    that carries this very click's trace id (recorded inside its request's span)."""
    counts = []
    for _ in range(2):
        box, trace_id = _order(page)
        _whole_view(box)
        row = box.locator(".inline-metrics .route-row[data-service='order-service']")
        expect(row).to_contain_text("POST /orders")
        expect(row.locator(".exemplar-trace-id")).to_have_text(trace_id, timeout=METRICS_MS)
        counts.append(int(row.locator(".route-count").inner_text()))
        counters = box.locator(".inline-metrics .business-counters li")
        expect(counters.filter(has_text="order-service · app_orders placed")).to_have_count(1)
    assert counts[1] == counts[0] + 1, counts


def test_the_order_trace_shows_its_logs_below_it(page: Page, local_demo: LocalDemo) -> None:
    box, trace_id = _order(page)
    order_id = json.loads(box.locator("pre").inner_text())["id"]
    logs = _whole_view(box).locator(".trace-logs .log")
    placed = logs.filter(has_text=f"order {order_id} placed")
    expect(placed).to_have_count(1)
    expect(placed.locator(".service")).to_have_text("order-service")
    expect(placed.locator(".log-severity")).to_have_text("INFO")
    # Every record of the trace in the logs file, and only those, in time order.
    shown = logs.locator(".log-message").all_inner_texts()
    assert sorted(shown) == sorted(local_demo.log_messages(trace_id))
    times = [_micros(t) for t in logs.locator(".log-time").all_inner_texts()]
    assert times == sorted(times)


def _micros(shown: str) -> float:
    """A time as the view shows it ("+52 µs", "+3.4 ms"), in microseconds."""
    number, unit = shown.lstrip("+").split()
    return float(number) * {"µs": 1, "ms": 1000}[unit]


# axe-core's results, one line per violation: what is wrong, how much it matters, where.
AXE_VIOLATIONS_JS = """() => axe.run(document).then(({violations}) => violations.map((found) =>
    `${found.id} (${found.impact}): ${found.help}: ` +
    found.nodes.map((node) => node.target.join(" ")).join(", ")))"""


def _accessibility_violations(page: Page, axe_core: Path) -> list[str]:
    """What axe-core (every rule it runs by default: WCAG A and AA and best practices) finds
    wrong on ``page`` as it is now."""
    page.add_script_tag(path=axe_core)
    found: list[str] = page.evaluate(AXE_VIOLATIONS_JS)
    return found


def test_the_page_with_each_clicks_trace_and_the_trace_page_pass_axe(
    browser: Browser, page: Page, local_demo: LocalDemo, npm_installed_frontend: Path
) -> None:
    axe_core = npm_installed_frontend / "node_modules" / "axe-core" / "axe.min.js"
    _, trace_id = _order(page)
    for box_id in ("create-user-result", "transfer-result", "order-result"):
        box = page.locator(f"#{box_id}")
        _whole_view(box)
        # Its metrics panel drawn, each route with the click's exemplar.
        rows = box.locator(".inline-metrics .route-row")
        expect(rows.first).to_be_visible(timeout=METRICS_MS)
        expect(rows.locator(".exemplar:not(.found)")).to_have_count(0, timeout=METRICS_MS)
    expect(page.locator("#orders-list li[data-trace-id]")).to_have_count(1)
    # One span's details open: its key/value table is audited with the rest.
    page.locator("#order-result .span-row > summary").first.click()
    violations = _accessibility_violations(page, axe_core)
    assert violations == [], "\n".join(violations)
    with page_at(browser, f"{local_demo.frontend.url}/traces/{trace_id}") as viewer:
        expect(viewer.locator(".complete")).to_be_visible(timeout=WHOLE_TRACE_MS)
        viewer.locator(".span-row > summary").first.click()
        violations = _accessibility_violations(viewer, axe_core)
        assert violations == [], "\n".join(violations)


def test_a_payment_failure_shows_the_error_where_it_started(page: Page) -> None:
    page.locator("#scenario").select_option("payment-failure")
    _click(page, "Create User", "create-user-result")
    box, _ = _click(page, "Transfer Fund", "transfer-result")
    expect(box.locator(".status")).to_contain_text("503")
    view = _whole_view(box)
    marked = view.locator(".span-row.noticed")
    expect(marked).to_have_count(1)
    assert marked.get_attribute("data-service") == "user-service"
    expect(marked.locator(".span-name")).to_have_text("update user amount")
    expect(marked.locator(".fact.error")).to_contain_text("The ledger rejected this credit")
    expect(view.locator(".notice")).to_contain_text(
        "The failure started in user-service's “update user amount”"
    )
    # The spans above it are red too, and the refusal is in the logs.
    assert view.locator(".span-row.error").count() >= 5
    expect(view.locator(".log", has_text="credit_rejected").first).to_be_visible()


def test_the_marked_span_of_a_slow_db_trace_is_the_slow_statement(page: Page) -> None:
    box, _ = _order(page, "slow-db")
    view = _whole_view(box)
    marked = view.locator(".span-row.noticed")
    expect(marked).to_have_count(1)
    assert marked.get_attribute("data-service") == "order-service"
    expect(marked.locator(".fact.sql")).to_have_text(re.compile(r"^SELECT sleep\(", re.I))
    expect(view.locator(".notice")).to_contain_text("Most of this trace is order-service's")


def test_a_users_latency_trace_marks_the_call_that_waited_outside_the_server(page: Page) -> None:
    box, _ = _order(page, "users-latency")
    view = _whole_view(box)
    marked = view.locator(".span-row.noticed")
    expect(marked).to_have_count(1)
    expect(marked.locator(".span-kind")).to_have_text("client")
    expect(marked.locator(".fact.http")).to_contain_text("/users/")
    expect(view.locator(".notice")).to_contain_text("but user-service spent only")


def test_a_lost_response_trace_marks_the_retry_answered_from_the_record(page: Page) -> None:
    page.locator("#scenario").select_option("lost-response")
    _click(page, "Create User", "create-user-result")
    page.get_by_label("Amount (dollars)").fill("10")
    # The payment service waits out its read timeout (5 s) before it sends the credit again.
    box, trace_id = _click(page, "Transfer Fund", "transfer-result", timeout=UI_TIMEOUT_MS)
    expect(box.locator(".status")).to_contain_text("200")
    expect(box.locator(".retry")).to_have_count(0)  # the page's own request got its answer
    view = _whole_view(box)
    marked = view.locator(".span-row.noticed")
    expect(marked).to_have_count(1)
    assert marked.get_attribute("data-service") == "payment-service"
    expect(marked.locator(".span-kind")).to_have_text("client")
    expect(marked.locator(".fact.http")).to_have_text(re.compile(r"^PUT /users/\d+ → 200$"))
    expect(marked.locator(".fact.app")).to_contain_text("app.idempotency.replayed=true")
    expect(view.locator(".notice")).to_contain_text(
        "was sent 2 times with one idempotency key: attempt 1 got no answer (ReadTimeout); "
        "attempt 2 (http.request.resend_count=1) was answered by user-service"
    )
    # The first attempt is red, and not what the view calls the cause.
    first = view.locator(".span-row.error").filter(
        has=page.locator(".fact.http", has_text=re.compile(r"^PUT /users/\d+$"))
    )
    expect(first).to_have_count(1)
    expect(first.locator(".notice-mark")).to_have_count(0)
    # Applied once: one credit in the ledger, written in this trace.
    credits = page.locator("#credits-list li")
    expect(credits).to_have_count(1)
    expect(credits).to_have_attribute("data-trace-id", trace_id)
    expect(page.locator("#balance")).to_have_text("$10.00")


def test_a_trace_called_complete_never_gets_another_span(
    browser: Browser, database_url: str, tmp_path: Path
) -> None:
    """The view calls a trace complete by its structure, soon after the answer: the three main
    clicks, and a lost response whose users span ends about a second after the click's answer.
    What each view drew then is every span its trace ever gets: the services, stopped (each
    flushes what it still holds), add none."""
    drawn: dict[str, int] = {}
    with started_local_demo(database_url, tmp_path) as demo:
        with page_at(browser, demo.frontend.url) as page:
            _order(page)
            for box_id in ("create-user-result", "transfer-result", "order-result"):
                box = page.locator(f"#{box_id}")
                rows = _whole_view(box).locator(".span-row").count()
                drawn[box.locator(".trace-id").inner_text()] = rows
            page.locator("#scenario").select_option("lost-response")
            box, trace_id = _click(page, "Transfer Fund", "transfer-result", UI_TIMEOUT_MS)
            drawn[trace_id] = _whole_view(box).locator(".span-row").count()
        for service in demo.stack.services:
            service.flush_and_stop()
        assert {trace_id: demo.spans(trace_id) for trace_id in drawn} == drawn


def test_the_trace_page_waits_for_a_missing_parent_before_calling_the_trace_complete(
    browser: Browser, local_demo: LocalDemo
) -> None:
    trace_id = uuid.uuid4().hex
    stamp = "2026-11-22T05:00:00.000000Z"
    parent, child = "00000000000000a1", "00000000000000a2"
    child_line = (
        f"{stamp} order-service trace={trace_id} span={child} parent={parent} "
        'INTERNAL "insert order" 2ms UNSET app.order.id=1\n'
    )
    parent_line = (
        f"{stamp} order-service trace={trace_id} span={parent} parent=- "
        'SERVER "POST /orders" 5ms UNSET http.route="/orders"\n'
    )
    with local_demo.spans_file.open("a", encoding="utf-8") as spans:
        spans.write(child_line)
    context = browser.new_context()
    viewer = context.new_page()
    looks: list[str] = []
    viewer.on(
        "requestfinished",
        lambda request: looks.append(request.url) if trace_id in request.url else None,
    )
    try:
        viewer.goto(f"{local_demo.frontend.url}/traces/{trace_id}")
        expect(viewer.locator(".span-row")).to_have_count(1)
        expect(viewer.locator(".arriving")).to_have_text("Spans are still arriving…")
        # Ten quiet looks later (the barrier: the view's own requests, counted) it still does
        # not call a trace with a missing parent whole.
        seen = len(looks)
        while len(looks) < seen + 10:
            viewer.wait_for_timeout(100)
        expect(viewer.locator(".complete")).to_have_count(0)
        with local_demo.spans_file.open("a", encoding="utf-8") as spans:
            spans.write(parent_line)
        expect(viewer.locator(".complete")).to_be_visible()
        expect(viewer.locator(".span-row")).to_have_count(2)
        expect(viewer.locator("#trace-id")).to_have_text(trace_id)
    finally:
        context.close()


def served_id(fixture: Path) -> str:
    """The id a fixture's trace is asked for by: its own, or where that is not one the frontend
    accepts (jaeger-ui's ``trace-123``), one made from it."""
    own = str(json.loads(fixture.read_text())["data"][0]["traceID"])
    return own if re.fullmatch(r"[0-9a-f]{32}", own) else uuid.uuid5(uuid.NAMESPACE_URL, own).hex


class _JaegerQuery(BaseHTTPRequestHandler):
    """Jaeger's ``GET /api/traces/<id>``: a fixture's trace, else Jaeger's own 404."""

    answers = {
        f"/api/traces/{served_id(fixture)}": fixture.read_bytes()
        for fixture in [FIXTURE, *JAEGER_UI_FIXTURES]
    }

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if self.path in self.answers:
            status, body = 200, self.answers[self.path]
        else:
            status, body = (
                404,
                json.dumps(
                    {
                        "data": None,
                        "total": 0,
                        "limit": 0,
                        "offset": 0,
                        "errors": [{"code": 404, "msg": "trace not found"}],
                    }
                ).encode(),
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def jaeger_query() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JaegerQuery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", params=["python-server", "nginx"])
def jaeger_frontend(
    request: pytest.FixtureRequest, jaeger_query: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A frontend whose trace view reads Jaeger (no services needed: only traces are read)."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    variables = {
        "USER_URL": nowhere,
        "PAYMENT_URL": nowhere,
        "ORDER_URL": nowhere,
        "COLLECTOR_OTLP_HTTP_URL": nowhere,
        "TRACE_UI_URL": TRACE_UI,
        "JAEGER_QUERY_URL": jaeger_query,
    }
    server = start_frontend(request.param, variables, tmp_path_factory.mktemp("jaeger-frontend"))
    yield server.url
    server.stop()


def test_the_jaeger_source_renders_jaegers_json_into_the_same_rows(
    browser: Browser, jaeger_frontend: str
) -> None:
    fixture = json.loads(FIXTURE.read_text())["data"][0]
    with page_at(browser, f"{jaeger_frontend}/traces/{fixture['traceID']}") as viewer:
        expect(viewer.locator(".complete")).to_be_visible()
        rows = viewer.locator(".span-row")
        expect(rows).to_have_count(len(fixture["spans"]))
        # Tree order: the click, its fetch, payment's server span and so on down to users.
        names = rows.locator(".span-name").all_inner_texts()
        assert names[0] == "click Transfer Fund"
        assert names[-1] == "update user amount"
        services = [rows.nth(i).get_attribute("data-service") for i in range(rows.count())]
        assert services[:2] == ["frontend", "frontend"] and services[-1] == "user-service"
        marked = viewer.locator(".span-row.noticed")
        expect(marked.locator(".span-name")).to_have_text("update user amount")
        expect(marked.locator(".fact.error")).to_contain_text("The ledger rejected this credit")
        expect(
            viewer.locator(".fact.http", has_text="PUT /users/<id:user_id> → 503")
        ).to_be_visible()
        expect(viewer.locator(".fact.app").first).to_contain_text("app.action=transfer funds")
        # Jaeger keeps the exceptions as span logs: listed once, where first recorded.
        logs = viewer.locator(".trace-logs .log")
        expect(logs).to_have_count(1)
        expect(logs.locator(".log-severity")).to_have_text("ERROR")
        expect(logs.locator(".service")).to_have_text("user-service")
        marked.locator("summary").click()
        expect(marked.locator("tr", has_text="otel.scope.name")).to_contain_text("tracing-demo")
        # An id Jaeger does not know: Jaeger's 404, and the view says so in time.
        missing = uuid.uuid4().hex
        viewer.goto(f"{jaeger_frontend}/traces/{missing}")
        expect(viewer.locator(".not-found")).to_contain_text(
            f"No spans of trace {missing}", timeout=UI_TIMEOUT_MS
        )


# Each of jaeger-ui's traces: the spans drawn as failed, and some spans' durations as drawn.
JAEGER_UI_TRACES: dict[str, tuple[set[str], dict[str, str]]] = {
    # span-2's error tag is {"type": "bool", "value": "true"}: a string.
    "testTrace.json": ({"span-2"}, {"span-1": "390 ms", "span-14": "8.0 ms"}),
    "testTraceNormal.json": (
        set(),
        {"622a5079b565623e": "52 µs", "4085dddb47429851": "21 µs", "e821b549888cbc3b": "1.7 ms"},
    ),
    # A JSON boolean, on the k8s-api's answer 500.
    "genaiTestTrace.json": ({"0000000000000011"}, {"0000000000000011": "80 ms"}),
}
# Each row as drawn: its span, service, failure, duration and indent (in rem).
ROWS_JS = """() => [...document.querySelectorAll('.span-row')].map((row) => ({
    id: row.dataset.spanId, service: row.dataset.service,
    failed: row.classList.contains('error'),
    duration: row.querySelector('.span-duration').textContent,
    indent: parseFloat(row.querySelector('.span-label').style.paddingLeft)}))"""


@pytest.mark.parametrize("fixture", JAEGER_UI_FIXTURES, ids=lambda fixture: fixture.name)
def test_jaeger_uis_own_traces_are_drawn_whole_with_their_failures_and_durations(
    browser: Browser, jaeger_frontend: str, fixture: Path
) -> None:
    trace = json.loads(fixture.read_text())["data"][0]
    failed, durations = JAEGER_UI_TRACES[fixture.name]
    with page_at(browser, f"{jaeger_frontend}/traces/{served_id(fixture)}") as viewer:
        expect(viewer.locator(".span-row")).to_have_count(len(trace["spans"]))
        rows = viewer.evaluate(ROWS_JS)
    # Every span a row, each under its process's service.
    assert sorted(row["id"] for row in rows) == sorted(span["spanID"] for span in trace["spans"])
    services = {process["serviceName"] for process in trace["processes"].values()}
    assert {row["service"] for row in rows} == services
    assert {row["id"] for row in rows if row["failed"]} == failed
    assert {row["id"]: row["duration"] for row in rows if row["id"] in durations} == durations


def test_a_follows_from_span_is_drawn_under_its_reference_as_a_link(
    browser: Browser, jaeger_frontend: str
) -> None:
    fixture = FIXTURES / "jaeger-ui" / "testTrace.json"
    with page_at(browser, f"{jaeger_frontend}/traces/{served_id(fixture)}") as viewer:
        expect(viewer.locator(".complete")).to_be_visible()
        rows = viewer.evaluate(ROWS_JS)
        # span-7, a consumer, has one reference: FOLLOWS_FROM span-6, a producer. It is drawn
        # right under it, one level in.
        ids = [row["id"] for row in rows]
        producer, consumer = rows[ids.index("span-6")], rows[ids.index("span-6") + 1]
        assert consumer["id"] == "span-7"
        assert consumer["indent"] > producer["indent"]
        row = viewer.locator('.span-row[data-span-id="span-7"]')
        expect(row).to_have_class(re.compile(r"\bfollows-from\b"))
        mark = row.locator(".link-mark")
        expect(mark).to_have_text("⤷ follows from (a link, not a call)")
        expect(mark).to_have_attribute("title", re.compile("which did not wait for it"))
        expect(viewer.locator(".link-mark")).to_have_count(1)  # the CHILD_OF children: none
        row.locator("summary").click()
        expect(row.locator("tr:has(th:text-is('follows from')) td")).to_have_text(
            "service1's “op4” (span span-6): a link, not a call: this span started because of "
            "that one, which did not wait for it (a FOLLOWS_FROM reference; OpenTelemetry "
            "calls it a span link)"
        )
        # The string "true" typed bool is a failure, and the view's reasoning counts it.
        expect(viewer.locator(".notice")).to_contain_text(
            "The failure started in service1's “op2”."
        )
        expect(viewer.locator(".span-row.noticed")).to_have_attribute("data-span-id", "span-2")


class _TracedElsewhere(BaseHTTPRequestHandler):
    """The services as the page sees them when their spans go where the trace source never
    looks: each answer carries a ``traceresponse`` in the request's trace, as a traced service's
    does, and the trace source never gets a span of it."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if (self.command, self.path) == ("POST", "/users"):
            user = {"id": 1, "user_name": "Ada Lovelace", "account": "ACC-0001", "amount": 0}
            status, body = 201, json.dumps(user).encode()
        elif self.path == "/products":
            status, body = 200, b"[]"
        else:
            status, body = 404, b'{"error": "not_found", "message": "Not here."}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        traceparent = self.headers.get("traceparent")
        if traceparent:
            trace_id = traceparent.split("-")[1]
            self.send_header("traceresponse", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's naming

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module", params=["python-server", "nginx"])
def traces_elsewhere(
    request: pytest.FixtureRequest,
    jaeger_query: str,
    receiver: OtlpReceiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A frontend whose services answer, but whose trace source (Jaeger) never gets their
    traces: the services' spans go elsewhere (a wrong endpoint, port, protocol or token)."""
    services = ThreadingHTTPServer(("127.0.0.1", 0), _TracedElsewhere)
    threading.Thread(target=services.serve_forever, daemon=True).start()
    services_url = f"http://127.0.0.1:{services.server_address[1]}"
    variables = {
        "USER_URL": services_url,
        "PAYMENT_URL": services_url,
        "ORDER_URL": services_url,
        "COLLECTOR_OTLP_HTTP_URL": receiver.http_endpoint,
        "TRACE_UI_URL": TRACE_UI,
        "JAEGER_QUERY_URL": jaeger_query,
    }
    server = start_frontend(request.param, variables, tmp_path_factory.mktemp("elsewhere"))
    yield server.url
    server.stop()
    services.shutdown()
    services.server_close()


def test_a_click_whose_trace_never_arrives_says_so_and_what_to_check(
    browser: Browser, traces_elsewhere: str
) -> None:
    with page_at(browser, traces_elsewhere) as page:
        box, trace_id = _click(page, "Create User", "create-user-result")
        expect(box.locator(".status")).to_contain_text("201")
        view = box.locator(".inline-trace")
        expect(view.locator(".arriving")).to_have_text("Waiting for the trace's spans…")
        # After the view's usual wait, it says the trace source has no such trace, and what to
        # check, beside the trace link.
        missing = view.locator(".not-found")
        expect(missing).to_contain_text(
            f"No spans of trace {trace_id} arrived: the trace source still has no trace by "
            "this id after 15 s.",
            timeout=GIVE_UP_WAIT_MS,
        )
        for what in (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "4317 for OTLP/gRPC, 4318 for OTLP/HTTP",
            "OTEL_EXPORTER_OTLP_PROTOCOL (grpc or http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ):
            expect(missing).to_contain_text(what)
        expect(missing.locator("a.trace-link")).to_have_attribute(
            "href", TRACE_UI.format(trace_id=trace_id)
        )
        expect(view.locator(".span-row")).to_have_count(0)
        # Word for word as docs/telemetry.md's troubleshooting quotes it.
        quoted = doc_quote(
            "docs/telemetry.md", "## Where is my telemetry? Troubleshooting", "No spans of trace"
        )
        shown = missing.inner_text().removesuffix(" open it in the trace UI")
        assert shown.replace(trace_id, "<trace id>") == quoted


# Small Jaeger-shaped traces for the view's rules, read in the browser by trace-view.js itself.
RULES_JS = """(cases) => Object.fromEntries(Object.entries(cases).map(([name, spans]) => {
    const span = ([id, parent, start, duration, tags, service]) => ({
        traceID: "t", spanID: id, operationName: id,
        references: parent ? [{refType: "CHILD_OF", traceID: "t", spanID: parent}] : [],
        startTime: start, duration, processID: service || "p1", warnings: null, logs: [],
        tags: Object.entries(tags || {}).map(([key, value]) => ({key, value,
            type: {boolean: "bool", number: "int64"}[typeof value] || "string"}))});
    const trace = window.TraceView.readTrace({spans: spans.map(span),
        processes: {p1: {serviceName: "a", tags: []}, p2: {serviceName: "b", tags: []}}});
    const notice = window.TraceView.whatToNotice(trace);
    return [name, {marked: notice.span && notice.span.id, reason: notice.reason,
        sentence: notice.sentence, complete: !trace.missingParents && !trace.unansweredCalls}];
}))"""
CALL = {"span.kind": "client", "http.request.method": "GET"}
SERVER = {"span.kind": "server"}
FAILED = {"error": True, "otel.status_code": "ERROR"}
# The payment service's credit to the users service, and what its attempts carry.
CREDIT = {"span.kind": "client", "http.request.method": "PUT", "url.full": "http://u:8080/users/5"}
TIMED_OUT = {**FAILED, "otel.status_description": "ReadTimeout: read timed out"}
RESENT = {"http.request.resend_count": 1, "http.response.status_code": 200}
REPLAYED = {"app.idempotency.replayed": True}
# The page's own retry of a transfer that got a 502.
TRANSFER = {
    "span.kind": "client",
    "http.request.method": "PUT",
    "url.full": "http://127.0.0.1:5000/payments/transfer/id/5",
}


def _lost_response(
    second_try: Mapping[str, object], under_it: Mapping[str, object]
) -> list[list[object]]:
    """A transfer whose first credit got no answer in time and was sent again: payment's spans
    (p1) and the users service's (p2), in microseconds. ``second_try`` and ``under_it``: the
    tags of the second attempt's client span and of the users service's business span below it.
    """
    return [
        ["transfer", None, 0, 5_400_000, SERVER],
        ["transfer funds", "transfer", 10, 5_300_000, {}],
        ["try1", "transfer funds", 100, 5_000_000, {**CREDIT, **TIMED_OUT}],
        # The users service applied it, and answered after the caller had given up.
        ["srv1", "try1", 300, 6_000_000, SERVER, "p2"],
        ["credit1", "srv1", 400, 20_000, {"app.idempotency.replayed": False}, "p2"],
        ["try2", "transfer funds", 5_200_000, 30_000, {**CREDIT, **RESENT, **second_try}],
        ["srv2", "try2", 5_205_000, 20_000, SERVER, "p2"],
        ["credit2", "srv2", 5_206_000, 5_000, under_it, "p2"],
    ]


def test_what_to_notice_follows_from_the_trace_alone(page: Page) -> None:
    cases = {
        # A failed first attempt, then a retry that worked: the failure started in the
        # attempt's server span, not in the (deeper) successful retry.
        "retry": [
            ["root", None, 0, 1000, FAILED],
            ["try1", "root", 0, 100, {**CALL, **FAILED}],
            ["srv1", "try1", 10, 50, {**SERVER, **FAILED}, "p2"],
            ["try2", "root", 200, 100, CALL],
            ["srv2", "try2", 210, 80, SERVER, "p2"],
            ["sql2", "srv2", 220, 10, {"span.kind": "client", "db.system": "sqlite"}, "p2"],
        ],
        # The server's clock is 120 ms ahead: what matters is the durations, 150 vs 100 ms.
        "skewed": [
            ["call", None, 0, 150_000, CALL],
            ["srv", "call", 120_000, 100_000, SERVER, "p2"],
        ],
        "waited": [
            ["call", None, 0, 300_000, CALL],
            ["srv", "call", 290_000, 10_000, SERVER, "p2"],
        ],
        "spread": [
            ["root", None, 0, 100, {}],
            ["a", "root", 0, 40, {}],
            ["b", "root", 50, 45, {}],
        ],
        "unanswered": [["call", None, 0, 100, CALL]],
        # A retried call answered from the record of the first: before the failure rule.
        "replayed": _lost_response(REPLAYED, REPLAYED),
        "replayed, said below": _lost_response({}, REPLAYED),
        "resent, applied anew": _lost_response({"app.idempotency.replayed": False}, {}),
        # Two calls to the same route, the second no resend: two requests, not a retry.
        "not a resend": _lost_response({"http.request.resend_count": 0, **REPLAYED}, REPLAYED),
        # The page's own retry after a 502, with a failure elsewhere in the trace.
        "page retry": [
            ["click", None, 0, 400_000, {}],
            ["put1", "click", 0, 50_000, {**TRANSFER, **FAILED, "http.response.status_code": 502}],
            ["put2", "click", 300_000, 90_000, {**TRANSFER, **RESENT, **REPLAYED}],
            ["srv", "put2", 310_000, 60_000, SERVER, "p2"],
            ["read", "click", 390_000, 10_000, {**CALL, **FAILED}],
        ],
        "orphan": [["child", "gone", 0, 10, {}]],
        "loop": [["x", "y", 0, 10, {}], ["y", "x", 0, 10, {}]],
    }
    seen = page.evaluate(RULES_JS, cases)
    for case in ("replayed", "replayed, said below"):
        assert (seen[case]["marked"], seen[case]["reason"]) == ("try2", "replayed-retry"), case
        assert seen[case]["sentence"] == (
            "a's “PUT /users/5 → 200” was sent 2 times with one idempotency key: attempt 1 got "
            "no answer (ReadTimeout: read timed out); attempt 2 (http.request.resend_count=1) "
            "was answered by b from the record of an earlier one "
            "(app.idempotency.replayed=true). So it was applied once, and the red attempt is "
            "what the retry recovered from, not where the request failed."
        ), case
        assert seen[case]["complete"]
    # Without a replay, or without a resend, the timed-out attempt is where the failure started.
    for case in ("resent, applied anew", "not a resend"):
        assert (seen[case]["marked"], seen[case]["reason"]) == ("try1", "error"), case
    assert (seen["page retry"]["marked"], seen["page retry"]["reason"]) == (
        "put2",
        "replayed-retry",
    )
    assert "attempt 1 was answered 502; attempt 2" in seen["page retry"]["sentence"]
    assert seen["page retry"]["sentence"].endswith("1 failure started elsewhere.")
    assert seen["retry"]["marked"] == "srv1"
    assert "The 2 red spans above it only pass it on" in seen["retry"]["sentence"]
    assert seen["skewed"]["reason"] != "client-wait"
    assert (seen["waited"]["marked"], seen["waited"]["reason"]) == ("call", "client-wait")
    assert "290 ms passed outside the server span" in seen["waited"]["sentence"]
    assert (seen["spread"]["marked"], seen["spread"]["reason"]) == (None, "none")
    assert seen["spread"]["sentence"].startswith("Nothing stands out")
    assert not seen["unanswered"]["complete"] and not seen["orphan"]["complete"]
    assert seen["loop"]["reason"] in {"self-time", "none"}  # drawn, not hung
    assert seen["waited"]["complete"] and seen["retry"]["complete"]
